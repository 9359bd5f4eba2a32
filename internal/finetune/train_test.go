package finetune

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"strata/internal/modelgen"
)

// tinyModel loads modelgen's TinyMistral (GQA, untied head).
func tinyModel(t *testing.T) (*Model, string) {
	t.Helper()
	dir := generated(t, modelgen.TinyMistral())
	m, err := Load(t.Context(), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m, dir
}

func TestLoadRejects(t *testing.T) {
	moe := generated(t, modelgen.TinyMixtral())
	tiny := generated(t, modelgen.TinyMistral())
	for _, tc := range []struct {
		name, dir string
		lim       Limits
		want      string
	}{
		{"mixture-of-experts", moe, Limits{}, "mixture-of-experts"},
		{"too-many-params", tiny, Limits{MaxParams: 1000}, "more than the limit of 1000"},
		{"missing-folder", filepath.Join(tiny, "nope"), Limits{}, "config.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(t.Context(), tc.dir, tc.lim)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error %v, want one containing %q", err, tc.want)
			}
		})
	}
	m, err := Load(t.Context(), tiny, Limits{MaxParams: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	// 512·64 embeddings and head, 2 layers of norms, q/o 64·64, k/v
	// 32·64, MLP 3·128·64, final norm.
	if want := int64(2*512*64 + 2*(2*64+2*64*64+2*32*64+3*128*64) + 64); m.Params() != want {
		t.Fatalf("Params() = %d, want %d", m.Params(), want)
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	m, _ := tinyModel(t)
	ok := randomSeqs(1, 5, 512, false, 1)
	for _, tc := range []struct {
		name  string
		train []Sequence
		o     Options
		want  string
	}{
		{"empty-train-set", nil, Options{}, "empty training set"},
		{"token-out-of-vocab", []Sequence{{Tokens: []int{1, 512}, Target: []bool{false, true}}}, Options{}, "outside the vocabulary"},
		{"negative-token", []Sequence{{Tokens: []int{-1, 5}, Target: []bool{false, true}}}, Options{}, "outside the vocabulary"},
		{"targets-length", []Sequence{{Tokens: []int{1, 2}, Target: []bool{true}}}, Options{}, "1 targets for 2 tokens"},
		{"bad-beta", ok, Options{Beta2: 1}, "betas"},
		{"negative-batch", ok, Options{BatchSize: -1}, "negative option"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Train(t.Context(), tc.train, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Train error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := m.Loss(t.Context(), []Sequence{{Tokens: []int{1, 2}, Target: []bool{true, false}}}); err == nil {
		t.Fatal("Loss of sequences with no counted targets: no error")
	}
}

func TestTrainStepsAndOnStep(t *testing.T) {
	m, _ := tinyModel(t)
	seqs := randomSeqs(7, 12, 512, true, 2)
	seqs[3].Target = make([]bool, 12) // counts nothing
	var got []StepInfo
	err := m.Train(t.Context(), seqs, Options{Epochs: 2, BatchSize: 3, OnStep: func(s StepInfo) error {
		got = append(got, s)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 6 {
		t.Fatalf("%d steps, want 2 epochs of ceil(7/3) = 3", len(got))
	}
	for i, s := range got {
		if s.Step != i || s.Epoch != 1+i/3 || s.Steps != 6 || s.Loss <= 0 {
			t.Errorf("step %d: %+v", i, s)
		}
	}
	stop := errors.New("stop here")
	n := 0
	err = m.Train(t.Context(), seqs, Options{BatchSize: 2, OnStep: func(s StepInfo) error {
		n++
		if s.Step == 1 {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) || n != 2 {
		t.Fatalf("Train returned %v after %d steps, want the OnStep error after 2", err, n)
	}
}

// TestTrainHonoursContext cancels training from inside a step and expects
// Train to return before the next one.
func TestTrainHonoursContext(t *testing.T) {
	m, _ := tinyModel(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	steps := 0
	err := m.Train(ctx, randomSeqs(20, 16, 512, false, 3), Options{BatchSize: 2, OnStep: func(StepInfo) error {
		steps++
		cancel()
		return nil
	}})
	if !errors.Is(err, context.Canceled) || steps != 1 {
		t.Fatalf("Train returned %v after %d steps, want context.Canceled after 1", err, steps)
	}
	if _, err := m.Loss(ctx, randomSeqs(1, 4, 512, false, 3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Loss with a cancelled context: %v", err)
	}
}

// TestTrainDeterministic trains twice from the same folder, with
// GOMAXPROCS 1 and 2, and expects bit-identical weights.
func TestTrainDeterministic(t *testing.T) {
	_, dir := tinyModel(t)
	seqs := randomSeqs(6, 40, 512, true, 4)
	run := func(procs int) []float32 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m, err := Load(t.Context(), dir, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Train(t.Context(), seqs, Options{Epochs: 2, BatchSize: 4, LearningRate: 1e-3, WarmupSteps: 2, Seed: 9}); err != nil {
			t.Fatal(err)
		}
		return m.params
	}
	a, b := run(1), run(2)
	if !slices.Equal(a, b) {
		t.Fatal("two runs with the same seed gave different weights")
	}
	m, err := Load(t.Context(), dir, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a, m.params) {
		t.Fatal("training did not change the weights")
	}
}

// TestSaveLoadRoundTrip saves a trained model and loads it back, with the
// config byte for byte and every weight equal; tied models stay tied.
func TestSaveLoadRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
	}{
		{"untied-gqa", func(t *testing.T) string { return generated(t, modelgen.TinyMistral()) }},
		{"tied-stories260K", func(t *testing.T) string { return stories260K(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			m, err := Load(t.Context(), dir, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Train(t.Context(), randomSeqs(2, 10, m.lay.vocab, false, 5), Options{LearningRate: 1e-2}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "out")
			if err := m.Save(out); err != nil {
				t.Fatal(err)
			}
			back, err := Load(t.Context(), out, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.params, m.params) {
				t.Fatal("reloaded weights differ")
			}
			want, _ := os.ReadFile(filepath.Join(dir, "config.json"))
			got, _ := os.ReadFile(filepath.Join(out, "config.json"))
			if string(got) != string(want) {
				t.Fatal("saved config.json differs from the loaded one")
			}
			ents, _ := os.ReadDir(out)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{"config.json", "model.safetensors"}) {
				t.Fatalf("saved files %v", names)
			}
		})
	}
}
