package llm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomMatrix returns a rows x cols matrix of values in [-a, a).
func randomMatrix(rng *rand.Rand, rows, cols int, a float32) Matrix {
	m := Matrix{Rows: rows, Cols: cols, F32: make([]float32, rows*cols)}
	for i := range m.F32 {
		m.F32[i] = (rng.Float32()*2 - 1) * a
	}
	return m
}

func randomVec(rng *rand.Rand, n int, center, a float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = center + (rng.Float32()*2-1)*a
	}
	return v
}

// randomWeights builds weights of shape c with small random values.
func randomWeights(c Config, seed uint64) *Weights {
	rng := rand.New(rand.NewPCG(seed, 1))
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	sd := float32(1 / math.Sqrt(float64(c.Dim)))
	w := &Weights{Embed: randomMatrix(rng, c.Vocab, c.Dim, 1), Norm: randomVec(rng, c.Dim, 1, 0.2)}
	for range c.Layers {
		l := Layer{
			AttnNorm: randomVec(rng, c.Dim, 1, 0.2), MLPNorm: randomVec(rng, c.Dim, 1, 0.2),
			Q: randomMatrix(rng, qd, c.Dim, 2*sd), K: randomMatrix(rng, kvd, c.Dim, 2*sd),
			V: randomMatrix(rng, kvd, c.Dim, sd), O: randomMatrix(rng, c.Dim, qd, sd),
		}
		mk := func() (Matrix, Matrix, Matrix) {
			return randomMatrix(rng, c.Hidden, c.Dim, sd), randomMatrix(rng, c.Hidden, c.Dim, sd),
				randomMatrix(rng, c.Dim, c.Hidden, float32(1/math.Sqrt(float64(c.Hidden))))
		}
		if c.Experts == 0 {
			l.Gate, l.Up, l.Down = mk()
		} else {
			l.Router = randomMatrix(rng, c.Experts, c.Dim, 2*sd)
			for range c.Experts {
				var e Expert
				e.Gate, e.Up, e.Down = mk()
				l.Experts = append(l.Experts, e)
			}
		}
		w.Layers = append(w.Layers, l)
	}
	if c.TiedOutput {
		w.Output = w.Embed
	} else {
		w.Output = randomMatrix(rng, c.Vocab, c.Dim, sd)
	}
	return w
}

// testConfigs are tiny shapes covering each architectural feature.
var testConfigs = []struct {
	name string
	cfg  Config
}{
	{"llama-gqa-tied", Config{Dim: 40, Hidden: 52, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 10, Vocab: 37, MaxSeq: 64, NormEps: 1e-5, TiedOutput: true}},
	{"mistral-window-4", Config{Dim: 32, Hidden: 48, Layers: 2, Heads: 4, KVHeads: 1, HeadDim: 8, Vocab: 29, MaxSeq: 64, NormEps: 1e-6, RopeTheta: 1e6, SlidingWindow: 4}},
	{"mixtral-top2", Config{Dim: 32, Hidden: 24, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 8, Vocab: 31, MaxSeq: 64, NormEps: 1e-5, Experts: 4, ExpertsPerTok: 2}},
	{"llama3-rope-scaling", Config{Dim: 32, Hidden: 40, Layers: 1, Heads: 2, KVHeads: 2, HeadDim: 16, Vocab: 23, MaxSeq: 64, NormEps: 1e-5, RopeTheta: 500000,
		RopeScaling: &RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8}}},
	{"linear-rope-mha", Config{Dim: 24, Hidden: 36, Layers: 1, Heads: 3, KVHeads: 3, HeadDim: 8, Vocab: 19, MaxSeq: 64, NormEps: 1e-5, RopeScaling: &RopeScaling{Type: "linear", Factor: 2}}},
}

func newTestModel(t testing.TB, c Config, threads int) *Model {
	t.Helper()
	m, err := NewModel(c, randomWeights(c, 7), threads, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func testTokens(n, vocab int) []int {
	toks := make([]int, n)
	for i := range toks {
		toks[i] = (i*7 + 3) % vocab
	}
	return toks
}

// referenceLogits is a direct float64 transcription of the architecture
// with no cache: it recomputes every position from scratch and returns the
// logits after each token.
func referenceLogits(c Config, w *Weights, toks []int) [][]float64 {
	at := func(m *Matrix, r, col int) float64 { return float64(m.F32[r*m.Cols+col]) }
	matvec := func(m *Matrix, x []float64) []float64 {
		out := make([]float64, m.Rows)
		for r := range m.Rows {
			for j, v := range x {
				out[r] += at(m, r, j) * v
			}
		}
		return out
	}
	norm := func(x []float64, wt []float32) []float64 {
		var ss float64
		for _, v := range x {
			ss += v * v
		}
		inv := 1 / math.Sqrt(ss/float64(len(x))+float64(c.NormEps))
		out := make([]float64, len(x))
		for i, v := range x {
			out[i] = v * inv * float64(wt[i])
		}
		return out
	}
	freq := c.invFreq()
	rot := func(v []float64, pos int) {
		h := len(v) / 2
		for i := range h {
			a := float64(pos) * freq[i]
			x0, x1 := v[i], v[i+h]
			v[i] = x0*math.Cos(a) - x1*math.Sin(a)
			v[i+h] = x1*math.Cos(a) + x0*math.Sin(a)
		}
	}
	silu := func(x float64) float64 { return x / (1 + math.Exp(-x)) }
	swiglu := func(g, u, d *Matrix, x []float64) []float64 {
		a, b := matvec(g, x), matvec(u, x)
		for i := range a {
			a[i] = silu(a[i]) * b[i]
		}
		return matvec(d, a)
	}
	n, hd := len(toks), c.HeadDim
	xs := make([][]float64, n)
	for i, t := range toks {
		xs[i] = make([]float64, c.Dim)
		for j := range c.Dim {
			xs[i][j] = at(&w.Embed, t, j)
		}
	}
	for l := range c.Layers {
		ly := &w.Layers[l]
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range n {
			xb := norm(xs[i], ly.AttnNorm)
			qs[i], ks[i], vs[i] = matvec(&ly.Q, xb), matvec(&ly.K, xb), matvec(&ly.V, xb)
			for h := range c.Heads {
				rot(qs[i][h*hd:(h+1)*hd], i)
			}
			for h := range c.KVHeads {
				rot(ks[i][h*hd:(h+1)*hd], i)
			}
		}
		for i := range n {
			att := make([]float64, c.Heads*hd)
			for h := range c.Heads {
				kh := h / (c.Heads / c.KVHeads)
				var ws []float64
				var js []int
				for j := 0; j <= i; j++ {
					if c.SlidingWindow > 0 && i-j >= c.SlidingWindow {
						continue
					}
					var s float64
					for d := range hd {
						s += qs[i][h*hd+d] * ks[j][kh*hd+d]
					}
					ws = append(ws, s/math.Sqrt(float64(hd)))
					js = append(js, j)
				}
				mx := math.Inf(-1)
				for _, s := range ws {
					mx = math.Max(mx, s)
				}
				var sum float64
				for k := range ws {
					ws[k] = math.Exp(ws[k] - mx)
					sum += ws[k]
				}
				for k, j := range js {
					for d := range hd {
						att[h*hd+d] += ws[k] / sum * vs[j][kh*hd+d]
					}
				}
			}
			o := matvec(&ly.O, att)
			for d := range o {
				xs[i][d] += o[d]
			}
			xb := norm(xs[i], ly.MLPNorm)
			if c.Experts == 0 {
				for d, v := range swiglu(&ly.Gate, &ly.Up, &ly.Down, xb) {
					xs[i][d] += v
				}
				continue
			}
			lg := matvec(&ly.Router, xb)
			idx := make([]int, len(lg))
			for e := range idx {
				idx[e] = e
			}
			for a := range idx { // selection sort, descending, stable
				for b := a + 1; b < len(idx); b++ {
					if lg[idx[b]] > lg[idx[a]] {
						idx[a], idx[b] = idx[b], idx[a]
					}
				}
			}
			top := idx[:c.ExpertsPerTok]
			var sum float64
			for _, e := range top {
				sum += math.Exp(lg[e] - lg[top[0]])
			}
			for _, e := range top {
				wt := math.Exp(lg[e]-lg[top[0]]) / sum
				ex := &ly.Experts[e]
				for d, v := range swiglu(&ex.Gate, &ex.Up, &ex.Down, xb) {
					xs[i][d] += wt * v
				}
			}
		}
	}
	out := make([][]float64, n)
	for i := range n {
		out[i] = matvec(&w.Output, norm(xs[i], w.Norm))
	}
	return out
}

func maxDiff[T, U float32 | float64](a []T, b []U) float64 {
	var d float64
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func TestForwardMatchesReference(t *testing.T) {
	for _, tc := range testConfigs {
		for _, threads := range []int{1, 3} {
			for _, path := range kernelPaths() {
				t.Run(fmt.Sprintf("%s-threads-%d-%s", tc.name, threads, path), func(t *testing.T) {
					useKernels(t, path)
					m := newTestModel(t, tc.cfg, threads)
					toks := testTokens(19, tc.cfg.Vocab)
					want := referenceLogits(tc.cfg, m.Weights, toks)
					// Incremental decode through the cache, one token at a time.
					c := m.NewCache(len(toks))
					for i, tok := range toks {
						got, err := m.Forward(c, []int{tok})
						if err != nil {
							t.Fatal(err)
						}
						if d := maxDiff(got, want[i]); d > 1e-4 {
							t.Fatalf("cached step %d: max diff %g from the reference", i, d)
						}
					}
					// Recomputed: one pass over the whole prefix, every position's logits.
					c = m.NewCache(len(toks))
					all := make([]float32, len(toks)*tc.cfg.Vocab)
					if err := m.ForwardBatch([]Seq{{Cache: c, Tokens: toks, Logits: all, AllLogits: true}}); err != nil {
						t.Fatal(err)
					}
					for i := range toks {
						if d := maxDiff(all[i*tc.cfg.Vocab:(i+1)*tc.cfg.Vocab], want[i]); d > 1e-4 {
							t.Fatalf("recomputed position %d: max diff %g from the reference", i, d)
						}
					}
				})
			}
		}
	}
}

// TestChunkedPrefillAndRing checks that prompts longer than a chunk, and
// sliding-window caches that wrap around their ring, give the reference
// logits.
func TestChunkedPrefillAndRing(t *testing.T) {
	for _, tc := range testConfigs {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestModel(t, tc.cfg, 2)
			m.Chunk = 5
			toks := testTokens(40, tc.cfg.Vocab)
			want := referenceLogits(tc.cfg, m.Weights, toks)
			c := m.NewCache(len(toks))
			got, err := m.Forward(c, toks[:23])
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want[22]); d > 1e-4 {
				t.Fatalf("after chunked prefill: max diff %g", d)
			}
			for i := 23; i < len(toks); i++ {
				got, err := m.Forward(c, toks[i:i+1])
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(got, want[i]); d > 1e-4 {
					t.Fatalf("step %d: max diff %g", i, d)
				}
			}
			if _, err := m.Forward(c, toks[:1]); err != ErrContextFull {
				t.Fatalf("forward past the limit: err %v, want ErrContextFull", err)
			}
		})
	}
}

// TestBatchedMatchesUnbatched checks that a sequence's logits are bit for
// bit the same whether it runs alone or batched with others, on every
// kernel set.
func TestBatchedMatchesUnbatched(t *testing.T) {
	for _, tc := range testConfigs {
		for _, path := range kernelPaths() {
			t.Run(tc.name+"-"+path, func(t *testing.T) {
				useKernels(t, path)
				m := newTestModel(t, tc.cfg, 2)
				v := tc.cfg.Vocab
				prompts := [][]int{testTokens(9, v), testTokens(3, v)[1:], testTokens(14, v)[5:]}
				// Unbatched: each sequence alone, then 6 decode steps.
				solo := make([][][]float32, len(prompts))
				for i, p := range prompts {
					c := m.NewCache(32)
					lg, err := m.Forward(c, p)
					if err != nil {
						t.Fatal(err)
					}
					solo[i] = append(solo[i], lg)
					for s := range 6 {
						lg, err := m.Forward(c, []int{(s*5 + i) % v})
						if err != nil {
							t.Fatal(err)
						}
						solo[i] = append(solo[i], lg)
					}
				}
				// Batched: all prompts in one pass, then all decode steps together.
				caches := make([]*Cache, len(prompts))
				batch := make([]Seq, len(prompts))
				for i, p := range prompts {
					caches[i] = m.NewCache(32)
					batch[i] = Seq{Cache: caches[i], Tokens: p, Logits: make([]float32, v)}
				}
				for s := range 7 {
					if err := m.ForwardBatch(batch); err != nil {
						t.Fatal(err)
					}
					for i := range batch {
						if d := maxDiff(batch[i].Logits, solo[i][s]); d != 0 {
							t.Fatalf("step %d sequence %d: batched differs by %g", s, i, d)
						}
						batch[i].Tokens = []int{(s*5 + i) % v}
					}
				}
			})
		}
	}
}

// TestKernels checks every kernel set this CPU can run against float64
// sums, and that a row's dot product is bit for bit the same whether its
// vector goes alone (dot4) or in a batch (dot4x2, dot4x4, dot4x8), so a sequence's
// logits do not depend on what it is batched with.
func TestKernels(t *testing.T) {
	for _, path := range kernelPaths() {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 64, 172, 288} {
			t.Run(fmt.Sprintf("%s/n-%d", path, n), func(t *testing.T) {
				useKernels(t, path)
				stride := n + 3
				w := randomVec(rng, 3*stride+n, 0, 1)
				xs := randomVec(rng, 8*n, 0, 1)
				x := xs[:n]
				q := quantize(Matrix{Rows: 4, Cols: n, F32: w[:4*n]})
				qw := make([]int8, 3*stride+n)
				for r := range 4 {
					copy(qw[r*stride:], q.I8[r*n:(r+1)*n])
				}
				tol := 1e-5 * float64(n)
				want := func(r, c int) float64 {
					var s float64
					for i := range n {
						s += float64(w[r*stride+i]) * float64(xs[c*n+i])
					}
					return s
				}
				var alone [8][4]float32 // [vector][row]
				for c := range 8 {
					dot4(w, stride, xs[c*n:(c+1)*n], &alone[c])
					for r := range 4 {
						if d := math.Abs(float64(alone[c][r]) - want(r, c)); d > tol {
							t.Errorf("dot4 row %d vector %d: got %g, want %g", r, c, alone[c][r], want(r, c))
						}
					}
				}
				var got2 [8]float32
				dot4x2(w, stride, xs[:2*n], n, &got2)
				var got4 [16]float32
				dot4x4(w, stride, xs[:4*n], n, &got4)
				var got8 [32]float32
				dot4x8(w, stride, xs, n, &got8)
				for r := range 4 {
					for c := range 2 {
						if got2[4*c+r] != alone[c][r] {
							t.Errorf("dot4x2 row %d vector %d: got %g, alone %g", r, c, got2[4*c+r], alone[c][r])
						}
					}
					for c := range 4 {
						if got4[4*c+r] != alone[c][r] {
							t.Errorf("dot4x4 row %d vector %d: got %g, alone %g", r, c, got4[4*c+r], alone[c][r])
						}
					}
					for c := range 8 {
						if got8[4*c+r] != alone[c][r] {
							t.Errorf("dot4x8 row %d vector %d: got %g, alone %g", r, c, got8[4*c+r], alone[c][r])
						}
					}
				}
				var goti8 [4]float32
				dot4I8(qw, stride, x, &goti8)
				for r := range 4 {
					var wanti8 float64
					for i := range n {
						wanti8 += float64(q.I8[r*n+i]) * float64(x[i])
					}
					if d := math.Abs(float64(goti8[r]) - wanti8); d > 200*tol {
						t.Errorf("dot4I8 row %d: got %g, want %g", r, goti8[r], wanti8)
					}
					if d := math.Abs(float64(dot(w[r*stride:r*stride+n], x)) - want(r, 0)); d > tol {
						t.Errorf("dot row %d: differs by %g", r, d)
					}
				}
			})
		}
	}
}

func TestExpSubAndAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 5, 8, 13, 64, 101} {
		t.Run(fmt.Sprintf("n-%d", n), func(t *testing.T) {
			x := randomVec(rng, n, -20, 25) // spans e^-45 .. e^5 around m
			x[0] = -200                     // far below the clamp
			orig := append([]float32(nil), x...)
			const m = 3
			sum := expSub(x, m)
			var want float64
			for i, v := range orig {
				e := math.Exp(float64(v - m))
				want += e
				if d := math.Abs(float64(x[i]) - e); d > 2e-7*e+1e-37 {
					t.Fatalf("exp(%g): got %g, want %g", v-m, x[i], e)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-6*want+1e-37 {
				t.Fatalf("sum %g, want %g", sum, want)
			}
			y := randomVec(rng, n, 0, 1)
			y0 := append([]float32(nil), y...)
			axpy(0.5, orig, y)
			for i := range y {
				if d := math.Abs(float64(y[i]) - (float64(y0[i]) + 0.5*float64(orig[i]))); d > 1e-5 {
					t.Fatalf("axpy element %d off by %g", i, d)
				}
			}
		})
	}
}

// TestAttentionKernels checks scores and wsum, on every kernel set, for
// head sizes inside and outside the AVX-512 kernels' reach.
func TestAttentionKernels(t *testing.T) {
	for _, path := range kernelPaths() {
		rng := rand.New(rand.NewPCG(5, 6))
		for _, hd := range []int{8, 10, 16, 48, 64, 128, 144} {
			for _, n := range []int{1, 3, 4, 9, 37} {
				t.Run(fmt.Sprintf("%s/hd-%d/n-%d", path, hd, n), func(t *testing.T) {
					useKernels(t, path)
					stride := 3*hd + 5
					kv := randomVec(rng, (n-1)*stride+hd, 0, 1)
					q := randomVec(rng, hd, 0, 1)
					const scale = 0.125
					sc := make([]float32, n)
					scores(q, kv, stride, scale, sc)
					out := randomVec(rng, hd, 0, 1)
					want := make([]float64, hd)
					for i, v := range out {
						want[i] = float64(v)
					}
					wsum(sc, kv, stride, out)
					for p := range n {
						var d float64
						for i := range hd {
							d += float64(q[i]) * float64(kv[p*stride+i])
							want[i] += float64(sc[p]) * float64(kv[p*stride+i])
						}
						if diff := math.Abs(float64(sc[p]) - scale*d); diff > 1e-5*float64(hd) {
							t.Errorf("score %d: got %g, want %g", p, sc[p], scale*d)
						}
					}
					if d := maxDiff(out, want); d > 1e-5*float64(n) {
						t.Errorf("wsum: max diff %g", d)
					}
				})
			}
		}
	}
}

// TestSiluMul checks SwiGLU's gate on every kernel set against float64,
// from far below to far above exp's range.
func TestSiluMul(t *testing.T) {
	for _, path := range kernelPaths() {
		t.Run(path, func(t *testing.T) {
			useKernels(t, path)
			rng := rand.New(rand.NewPCG(7, 8))
			g := randomVec(rng, 203, 0, 12)
			g = append(g, -200, -100, -88.5, -87, -20, -1e-3, 0, 1e-3, 20, 87, 88.5, 100, 200)
			u := randomVec(rng, len(g), 0, 2)
			got := append([]float32(nil), g...)
			siluMul(got, u)
			for i, x := range g {
				want := float64(x) / (1 + math.Exp(-float64(x))) * float64(u[i])
				if d := math.Abs(float64(got[i]) - want); d > 1e-6*math.Abs(want)+1e-30 {
					t.Errorf("silu(%g)*%g: got %g, want %g", x, u[i], got[i], want)
				}
			}
		})
	}
}
