package finetune

import (
	"runtime"
	"sync"
)

// float is the element type of a network's parameters and activations:
// float32 for training, float64 for the gradient checks.
type float interface{ ~float32 | ~float64 }

// minParallelWork is the least work (in multiply-adds) worth splitting
// across goroutines.
const minParallelWork = 1 << 16

// parallel calls fn over [0,n) split into contiguous ranges, one per
// goroutine when n*cost multiply-adds are worth it. Every caller makes each
// output element depend on a single index of the range, computed by the same
// sequential code whatever the split, so results do not depend on
// GOMAXPROCS.
func parallel(n, cost int, fn func(lo, hi int)) {
	w := min(runtime.GOMAXPROCS(0), n)
	if w <= 1 || n*cost < minParallelWork {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for i := 1; i < w; i++ {
		wg.Go(func() { fn(n*i/w, n*(i+1)/w) })
	}
	fn(0, n/w)
	wg.Wait()
}

// dot returns the dot product of a and b[:len(a)], summed in order: the
// same order as every block of kernel, so a value does not depend on which
// block computed it.
func dot[T float](a, b []T) T {
	b = b[:len(a)]
	var s T
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// axpy adds a*x to y.
func axpy[T float](a T, x, y []T) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// kernel sets (or, with acc, adds to) out[t*m+o] the dot product of
// x[t*k:(t+1)*k] and w[o*k:(o+1)*k] for t < n and o in [lo, hi), in tiles
// that stay in cache, two rows of x by four of w at a time. Every value is
// a plain in-order sum, whatever block computes it. It is the portable
// scalar kernel: the float64 path's, and the float32 one's only under
// scalarKernels (benchmarks and tests); float32 training uses gemm32.
func kernel[T float](out, x, w []T, n, k, m, lo, hi int, acc bool) {
	tile := max(4, min(64, (32<<10)/max(k, 1))&^3)
	put := func(i int, v T) {
		if acc {
			out[i] += v
		} else {
			out[i] = v
		}
	}
	for tb := 0; tb < n; tb += tile {
		te := min(tb+tile, n)
		for ob := lo; ob < hi; ob += tile {
			oe := min(ob+tile, hi)
			o := ob
			for ; o+4 <= oe; o += 4 {
				w0, w1, w2, w3 := w[o*k:(o+1)*k], w[(o+1)*k:(o+2)*k], w[(o+2)*k:(o+3)*k], w[(o+3)*k:(o+4)*k]
				t := tb
				for ; t+2 <= te; t += 2 {
					x0, x1 := x[t*k:(t+1)*k], x[(t+1)*k:(t+2)*k]
					w0, w1, w2, w3 := w0[:len(x0)], w1[:len(x0)], w2[:len(x0)], w3[:len(x0)]
					x1 = x1[:len(x0)]
					var a0, a1, a2, a3, b0, b1, b2, b3 T
					for i, u := range x0 {
						v := x1[i]
						a0 += u * w0[i]
						a1 += u * w1[i]
						a2 += u * w2[i]
						a3 += u * w3[i]
						b0 += v * w0[i]
						b1 += v * w1[i]
						b2 += v * w2[i]
						b3 += v * w3[i]
					}
					r0, r1 := out[t*m+o:t*m+o+4], out[(t+1)*m+o:(t+1)*m+o+4]
					if acc {
						r0[0], r0[1], r0[2], r0[3] = r0[0]+a0, r0[1]+a1, r0[2]+a2, r0[3]+a3
						r1[0], r1[1], r1[2], r1[3] = r1[0]+b0, r1[1]+b1, r1[2]+b2, r1[3]+b3
					} else {
						r0[0], r0[1], r0[2], r0[3] = a0, a1, a2, a3
						r1[0], r1[1], r1[2], r1[3] = b0, b1, b2, b3
					}
				}
				for ; t < te; t++ {
					x0 := x[t*k : (t+1)*k]
					put(t*m+o, dot(x0, w0))
					put(t*m+o+1, dot(x0, w1))
					put(t*m+o+2, dot(x0, w2))
					put(t*m+o+3, dot(x0, w3))
				}
			}
			for ; o < oe; o++ {
				for t := tb; t < te; t++ {
					put(t*m+o, dot(x[t*k:(t+1)*k], w[o*k:(o+1)*k]))
				}
			}
		}
	}
}

// split calls fn over [0,m) in ranges that are multiples of 4, in parallel
// when n*k*m multiply-adds are worth it.
func split(m, cost int, fn func(lo, hi int)) {
	q := (m + 3) / 4
	parallel(q, cost*4, func(lo, hi int) { fn(lo*4, min(hi*4, m)) })
}

// matmul sets out (n×m) to x (n×k) times wᵀ, where w is m×k row-major (an
// nn.Linear weight): out[t][o] = x[t]·w[o]. The float32 SIMD path reads
// wt, wᵀ (k×m) as net.weightsT keeps it; the scalar kernel reads w.
func matmul[T float](out, x, w, wt []T, n, k, m int) {
	if o, ok := any(out).([]float32); ok && !scalarKernels {
		gemm32(o, any(x).([]float32), any(wt).([]float32), n, k, m, false)
		return
	}
	split(m, n*k, func(lo, hi int) { kernel(out, x, w, n, k, m, lo, hi, false) })
}

// transpose writes the r×c matrix a transposed (c×r) to dst and returns it.
func transpose[T float](dst, a []T, r, c int) []T {
	dst = dst[:r*c]
	const b = 32
	for ib := 0; ib < r; ib += b {
		for jb := 0; jb < c; jb += b {
			for i := ib; i < min(ib+b, r); i++ {
				for j := jb; j < min(jb+b, c); j++ {
					dst[j*r+i] = a[i*c+j]
				}
			}
		}
	}
	return dst
}

// matmulBackX adds dy (n×m) times w (m×k) to dx (n×k). The SIMD path
// multiplies by w directly; the scalar one goes through wᵀ (in scratch
// tw): dx[t][i] += dy[t]·wᵀ[i].
func matmulBackX[T float](dx, dy, w, tw []T, n, k, m int) {
	if o, ok := any(dx).([]float32); ok && !scalarKernels {
		gemm32(o, any(dy).([]float32), any(w).([]float32), n, m, k, true)
		return
	}
	wt := transpose(tw, w[:m*k], m, k)
	split(k, n*m, func(lo, hi int) { kernel(dx, dy, wt, n, m, k, lo, hi, true) })
}

// matmulBackW adds dyᵀ (m×n) times x (n×k) to dw (m×k), through dyᵀ (in
// scratch ta) and, for the scalar kernel, xᵀ (in tb): dw[o][i] +=
// dyᵀ[o]·xᵀ[i].
func matmulBackW[T float](dw, dy, x, ta, tb []T, n, k, m int) {
	if o, ok := any(dw).([]float32); ok && !scalarKernels {
		dyt := transposeParallel(any(ta).([]float32), any(dy).([]float32)[:n*m], n, m)
		gemm32(o, dyt, any(x).([]float32), m, n, k, true)
		return
	}
	dyt := transpose(ta, dy[:n*m], n, m)
	xt := transpose(tb, x[:n*k], n, k)
	split(k, n*m, func(lo, hi int) { kernel(dw, dyt, xt, m, n, k, lo, hi, true) })
}
