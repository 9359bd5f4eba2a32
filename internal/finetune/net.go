package finetune

// blockActs are one block's activations of a sequence, kept for backward.
type blockActs[T float] struct {
	x        []T // block input (residual stream), n×dim
	r1, r2   []T // inverse RMS of x and x2, n
	xn1, xn2 []T // normalised x (attention input) and x2 (MLP input), n×dim
	q        []T // rotated queries, n×heads·hd
	k, v     []T // rotated keys and values, n×kvHeads·hd
	p        []T // attention probabilities, heads×n×n
	att      []T // attention output before o_proj, n×heads·hd
	x2       []T // residual after attention, n×dim
	a, b, h  []T // gate and up projections, silu(a)⊙b; n×hidden
}

// net runs a layout's network over parameters p, adding gradients to g.
// It holds one sequence's activations at a time.
type net[T float] struct {
	l        *layout
	p, g     []T
	cap      int // positions the buffers hold
	cos, sin []T // RoPE tables for cap positions
	blocks   []blockActs[T]
	xf, xnf  []T // final residual and its normalisation, n×dim
	rf       []T
	rows     []int     // positions whose logits are computed
	sel      []T       // their normalised rows, len(rows)×dim
	logits   []T       // their logits (then gradients), len(rows)×vocab
	rowLoss  []float64 // their losses, for sequenceLoss
	// backward scratch
	dx, dxn, dsel, dq, dk, dv, datt, dh, da, db, dp []T
	tw, ta, tb                                      []T // transposes for the backward matmuls
	// wt holds, at each matmul weight's offset in p, its transpose, for
	// the float32 SIMD kernels (see weightsT); wtOK says it matches p.
	wt   []T
	wtOK bool
}

// weightsT returns the transposes of the matmul weights (each wᵀ at w's
// offset), computing them unless they are current, or nil when the
// scalar kernel runs. Whoever changes p must clear nt.wtOK.
func (nt *net[T]) weightsT() []T {
	if _, ok := any(nt.p).([]float32); !ok || scalarKernels {
		return nil
	}
	if nt.wtOK {
		return nt.wt
	}
	l := nt.l
	if nt.wt == nil {
		nt.wt = make([]T, l.size)
	}
	d, hid, qd, kvd := l.dim, l.hidden, l.heads*l.hd, l.kvHeads*l.hd
	tr := func(off, rows, cols int) {
		transposeParallel(nt.wt[off:], nt.p[off:off+rows*cols], rows, cols)
	}
	for _, o := range l.blocks {
		tr(o.q, qd, d)
		tr(o.k, kvd, d)
		tr(o.v, kvd, d)
		tr(o.o, d, qd)
		tr(o.gate, hid, d)
		tr(o.up, hid, d)
		tr(o.down, d, hid)
	}
	tr(l.head, l.vocab, d)
	nt.wtOK = true
	return nt.wt
}

// newNet returns a network over p and g (g may be nil for forward only)
// with room for sequences of up to n positions.
func newNet[T float](l *layout, p, g []T, n int) *net[T] {
	nt := &net[T]{l: l, p: p, g: g}
	nt.reserve(n)
	return nt
}

// reserve makes the buffers hold n positions.
func (nt *net[T]) reserve(n int) {
	if n <= nt.cap {
		return
	}
	l := nt.l
	d, hid, qd, kvd := l.dim, l.hidden, l.heads*l.hd, l.kvHeads*l.hd
	mk := func(k int) []T { return make([]T, k) }
	nt.cap = n
	nt.cos, nt.sin = ropeTables[T](l.invFreq, n)
	nt.blocks = make([]blockActs[T], l.layers)
	for i := range nt.blocks {
		nt.blocks[i] = blockActs[T]{
			x: mk(n * d), r1: mk(n), r2: mk(n), xn1: mk(n * d), xn2: mk(n * d),
			q: mk(n * qd), k: mk(n * kvd), v: mk(n * kvd), p: mk(l.heads * n * n), att: mk(n * qd),
			x2: mk(n * d), a: mk(n * hid), b: mk(n * hid), h: mk(n * hid),
		}
	}
	nt.xf, nt.xnf, nt.rf = mk(n*d), mk(n*d), mk(n)
	nt.sel, nt.logits = mk(n*d), mk(n*l.vocab)
	if nt.g != nil {
		nt.dx, nt.dxn, nt.dsel = mk(n*d), mk(n*d), mk(n*d)
		nt.dq, nt.dk, nt.dv, nt.datt = mk(n*qd), mk(n*kvd), mk(n*kvd), mk(n*qd)
		nt.dh, nt.da, nt.db = mk(n*hid), mk(n*hid), mk(n*hid)
		nt.dp = mk(l.heads * n)
		wide := max(d, hid, qd)
		nt.tw = mk(max(l.vocab, hid, qd) * wide)
		nt.ta, nt.tb = mk(n*max(l.vocab, wide)), mk(n*wide)
	}
}

func (nt *net[T]) shape(n int) attnShape {
	return attnShape{n: n, heads: nt.l.heads, kvHeads: nt.l.kvHeads, hd: nt.l.hd, window: nt.l.window}
}

// forward runs the network over tokens (one position each) and leaves in
// nt.logits the logits of the positions in rows, len(rows)×vocab.
func (nt *net[T]) forward(tokens []int, rows []int) {
	l := nt.l
	n := len(tokens)
	nt.reserve(n)
	d, hid, qd, kvd, hd := l.dim, l.hidden, l.heads*l.hd, l.kvHeads*l.hd, l.hd
	cos, sin := nt.cos[:n*hd/2], nt.sin[:n*hd/2]
	x := nt.blocks[0].x[:n*d]
	for t, tok := range tokens {
		copy(x[t*d:(t+1)*d], nt.p[l.embed+tok*d:l.embed+(tok+1)*d])
	}
	wt := nt.weightsT()
	wT := func(off int) []T {
		if wt == nil {
			return nil
		}
		return wt[off:]
	}
	for i := range l.layers {
		o, b := &l.blocks[i], &nt.blocks[i]
		x := b.x[:n*d]
		rmsnormForward(b.xn1, b.r1, x, nt.p[o.attnNorm:o.attnNorm+d], n, l.eps)
		matmul(b.q, b.xn1, nt.p[o.q:], wT(o.q), n, d, qd)
		matmul(b.k, b.xn1, nt.p[o.k:], wT(o.k), n, d, kvd)
		matmul(b.v, b.xn1, nt.p[o.v:], wT(o.v), n, d, kvd)
		ropeForward(b.q, cos, sin, n, l.heads, hd)
		ropeForward(b.k, cos, sin, n, l.kvHeads, hd)
		attentionForward(b.att, b.p, b.q, b.k, b.v, nt.shape(n))
		x2 := b.x2[:n*d]
		matmul(x2, b.att, nt.p[o.o:], wT(o.o), n, qd, d)
		for j, v := range x {
			x2[j] = v + x2[j]
		}
		rmsnormForward(b.xn2, b.r2, x2, nt.p[o.mlpNorm:o.mlpNorm+d], n, l.eps)
		matmul(b.a, b.xn2, nt.p[o.gate:], wT(o.gate), n, d, hid)
		matmul(b.b, b.xn2, nt.p[o.up:], wT(o.up), n, d, hid)
		swigluForward(b.h[:n*hid], b.a[:n*hid], b.b)
		next := nt.xf[:n*d]
		if i+1 < l.layers {
			next = nt.blocks[i+1].x[:n*d]
		}
		matmul(next, b.h, nt.p[o.down:], wT(o.down), n, hid, d)
		for j, v := range x2 {
			next[j] = v + next[j]
		}
	}
	rmsnormForward(nt.xnf, nt.rf, nt.xf, nt.p[l.norm:l.norm+d], n, l.eps)
	nt.rows = rows
	for j, t := range rows {
		copy(nt.sel[j*d:(j+1)*d], nt.xnf[t*d:(t+1)*d])
	}
	matmul(nt.logits, nt.sel, nt.p[l.head:], wT(l.head), len(rows), d, l.vocab)
}

// backward adds to nt.g the gradient of the loss, given the gradient of
// the selected rows' logits in nt.logits (as crossEntropy leaves it) after
// forward(tokens, rows).
func (nt *net[T]) backward(tokens []int) {
	l := nt.l
	n, r := len(tokens), len(nt.rows)
	d, hid, qd, kvd, hd := l.dim, l.hidden, l.heads*l.hd, l.kvHeads*l.hd, l.hd
	g, p := nt.g, nt.p
	cos, sin := nt.cos[:n*hd/2], nt.sin[:n*hd/2]
	zero := func(b []T, k int) []T { b = b[:k]; clear(b); return b }

	// Output head and final norm.
	dsel := zero(nt.dsel, r*d)
	matmulBackX(dsel, nt.logits, p[l.head:], nt.tw, r, d, l.vocab)
	matmulBackW(g[l.head:], nt.logits, nt.sel, nt.ta, nt.tb, r, d, l.vocab)
	dxn := zero(nt.dxn, n*d)
	for j, t := range nt.rows {
		axpy(1, dsel[j*d:(j+1)*d], dxn[t*d:(t+1)*d])
	}
	dx := zero(nt.dx, n*d)
	rmsnormBackward(dx, g[l.norm:l.norm+d], dxn, nt.xf, p[l.norm:l.norm+d], nt.rf, n)

	for i := l.layers - 1; i >= 0; i-- {
		o, b := &l.blocks[i], &nt.blocks[i]
		// MLP: x_out = x2 + down(silu(gate·xn2) ⊙ up·xn2).
		dh := zero(nt.dh, n*hid)
		matmulBackX(dh, dx, p[o.down:], nt.tw, n, hid, d)
		matmulBackW(g[o.down:], dx, b.h, nt.ta, nt.tb, n, hid, d)
		da, db := zero(nt.da, n*hid), zero(nt.db, n*hid)
		swigluBackward(da, db, dh, b.a[:n*hid], b.b)
		dxn = zero(nt.dxn, n*d)
		matmulBackX(dxn, da, p[o.gate:], nt.tw, n, d, hid)
		matmulBackX(dxn, db, p[o.up:], nt.tw, n, d, hid)
		matmulBackW(g[o.gate:], da, b.xn2, nt.ta, nt.tb, n, d, hid)
		matmulBackW(g[o.up:], db, b.xn2, nt.ta, nt.tb, n, d, hid)
		rmsnormBackward(dx, g[o.mlpNorm:o.mlpNorm+d], dxn, b.x2, p[o.mlpNorm:o.mlpNorm+d], b.r2, n)

		// Attention: x2 = x + o_proj(attention(rope(q), rope(k), v)).
		datt := zero(nt.datt, n*qd)
		matmulBackX(datt, dx, p[o.o:], nt.tw, n, qd, d)
		matmulBackW(g[o.o:], dx, b.att, nt.ta, nt.tb, n, qd, d)
		dq, dk, dv := zero(nt.dq, n*qd), zero(nt.dk, n*kvd), zero(nt.dv, n*kvd)
		attentionBackward(dq, dk, dv, datt, b.p, b.q, b.k, b.v, nt.dp, nt.shape(n))
		ropeBackward(dq, cos, sin, n, l.heads, hd)
		ropeBackward(dk, cos, sin, n, l.kvHeads, hd)
		dxn = zero(nt.dxn, n*d)
		matmulBackX(dxn, dq, p[o.q:], nt.tw, n, d, qd)
		matmulBackX(dxn, dk, p[o.k:], nt.tw, n, d, kvd)
		matmulBackX(dxn, dv, p[o.v:], nt.tw, n, d, kvd)
		matmulBackW(g[o.q:], dq, b.xn1, nt.ta, nt.tb, n, d, qd)
		matmulBackW(g[o.k:], dk, b.xn1, nt.ta, nt.tb, n, d, kvd)
		matmulBackW(g[o.v:], dv, b.xn1, nt.ta, nt.tb, n, d, kvd)
		rmsnormBackward(dx, g[o.attnNorm:o.attnNorm+d], dxn, b.x, p[o.attnNorm:o.attnNorm+d], b.r1, n)
	}
	for t, tok := range tokens {
		axpy(1, dx[t*d:(t+1)*d], g[l.embed+tok*d:l.embed+(tok+1)*d])
	}
}

// sequenceLoss runs one sequence's forward pass and, when backward is
// set, its backward pass with the loss scaled by scale. inputs are the
// positions fed, targets[j] the token row rows[j] predicts. It returns the
// sum of the rows' cross-entropies.
func (nt *net[T]) sequenceLoss(inputs, rows, targets []int, scale T, backward bool) float64 {
	nt.forward(inputs, rows)
	v := nt.l.vocab
	// Rows in parallel, their losses summed in order.
	if cap(nt.rowLoss) < len(targets) {
		nt.rowLoss = make([]float64, len(targets))
	}
	losses := nt.rowLoss[:len(targets)]
	parallel(len(targets), 8*v, func(lo, hi int) {
		for j := lo; j < hi; j++ {
			losses[j] = crossEntropy(nt.logits[j*v:(j+1)*v], targets[j], scale)
		}
	})
	var sum float64
	for _, l := range losses {
		sum += l
	}
	if backward {
		nt.backward(inputs)
	}
	return sum
}
