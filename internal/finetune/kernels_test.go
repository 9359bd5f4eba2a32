package finetune

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// kernelShapes are (n, k, m) shapes that exercise every block and tail of
// the scalar kernel, and of gemm32: several column tiles (m or k >
// gemmPC), inner chunks (n, k or m > gemmKC), one-column outputs, rows
// and columns left over from fma4x16's 4×16 blocks, the parallel split.
var kernelShapes = [][3]int{{1, 1, 1}, {7, 13, 11}, {2, 5, 4}, {9, 300, 67}, {64, 64, 300}, {3, 257, 129}, {33, 520, 2}, {1, 17, 1}, {2, 40, 1100}, {300, 2, 5}}

// matmulResults runs the three matmuls on random inputs of shape sz with
// procs goroutines, starting dx and dw from dx0 and dw0.
func matmulResults(sz [3]int, procs int, x, w, dy, dx0, dw0 []float32) (out, dx, dw []float32) {
	n, k, m := sz[0], sz[1], sz[2]
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	out = make([]float32, n*m)
	matmul(out, x, w, transpose(make([]float32, m*k), w, m, k), n, k, m)
	dx = slices.Clone(dx0)
	matmulBackX(dx, dy, w, make([]float32, m*k), n, k, m)
	dw = slices.Clone(dw0)
	matmulBackW(dw, dy, x, make([]float32, n*m), make([]float32, n*k), n, k, m)
	return out, dx, dw
}

func randF32(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// TestScalarKernel checks the portable scalar kernel (the float64 path's,
// and the float32 one's under scalarKernels) against in-order sums, with
// one and two goroutines: each value must be exactly the in-order sum,
// whichever block computed it.
func TestScalarKernel(t *testing.T) {
	scalarKernels = true
	defer func() { scalarKernels = false }()
	rng := rand.New(rand.NewPCG(1, 1))
	for _, sz := range kernelShapes {
		n, k, m := sz[0], sz[1], sz[2]
		x, w, dy := randF32(rng, n*k), randF32(rng, m*k), randF32(rng, n*m)
		dx0, dw0 := randF32(rng, n*k), randF32(rng, m*k)
		for _, procs := range []int{1, 2} {
			out, dx, dw := matmulResults(sz, procs, x, w, dy, dx0, dw0)
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

// TestMatmulKernels checks the float32 SIMD matmuls against float64
// references: every value must be within 4·2⁻²⁴·√(terms)·Σ|term| of the
// exact sum (a float32 sum of that many terms, rounding like a random
// walk, is typically within 2⁻²⁴·√terms·Σ|term|), and the results with 1,
// 2 and 3 goroutines must be bit-identical.
func TestMatmulKernels(t *testing.T) {
	for _, vek := range []bool{false, true} {
		t.Run(gemmPath(vek), func(t *testing.T) {
			defer func(old bool) { vekGemm = old }(vekGemm)
			vekGemm = vek
			testMatmulKernels(t)
		})
	}
}

// gemmPath names gemm32's path for vekGemm = vek.
func gemmPath(vek bool) string {
	if vek || !haveFMA4x16 {
		return "vek32"
	}
	return "fma4x16"
}

func testMatmulKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	worst := 0.0
	check := func(name string, sz [3]int, got float32, terms int, ref func(j int) float64) {
		t.Helper()
		var exact, abs float64
		for j := range terms {
			v := ref(j)
			exact += v
			abs += math.Abs(v)
		}
		err := math.Abs(float64(got) - exact)
		unit := 0x1p-24 * math.Sqrt(float64(terms)) * abs
		if unit > 0 {
			worst = max(worst, err/unit)
		}
		if err > 4*unit {
			t.Fatalf("%v: %s = %.9g, exact %.9g: error %.3g > 4·2⁻²⁴·√%d·Σ|term| = %.3g", sz, name, got, exact, err, terms, 4*unit)
		}
	}
	for _, sz := range kernelShapes {
		n, k, m := sz[0], sz[1], sz[2]
		x, w, dy := randF32(rng, n*k), randF32(rng, m*k), randF32(rng, n*m)
		dx0, dw0 := randF32(rng, n*k), randF32(rng, m*k)
		out, dx, dw := matmulResults(sz, 1, x, w, dy, dx0, dw0)
		for _, procs := range []int{2, 3} {
			out2, dx2, dw2 := matmulResults(sz, procs, x, w, dy, dx0, dw0)
			if !slices.Equal(out, out2) || !slices.Equal(dx, dx2) || !slices.Equal(dw, dw2) {
				t.Fatalf("%v: results with %d goroutines differ from those with 1", sz, procs)
			}
		}
		for r := range n {
			for o := range m {
				check("matmul", sz, out[r*m+o], k, func(i int) float64 { return float64(x[r*k+i]) * float64(w[o*k+i]) })
			}
			for i := range k {
				check("dx", sz, dx[r*k+i], m+1, func(o int) float64 {
					if o == m {
						return float64(dx0[r*k+i])
					}
					return float64(dy[r*m+o]) * float64(w[o*k+i])
				})
			}
		}
		for o := range m {
			for i := range k {
				check("dw", sz, dw[o*k+i], n+1, func(r int) float64 {
					if r == n {
						return float64(dw0[o*k+i])
					}
					return float64(dy[r*m+o]) * float64(x[r*k+i])
				})
			}
		}
	}
	t.Logf("worst error %.3g·2⁻²⁴·√terms·Σ|term|", worst)
}

// TestGemmSplitIndependent computes gemm32's output block by block over
// random partitions of rows and columns, in a random order, and expects
// exactly the values of one gemm32 call: no value depends on how the work
// is split.
func TestGemmSplitIndependent(t *testing.T) {
	for _, vek := range []bool{false, true} {
		t.Run(gemmPath(vek), func(t *testing.T) {
			defer func(old bool) { vekGemm = old }(vekGemm)
			vekGemm = vek
			testGemmSplitIndependent(t)
		})
	}
}

func testGemmSplitIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	// cuts splits [0,n) at random into ranges 2 to most (≥ 3) wide, or
	// one range when n < 2.
	cuts := func(n, most int) []int {
		c := []int{0}
		for last := 0; last < n; last = c[len(c)-1] {
			end := min(n, last+2+rng.IntN(most-1))
			if n-end == 1 && end+1-last <= most {
				end = n
			} else if n-end == 1 {
				end-- // from most wide to most−1, leaving 2
			}
			c = append(c, end)
		}
		return c
	}
	for _, sz := range [][3]int{{9, 300, 67}, {40, 600, 300}, {5, 40, 513}} {
		n, k, p := sz[0], sz[1], sz[2]
		{
			for _, acc := range []bool{false, true} {
				a, b, c0 := randF32(rng, n*k), randF32(rng, k*p), randF32(rng, n*p)
				want := slices.Clone(c0)
				gemm32(want, a, b, n, k, p, acc)
				got := slices.Clone(c0)
				s := gemmPool.Get().(*gemmScratch)
				rc, cc := cuts(n, n), cuts(p, p)
				var blocks [][4]int
				for i := 1; i < len(rc); i++ {
					for j := 1; j < len(cc); j++ {
						blocks = append(blocks, [4]int{rc[i-1], rc[i], cc[j-1], cc[j]})
					}
				}
				rng.Shuffle(len(blocks), func(i, j int) { blocks[i], blocks[j] = blocks[j], blocks[i] })
				for _, bl := range blocks {
					gemmBlock(got, a, b, s, n, k, p, bl[0], bl[1], bl[2], bl[3], acc)
				}
				gemmPool.Put(s)
				if !slices.Equal(got, want) {
					t.Fatalf("%v acc=%v: blocks %v give other values than one call", sz, acc, blocks)
				}
			}
		}
	}
}

// TestGemmPathsAgree expects gemm32 to give the same values through
// fma4x16 as through vek32 rows (for outputs at least 2 columns wide, as
// vek32 computes one-column products as dot products), over row and
// column remainders, several inner chunks and column tiles.
func TestGemmPathsAgree(t *testing.T) {
	if !haveFMA4x16 {
		t.Skip("no AVX2 and FMA: gemm32 always uses vek32")
	}
	defer func(old bool) { vekGemm = old }(vekGemm)
	rng := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 3, 4, 9} {
		for _, k := range []int{1, 7, 256, 600} {
			for _, p := range []int{2, 17, 32, 300, 1100} {
				for _, acc := range []bool{false, true} {
					a, b, c0 := randF32(rng, n*k), randF32(rng, k*p), randF32(rng, n*p)
					got, want := slices.Clone(c0), slices.Clone(c0)
					vekGemm = false
					gemm32(got, a, b, n, k, p, acc)
					vekGemm = true
					gemm32(want, a, b, n, k, p, acc)
					if !slices.Equal(got, want) {
						t.Fatalf("n %d k %d p %d acc %v: fma4x16 and vek32 differ", n, k, p, acc)
					}
				}
			}
		}
	}
}

// TestAttention32MatchesFloat64 compares the float32 SIMD attention,
// forward and backward, with the float64 scalar one, causal and with a
// sliding window, with grouped queries and an odd length: each output's
// ‖x32 − x64‖/‖x64‖ must be at most 1e-5.
func TestAttention32MatchesFloat64(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, a := range []attnShape{
		{n: 37, heads: 4, kvHeads: 2, hd: 8},
		{n: 37, heads: 6, kvHeads: 3, hd: 48, window: 5},
		{n: 1, heads: 2, kvHeads: 1, hd: 4},
	} {
		qd, kvd := a.heads*a.hd, a.kvHeads*a.hd
		q, k, v, dout := randF32(rng, a.n*qd), randF32(rng, a.n*kvd), randF32(rng, a.n*kvd), randF32(rng, a.n*qd)
		to64 := func(x []float32) []float64 {
			y := make([]float64, len(x))
			for i, v := range x {
				y[i] = float64(v)
			}
			return y
		}
		// Stale values in p and non-zero gradients to add to.
		out32, p32 := make([]float32, a.n*qd), randF32(rng, a.heads*a.n*a.n)
		dq32, dk32, dv32 := randF32(rng, a.n*qd), randF32(rng, a.n*kvd), randF32(rng, a.n*kvd)
		out64, p64 := make([]float64, a.n*qd), make([]float64, a.heads*a.n*a.n)
		dq64, dk64, dv64 := to64(dq32), to64(dk32), to64(dv32)
		attentionForward(out32, p32, q, k, v, a)
		attentionBackward(dq32, dk32, dv32, dout, p32, q, k, v, make([]float32, a.heads*a.n), a)
		attentionForward(out64, p64, to64(q), to64(k), to64(v), a)
		attentionBackward(dq64, dk64, dv64, to64(dout), p64, to64(q), to64(k), to64(v), make([]float64, a.heads*a.n), a)
		for _, c := range []struct {
			name string
			x32  []float32
			x64  []float64
		}{{"out", out32, out64}, {"dq", dq32, dq64}, {"dk", dk32, dk64}, {"dv", dv32, dv64}} {
			var d2, n2 float64
			for i, v := range c.x64 {
				d := float64(c.x32[i]) - v
				d2 += d * d
				n2 += v * v
			}
			if rel := math.Sqrt(d2 / n2); rel > 1e-5 {
				t.Errorf("%+v: %s: ‖x32−x64‖/‖x64‖ = %.2g", a, c.name, rel)
			}
		}
	}
}
