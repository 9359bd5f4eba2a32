package finetune

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkGemm32 times gemm32 on the stories15M shape's matmuls (one
// sequence of 256 positions), with vek32 rows and with fma4x16.
func BenchmarkGemm32(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range []struct {
		name    string
		n, k, p int
		acc     bool
	}{
		{"fwd-qkvo", 256, 288, 288, false},
		{"fwd-gate", 256, 288, 768, false},
		{"fwd-down", 256, 768, 288, false},
		{"fwd-head", 256, 288, 32000, false},
		{"dx-head", 256, 32000, 288, true},
		{"dw-head", 32000, 256, 288, true},
	} {
		a, bm, out := randF32(rng, sz.n*sz.k), randF32(rng, sz.k*sz.p), make([]float32, sz.n*sz.p)
		for _, vek := range []bool{true, false} {
			name := "fma4x16"
			if vek {
				name = "vek32"
			}
			b.Run(sz.name+"/"+name, func(b *testing.B) {
				defer func(old bool) { vekGemm = old }(vekGemm)
				vekGemm = vek
				for b.Loop() {
					gemm32(out, a, bm, sz.n, sz.k, sz.p, sz.acc)
				}
				b.ReportMetric(2*float64(sz.n*sz.k*sz.p)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
