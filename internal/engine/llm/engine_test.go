package llm

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/engine"
	"strata/internal/guard"
	"strata/internal/modelgen"
	"strata/internal/safetensors"
)

// sharedDir returns the shared test-data folder beside the repository:
// the first ancestor of the working directory holding shared/DESIGN.md.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared/ test data beside the repository")
		}
		dir = parent
	}
}

// generated writes spec's model folder into a temporary directory.
func generated(t testing.TB, spec modelgen.Spec) string {
	t.Helper()
	dir := t.TempDir()
	if err := modelgen.Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

func openEngine(t testing.TB, dir string, opts Options) *Engine {
	t.Helper()
	e, err := Open(dir, LoadOptions{Threads: 2}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func text(t testing.TB, s string) guard.Text {
	t.Helper()
	g, _, err := guard.Mask(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func seed(v int64) *int64 { return &v }

// collect runs req and returns the result and the emitted tokens.
func collect(ctx context.Context, e *Engine, req engine.Request) (engine.Result, []engine.Token, error) {
	var toks []engine.Token
	res, err := e.Generate(ctx, req, func(t engine.Token) error {
		toks = append(toks, t)
		return nil
	})
	return res, toks, err
}

var tinySpecs = []struct {
	name string
	spec modelgen.Spec
}{
	{"tiny-mixtral", modelgen.TinyMixtral()},
	{"tiny-mistral-window-8", modelgen.TinyMistralSlidingWindow()},
	{"tiny-mistral", modelgen.TinyMistral()},
	{"tiny-mistral-bf16", withDType(modelgen.TinyMistral(), safetensors.BF16)},
	{"tiny-mixtral-f16-sharded", withShards(withDType(modelgen.TinyMixtral(), safetensors.F16), 3)},
}

func withDType(s modelgen.Spec, d safetensors.DType) modelgen.Spec {
	s.DType = d
	return s
}

func withShards(s modelgen.Spec, n int) modelgen.Spec {
	s.Shards = n
	return s
}

// TestInt8CloseToF32 bounds the int8 weights' error on a real model.
func TestInt8CloseToF32(t *testing.T) {
	dir := convertLlama2C(t, "stories260K", "stories260K.bin")
	var logits [2][]float32
	for i, q8 := range []bool{false, true} {
		m, err := LoadModel(dir, LoadOptions{Threads: 1, Int8: q8})
		if err != nil {
			t.Fatal(err)
		}
		logits[i], err = m.Forward(m.NewCache(8), []int{1, 403, 407, 261, 378})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	d := maxDiff(logits[0], logits[1])
	t.Logf("max |int8 - f32| logit difference: %.3g", d)
	if d > 0.25 || argmax(logits[0]) != argmax(logits[1]) {
		t.Fatalf("int8 logits differ by up to %g (argmax %d vs %d)", d, argmax(logits[1]), argmax(logits[0]))
	}
}

// TestLoadedCachedMatchesRecomputed checks generated Hugging Face folders:
// KV-cached decoding, one pass over the whole prefix (no cache), chunked
// prefill through the sliding window's ring, and the float64 reference all
// agree.
func TestLoadedCachedMatchesRecomputed(t *testing.T) {
	for _, tc := range tinySpecs {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadModel(generated(t, tc.spec), LoadOptions{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			v := m.Config.Vocab
			toks := testTokens(30, v)
			want := referenceLogits(m.Config, m.Weights, toks)
			c := m.NewCache(len(toks))
			for i, tok := range toks {
				got, err := m.Forward(c, []int{tok})
				if err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(got, want[i]); d > 1e-4 {
					t.Fatalf("cached position %d differs from the reference by %g", i, d)
				}
				// Recompute the prefix from nothing, in one pass.
				fresh := m.NewCache(i + 1)
				all := make([]float32, (i+1)*v)
				if err := m.ForwardBatch([]Seq{{Cache: fresh, Tokens: toks[:i+1], Logits: all, AllLogits: true}}); err != nil {
					t.Fatal(err)
				}
				if d := maxDiff(got, all[i*v:]); d > 1e-4 {
					t.Fatalf("position %d: cached and recomputed logits differ by %g", i, d)
				}
			}
			m.Chunk = 3
			c = m.NewCache(len(toks))
			got, err := m.Forward(c, toks)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want[len(toks)-1]); d > 1e-4 {
				t.Fatalf("chunked prefill differs from the reference by %g", d)
			}
		})
	}
}

// TestEngineBatchedMatchesUnbatched runs the same greedy requests one at a
// time and all at once: continuous batching must not change a single
// token or log probability.
func TestEngineBatchedMatchesUnbatched(t *testing.T) {
	for _, tc := range tinySpecs[:2] { // Mixtral and the sliding window
		t.Run(tc.name, func(t *testing.T) {
			e := openEngine(t, generated(t, tc.spec), Options{MaxSeqs: 8})
			prompts := []string{"a b c", "the quick brown fox jumps over the lazy dog again and again", "x", "hello world, hello world, hello"}
			req := func(p string, n int) engine.Request {
				return engine.Request{Prompt: text(t, p), MaxTokens: n, Logprobs: true}
			}
			solo := make([][]engine.Token, len(prompts))
			for i, p := range prompts {
				_, toks, err := collect(t.Context(), e, req(p, 20+i))
				if err != nil {
					t.Fatal(err)
				}
				solo[i] = toks
			}
			reqs := make([]engine.Request, len(prompts))
			for i, p := range prompts {
				reqs[i] = req(p, 20+i)
			}
			// Tiny requests can finish before the next one arrives, so the
			// concurrent round repeats until the scheduler has batched.
			for attempt := 0; attempt == 0 || e.Stats().MaxBatch < 2; attempt++ {
				if attempt == 20 {
					t.Fatalf("concurrent requests were never batched: %+v", e.Stats())
				}
				together := make([][]engine.Token, len(prompts))
				errs := make([]error, len(prompts))
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range prompts {
					wg.Go(func() {
						<-start
						_, together[i], errs[i] = collect(t.Context(), e, reqs[i])
					})
				}
				close(start)
				wg.Wait()
				for i := range prompts {
					if errs[i] != nil {
						t.Fatal(errs[i])
					}
					if len(solo[i]) != len(together[i]) {
						t.Fatalf("prompt %d: %d tokens alone, %d batched", i, len(solo[i]), len(together[i]))
					}
					for j := range solo[i] {
						a, b := solo[i][j], together[i][j]
						if a.ID != b.ID || a.Text != b.Text || math.Abs(a.Logprob-b.Logprob) > 1e-6 {
							t.Fatalf("prompt %d token %d: alone %+v, batched %+v", i, j, a, b)
						}
					}
				}
			}
		})
	}
}

// TestCancelFreesSlot holds the only slot with one request, queues a
// second, and cancels the first: the second must start at once.
func TestCancelFreesSlot(t *testing.T) {
	e := openEngine(t, generated(t, modelgen.TinyMistral()), Options{MaxSeqs: 1})
	ctxA, cancelA := context.WithCancel(t.Context())
	inA := make(chan struct{})
	releaseA := make(chan struct{})
	doneA := make(chan error, 1)
	go func() {
		first := true
		_, err := e.Generate(ctxA, engine.Request{Prompt: text(t, "first"), MaxTokens: 200}, func(engine.Token) error {
			if first {
				first = false
				close(inA)
				<-releaseA
			}
			return nil
		})
		doneA <- err
	}()
	<-inA

	started := make(chan time.Time, 1)
	doneB := make(chan error, 1)
	go func() {
		_, _, err := collect(t.Context(), e, engine.Request{Prompt: text(t, "second"), MaxTokens: 3})
		started <- time.Now()
		doneB <- err
	}()
	select {
	case <-started:
		t.Fatal("second request ran while the only slot was taken")
	case <-time.After(100 * time.Millisecond):
	}

	// A queued request whose context ends leaves the queue with its error.
	ctxC, cancelC := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancelC()
	if _, _, err := collect(ctxC, e, engine.Request{Prompt: text(t, "third"), MaxTokens: 3}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued request with an expired context: err %v", err)
	}

	cancelA()
	close(releaseA)
	if err := <-doneA; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request returned %v", err)
	}
	select {
	case err := <-doneB:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("queued request did not proceed after the slot was freed")
	}
}

func TestEngineRefusesUnguarded(t *testing.T) {
	e := openEngine(t, generated(t, modelgen.TinyMistral()), Options{})
	for _, tc := range []struct {
		name string
		req  engine.Request
	}{
		{"zero-prompt", engine.Request{MaxTokens: 4}},
		{"zero-message", engine.Request{Messages: []engine.Message{{Role: "user"}}, MaxTokens: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := collect(t.Context(), e, tc.req); !errors.Is(err, engine.ErrUnguarded) {
				t.Fatalf("Generate: err %v, want ErrUnguarded", err)
			}
			if _, err := e.CountTokens(t.Context(), tc.req); !errors.Is(err, engine.ErrUnguarded) {
				t.Fatalf("CountTokens: err %v, want ErrUnguarded", err)
			}
		})
	}
}

func TestEngineGeneration(t *testing.T) {
	e := openEngine(t, generated(t, modelgen.TinyMistral()), Options{})
	ctx := t.Context()
	base := engine.Request{Prompt: text(t, "once upon a time"), MaxTokens: 40, Logprobs: true}
	res, toks, err := collect(ctx, e, base)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("greedy-result-matches-stream", func(t *testing.T) {
		var sb strings.Builder
		for _, tk := range toks {
			sb.WriteString(tk.Text)
			if tk.Logprob > 0 || math.IsNaN(tk.Logprob) {
				t.Fatalf("token %+v has an impossible log probability", tk)
			}
		}
		if res.Text != sb.String() || len(res.Tokens) != len(toks) || res.OutputTokens != len(toks) {
			t.Fatalf("result %q/%d tokens, stream %q/%d tokens", res.Text, res.OutputTokens, sb.String(), len(toks))
		}
		if res.StopReason != engine.StopLength && res.StopReason != engine.StopEnd {
			t.Fatalf("stop reason %q", res.StopReason)
		}
		if n, _ := e.CountTokens(ctx, base); n != res.InputTokens {
			t.Fatalf("CountTokens %d, InputTokens %d", n, res.InputTokens)
		}
	})
	t.Run("stop-sequence-cuts-output", func(t *testing.T) {
		if len(res.Text) < 12 {
			t.Skipf("greedy output %q too short", res.Text)
		}
		stop := res.Text[len(res.Text)/2 : len(res.Text)/2+3]
		req := base
		req.Stop = []string{"never-appears", stop}
		got, _, err := collect(ctx, e, req)
		if err != nil {
			t.Fatal(err)
		}
		want := res.Text[:strings.Index(res.Text, stop)]
		if got.Text != want || got.StopReason != engine.StopSequence {
			t.Fatalf("with stop %q: %q (%s), want %q", stop, got.Text, got.StopReason, want)
		}
	})
	t.Run("seeded-sampling-is-reproducible", func(t *testing.T) {
		req := base
		req.Temperature, req.TopP, req.TopK, req.Seed = 1.2, 0.95, 50, seed(42)
		a, _, err := collect(ctx, e, req)
		if err != nil {
			t.Fatal(err)
		}
		b, _, err := collect(ctx, e, req)
		if err != nil {
			t.Fatal(err)
		}
		if a.Text != b.Text {
			t.Fatalf("same seed, different text: %q vs %q", a.Text, b.Text)
		}
		req.Seed = seed(43)
		c, _, _ := collect(ctx, e, req)
		if c.Text == a.Text {
			t.Logf("seeds 42 and 43 happened to agree: %q", a.Text)
		}
	})
	t.Run("emit-error-ends-generation", func(t *testing.T) {
		boom := errors.New("client went away")
		n := 0
		_, err := e.Generate(ctx, base, func(engine.Token) error {
			n++
			if n == 2 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || n != 2 {
			t.Fatalf("err %v after %d tokens", err, n)
		}
	})
	t.Run("chat-messages", func(t *testing.T) {
		req := engine.Request{Messages: []engine.Message{{Role: "user", Content: text(t, "hi [INST] there")}}, MaxTokens: 5}
		n, err := e.CountTokens(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := collect(ctx, e, req)
		if err != nil || got.InputTokens != n || got.OutputTokens == 0 && got.StopReason != engine.StopEnd {
			t.Fatalf("chat: %+v, %v", got, err)
		}
	})
	t.Run("context-limit", func(t *testing.T) {
		req := base
		req.MaxTokens = 10000
		got, _, err := collect(ctx, e, req)
		if err != nil {
			t.Fatal(err)
		}
		if got.StopReason == engine.StopLength && got.InputTokens+got.OutputTokens != 256 {
			t.Fatalf("stopped for length after %d+%d tokens, context is 256", got.InputTokens, got.OutputTokens)
		}
	})
}

func TestStopper(t *testing.T) {
	tok := func(s ...string) []engine.Token {
		var ts []engine.Token
		for i, x := range s {
			ts = append(ts, engine.Token{ID: i, Text: x})
		}
		return ts
	}
	for _, tc := range []struct {
		name    string
		stops   []string
		in      []string
		out     string
		stopped bool
	}{
		{"no-stops", nil, []string{"ab", "cd"}, "abcd", false},
		{"match-inside-token", []string{"c"}, []string{"ab", "cd"}, "ab", true},
		{"match-across-tokens", []string{"bc"}, []string{"ab", "cd"}, "a", true},
		{"partial-held-then-released", []string{"bx"}, []string{"ab", "cd"}, "abcd", false},
		{"earliest-of-two", []string{"d", "b"}, []string{"abcd"}, "a", true},
		{"match-at-start", []string{"ab"}, []string{"ab", "cd"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stopper{stops: tc.stops}
			var out strings.Builder
			stopped := false
			for _, x := range tok(tc.in...) {
				got, st := s.push(x)
				for _, g := range got {
					out.WriteString(g.Text)
				}
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				for _, g := range s.flush("") {
					out.WriteString(g.Text)
				}
			}
			if out.String() != tc.out || stopped != tc.stopped {
				t.Fatalf("got %q stopped=%v, want %q stopped=%v", out.String(), stopped, tc.out, tc.stopped)
			}
		})
	}
}

func TestSampler(t *testing.T) {
	logits := []float32{1, 3, 2, 0.5, 2.9}
	t.Run("greedy", func(t *testing.T) {
		s := newSampler(Sampling{}, 1)
		if got := s.sample(logits); got != 1 {
			t.Fatalf("greedy picked %d", got)
		}
	})
	t.Run("top-k-2-only-two-tokens", func(t *testing.T) {
		s := newSampler(Sampling{Temperature: 5, TopK: 2}, 1)
		for range 200 {
			if got := s.sample(logits); got != 1 && got != 4 {
				t.Fatalf("top-k 2 picked %d", got)
			}
		}
	})
	t.Run("top-p-nucleus", func(t *testing.T) {
		// At temperature 1 the probabilities are about .07 .39 .14 .03 .36:
		// top-p 0.7 keeps tokens 1 and 4.
		s := newSampler(Sampling{Temperature: 1, TopP: 0.7}, 1)
		seen := map[int]int{}
		for range 500 {
			seen[s.sample(logits)]++
		}
		if len(seen) != 2 || seen[1] == 0 || seen[4] == 0 {
			t.Fatalf("top-p 0.7 picked %v", seen)
		}
	})
	t.Run("top-p-nucleus-large-vocabulary", func(t *testing.T) {
		// One token holds 60% of the mass and 999 share the rest: top-p
		// 0.5 must keep that token alone.
		big := make([]float32, 1000)
		big[7] = float32(math.Log(0.6 / (0.4 / 999)))
		s := newSampler(Sampling{Temperature: 1, TopP: 0.5}, 3)
		for range 100 {
			if got := s.sample(big); got != 7 {
				t.Fatalf("top-p 0.5 picked %d", got)
			}
		}
		s = newSampler(Sampling{Temperature: 1, TopP: 0.7}, 3)
		others := 0
		for range 2000 {
			if s.sample(big) != 7 {
				others++
			}
		}
		if others == 0 {
			t.Fatal("top-p 0.7 never picked beyond the top token")
		}
	})
	t.Run("frequencies-follow-softmax", func(t *testing.T) {
		s := newSampler(Sampling{Temperature: 1}, 7)
		p := slices.Clone(logits)
		softmax(p)
		const n = 20000
		cnt := make([]int, len(logits))
		for range n {
			cnt[s.sample(logits)]++
		}
		for i, c := range cnt {
			if d := math.Abs(float64(c)/n - float64(p[i])); d > 0.02 {
				t.Fatalf("token %d: frequency %.3f, probability %.3f", i, float64(c)/n, p[i])
			}
		}
	})
	t.Run("pick-skips-blocks-exactly", func(t *testing.T) {
		// Small integer weights sum exactly in any order, so the blocked
		// walk must land where a plain running sum does.
		p := make([]float32, 2000)
		var total float32
		for i := range p {
			p[i] = float32(i%7 + i%3)
			total += p[i]
		}
		for r := float32(0.5); r < total+3; r += 3.25 {
			want, cum := len(p)-1, float32(0)
			for i, v := range p {
				cum += v
				if r < cum {
					want = i
					break
				}
			}
			if got := pick(p, nil, r); got != want {
				t.Fatalf("pick at %g: got %d, want %d", r, got, want)
			}
		}
	})
	t.Run("logprob-is-log-softmax", func(t *testing.T) {
		var sum float64
		for i := range logits {
			sum += math.Exp(logprob(logits, i))
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("probabilities sum to %v", sum)
		}
	})
}

// TestLoadF32IsZeroCopy loads a 60 MB F32 model and checks the heap did
// not grow by anything like its size: the weights stay in the mapping.
func TestLoadF32IsZeroCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 60 MB model")
	}
	dir := generated(t, modelgen.Stories15M())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := LoadModel(dir, LoadOptions{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	runtime.GC()
	runtime.ReadMemStats(&after)
	weights := m.Weights.Bytes(&m.Config)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("weights %d MB, heap grew by %d KB", weights>>20, grew>>10)
	if grew > weights/10 {
		t.Fatalf("loading %d bytes of F32 weights grew the heap by %d bytes", weights, grew)
	}
	if _, err := m.Forward(m.NewCache(4), []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
}

func TestCloseEndsGeneration(t *testing.T) {
	e, err := Open(generated(t, modelgen.TinyMistral()), LoadOptions{Threads: 1}, Options{MaxSeqs: 1})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		_, err := e.Generate(t.Context(), engine.Request{Prompt: text(t, "x"), MaxTokens: 250}, func(engine.Token) error {
			if first {
				first = false
				close(started)
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		})
		done <- err
	}()
	<-started
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil && !errors.Is(err, ErrClosed) {
		t.Fatalf("Generate during Close: %v", err)
	}
	if _, _, err := collect(t.Context(), e, engine.Request{Prompt: text(t, "x"), MaxTokens: 2}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Generate after Close: %v, want ErrClosed", err)
	}
}
