package finetune

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// prepareAll prepares seqs for l's network (no truncation).
func prepareAll(t testing.TB, l *layout, seqs []Sequence) ([]example, int) {
	t.Helper()
	m := &Model{lay: l}
	var exs []example
	count := 0
	for _, s := range seqs {
		ex, err := m.prepare(s, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		exs = append(exs, ex)
		count += len(ex.rows)
	}
	return exs, count
}

// batchLoss returns the mean loss of exs under p and, when g is not nil,
// adds its gradient to g.
func batchLoss[T float](l *layout, p, g []T, exs []example, count int) float64 {
	nt := newNet(l, p, g, 0)
	var sum float64
	for _, ex := range exs {
		if len(ex.rows) > 0 {
			sum += nt.sequenceLoss(ex.inputs, ex.rows, ex.targets, T(1/float64(count)), g != nil)
		}
	}
	return sum / float64(count)
}

// coords returns the indices of the 4 largest |g| and 4 random others.
func coords(g []float64, rng *rand.Rand) []int {
	idx := make([]int, len(g))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(g[b]), math.Abs(g[a])) })
	out := idx[:min(4, len(idx))]
	for range 4 {
		out = append(out, rng.IntN(len(g)))
	}
	return out
}

// checkCoords compares grad[i] with the central difference of f at x[i]
// (h = 1e-5) for the chosen coordinates: relative error at most 1e-4.
func checkCoords(t *testing.T, name string, x, grad []float64, f func() float64, rng *rand.Rand) {
	t.Helper()
	const h = 1e-5
	worst := 0.0
	for _, i := range coords(grad, rng) {
		old := x[i]
		x[i] = old + h
		lp := f()
		x[i] = old - h
		lm := f()
		x[i] = old
		num := (lp - lm) / (2 * h)
		diff := math.Abs(num - grad[i])
		scale := max(math.Abs(num), math.Abs(grad[i]))
		if diff > 1e-4*scale+1e-9 {
			t.Errorf("%s[%d]: analytic %.10g, numeric %.10g (rel %.2g)", name, i, grad[i], num, diff/scale)
		}
		if scale > 1e-7 {
			worst = max(worst, diff/scale)
		}
	}
	t.Logf("%s: worst rel err %.2g", name, worst)
}

func randVec(rng *rand.Rand, n int, center, half float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = center + half*2*(rng.Float64()-0.5)
	}
	return v
}

func weighted(c, y []float64) float64 {
	var s float64
	for i, v := range y {
		s += c[i] * v
	}
	return s
}

// TestGradientsPerComponent checks each block's backward against central
// differences of L = Σ c⊙f(x) for a random c, in float64.
func TestGradientsPerComponent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d = 6, 8
	t.Run("rmsnorm", func(t *testing.T) {
		x, w, c := randVec(rng, n*d, 0, 2), randVec(rng, d, 1, 0.3), randVec(rng, n*d, 0, 1)
		out, r := make([]float64, n*d), make([]float64, n)
		f := func() float64 { rmsnormForward(out, r, x, w, n, 1e-5); return weighted(c, out) }
		f()
		dx, dw := make([]float64, n*d), make([]float64, d)
		rmsnormBackward(dx, dw, c, x, w, r, n)
		checkCoords(t, "dx", x, dx, f, rng)
		checkCoords(t, "dw", w, dw, f, rng)
	})
	t.Run("rope", func(t *testing.T) {
		const heads, hd = 3, 6
		a := tinyArch(2, false, 0)
		a.hd = hd
		a.invFreq = []float64{1, 0.3, 0.01}
		cos, sin := ropeTables[float64](a.invFreq, n)
		x, c := randVec(rng, n*heads*hd, 0, 1), randVec(rng, n*heads*hd, 0, 1)
		y := make([]float64, len(x))
		f := func() float64 { copy(y, x); ropeForward(y, cos, sin, n, heads, hd); return weighted(c, y) }
		dx := slices.Clone(c)
		ropeBackward(dx, cos, sin, n, heads, hd)
		checkCoords(t, "dx", x, dx, f, rng)
	})
	for _, tc := range []struct {
		name   string
		shape  attnShape
		causal bool
	}{
		{"attention-gqa", attnShape{n: n, heads: 4, kvHeads: 2, hd: 4}, true},
		{"attention-mha", attnShape{n: n, heads: 2, kvHeads: 2, hd: 4}, true},
		{"attention-window-3", attnShape{n: n, heads: 4, kvHeads: 1, hd: 4, window: 3}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.shape
			qd, kvd := s.heads*s.hd, s.kvHeads*s.hd
			q, k, v := randVec(rng, n*qd, 0, 1), randVec(rng, n*kvd, 0, 1), randVec(rng, n*kvd, 0, 1)
			c := randVec(rng, n*qd, 0, 1)
			out, p := make([]float64, n*qd), make([]float64, s.heads*n*n)
			f := func() float64 { attentionForward(out, p, q, k, v, s); return weighted(c, out) }
			f()
			dq, dk, dv := make([]float64, n*qd), make([]float64, n*kvd), make([]float64, n*kvd)
			attentionBackward(dq, dk, dv, c, p, q, k, v, make([]float64, s.heads*n), s)
			checkCoords(t, "dq", q, dq, f, rng)
			checkCoords(t, "dk", k, dk, f, rng)
			checkCoords(t, "dv", v, dv, f, rng)
		})
	}
	t.Run("swiglu", func(t *testing.T) {
		a, b, c := randVec(rng, n*d, 0, 3), randVec(rng, n*d, 0, 1), randVec(rng, n*d, 0, 1)
		h := make([]float64, n*d)
		f := func() float64 { swigluForward(h, a, b); return weighted(c, h) }
		da, db := make([]float64, n*d), make([]float64, n*d)
		swigluBackward(da, db, c, a, b)
		checkCoords(t, "da", a, da, f, rng)
		checkCoords(t, "db", b, db, f, rng)
	})
	t.Run("cross-entropy", func(t *testing.T) {
		z := randVec(rng, 50, 0, 4)
		tmp := make([]float64, len(z))
		f := func() float64 { copy(tmp, z); return crossEntropy(tmp, 17, 1) }
		dz := slices.Clone(z)
		crossEntropy(dz, 17, 1)
		checkCoords(t, "dz", z, dz, f, rng)
	})
}

// TestGradientsWholeModel checks every tensor's gradient of a tiny model's
// batch loss against central differences, in float64.
func TestGradientsWholeModel(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kv     int
		tied   bool
		window int
		mask   bool
	}{
		{"gqa-untied", 2, false, 0, false},
		{"gqa-tied-masked", 2, true, 0, true},
		{"mha-untied-masked", 4, false, 0, true},
		{"mqa-tied-window-3", 1, true, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayout(tinyArch(tc.kv, tc.tied, tc.window))
			p := randomParams[float64](l, 3)
			seqs := randomSeqs(2, 9, l.vocab, tc.mask, 4)
			seqs[1].Tokens, seqs[1].Target = seqs[1].Tokens[:7], seqs[1].Target[:7] // lengths differ
			exs, count := prepareAll(t, l, seqs)
			g := make([]float64, l.size)
			batchLoss(l, p, g, exs, count)
			f := func() float64 { return batchLoss[float64](l, p, nil, exs, count) }
			rng := rand.New(rand.NewPCG(5, 6))
			for _, ti := range l.tensors {
				checkCoords(t, ti.name, p[ti.off:ti.off+ti.size()], g[ti.off:ti.off+ti.size()], f, rng)
			}
		})
	}
}

// TestDirectionalDerivative32 checks the float32 gradient of a whole tiny
// model along a random direction v: (L(θ+hv) − L(θ−hv))/2h against g·v,
// with the losses accumulated in float64.
func TestDirectionalDerivative32(t *testing.T) {
	l := newLayout(tinyArch(2, false, 0))
	p := randomParams[float32](l, 3)
	exs, count := prepareAll(t, l, randomSeqs(2, 9, l.vocab, true, 4))
	g := make([]float32, l.size)
	batchLoss(l, p, g, exs, count)
	rng := rand.New(rand.NewPCG(8, 9))
	v := make([]float32, l.size)
	var gv float64
	for i := range v {
		v[i] = float32(rng.NormFloat64())
		gv += float64(g[i]) * float64(v[i])
	}
	const h = 1e-3
	at := func(s float32) float64 {
		q := make([]float32, len(p))
		for i := range q {
			q[i] = p[i] + s*v[i]
		}
		return batchLoss[float32](l, q, nil, exs, count)
	}
	num := (at(h) - at(-h)) / (2 * h)
	rel := math.Abs(num-gv) / math.Abs(gv)
	t.Logf("g·v = %.6g, numeric %.6g, rel err %.2g", gv, num, rel)
	if rel > 1e-3 {
		t.Fatalf("directional derivative: g·v %.6g, numeric %.6g (rel %.2g)", gv, num, rel)
	}
}
