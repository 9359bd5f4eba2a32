package llm

import (
	"math"

	"golang.org/x/sys/cpu"
)

// useAVX2 reports whether the assembly kernels may run on this CPU.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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

// dot4x2 is dot4 for the two vectors x[:cols] and x[cols:2*cols].
func dot4x2(w []float32, stride int, x []float32, cols int, out *[8]float32) {
	_ = w[3*stride+cols-1]
	_ = x[2*cols-1]
	if useAVX2 && cols >= 8 {
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
	for r := range 4 {
		out[r] = dotGo(w[r*stride:r*stride+cols], x[:cols])
		out[4+r] = dotGo(w[r*stride:r*stride+cols], x[cols:2*cols])
	}
}
