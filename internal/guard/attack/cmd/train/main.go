// Command train fits the prompt-attack classifier on the shared data and
// writes the weights that package attack embeds. It is deterministic: the
// same data and flags give the same weights.bin.
//
//	go run ./internal/guard/attack/cmd/train -data ../shared/data -out internal/guard/attack/weights.bin
package main

import (
	"flag"
	"fmt"
	"os"

	"strata/internal/guard/attack"
)

func main() {
	data := flag.String("data", "../shared/data", "the shared data folder")
	out := flag.String("out", "internal/guard/attack/weights.bin", "where to write the weights")
	epochs := flag.Int("epochs", 8, "training epochs")
	seed := flag.Uint64("seed", 1, "shuffling seed")
	l2 := flag.Float64("l2", 1e-6, "L2 penalty")
	flag.Parse()
	if err := run(*data, *out, *epochs, *seed, *l2); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(data, out string, epochs int, seed uint64, l2 float64) error {
	d, err := attack.LoadDataset(data)
	if err != nil {
		return err
	}
	m := attack.Train(d.Train, attack.TrainOptions{Epochs: epochs, Seed: seed, L2: l2})
	enc := m.Encode()
	if err := os.WriteFile(out, enc, 0o644); err != nil {
		return err
	}
	q, err := attack.Decode(enc)
	if err != nil {
		return err
	}
	pos := 0
	for _, e := range d.Train {
		if e.Attack {
			pos++
		}
	}
	fmt.Printf("train: %d examples (%d attacks); test: %d; hard benign: %d\n", len(d.Train), pos, len(d.Test), len(d.HardBenign))
	for _, th := range []float64{0.5, 0.75, 0.92} {
		score := func(s string) float64 { return q.Prob(attack.Features(s)) }
		mt := attack.Evaluate(d.Test, score, th)
		hb := attack.Evaluate(d.HardBenign, score, th)
		fmt.Printf("model only  p>=%.2f: precision %.3f recall %.3f fpr %.4f (tp %d fp %d fn %d); NotInject fpr %.3f\n",
			th, mt.Precision(), mt.Recall(), mt.FPR(), mt.TP, mt.FP, mt.FN, hb.FPR())
	}
	return nil
}
