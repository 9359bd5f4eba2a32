package llm

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
)

// DefaultChunk is the most tokens of one sequence a forward pass takes:
// longer prompts are prefilled in chunks of this size.
const DefaultChunk = 128

// ErrContextFull is returned when a sequence's cache has no room left.
var ErrContextFull = errors.New("llm: context window full")

// Model is a loaded transformer ready to run forward passes. Its methods
// are safe for concurrent use; forward passes are serialised, and each one
// uses the model's worker pool for its kernels.
type Model struct {
	Config  Config
	Weights *Weights
	Chunk   int // most tokens per sequence in one forward pass

	pool    *pool
	invFreq []float64
	closer  io.Closer // releases the mapped weight files, or nil

	mu sync.Mutex // serialises forward passes; guards s
	s  scratch
}

// NewModel makes a Model of c over w, running its kernels on threads
// goroutines (0 means GOMAXPROCS). closer, if not nil, is closed by Close.
func NewModel(c Config, w *Weights, threads int, closer io.Closer) (*Model, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := w.check(&c); err != nil {
		return nil, err
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &Model{Config: c, Weights: w, Chunk: DefaultChunk, pool: newPool(threads), invFreq: c.invFreq(), closer: closer}, nil
}

// Close stops the model's workers and releases its weight files.
func (m *Model) Close() error {
	m.pool.close()
	if m.closer != nil {
		return m.closer.Close()
	}
	return nil
}

// Cache is one sequence's key/value cache. With a sliding window it is a
// ring of Window+Chunk positions, so its memory does not grow with the
// sequence beyond that.
type Cache struct {
	n     int // tokens already in the cache
	limit int // most tokens the sequence may hold
	slots int // positions stored (ring size)
	k, v  [][]float32
}

// Len returns the number of tokens in the cache.
func (c *Cache) Len() int { return c.n }

// NewCache returns an empty cache for a sequence of at most limit tokens
// (capped at the model's context length).
func (m *Model) NewCache(limit int) *Cache {
	cfg := &m.Config
	limit = min(max(limit, 1), cfg.MaxSeq)
	slots := limit
	if w := cfg.SlidingWindow; w > 0 && w+m.Chunk < slots {
		slots = w + m.Chunk
	}
	kvd := cfg.KVHeads * cfg.HeadDim
	c := &Cache{limit: limit, slots: slots, k: make([][]float32, cfg.Layers), v: make([][]float32, cfg.Layers)}
	for l := range cfg.Layers {
		c.k[l] = make([]float32, slots*kvd)
		c.v[l] = make([]float32, slots*kvd)
	}
	return c
}

// Seq is one sequence's part of a batched forward pass: Tokens are
// appended to Cache at its next positions.
type Seq struct {
	Cache  *Cache
	Tokens []int
	// Logits receives the logits of the last token (Vocab values), or of
	// every token (len(Tokens)*Vocab values) when AllLogits is set. Nil
	// means no logits are wanted (an early prefill chunk).
	Logits    []float32
	AllLogits bool
}

// scratch holds a forward pass's activations, reused between passes.
type scratch struct {
	x, xb, q, k, v, att, hb, hb2, o, xf, logits []float32
	cos, sin                                    []float32
	router, xe, oe                              []float32
	scores                                      [][]float32 // per worker
}

// grow returns (*b)[:n], reallocating when it is too small.
func grow(b *[]float32, n int) []float32 {
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return *b
}

// Forward appends tokens to c and returns the logits after the last one.
func (m *Model) Forward(c *Cache, tokens []int) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, errors.New("llm: no tokens to forward")
	}
	out := make([]float32, m.Config.Vocab)
	for len(tokens) > 0 {
		n := min(len(tokens), m.Chunk)
		s := Seq{Cache: c, Tokens: tokens[:n]}
		if n == len(tokens) {
			s.Logits = out
		}
		if err := m.ForwardBatch([]Seq{s}); err != nil {
			return nil, err
		}
		tokens = tokens[n:]
	}
	return out, nil
}

// ForwardBatch runs one forward pass over every sequence's new tokens at
// once: each weight matrix is read once for all of them.
func (m *Model) ForwardBatch(seqs []Seq) error {
	cfg := &m.Config
	rows := 0
	for i := range seqs {
		s := &seqs[i]
		c := s.Cache
		switch {
		case len(s.Tokens) == 0:
			return errors.New("llm: sequence with no tokens")
		case len(s.Tokens) > m.Chunk:
			return fmt.Errorf("llm: %d tokens exceed the chunk size %d", len(s.Tokens), m.Chunk)
		case c.n+len(s.Tokens) > c.limit:
			return ErrContextFull
		}
		for _, t := range s.Tokens {
			if t < 0 || t >= cfg.Vocab {
				return fmt.Errorf("llm: token %d out of vocabulary", t)
			}
		}
		want := cfg.Vocab
		if s.AllLogits {
			want *= len(s.Tokens)
		}
		if s.Logits != nil && len(s.Logits) < want {
			return fmt.Errorf("llm: logits buffer holds %d values, want %d", len(s.Logits), want)
		}
		rows += len(s.Tokens)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forward(seqs, rows)
	return nil
}

// rowRef locates one row of a batch.
type rowRef struct {
	c   *Cache
	pos int
}

func (m *Model) forward(seqs []Seq, n int) {
	cfg := &m.Config
	w := m.Weights
	s := &m.s
	dim, hd := cfg.Dim, cfg.HeadDim
	qd, kvd := cfg.Heads*hd, cfg.KVHeads*hd
	half := hd / 2

	x := grow(&s.x, n*dim)
	xb := grow(&s.xb, n*dim)
	q := grow(&s.q, n*qd)
	k := grow(&s.k, n*kvd)
	v := grow(&s.v, n*kvd)
	att := grow(&s.att, n*qd)
	o := grow(&s.o, n*dim)
	cos := grow(&s.cos, n*half)
	sin := grow(&s.sin, n*half)
	refs := make([]rowRef, 0, n)
	for i := range seqs {
		for j, t := range seqs[i].Tokens {
			r := len(refs)
			pos := seqs[i].Cache.n + j
			refs = append(refs, rowRef{seqs[i].Cache, pos})
			w.Embed.row(t, x[r*dim:(r+1)*dim])
			for f, fr := range m.invFreq {
				a := float64(pos) * fr
				cos[r*half+f] = float32(math.Cos(a))
				sin[r*half+f] = float32(math.Sin(a))
			}
		}
	}

	for l := range cfg.Layers {
		ly := &w.Layers[l]
		for r := range n {
			rmsnorm(xb[r*dim:(r+1)*dim], x[r*dim:(r+1)*dim], ly.AttnNorm, cfg.NormEps)
		}
		m.matmul(xb, n, dim, matJob{&ly.Q, q}, matJob{&ly.K, k}, matJob{&ly.V, v})
		for r, ref := range refs {
			c, sn := cos[r*half:(r+1)*half], sin[r*half:(r+1)*half]
			for h := range cfg.Heads {
				rope(q[r*qd+h*hd:r*qd+(h+1)*hd], c, sn)
			}
			for h := range cfg.KVHeads {
				rope(k[r*kvd+h*hd:r*kvd+(h+1)*hd], c, sn)
			}
			slot := ref.pos % ref.c.slots
			copy(ref.c.k[l][slot*kvd:(slot+1)*kvd], k[r*kvd:(r+1)*kvd])
			copy(ref.c.v[l][slot*kvd:(slot+1)*kvd], v[r*kvd:(r+1)*kvd])
		}
		m.attention(l, refs, q, att)
		m.matmul(att, n, qd, matJob{&ly.O, o})
		for i := range x {
			x[i] += o[i]
		}
		for r := range n {
			rmsnorm(xb[r*dim:(r+1)*dim], x[r*dim:(r+1)*dim], ly.MLPNorm, cfg.NormEps)
		}
		if cfg.Experts == 0 {
			m.mlp(&ly.Gate, &ly.Up, &ly.Down, xb, n, o)
			for i := range x {
				x[i] += o[i]
			}
		} else {
			m.moe(ly, xb, n, x)
		}
	}

	// The output head runs only on the rows whose logits are wanted.
	r, nl := 0, 0
	for i := range seqs {
		if seqs[i].Logits != nil {
			if seqs[i].AllLogits {
				nl += len(seqs[i].Tokens)
			} else {
				nl++
			}
		}
	}
	if nl > 0 {
		xf := grow(&s.xf, nl*dim)
		logits := grow(&s.logits, nl*cfg.Vocab)
		j := 0
		for i := range seqs {
			t := len(seqs[i].Tokens)
			if seqs[i].Logits != nil {
				first := r + t - 1
				if seqs[i].AllLogits {
					first = r
				}
				for rr := first; rr < r+t; rr++ {
					rmsnorm(xf[j*dim:(j+1)*dim], x[rr*dim:(rr+1)*dim], w.Norm, cfg.NormEps)
					j++
				}
			}
			r += t
		}
		m.matmul(xf, nl, dim, matJob{&w.Output, logits})
		j = 0
		for i := range seqs {
			if seqs[i].Logits == nil {
				continue
			}
			cnt := 1
			if seqs[i].AllLogits {
				cnt = len(seqs[i].Tokens)
			}
			copy(seqs[i].Logits, logits[j*cfg.Vocab:(j+cnt)*cfg.Vocab])
			j += cnt
		}
	}
	for i := range seqs {
		seqs[i].Cache.n += len(seqs[i].Tokens)
	}
}

// rope rotates one head's vector by the position's angles, in the
// rotate_half layout: dimension i pairs with i+len/2.
func rope(v, cos, sin []float32) {
	h := len(v) / 2
	a, b := v[:h], v[h:2*h]
	for i := range h {
		x0, x1 := a[i], b[i]
		a[i] = x0*cos[i] - x1*sin[i]
		b[i] = x1*cos[i] + x0*sin[i]
	}
}

// attention computes every row's attention output for layer l into att.
// Row r's query head h attends to its cache's positions up to its own
// (within the sliding window, when there is one), using key/value head
// h/(Heads/KVHeads).
func (m *Model) attention(l int, refs []rowRef, q, att []float32) {
	cfg := &m.Config
	hd := cfg.HeadDim
	qd, kvd := cfg.Heads*hd, cfg.KVHeads*hd
	group := cfg.Heads / cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	tasks := len(refs) * cfg.Heads
	if len(m.s.scores) < m.pool.n {
		m.s.scores = make([][]float32, m.pool.n)
	}
	m.pool.parallel(func(wk int) {
		lo, hi := tasks*wk/m.pool.n, tasks*(wk+1)/m.pool.n
		for t := lo; t < hi; t++ {
			r, h := t/cfg.Heads, t%cfg.Heads
			ref := refs[r]
			first := 0
			if win := cfg.SlidingWindow; win > 0 {
				first = max(0, ref.pos-win+1)
			}
			n := ref.pos - first + 1
			sc := grow(&m.s.scores[wk], n)
			qh := q[r*qd+h*hd : r*qd+(h+1)*hd]
			off := (h / group) * hd
			kc, vc := ref.c.k[l], ref.c.v[l]
			// The positions' slots are at most two runs of the ring:
			// from first's slot to the end, then from slot 0.
			s0 := first % ref.c.slots
			n0 := min(n, ref.c.slots-s0)
			scores(qh, kc[s0*kvd+off:], kvd, scale, sc[:n0])
			scores(qh, kc[off:], kvd, scale, sc[n0:])
			softmax(sc)
			out := att[r*qd+h*hd : r*qd+(h+1)*hd]
			clear(out)
			wsum(sc[:n0], vc[s0*kvd+off:], kvd, out)
			wsum(sc[n0:], vc[off:], kvd, out)
		}
	})
}

// mlp computes the SwiGLU MLP down(silu(gate·x) * up·x) of n rows into out.
func (m *Model) mlp(gate, up, down *Matrix, in []float32, n int, out []float32) {
	hid := gate.Rows
	hb := grow(&m.s.hb, n*hid)
	hb2 := grow(&m.s.hb2, n*hid)
	m.matmul(in, n, gate.Cols, matJob{gate, hb}, matJob{up, hb2})
	// Row by row, so each row's values take the same path (vector or
	// tail) whatever the batch.
	for r := range n {
		siluMul(hb[r*hid:(r+1)*hid], hb2[r*hid:(r+1)*hid])
	}
	m.matmul(hb, n, hid, matJob{down, out})
}

// moe adds the mixture-of-experts block's output for n rows to x. Each row
// goes to the ExpertsPerTok experts with the highest router logits,
// weighted by the softmax of those logits (Mixtral's routing); each expert
// runs once on all the rows routed to it.
func (m *Model) moe(ly *Layer, xb []float32, n int, x []float32) {
	cfg := &m.Config
	dim, ne, k := cfg.Dim, cfg.Experts, cfg.ExpertsPerTok
	router := grow(&m.s.router, n*ne)
	m.matmul(xb, n, dim, matJob{&ly.Router, router})
	type pick struct {
		row int
		w   float32
	}
	assigned := make([][]pick, ne)
	top := make([]int, k)
	wts := make([]float32, k)
	for r := range n {
		lg := router[r*ne : (r+1)*ne]
		for j := range k {
			best := -1
			for e, v := range lg {
				taken := false
				for _, t := range top[:j] {
					taken = taken || t == e
				}
				if !taken && (best < 0 || v > lg[best]) {
					best = e
				}
			}
			top[j] = best
			wts[j] = lg[best]
		}
		softmax(wts)
		for j, e := range top {
			assigned[e] = append(assigned[e], pick{r, wts[j]})
		}
	}
	for e, picks := range assigned {
		if len(picks) == 0 {
			continue
		}
		cnt := len(picks)
		xe := grow(&m.s.xe, cnt*dim)
		oe := grow(&m.s.oe, cnt*dim)
		for i, p := range picks {
			copy(xe[i*dim:(i+1)*dim], xb[p.row*dim:(p.row+1)*dim])
		}
		ex := &ly.Experts[e]
		m.mlp(&ex.Gate, &ex.Up, &ex.Down, xe, cnt, oe)
		for i, p := range picks {
			axpy(p.w, oe[i*dim:(i+1)*dim], x[p.row*dim:(p.row+1)*dim])
		}
	}
}
