package router

import (
	"flag"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

var (
	oofRun  = flag.Bool("oof", false, "run TestOutOfFold (Banking77, minutes of CPU)")
	oofFits = flag.Int("oof.fits", 1, "TrainOptions.Fits for TestOutOfFold")
	oofSeed = flag.Uint64("oof.seed", 1, "first fit seed for TestOutOfFold (the folds stay those of seed 1)")
)

// TestOutOfFold prints the out-of-fold trade-off of bench/router/RESULTS.md:
// the training part of Banking77 (train.csv less the carved validation
// split) in 5 stratified folds, each scored by a model fitted on the other
// four, one temperature fitted on all out-of-fold logits, then the tier
// accuracy at the top bound that lets exactly k of the top-tier queries
// (1,638) through, as a top-tier rule would count them.
//
//	go test -run TestOutOfFold -v ./internal/router -oof -oof.fits 5 -oof.seed 1
func TestOutOfFold(t *testing.T) {
	if !*oofRun {
		t.Skip("needs -oof")
	}
	ex, tm := banking77Train(t)
	opts := TrainOptions{CalibFolds: 5, Rules: DefaultRules(), Fits: *oofFits}.withDefaults()
	fs := folds(ex, opts)
	opts.Seed = *oofSeed
	m := &Model{Spec: opts.Features, Tiers: tm.Names, Classes: sortedCategories(ex), Temperature: 1}
	for _, c := range m.Classes {
		m.ClassTier = append(m.ClassTier, tm.Of[c])
	}
	m.Bounds = []float64{opts.LowerBound, 0.5}
	raws := make([][][]float64, len(fs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for f, fold := range fs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			fm := &Model{Spec: m.Spec, Tiers: m.Tiers, Classes: m.Classes, ClassTier: m.ClassTier}
			if err := fm.fitAveraged(t.Context(), fold.fit, opts); err != nil {
				t.Error(err)
				return
			}
			raws[f] = fm.rawLogits(fold.held)
		})
	}
	wg.Wait()
	var calib []Example
	var raw [][]float64
	for f, fold := range fs {
		calib = append(calib, fold.held...)
		raw = append(raw, raws[f]...)
	}
	m.calibrate(calib, raw, opts)
	top := len(m.Tiers) - 1
	probs := make([][]float64, len(calib))
	actions := make([]Action, len(calib))
	var risks []float64
	nTop := 0
	for i, e := range calib {
		z := slices.Clone(raw[i])
		softmax(z, m.Temperature)
		probs[i] = make([]float64, len(m.Tiers))
		for c, p := range z {
			probs[i][m.ClassTier[c]] += p
		}
		actions[i], _ = opts.Rules.Match(e.Text)
		if tm.Of[e.Category] == top {
			nTop++
			if actions[i] != ActionTopTier {
				risks = append(risks, probs[i][top])
			}
		}
	}
	slices.Sort(risks)
	accuracy := func(bound float64) (acc float64, under int) {
		correct := 0
		for i, e := range calib {
			got := RiskTier(probs[i], []float64{opts.LowerBound, bound})
			if actions[i] != ActionNone {
				got = top // a top-tier rule, or a handoff (counted at the top tier)
			}
			want := tm.Of[e.Category]
			if got == want {
				correct++
			}
			if want == top && got < top {
				under++
			}
		}
		return float64(correct) / float64(len(calib)), under
	}
	var b strings.Builder
	fmt.Fprintf(&b, "fits %d seed %d: temperature %.3f", opts.Fits, opts.Seed, m.Temperature)
	for _, k := range []int{13, 16, 20, 34} {
		a, u := accuracy(risks[k])
		fmt.Fprintf(&b, " | bound %.3f: accuracy %.4f under %d/%d", risks[k], a, u, nTop)
	}
	mean := 0.0
	for k := 10; k <= 22; k++ {
		a, _ := accuracy(risks[k])
		mean += a / 13
	}
	fmt.Fprintf(&b, " | mean accuracy, 10-22 under: %.4f", mean)
	t.Log(b.String())
}
