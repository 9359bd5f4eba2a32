package finetune

import (
	"fmt"
	"testing"

	"strata/internal/modelgen"
)

// trainFLOPs estimates one step's floating-point operations: 6 per
// parameter per token for the matmuls (forward and two backward), plus
// causal attention's 6·L·d·T per token, over tokens tokens of length t.
func trainFLOPs(l *layout, tokens, t int) float64 {
	return float64(tokens) * (6*float64(l.size-l.layers*2*l.dim-l.dim) + 6*float64(l.layers*l.heads*l.hd*t))
}

func benchTrainStep(b *testing.B, dir string, batch, t int) {
	m, err := Load(b.Context(), dir, Limits{})
	if err != nil {
		b.Fatal(err)
	}
	seqs := randomSeqs(batch, t+1, m.lay.vocab, false, 1)
	steps := 0
	for b.Loop() {
		if err := m.Train(b.Context(), seqs, Options{BatchSize: batch, MaxSeqLen: t + 1}); err != nil {
			b.Fatal(err)
		}
		steps++
	}
	sec := b.Elapsed().Seconds() / float64(steps)
	b.ReportMetric(float64(batch*t)/sec, "tokens/s")
	b.ReportMetric(trainFLOPs(m.lay, batch*t, t)/sec/1e9, "GFLOP/s")
}

// BenchmarkTrainStep times one AdamW step of a random stories15M-shaped
// model (dim 288, 6 layers, vocab 32000, tied) at B=8, T=256, and of
// stories260K's shape at the acceptance test's B=4, T=64, each with the
// scalar and the SIMD float32 kernels (see benchKernels).
func BenchmarkTrainStep(b *testing.B) {
	for _, tc := range []struct {
		name     string
		spec     modelgen.Spec
		batch, t int
	}{
		{"stories15M-shape", modelgen.Stories15M(), 8, 256},
	} {
		b.Run(fmt.Sprintf("%s/B=%d,T=%d", tc.name, tc.batch, tc.t), func(b *testing.B) {
			dir := b.TempDir()
			if err := modelgen.Generate(dir, tc.spec); err != nil {
				b.Fatal(err)
			}
			benchKernels(b, func(b *testing.B) { benchTrainStep(b, dir, tc.batch, tc.t) })
		})
	}
	b.Run("stories260K/B=4,T=64", func(b *testing.B) {
		dir := stories260K(b)
		benchKernels(b, func(b *testing.B) { benchTrainStep(b, dir, 4, 64) })
	})
}

// benchKernels runs bench as three sub-benchmarks: kernel=scalar (the
// portable scalar float32 kernels, as before the SIMD ones), kernel=vek
// (gemm32 on vek32 rows) and kernel=fma (the default: gemm32 on fma4x16
// where the CPU has AVX2 and FMA, else vek32 again). With -count each
// one repeats in place; bench/finetune/compare.sh alternates them.
func benchKernels(b *testing.B, bench func(b *testing.B)) {
	for _, k := range []struct {
		name        string
		scalar, vek bool
	}{{"scalar", true, false}, {"vek", false, true}, {"fma", false, false}} {
		b.Run("kernel="+k.name, func(b *testing.B) {
			defer func(s, v bool) { scalarKernels, vekGemm = s, v }(scalarKernels, vekGemm)
			scalarKernels, vekGemm = k.scalar, k.vek
			bench(b)
		})
	}
}
