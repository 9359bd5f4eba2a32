package llm

// This file holds the numeric kernels of the forward pass. The hot loop is
// dot products of weight rows with activation vectors; on amd64 they run in
// assembly, with AVX-512 where the CPU has it (kernel512_amd64.s: blocks of
// 4 rows by 1, 4 or 8 vectors, and attention's weighted sums) and AVX2 and
// FMA otherwise (kernel_amd64.s), elsewhere in unrolled Go. Within a kernel
// set, a row's dot product with a vector comes out bit for bit the same
// whichever block shape computed it, so a sequence's logits do not depend
// on what it is batched with.

import "math"

// dotGo returns the dot product of a and b[:len(a)], in portable Go with
// eight accumulators.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		aa := a[i : i+8 : i+8]
		bb := b[i : i+8 : i+8]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
		s4 += aa[4] * bb[4]
		s5 += aa[5] * bb[5]
		s6 += aa[6] * bb[6]
		s7 += aa[7] * bb[7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// dotI8Go returns the dot product of the int8 row q and x[:len(q)].
func dotI8Go(q []int8, x []float32) float32 {
	x = x[:len(q)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(q); i += 4 {
		s0 += float32(q[i]) * x[i]
		s1 += float32(q[i+1]) * x[i+1]
		s2 += float32(q[i+2]) * x[i+2]
		s3 += float32(q[i+3]) * x[i+3]
	}
	for ; i < len(q); i++ {
		s0 += float32(q[i]) * x[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// scores sets sc[p] to scale times the dot product of q with the key
// k[p*stride:p*stride+len(q)], for p < len(sc): four keys per dot4 call.
func scores(q, k []float32, stride int, scale float32, sc []float32) {
	hd := len(q)
	var acc [4]float32
	p := 0
	for ; p+4 <= len(sc); p += 4 {
		dot4(k[p*stride:], stride, q, &acc)
		s := sc[p : p+4 : p+4]
		s[0], s[1], s[2], s[3] = acc[0]*scale, acc[1]*scale, acc[2]*scale, acc[3]*scale
	}
	for ; p < len(sc); p++ {
		sc[p] = dot(q, k[p*stride:p*stride+hd]) * scale
	}
}

// rmsnorm writes x normalised by its root mean square and scaled by w to out.
func rmsnorm(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	out = out[:len(x)]
	w = w[:len(x)]
	for i, v := range x {
		out[i] = w[i] * (v * inv)
	}
}

// softmax turns x into probabilities in place.
func softmax(x []float32) {
	if len(x) == 0 {
		return
	}
	m := x[0]
	for _, v := range x[1:] {
		if v > m {
			m = v
		}
	}
	inv := 1 / expSub(x, m)
	for i := range x {
		x[i] *= inv
	}
}

// silu returns x*sigmoid(x).
func silu(x float32) float32 {
	return x / (1 + float32(math.Exp(float64(-x))))
}
