package llm

import (
	"math"

	"golang.org/x/sys/cpu"
)

// useAVX2 reports whether the AVX2 assembly kernels may run on this CPU,
// and useAVX512 whether the AVX-512 ones for F32 rows may (matRows then
// takes batches in blocks of dot4x8 and dot4x4 rather than dot4x2). Tests
// switch them to check every path.
var (
	useAVX2   = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useAVX512 = useAVX2 && cpu.X86.HasAVX512F
)

// dot4AVX512 is dot4AVX2 with 16-value chunks; n is a multiple of 16. It
// also prefetches 16*n bytes from w+pf (pf in bytes).
//
//go:noescape
func dot4AVX512(w *float32, stride int, x *float32, n int, out *[4]float32, pf int)

// prefetchRows is how many rows past the block being read the AVX-512
// kernels prefetch: 8, the block after next. With it, decode steps at the
// stories15M shape ran 15-25% faster per CPU second on the development
// machine than without (bench/engine/RESULTS.md); at stories110M, bound by
// DRAM, it made no measurable difference.
const prefetchRows = 8

// prefetchAhead returns the offset in bytes from a block of four rows of
// stride values to the rows the AVX-512 kernels prefetch while they read
// the block.
func prefetchAhead(stride int) int {
	return prefetchRows * 4 * stride
}

// dot4x4AVX512 writes to out[4*c+r] the dot product of row r (rows stride
// apart from w) with vector c (vectors xstride apart from x), over n values
// (a multiple of 16), for r, c < 4, and prefetches as dot4AVX512 does.
//
//go:noescape
func dot4x4AVX512(w *float32, stride int, x *float32, xstride int, n int, out *[16]float32, pf int)

// dot2x8AVX512 writes to out[2*c+r] the dot product of row r (rows stride
// apart from w) with vector c (vectors xstride apart from x), over n values
// (a multiple of 16), for r < 2 and c < 8, and prefetches 8*n bytes from
// w+pf.
//
//go:noescape
func dot2x8AVX512(w *float32, stride int, x *float32, xstride int, n int, out *[16]float32, pf int)

// dot4x8 is dot4x4 for the eight vectors x[c*cols:(c+1)*cols], c < 8:
// out[4*c+r] is row r's dot product with vector c, bit for bit the one
// dot4 gives. With AVX-512 each weight line is loaded once for all eight.
func dot4x8(w []float32, stride int, x []float32, cols int, out *[32]float32) {
	_ = w[3*stride+cols-1]
	_ = x[8*cols-1]
	if useAVX512 && cols >= 16 {
		m := cols &^ 15
		var lo, hi [16]float32
		pf := prefetchAhead(stride)
		dot2x8AVX512(&w[0], stride, &x[0], cols, m, &lo, pf)
		dot2x8AVX512(&w[2*stride], stride, &x[0], cols, m, &hi, pf)
		for c := range 8 {
			o := out[4*c : 4*c+4 : 4*c+4]
			o[0], o[1], o[2], o[3] = lo[2*c], lo[2*c+1], hi[2*c], hi[2*c+1]
		}
		if m < cols {
			for c := range 8 {
				xc := x[c*cols+m : (c+1)*cols]
				for r := range 4 {
					out[4*c+r] += dotGo(w[r*stride+m:r*stride+cols], xc)
				}
			}
		}
		return
	}
	dot4x4(w, stride, x[:4*cols], cols, (*[16]float32)(out[:16]))
	dot4x4(w, stride, x[4*cols:8*cols], cols, (*[16]float32)(out[16:]))
}

// dot4x4 is dot4 for the four vectors x[c*cols:(c+1)*cols], c < 4: out[4*c+r]
// is row r's dot product with vector c. Each result is bit for bit the one
// dot4 gives for that vector alone.
func dot4x4(w []float32, stride int, x []float32, cols int, out *[16]float32) {
	_ = w[3*stride+cols-1]
	_ = x[4*cols-1]
	if useAVX512 && cols >= 16 {
		m := cols &^ 15
		dot4x4AVX512(&w[0], stride, &x[0], cols, m, out, prefetchAhead(stride))
		if m < cols {
			for c := range 4 {
				xc := x[c*cols+m : (c+1)*cols]
				for r := range 4 {
					out[4*c+r] += dotGo(w[r*stride+m:r*stride+cols], xc)
				}
			}
		}
		return
	}
	for c := range 4 {
		dot4(w, stride, x[c*cols:(c+1)*cols], (*[4]float32)(out[4*c:4*c+4]))
	}
}

// dot4AVX2 writes to out the dot products of x[:n] with the four rows that
// start at w, w+stride, w+2*stride and w+3*stride. n is a multiple of 8.
//
//go:noescape
func dot4AVX2(w *float32, stride int, x *float32, n int, out *[4]float32)

// dot4I8AVX2 is dot4AVX2 for int8 rows (without their scales).
//
//go:noescape
func dot4I8AVX2(w *int8, stride int, x *float32, n int, out *[4]float32)

// dot1AVX2 returns the dot product of a[:n] and b[:n]; n is a multiple of 8.
//
//go:noescape
func dot1AVX2(a, b *float32, n int) float32

// dot4 writes to out the dot products of x with rows w[0], w[stride],
// w[2*stride] and w[3*stride], each len(x) long.
func dot4(w []float32, stride int, x []float32, out *[4]float32) {
	n := len(x)
	_ = w[3*stride+n-1]
	if useAVX512 && n >= 16 {
		m := n &^ 15
		dot4AVX512(&w[0], stride, &x[0], m, out, prefetchAhead(stride))
		if m < n {
			for r := range 4 {
				out[r] += dotGo(w[r*stride+m:r*stride+n], x[m:])
			}
		}
		return
	}
	if useAVX2 && n >= 8 {
		m := n &^ 7
		dot4AVX2(&w[0], stride, &x[0], m, out)
		if m < n {
			for r := range 4 {
				out[r] += dotGo(w[r*stride+m:r*stride+n], x[m:])
			}
		}
		return
	}
	for r := range 4 {
		out[r] = dotGo(w[r*stride:r*stride+n], x)
	}
}

// dot4I8 is dot4 for int8 rows; the caller applies the row scales.
func dot4I8(w []int8, stride int, x []float32, out *[4]float32) {
	n := len(x)
	_ = w[3*stride+n-1]
	if useAVX2 && n >= 8 {
		m := n &^ 7
		dot4I8AVX2(&w[0], stride, &x[0], m, out)
		if m < n {
			for r := range 4 {
				out[r] += dotI8Go(w[r*stride+m:r*stride+n], x[m:])
			}
		}
		return
	}
	for r := range 4 {
		out[r] = dotI8Go(w[r*stride:r*stride+n], x)
	}
}

// dot returns the dot product of a and b[:len(a)].
func dot(a, b []float32) float32 {
	n := len(a)
	if useAVX2 && n >= 8 {
		b = b[:n]
		m := n &^ 7
		s := dot1AVX2(&a[0], &b[0], m)
		if m < n {
			s += dotGo(a[m:], b[m:])
		}
		return s
	}
	return dotGo(a, b)
}

// expSubAVX2 replaces x[i] by exp(x[i]-m) for i < n (a multiple of 8) and
// returns their sum. Values below e^-87 are clamped there.
//
//go:noescape
func expSubAVX2(x *float32, n int, m float32) float32

// axpyAVX2 adds a*x[i] to y[i] for i < n (a multiple of 8).
//
//go:noescape
func axpyAVX2(a float32, x, y *float32, n int)

// expSub replaces x[i] by exp(x[i]-m) and returns their sum.
func expSub(x []float32, m float32) float32 {
	n := len(x)
	var sum float32
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		sum = expSubAVX2(&x[0], i, m)
	}
	for ; i < n; i++ {
		e := float32(math.Exp(float64(x[i] - m)))
		x[i] = e
		sum += e
	}
	return sum
}

// axpy adds a*x to y.
func axpy(a float32, x, y []float32) {
	n := len(x)
	y = y[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		axpyAVX2(a, &x[0], &y[0], i)
	}
	for ; i < n; i++ {
		y[i] += a * x[i]
	}
}

// dot4x2AVX2 computes dot4AVX2 for two vectors, x and x+xstride:
// out[0:4] for the first, out[4:8] for the second.
//
//go:noescape
func dot4x2AVX2(w *float32, stride int, x *float32, xstride int, n int, out *[8]float32)

// dot4x2 is dot4 for the two vectors x[:cols] and x[cols:2*cols]: out[r]
// and out[4+r] are row r's dot products with them, each bit for bit the
// one dot4 gives. With AVX-512, matRows uses dot4x4 instead.
func dot4x2(w []float32, stride int, x []float32, cols int, out *[8]float32) {
	_ = w[3*stride+cols-1]
	_ = x[2*cols-1]
	if useAVX2 && !useAVX512 && cols >= 8 {
		m := cols &^ 7
		dot4x2AVX2(&w[0], stride, &x[0], cols, m, out)
		if m < cols {
			for r := range 4 {
				out[r] += dotGo(w[r*stride+m:r*stride+cols], x[m:cols])
				out[4+r] += dotGo(w[r*stride+m:r*stride+cols], x[cols+m:2*cols])
			}
		}
		return
	}
	dot4(w, stride, x[:cols], (*[4]float32)(out[:4]))
	dot4(w, stride, x[cols:2*cols], (*[4]float32)(out[4:]))
}

// wsumAVX512 adds to out[:hd] the sum over p < n of a[p] times the vector
// v[p*stride:p*stride+hd], for hd a multiple of 16 up to 128, keeping the
// sums in registers.
//
//go:noescape
func wsumAVX512(a *float32, v *float32, stride int, n int, hd int, out *float32)

// wsum adds to out the sum over p < len(a) of a[p] times the vector
// v[p*stride:p*stride+len(out)], in order of p.
func wsum(a, v []float32, stride int, out []float32) {
	n, hd := len(a), len(out)
	if n == 0 || hd == 0 {
		return
	}
	_ = v[(n-1)*stride+hd-1]
	if useAVX512 && hd%16 == 0 && hd <= 128 {
		wsumAVX512(&a[0], &v[0], stride, n, hd, &out[0])
		return
	}
	for p, ap := range a {
		axpy(ap, v[p*stride:p*stride+hd], out)
	}
}

// siluMulAVX2 sets x[i] to silu(x[i]) * u[i] for i < n (a multiple of 8).
//
//go:noescape
func siluMulAVX2(x, u *float32, n int)

// siluMul sets g[i] to silu(g[i]) * u[i]: SwiGLU's gate applied to up.
func siluMul(g, u []float32) {
	n := len(g)
	u = u[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		siluMulAVX2(&g[0], &u[0], i)
	}
	for ; i < n; i++ {
		g[i] = silu(g[i]) * u[i]
	}
}
