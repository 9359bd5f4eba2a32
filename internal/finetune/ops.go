package finetune

import (
	"math"

	"github.com/viterin/vek/vek32"
)

// This file holds the forward and backward pass of each building block, on
// one sequence of n positions. Backward functions add into their gradient
// outputs (+=), as llm.c's do.

// rmsnormForward writes x normalised by its root mean square and scaled by
// w to out, row by row (n rows of len(w)), and each row's inverse RMS to r.
// It computes as the inference engine does: the mean square in float64, the
// scaling in T.
func rmsnormForward[T float](out, r, x, w []T, n int, eps float64) {
	d := len(w)
	for t := range n {
		xt := x[t*d : (t+1)*d]
		var ss float64
		for _, v := range xt {
			ss += float64(v) * float64(v)
		}
		inv := T(1 / math.Sqrt(ss/float64(d)+eps))
		r[t] = inv
		ot := out[t*d : (t+1)*d]
		for i, v := range xt {
			ot[i] = w[i] * (v * inv)
		}
	}
}

// rmsnormBackward adds the gradients of y = w·x·r to dx and dw:
// dw += dy·x·r and dx += r·(dy⊙w) − x·r³·mean((dy⊙w)⊙x).
func rmsnormBackward[T float](dx, dw, dy, x, w, r []T, n int) {
	d := len(w)
	for t := range n {
		xt, dyt, dxt := x[t*d:(t+1)*d], dy[t*d:(t+1)*d], dx[t*d:(t+1)*d]
		rt := r[t]
		var s float64
		for i, g := range dyt {
			s += float64(g * w[i] * xt[i])
		}
		c := T(s/float64(d)) * rt * rt * rt
		for i, g := range dyt {
			dw[i] += g * xt[i] * rt
			dxt[i] += rt*(g*w[i]) - xt[i]*c
		}
	}
}

// ropeTables returns the cos and sin of every position's angles (n
// positions, len(invFreq) per position), computed in float64 and rounded,
// as the engine does.
func ropeTables[T float](invFreq []float64, n int) (cos, sin []T) {
	h := len(invFreq)
	cos, sin = make([]T, n*h), make([]T, n*h)
	for p := range n {
		for i, f := range invFreq {
			a := float64(p) * f
			cos[p*h+i] = T(math.Cos(a))
			sin[p*h+i] = T(math.Sin(a))
		}
	}
	return cos, sin
}

// ropeForward rotates every head (heads of size hd, n positions of
// heads*hd values) of v in place, in the rotate_half layout: dimension i
// pairs with i+hd/2.
func ropeForward[T float](v, cos, sin []T, n, heads, hd int) {
	h := hd / 2
	for t := range n {
		c, s := cos[t*h:(t+1)*h], sin[t*h:(t+1)*h]
		for hh := range heads {
			base := (t*heads + hh) * hd
			a, b := v[base:base+h], v[base+h:base+hd]
			for i := range h {
				x0, x1 := a[i], b[i]
				a[i] = x0*c[i] - x1*s[i]
				b[i] = x1*c[i] + x0*s[i]
			}
		}
	}
}

// ropeBackward turns the gradient of rotated vectors into the gradient of
// the unrotated ones, in place: a rotation's transpose rotates by −θ.
func ropeBackward[T float](dv, cos, sin []T, n, heads, hd int) {
	h := hd / 2
	for t := range n {
		c, s := cos[t*h:(t+1)*h], sin[t*h:(t+1)*h]
		for hh := range heads {
			base := (t*heads + hh) * hd
			a, b := dv[base:base+h], dv[base+h:base+hd]
			for i := range h {
				g0, g1 := a[i], b[i]
				a[i] = g0*c[i] + g1*s[i]
				b[i] = g1*c[i] - g0*s[i]
			}
		}
	}
}

// attnShape describes causal grouped-query attention over n positions.
type attnShape struct {
	n, heads, kvHeads, hd int
	window                int // sliding window in positions; 0 means none
}

// first returns the first position row t attends to.
func (a attnShape) first(t int) int {
	if a.window > 0 {
		return max(0, t-a.window+1)
	}
	return 0
}

// attentionForward computes out (n × heads·hd) from q (n × heads·hd) and k,
// v (n × kvHeads·hd): query head h of row t attends to positions
// first(t)..t of key/value head h/(heads/kvHeads). It keeps the attention
// probabilities in p (heads × n × n, row t's at p[(h*n+t)*n+first(t):]).
// float32 runs attentionForward32 (gemm32 products) unless scalarKernels
// is set.
func attentionForward[T float](out, p, q, k, v []T, a attnShape) {
	if o, ok := any(out).([]float32); ok && !scalarKernels {
		attentionForward32(o, any(p).([]float32), any(q).([]float32), any(k).([]float32), any(v).([]float32), a)
		return
	}
	n, hd := a.n, a.hd
	qd, kvd := a.heads*hd, a.kvHeads*hd
	group := a.heads / a.kvHeads
	scale := T(1 / math.Sqrt(float64(hd)))
	parallel(a.heads, n*n*hd, func(lo, hi int) {
		for h := lo; h < hi; h++ {
			off := (h / group) * hd
			for t := range n {
				f := a.first(t)
				qt := q[t*qd+h*hd : t*qd+(h+1)*hd]
				row := p[(h*n+t)*n : (h*n+t)*n+n]
				mx := T(math.Inf(-1))
				for u := f; u <= t; u++ {
					s := dot(qt, k[u*kvd+off:u*kvd+off+hd]) * scale
					row[u] = s
					mx = max(mx, s)
				}
				var sum T
				for u := f; u <= t; u++ {
					e := T(math.Exp(float64(row[u] - mx)))
					row[u] = e
					sum += e
				}
				inv := 1 / sum
				ot := out[t*qd+h*hd : t*qd+(h+1)*hd]
				clear(ot)
				for u := f; u <= t; u++ {
					row[u] *= inv
					axpy(row[u], v[u*kvd+off:u*kvd+off+hd], ot)
				}
			}
		}
	})
}

// attentionBackward adds to dq, dk and dv the gradients of the attention
// output's gradient dout, given the forward's q, k, v and probabilities p.
// Work is split by key/value head, so each goroutine owns its dk and dv
// columns; dp is scratch of heads × n values. float32 runs
// attentionBackward32 unless scalarKernels is set, with p as
// attentionForward32 leaves it.
func attentionBackward[T float](dq, dk, dv, dout, p, q, k, v, dp []T, a attnShape) {
	if o, ok := any(dq).([]float32); ok && !scalarKernels {
		attentionBackward32(o, any(dk).([]float32), any(dv).([]float32), any(dout).([]float32), any(p).([]float32),
			any(q).([]float32), any(k).([]float32), any(v).([]float32), a)
		return
	}
	n, hd := a.n, a.hd
	qd, kvd := a.heads*hd, a.kvHeads*hd
	group := a.heads / a.kvHeads
	scale := T(1 / math.Sqrt(float64(hd)))
	parallel(a.kvHeads, group*n*n*hd, func(lo, hi int) {
		for g := lo; g < hi; g++ {
			off := g * hd
			for h := g * group; h < (g+1)*group; h++ {
				dpr := dp[h*n : (h+1)*n]
				for t := range n {
					f := a.first(t)
					row := p[(h*n+t)*n : (h*n+t)*n+n]
					dyt := dout[t*qd+h*hd : t*qd+(h+1)*hd]
					qt := q[t*qd+h*hd : t*qd+(h+1)*hd]
					dqt := dq[t*qd+h*hd : t*qd+(h+1)*hd]
					var s T
					for u := f; u <= t; u++ {
						d := dot(dyt, v[u*kvd+off:u*kvd+off+hd])
						dpr[u] = d
						s += row[u] * d
						axpy(row[u], dyt, dv[u*kvd+off:u*kvd+off+hd])
					}
					for u := f; u <= t; u++ {
						ds := row[u] * (dpr[u] - s) * scale
						axpy(ds, k[u*kvd+off:u*kvd+off+hd], dqt)
						axpy(ds, qt, dk[u*kvd+off:u*kvd+off+hd])
					}
				}
			}
		}
	})
}

// sigmoid returns 1/(1+e^-x).
func sigmoid[T float](x T) T { return T(1 / (1 + math.Exp(-float64(x)))) }

// swigluForward sets h = silu(a)⊙b, computing silu as the engine does.
func swigluForward[T float](h, a, b []T) {
	for i, x := range a {
		h[i] = x / T(1+math.Exp(-float64(x))) * b[i]
	}
}

// swigluBackward adds to da and db the gradients of h = silu(a)⊙b:
// db = dh⊙silu(a), da = dh⊙b⊙σ(a)(1+a(1−σ(a))).
func swigluBackward[T float](da, db, dh, a, b []T) {
	for i, x := range a {
		s := sigmoid(x)
		da[i] += dh[i] * b[i] * s * (1 + x*(1-s))
		db[i] += dh[i] * x * s
	}
}

// crossEntropy turns one row of logits into its gradient scaled by scale,
// (softmax − onehot(target))·scale, in place, and returns −log p(target),
// computed in float64 (float32 rows take crossEntropy32 unless
// scalarKernels is set).
func crossEntropy[T float](logits []T, target int, scale T) float64 {
	if l, ok := any(logits).([]float32); ok && !scalarKernels {
		return crossEntropy32(l, target, float32(scale))
	}
	mx := logits[0]
	for _, z := range logits[1:] {
		mx = max(mx, z)
	}
	zt := float64(logits[target] - mx)
	var sum float64
	for i, z := range logits {
		e := math.Exp(float64(z - mx))
		logits[i] = T(e)
		sum += e
	}
	inv := 1 / sum
	for i, e := range logits {
		logits[i] = T(float64(e)*inv) * scale
	}
	logits[target] -= scale
	return math.Log(sum) - zt
}

// expFloor is the least argument given to vek32.Exp, whose AVX2 code
// returns garbage (−Inf, or huge negative values) below about −88.38;
// e^−87 ≈ 1.6e−38 is negligible next to the terms a softmax sums.
const expFloor = -87

// crossEntropy32 is crossEntropy's float32 SIMD path: the exponentials in
// float32 (vek32.Exp, of arguments clamped at expFloor), summed in
// float64.
func crossEntropy32(logits []float32, target int, scale float32) float64 {
	mx := vek32.Max(logits)
	zt := float64(logits[target] - mx)
	vek32.AddNumber_Inplace(logits, -mx)
	vek32.MaximumNumber_Inplace(logits, expFloor)
	vek32.Exp_Inplace(logits)
	sum := sum64(logits)
	vek32.MulNumber_Inplace(logits, float32(float64(scale)/sum))
	logits[target] -= scale
	return math.Log(sum) - zt
}

// sum64 returns the sum of x in float64, in four interleaved partial sums
// (a fixed order).
func sum64(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}
