package finetune

import (
	"crypto/sha256"
	"encoding/csv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/guard"
	"strata/internal/tokenizer"
)

// bitextRows returns the shared bitext corpus as "Customer: {instruction}
// \nAgent: {first sentence of response}" texts, shuffled by a fixed seed
// (the file is sorted by intent, so a split in file order would hold out
// intents the training set never saw).
func bitextRows(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(sharedDir(t), "data", "bitext_customer_support", "bitext_customer_support_4514.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	var rows []string
	for _, r := range recs[1:] {
		rows = append(rows, "Customer: "+strings.TrimSpace(r[col["instruction"]])+"\nAgent: "+firstSentence(r[col["response"]]))
	}
	rand.New(rand.NewPCG(2026, 11)).Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	return rows
}

// firstSentence returns s up to and including its first '.', '!' or '?'
// that ends a sentence (followed by a space, a newline or the end).
func firstSentence(s string) string {
	s = strings.TrimSpace(s)
	for i, c := range s {
		if (c == '.' || c == '!' || c == '?') && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\n') {
			return s[:i+1]
		}
	}
	return s
}

// windows encodes rows, each after BOS, into one stream and cuts it into
// windows of size tokens (size-1 predictions each), all counted.
func windows(tok *tokenizer.Tokenizer, rows []string, size int) []Sequence {
	var stream []int
	for _, r := range rows {
		stream = append(stream, tok.Encode(r, true)...)
	}
	var seqs []Sequence
	for i := 0; i+size <= len(stream); i += size {
		s := Sequence{Tokens: stream[i : i+size], Target: make([]bool, size)}
		for j := range s.Target {
			s.Target[j] = true
		}
		seqs = append(seqs, s)
	}
	return seqs
}

// hashDir returns the SHA-256 of every file in dir.
func hashDir(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

// copyTokenizer copies every file of src but the config and weights to dst.
func copyTokenizer(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "config.json" || strings.HasSuffix(e.Name(), ".safetensors") || strings.HasSuffix(e.Name(), ".index.json") {
			continue
		}
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// greedy returns the engine's greedy continuation of prompt from dir.
func greedy(t *testing.T, dir, prompt string) string {
	t.Helper()
	e, err := llm.Open(dir, llm.LoadOptions{Threads: 2}, llm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p, _, err := guard.Mask(prompt)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Generate(t.Context(), engine.Request{Prompt: p, MaxTokens: 24}, func(engine.Token) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res.Text
}

// TestFineTuneStories260KOnSupportText is the reference's acceptance test
// B: stories260K fine-tuned on 1,000 support dialogues (B=4, T=64, 100
// steps, lr 1e-3, warmup 20, wd 0.01, clip 1) must bring the held-out loss
// from about 4.07 to at most 2.0 and answer the cancel prompt with "I
// understand…", leaving the base files unchanged. Under the race detector
// it runs 4 steps of T=32 and checks the held-out loss went down.
func TestFineTuneStories260KOnSupportText(t *testing.T) {
	base := stories260K(t)
	before := hashDir(t, base)
	tok, err := tokenizer.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	rows := bitextRows(t)
	// The recipe; the race detector slows the kernels some 30x, so there
	// a few short steps must do.
	steps, size, warmup := 100, 65, 20
	if raceEnabled {
		steps, size, warmup = 4, 33, 0
	}
	trainRows, heldRows := rows[:1000], rows[1000:1200]
	if raceEnabled {
		trainRows, heldRows = rows[:100], rows[1000:1010]
	}
	train := windows(tok, trainRows, size)
	held := windows(tok, heldRows, size)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(train), func(i, j int) { train[i], train[j] = train[j], train[i] })
	train = train[:4*steps]

	m, err := Load(t.Context(), base, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	loss0, err := m.Loss(t.Context(), held)
	if err != nil {
		t.Fatal(err)
	}
	var first, last float64
	err = m.Train(t.Context(), train, Options{
		BatchSize: 4, LearningRate: 1e-3, WarmupSteps: warmup, WeightDecay: 0.01, ClipNorm: 1, MaxSeqLen: size,
		OnStep: func(s StepInfo) error {
			if s.Step == 0 {
				first = s.Loss
			}
			last = s.Loss
			if s.Steps != steps || s.Epoch != 1 {
				t.Errorf("step %+v, want %d steps in epoch 1", s, steps)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	loss1, err := m.Loss(t.Context(), held)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d windows of %d predictions: train loss %.3f → %.3f; held-out (%d windows) %.3f → %.3f", len(train), size-1, first, last, len(held), loss0, loss1)
	if raceEnabled {
		if loss1 >= loss0 {
			t.Fatalf("held-out loss went from %.3f to %.3f", loss0, loss1)
		}
	} else if loss1 > 2.0 || loss0 < 3.5 {
		t.Fatalf("held-out loss %.3f → %.3f, want from about 4.07 to at most 2.0", loss0, loss1)
	}

	out := filepath.Join(t.TempDir(), "tuned")
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	copyTokenizer(t, base, out)
	const prompt = "Customer: I want to cancel my order\nAgent:"
	was, now := greedy(t, base, prompt), greedy(t, out, prompt)
	t.Logf("greedy continuation before: %q", was)
	t.Logf("greedy continuation after:  %q", now)
	if !raceEnabled && (now == was || !strings.HasPrefix(strings.TrimSpace(now), "I understand")) {
		t.Fatalf("tuned model continues %q (base %q), want a change starting with \"I understand\"", now, was)
	}
	after := hashDir(t, base)
	if len(after) != len(before) {
		t.Fatalf("base folder had %d files, now %d", len(before), len(after))
	}
	for name, h := range before {
		if after[name] != h {
			t.Fatalf("base file %s changed", name)
		}
	}
}
