package finetune

import (
	"math"
	"math/rand/v2"
	"testing"

	"strata/internal/engine/llm"
	"strata/internal/modelgen"
	"strata/internal/safetensors"
)

// engineLogits returns the engine's logits for every position of tokens.
func engineLogits(t *testing.T, dir string, tokens []int) []float32 {
	t.Helper()
	em, err := llm.LoadModel(dir, llm.LoadOptions{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	out := make([]float32, len(tokens)*em.Config.Vocab)
	c := em.NewCache(len(tokens))
	if err := em.ForwardBatch([]llm.Seq{{Cache: c, Tokens: tokens, Logits: out, AllLogits: true}}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForwardMatchesEngine compares the trainer's logits at every position
// with the inference engine's for the same folder and tokens.
func TestForwardMatchesEngine(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		n    int
	}{
		{"stories260K", func(t *testing.T) string { return stories260K(t) }, 100},
		{"tiny-mistral", func(t *testing.T) string { return generated(t, modelgen.TinyMistral()) }, 40},
		{"tiny-mistral-window-8", func(t *testing.T) string { return generated(t, modelgen.TinyMistralSlidingWindow()) }, 30},
		{"tiny-mistral-bf16", func(t *testing.T) string {
			s := modelgen.TinyMistral()
			s.DType = safetensors.BF16
			return generated(t, s)
		}, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			m, err := Load(t.Context(), dir, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 1))
			toks := make([]int, tc.n)
			for i := range toks {
				toks[i] = rng.IntN(m.lay.vocab)
			}
			want := engineLogits(t, dir, toks)
			rows := make([]int, len(toks))
			for i := range rows {
				rows[i] = i
			}
			nt := newNet[float32](m.lay, m.params, nil, 0)
			nt.forward(toks, rows)
			got := nt.logits[:len(want)]
			worst := 0.0
			for i := range want {
				worst = max(worst, math.Abs(float64(got[i]-want[i])))
			}
			t.Logf("%d positions: max |logit - engine| = %.2g", len(toks), worst)
			if worst > 1e-4 {
				t.Fatalf("logits differ from the engine's by up to %g", worst)
			}
		})
	}
}

// TestFloat32MatchesFloat64 compares the float32 training gradients of
// stories260K with the float64 path's, tensor by tensor:
// ‖g32 − g64‖/‖g64‖ ≤ 1e-4 (reference 4.A(c)).
func TestFloat32MatchesFloat64(t *testing.T) {
	m, err := Load(t.Context(), stories260K(t), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	l := m.lay
	n, size := 4, 65
	if raceEnabled {
		n, size = 2, 17
	}
	exs, count := prepareAll(t, l, randomSeqs(n, size, l.vocab, true, 11))
	g32 := make([]float32, l.size)
	loss32 := batchLoss(l, m.params, g32, exs, count)
	p64 := make([]float64, l.size)
	for i, v := range m.params {
		p64[i] = float64(v)
	}
	g64 := make([]float64, l.size)
	loss64 := batchLoss(l, p64, g64, exs, count)
	t.Logf("loss f32 %.8f, f64 %.8f", loss32, loss64)
	if math.Abs(loss32-loss64) > 1e-4*loss64 {
		t.Errorf("loss f32 %g vs f64 %g", loss32, loss64)
	}
	worst := 0.0
	for _, ti := range l.tensors {
		var d2, n2 float64
		for i := ti.off; i < ti.off+ti.size(); i++ {
			d := float64(g32[i]) - g64[i]
			d2 += d * d
			n2 += g64[i] * g64[i]
		}
		rel := math.Sqrt(d2 / n2)
		worst = max(worst, rel)
		if rel > 1e-4 {
			t.Errorf("%s: ‖g32−g64‖/‖g64‖ = %.2g", ti.name, rel)
		}
	}
	t.Logf("worst per-tensor relative gradient difference %.2g", worst)
}
