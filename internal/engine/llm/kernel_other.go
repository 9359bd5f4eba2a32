//go:build !amd64

package llm

import "math"

// useAVX2 and useAVX512 are false off amd64: the portable kernels run.
const (
	useAVX2   = false
	useAVX512 = false
)

// dot4 writes to out the dot products of x with rows w[0], w[stride],
// w[2*stride] and w[3*stride], each len(x) long.
func dot4(w []float32, stride int, x []float32, out *[4]float32) {
	n := len(x)
	for r := range 4 {
		out[r] = dotGo(w[r*stride:r*stride+n], x)
	}
}

// dot4I8 is dot4 for int8 rows; the caller applies the row scales.
func dot4I8(w []int8, stride int, x []float32, out *[4]float32) {
	n := len(x)
	for r := range 4 {
		out[r] = dotI8Go(w[r*stride:r*stride+n], x)
	}
}

// dot returns the dot product of a and b[:len(a)].
func dot(a, b []float32) float32 { return dotGo(a, b) }

// expSub replaces x[i] by exp(x[i]-m) and returns their sum.
func expSub(x []float32, m float32) float32 {
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += e
	}
	return sum
}

// axpy adds a*x to y.
func axpy(a float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += a * v
	}
}

// dot4x2 is dot4 for the two vectors x[:cols] and x[cols:2*cols].
func dot4x2(w []float32, stride int, x []float32, cols int, out *[8]float32) {
	for r := range 4 {
		out[r] = dotGo(w[r*stride:r*stride+cols], x[:cols])
		out[4+r] = dotGo(w[r*stride:r*stride+cols], x[cols:2*cols])
	}
}

// dot4x4 is dot4 for the four vectors x[c*cols:(c+1)*cols], c < 4: out[4*c+r]
// is row r's dot product with vector c.
func dot4x4(w []float32, stride int, x []float32, cols int, out *[16]float32) {
	for c := range 4 {
		dot4(w, stride, x[c*cols:(c+1)*cols], (*[4]float32)(out[4*c:4*c+4]))
	}
}

// wsum adds to out the sum over p < len(a) of a[p] times the vector
// v[p*stride:p*stride+len(out)], in order of p.
func wsum(a, v []float32, stride int, out []float32) {
	hd := len(out)
	for p, ap := range a {
		axpy(ap, v[p*stride:p*stride+hd], out)
	}
}

// dot4x8 is dot4x4 for the eight vectors x[c*cols:(c+1)*cols], c < 8.
func dot4x8(w []float32, stride int, x []float32, cols int, out *[32]float32) {
	dot4x4(w, stride, x[:4*cols], cols, (*[16]float32)(out[:16]))
	dot4x4(w, stride, x[4*cols:8*cols], cols, (*[16]float32)(out[16:]))
}

// siluMul sets g[i] to silu(g[i]) * u[i]: SwiGLU's gate applied to up.
func siluMul(g, u []float32) {
	u = u[:len(g)]
	for i, v := range g {
		g[i] = silu(v) * u[i]
	}
}
