package finetune

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestMatmulKernels checks the three matmuls against in-order sums, for
// shapes that exercise every block and tail of kernel, with one and two
// goroutines: each value must be exactly the in-order sum, whichever block
// computed it.
func TestMatmulKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	for _, sz := range [][3]int{{1, 1, 1}, {7, 13, 11}, {2, 5, 4}, {9, 300, 67}, {64, 64, 300}} {
		n, k, m := sz[0], sz[1], sz[2]
		x, w, dy := vec(n*k), vec(m*k), vec(n*m)
		for _, procs := range []int{1, 2} {
			prev := runtime.GOMAXPROCS(procs)
			out := make([]float32, n*m)
			matmul(out, x, w, n, k, m)
			dx := vec(n * k)
			dx0 := append([]float32(nil), dx...)
			matmulBackX(dx, dy, w, make([]float32, m*k), n, k, m)
			dw := vec(m * k)
			dw0 := append([]float32(nil), dw...)
			matmulBackW(dw, dy, x, make([]float32, n*m), make([]float32, n*k), n, k, m)
			runtime.GOMAXPROCS(prev)
			for r := range n {
				for o := range m {
					var s float32
					for i := range k {
						s += x[r*k+i] * w[o*k+i]
					}
					if out[r*m+o] != s {
						t.Fatalf("%v procs %d: matmul[%d][%d] = %g, want %g", sz, procs, r, o, out[r*m+o], s)
					}
				}
				for i := range k {
					var s float32
					for o := range m {
						s += dy[r*m+o] * w[o*k+i]
					}
					if want := dx0[r*k+i] + s; dx[r*k+i] != want {
						t.Fatalf("%v procs %d: dx[%d][%d] = %g, want %g", sz, procs, r, i, dx[r*k+i], want)
					}
				}
			}
			for o := range m {
				for i := range k {
					var s float32
					for r := range n {
						s += dy[r*m+o] * x[r*k+i]
					}
					if want := dw0[o*k+i] + s; dw[o*k+i] != want {
						t.Fatalf("%v procs %d: dw[%d][%d] = %g, want %g", sz, procs, o, i, dw[o*k+i], want)
					}
				}
			}
		}
	}
}
