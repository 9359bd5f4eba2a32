package upstream

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
	"strata/internal/guard"
)

// text makes a guard.Text the way the runtime does, through the guard.
func text(t testing.TB, s string) guard.Text {
	t.Helper()
	g, _, err := guard.Mask(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func chatReq(t testing.TB, maxTokens int) engine.Request {
	return engine.Request{
		Messages: []engine.Message{
			{Role: "system", Content: text(t, "You are terse.")},
			{Role: "user", Content: text(t, "Say hello to the nice people")},
		},
		MaxTokens: maxTokens,
	}
}

func promptReq(t testing.TB, maxTokens int) engine.Request {
	return engine.Request{Prompt: text(t, "Once upon a time"), MaxTokens: maxTokens}
}

// newOpenAI returns an engine over srv with fast retries and no prober,
// changed by mod.
func newOpenAI(t testing.TB, srv *upstreamtest.OpenAIServer, mod func(*Config)) *OpenAI {
	t.Helper()
	cfg := Config{BaseURL: srv.BaseURL(), Model: "test-model", Backoff: time.Millisecond, ProbeInterval: -1}
	if mod != nil {
		mod(&cfg)
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// recorder collects emitted tokens.
type recorder struct {
	mu     sync.Mutex
	tokens []engine.Token
}

func (r *recorder) emit(t engine.Token) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens = append(r.tokens, t)
	return nil
}

func (r *recorder) text() string {
	var sb strings.Builder
	for _, t := range r.tokens {
		sb.WriteString(t.Text)
	}
	return sb.String()
}

func kindOf(err error) (apierr.Kind, bool) {
	e, ok := errors.AsType[*apierr.Error](err)
	if !ok {
		return 0, false
	}
	return e.Kind, true
}

func TestOpenAIGenerate(t *testing.T) {
	full := strings.Join(upstreamtest.DefaultReply, "")
	seed := int64(7)
	cases := []generateCase{
		{
			name: "chat-streams-whole-reply", req: func(t *testing.T) engine.Request { return chatReq(t, 64) },
			wantPath: "/v1/chat/completions", wantText: full, wantStop: engine.StopEnd,
			wantIn: 3 + 2 + 6 + 2, wantOut: 17, wantTokens: 17,
		},
		{
			name: "completion-streams-whole-reply", req: func(t *testing.T) engine.Request { return promptReq(t, 64) },
			wantPath: "/v1/completions", wantText: full, wantStop: engine.StopEnd,
			wantIn: 4, wantOut: 17, wantTokens: 17,
		},
		{
			name: "max-tokens-is-length", req: func(t *testing.T) engine.Request { return promptReq(t, 3) },
			wantPath: "/v1/completions", wantText: "Hello, this", wantStop: engine.StopLength,
			wantIn: 4, wantOut: 3, wantTokens: 3,
		},
		{
			name: "stop-sequence-is-reported",
			req: func(t *testing.T) engine.Request {
				r := chatReq(t, 64)
				r.Stop = []string{"zzz", " upstream"}
				return r
			},
			wantPath: "/v1/chat/completions", wantText: "Hello, this is the", wantStop: engine.StopSequence,
			wantIn: 13, wantOut: 5, wantTokens: 5,
		},
		{
			name: "stop-inside-a-token",
			req: func(t *testing.T) engine.Request {
				r := promptReq(t, 64)
				r.Stop = []string{"stream"}
				return r
			},
			wantPath: "/v1/completions", wantText: "Hello, this is the up", wantStop: engine.StopSequence,
			wantIn: 4, wantOut: 6, wantTokens: 6,
		},
		{
			name: "no-usage-counts-chunks", opts: upstreamtest.OpenAIOptions{NoUsage: true},
			req:      func(t *testing.T) engine.Request { return chatReq(t, 5) },
			wantPath: "/v1/chat/completions", wantText: "Hello, this is the", wantStop: engine.StopLength,
			wantIn: 0, wantOut: 5, wantTokens: 5,
		},
		{
			name: "no-done-marker", opts: upstreamtest.OpenAIOptions{NoDone: true},
			req:      func(t *testing.T) engine.Request { return promptReq(t, 2) },
			wantPath: "/v1/completions", wantText: "Hello,", wantStop: engine.StopLength,
			wantIn: 4, wantOut: 2, wantTokens: 2,
		},
		{
			name: "sampling-options-pass-through",
			req: func(t *testing.T) engine.Request {
				r := chatReq(t, 4)
				r.Temperature, r.TopP, r.TopK, r.Seed = 0.7, 0.9, 40, &seed
				return r
			},
			wantPath: "/v1/chat/completions", wantText: "Hello, this is", wantStop: engine.StopLength,
			wantIn: 13, wantOut: 4, wantTokens: 4,
		},
	}
	for _, tc := range cases {
		for _, whole := range []bool{false, true} {
			name := tc.name
			if whole {
				// engine.Request.Whole: a complete reply instead of a
				// stream, its text emitted in one piece.
				name += "/whole"
				tc.wantTokens = 1
				if tc.opts.NoUsage {
					tc.wantOut = max(1, estimateTokens([]string{tc.wantText}, false))
				}
			}
			t.Run(name, func(t *testing.T) { testGenerate(t, tc, whole) })
		}
	}
}

// generateCase is one case of TestOpenAIGenerate.
type generateCase struct {
	name       string
	opts       upstreamtest.OpenAIOptions
	req        func(t *testing.T) engine.Request
	wantPath   string
	wantText   string
	wantStop   engine.StopReason
	wantIn     int
	wantOut    int
	wantTokens int
}

func testGenerate(t *testing.T, tc generateCase, whole bool) {
	srv := upstreamtest.NewOpenAIServer(tc.opts)
	defer srv.Close()
	o := newOpenAI(t, srv, nil)
	req := tc.req(t)
	req.Whole = whole
	var rec recorder
	res, err := o.Generate(t.Context(), req, rec.emit)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != tc.wantText || rec.text() != tc.wantText {
		t.Errorf("text = %q, emitted %q; want %q", res.Text, rec.text(), tc.wantText)
	}
	if res.StopReason != tc.wantStop {
		t.Errorf("stop = %q, want %q", res.StopReason, tc.wantStop)
	}
	if res.InputTokens != tc.wantIn || res.OutputTokens != tc.wantOut {
		t.Errorf("usage = %d in, %d out; want %d, %d", res.InputTokens, res.OutputTokens, tc.wantIn, tc.wantOut)
	}
	if len(rec.tokens) != tc.wantTokens {
		t.Errorf("emitted %d tokens, want %d", len(rec.tokens), tc.wantTokens)
	}
	for i, tok := range rec.tokens {
		if !whole && i < len(upstreamtest.DefaultReply) && !strings.HasPrefix(upstreamtest.DefaultReply[i], tok.Text) {
			t.Errorf("token %d = %q, out of order", i, tok.Text)
		}
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests", len(reqs))
	}
	got := reqs[0]
	if got.Path != tc.wantPath || got.Stream == whole || (got.StreamOptions == nil) != whole || !whole && !got.StreamOptions.IncludeUsage {
		t.Errorf("request %s stream=%v options=%v (whole %v)", got.Path, got.Stream, got.StreamOptions, whole)
	}
	if got.Model != "test-model" || got.MaxTokens != req.MaxTokens || got.Temperature == nil || *got.Temperature != req.Temperature {
		t.Errorf("request model=%q max_tokens=%d temperature=%v", got.Model, got.MaxTokens, got.Temperature)
	}
	if (got.TopK != nil) != (req.TopK > 0) || (got.TopK != nil && *got.TopK != req.TopK) {
		t.Errorf("top_k = %v, want %d", got.TopK, req.TopK)
	}
	if (got.TopP != nil) != (req.TopP > 0) || (got.Seed != nil) != (req.Seed != nil) {
		t.Errorf("top_p = %v, seed = %v", got.TopP, got.Seed)
	}
	if len(got.Logprobs) != 0 {
		t.Errorf("logprobs sent unasked: %s", got.Logprobs)
	}
	if req.Prompt.Valid() != (got.Prompt != nil) || len(got.Messages) != len(req.Messages) {
		t.Errorf("prompt/messages not passed: %+v", got)
	}
	for i, m := range got.Messages {
		if m.Role != req.Messages[i].Role || m.Content != req.Messages[i].Content.String() {
			t.Errorf("message %d = %+v", i, m)
		}
	}
}

func TestOpenAILogprobs(t *testing.T) {
	cases := []struct {
		name      string
		req       func(t *testing.T) engine.Request
		wantParam string
	}{
		{name: "chat", req: func(t *testing.T) engine.Request { return chatReq(t, 6) }, wantParam: "true"},
		{name: "completion", req: func(t *testing.T) engine.Request { return promptReq(t, 6) }, wantParam: "1"},
	}
	for _, tc := range cases {
		for _, whole := range []bool{false, true} {
			name := tc.name
			if whole {
				name += "/whole" // a complete reply still yields one token per logprob
			}
			t.Run(name, func(t *testing.T) {
				srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
				defer srv.Close()
				o := newOpenAI(t, srv, nil)
				req := tc.req(t)
				req.Logprobs, req.Whole = true, whole
				var rec recorder
				res, err := o.Generate(t.Context(), req, rec.emit)
				if err != nil {
					t.Fatal(err)
				}
				if got := string(srv.Requests()[0].Logprobs); got != tc.wantParam {
					t.Errorf("logprobs param = %s, want %s", got, tc.wantParam)
				}
				if len(rec.tokens) != 6 || len(res.Tokens) != 6 {
					t.Fatalf("emitted %d, result %d tokens; want 6", len(rec.tokens), len(res.Tokens))
				}
				for i, tok := range rec.tokens {
					if tok.Logprob != upstreamtest.Logprob(i) || res.Tokens[i] != tok {
						t.Errorf("token %d = %+v, want logprob %v", i, tok, upstreamtest.Logprob(i))
					}
				}
				if got := srv.Requests()[0].Stream; got == whole {
					t.Errorf("stream = %v with whole %v", got, whole)
				}
			})
		}
	}
}

func TestSplitTokens(t *testing.T) {
	cases := []struct {
		name string
		text string
		lps  []tokenLogprob
		want []engine.Token
	}{
		{name: "empty", text: "", want: nil},
		{name: "text-only", text: "ab", want: []engine.Token{{ID: -1, Text: "ab"}}},
		{name: "entries-spell-text", text: "ab", lps: []tokenLogprob{{"a", -1}, {"b", -2}},
			want: []engine.Token{{ID: -1, Text: "a", Logprob: -1}, {ID: -1, Text: "b", Logprob: -2}}},
		{name: "entries-differ", text: "é", lps: []tokenLogprob{{"bytes:\\xc3", -1}, {"bytes:\\xa9", -2}},
			want: []engine.Token{{ID: -1, Text: "é", Logprob: -1}, {ID: -1, Text: "", Logprob: -2}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := splitTokens(tc.text, tc.lps)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("token %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestStreamsWithoutBuffering proves tokens are passed on as they arrive:
// the upstream sends two tokens and then stalls, and both reach emit while
// the request is still open.
func TestStreamsWithoutBuffering(t *testing.T) {
	osrv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer osrv.Close()
	bsrv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
	defer bsrv.Close()
	cases := []struct {
		name   string
		engine engine.Engine
		fail   func(upstreamtest.Failure)
		seen   <-chan string
	}{
		{name: "openai", engine: newOpenAI(t, osrv, nil), fail: func(f upstreamtest.Failure) { osrv.Fail(f) }, seen: osrv.Cancelled()},
		{name: "bedrock", engine: newBedrock(t, bsrv, nil), fail: func(f upstreamtest.Failure) { bsrv.Fail(f) }, seen: bsrv.Cancelled()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.fail(upstreamtest.Failure{DropAfter: 2, Hang: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var rec recorder
			got := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				_, err := tc.engine.Generate(ctx, chatReq(t, 64), func(tok engine.Token) error {
					rec.emit(tok)
					if len(rec.tokens) == 2 {
						close(got)
					}
					return nil
				})
				done <- err
			}()
			select {
			case <-got:
			case err := <-done:
				t.Fatalf("Generate ended before the stalled upstream finished: %v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("the first tokens never reached emit: the reply is buffered")
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			if rec.text() != "Hello," {
				t.Errorf("emitted %q", rec.text())
			}
			waitCancelled(t, tc.seen)
		})
	}
}

func TestOpenAIFailures(t *testing.T) {
	const key = "sk-test-0123456789abcdef"
	cases := []struct {
		name         string
		fail         []upstreamtest.Failure
		retries      int
		wantErr      bool
		wantKind     apierr.Kind
		wantAttempts int
		wantEmitted  int
		wantMsg      string
	}{
		{name: "503-then-ok-is-retried", fail: []upstreamtest.Failure{{Status: 503}}, wantAttempts: 2, wantEmitted: 17},
		{name: "502-then-ok-is-retried", fail: []upstreamtest.Failure{{Status: 502}}, wantAttempts: 2, wantEmitted: 17},
		{name: "504-then-ok-is-retried", fail: []upstreamtest.Failure{{Status: 504}}, wantAttempts: 2, wantEmitted: 17},
		{name: "429-then-ok-is-retried", fail: []upstreamtest.Failure{{Status: 429, RetryAfter: "0"}}, wantAttempts: 2, wantEmitted: 17},
		{name: "429-until-retries-run-out-is-throttling",
			fail:    []upstreamtest.Failure{{Status: 429}, {Status: 429}, {Status: 429}},
			wantErr: true, wantKind: apierr.Throttling, wantAttempts: 3},
		{name: "no-retries-when-disabled", fail: []upstreamtest.Failure{{Status: 503}}, retries: -1,
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1},
		{name: "long-retry-after-is-not-waited", fail: []upstreamtest.Failure{{Status: 429, RetryAfter: "3600"}},
			wantErr: true, wantKind: apierr.Throttling, wantAttempts: 1},
		{name: "504-until-retries-run-out-is-timeout",
			fail:    []upstreamtest.Failure{{Status: 504}, {Status: 504}, {Status: 504}},
			wantErr: true, wantKind: apierr.ModelTimeout, wantAttempts: 3},
		{name: "400-is-validation-with-sanitized-message",
			fail:    []upstreamtest.Failure{{Status: 400, Message: "This model's maximum context length is 4096 tokens (key " + key + ", card 4111 1111 1111 1111)\n\x00"}},
			wantErr: true, wantKind: apierr.Validation, wantAttempts: 1, wantMsg: "This model's maximum context length is 4096 tokens"},
		{name: "500-is-not-retried", fail: []upstreamtest.Failure{{Status: 500}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1},
		{name: "drop-mid-stream-is-not-retried", fail: []upstreamtest.Failure{{DropAfter: 3}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 3},
		{name: "clean-end-without-finish-is-an-error", fail: []upstreamtest.Failure{{EndEarly: true}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 17},
		{name: "clean-end-after-one-token-is-not-retried", fail: []upstreamtest.Failure{{EndEarly: true, DropAfter: 1}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 1},
		{name: "drop-before-first-token-is-retried", fail: []upstreamtest.Failure{{DropAfter: -1}}, wantAttempts: 2, wantEmitted: 17},
		{name: "clean-end-before-first-token-is-retried", fail: []upstreamtest.Failure{{DropAfter: -1, EndEarly: true}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "drop-after-all-tokens-is-an-error", fail: []upstreamtest.Failure{{DropAfter: 99}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 17},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{APIKey: key})
			defer srv.Close()
			o := newOpenAI(t, srv, func(c *Config) { c.APIKey = key; c.MaxRetries = tc.retries })
			srv.Fail(tc.fail...)
			var rec recorder
			res, err := o.Generate(t.Context(), chatReq(t, 64), rec.emit)
			if got := srv.Attempts(); got != tc.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tc.wantAttempts)
			}
			if len(rec.tokens) != tc.wantEmitted {
				t.Errorf("emitted %d tokens, want %d (no token may be sent twice)", len(rec.tokens), tc.wantEmitted)
			}
			if !tc.wantErr {
				if err != nil || res.Text != strings.Join(upstreamtest.DefaultReply, "") {
					t.Fatalf("Generate = %q, %v", res.Text, err)
				}
				return
			}
			kind, ok := kindOf(err)
			if !ok || kind != tc.wantKind {
				t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
			}
			msg := apierr.From(err).Message
			if tc.wantMsg != "" && !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q lacks %q", msg, tc.wantMsg)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(msg, "4111") || strings.ContainsAny(msg, "\n\x00") {
				t.Errorf("error leaks: %q / %q", msg, err.Error())
			}
		})
	}
}

func TestStreamedErrors(t *testing.T) {
	cases := []struct {
		name     string
		data     string
		wantKind apierr.Kind
		wantMsg  string
	}{
		{name: "bad-request-is-validation", data: `{"error":{"message":"prompt is 9000 tokens, limit 4096","type":"BadRequestError","code":400}}`,
			wantKind: apierr.Validation, wantMsg: "prompt is 9000 tokens, limit 4096"},
		{name: "server-error-is-model-error", data: `{"error":{"message":"CUDA out of memory","type":"InternalServerError","code":500}}`,
			wantKind: apierr.ModelError, wantMsg: "The upstream model server failed while generating."},
		{name: "tgi-string-error", data: `{"error":"Input validation error","error_type":"validation"}`,
			wantKind: apierr.ModelError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var res engine.Result
			s := streamState{res: &res, emit: func(engine.Token) error { return nil }}
			err := s.chunk([]byte(tc.data), "")
			f, ok := errors.AsType[*failure](err)
			if !ok || f.kind != tc.wantKind || !strings.Contains(f.msg, tc.wantMsg) || f.retry {
				t.Fatalf("failure = %+v", f)
			}
		})
	}
}

func TestOpenAIWrongKey(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{APIKey: "sk-right-key-000000"})
	defer srv.Close()
	o := newOpenAI(t, srv, func(c *Config) { c.APIKey = "sk-wrong-key-111111" })
	_, err := o.Generate(t.Context(), chatReq(t, 4), func(engine.Token) error { return nil })
	if kind, _ := kindOf(err); kind != apierr.ModelError || strings.Contains(err.Error(), "sk-wrong") {
		t.Fatalf("err = %v", err)
	}
	if srv.Attempts() != 1 {
		t.Errorf("auth failure retried: %d attempts", srv.Attempts())
	}
}

func TestOpenAIEmitErrorStops(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer srv.Close()
	o := newOpenAI(t, srv, nil)
	stop := errors.New("client went away")
	n := 0
	_, err := o.Generate(t.Context(), chatReq(t, 64), func(engine.Token) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 || srv.Attempts() != 1 {
		t.Fatalf("err = %v after %d tokens, %d attempts", err, n, srv.Attempts())
	}
}

func TestOpenAIUnreachable(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	o := newOpenAI(t, srv, nil)
	srv.Close()
	_, err := o.Generate(t.Context(), chatReq(t, 4), func(engine.Token) error { return nil })
	kind, _ := kindOf(err)
	if kind != apierr.ServiceUnavailable {
		t.Fatalf("err = %v, want ServiceUnavailable (marked down)", err)
	}
	if o.Healthy() {
		t.Error("an unreachable upstream is still healthy")
	}
}

func TestOpenAITimeout(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer srv.Close()
	o := newOpenAI(t, srv, func(c *Config) { c.Timeout = 150 * time.Millisecond })
	srv.Fail(upstreamtest.Failure{Hang: true})
	start := time.Now()
	_, err := o.Generate(t.Context(), chatReq(t, 4), func(engine.Token) error { return nil })
	if kind, _ := kindOf(err); kind != apierr.ModelTimeout {
		t.Fatalf("err = %v, want ModelTimeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	waitCancelled(t, srv.Cancelled())
}

func waitCancelled(t *testing.T, c <-chan string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream never saw the request cancelled")
	}
}

func TestOpenAICancel(t *testing.T) {
	cases := []struct {
		name string
		fail upstreamtest.Failure
		// cancelAfter cancels in emit after that many tokens; 0 cancels
		// from outside while the upstream hangs.
		cancelAfter int
	}{
		{name: "while-waiting-for-first-token", fail: upstreamtest.Failure{Hang: true}},
		{name: "mid-stream", cancelAfter: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{TokenDelay: 30 * time.Millisecond})
			defer srv.Close()
			o := newOpenAI(t, srv, nil)
			srv.Fail(tc.fail)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.cancelAfter == 0 {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			n := 0
			start := time.Now()
			_, err := o.Generate(ctx, chatReq(t, 64), func(engine.Token) error {
				n++
				if n == tc.cancelAfter {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("cancellation took %v", d)
			}
			waitCancelled(t, srv.Cancelled())
			if srv.Attempts() != 1 {
				t.Errorf("%d attempts after cancel", srv.Attempts())
			}
		})
	}
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpenAIHealth(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{APIKey: "sk-health-000000"})
	defer srv.Close()
	o := newOpenAI(t, srv, func(c *Config) { c.APIKey = "sk-health-000000"; c.ProbeInterval = 10 * time.Millisecond })
	if err := o.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy at start", o.Healthy)
	srv.SetHealthy(false)
	if err := o.Health(t.Context()); err == nil {
		t.Error("Health passed on a 503")
	}
	waitFor(t, "marked down", func() bool { return !o.Healthy() })
	// While down, a failing request fails fast as ServiceUnavailable.
	srv.Fail(upstreamtest.Failure{Status: 503}, upstreamtest.Failure{Status: 503})
	_, err := o.Generate(t.Context(), chatReq(t, 4), func(engine.Token) error { return nil })
	if kind, _ := kindOf(err); kind != apierr.ServiceUnavailable {
		t.Errorf("err = %v, want ServiceUnavailable", err)
	}
	srv.SetHealthy(true)
	waitFor(t, "marked up again", o.Healthy)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnguardedRefused(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer srv.Close()
	o := newOpenAI(t, srv, nil)
	bsrv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
	defer bsrv.Close()
	b := newBedrock(t, bsrv, nil)
	cases := []struct {
		name string
		req  engine.Request
	}{
		{name: "zero-prompt", req: engine.Request{MaxTokens: 4}},
		{name: "zero-message", req: engine.Request{MaxTokens: 4, Messages: []engine.Message{
			{Role: "system", Content: text(t, "ok")}, {Role: "user"}}}},
	}
	for _, tc := range cases {
		for _, e := range []engine.Engine{o, b} {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := e.Generate(t.Context(), tc.req, func(engine.Token) error { return nil }); !errors.Is(err, engine.ErrUnguarded) {
					t.Errorf("Generate err = %v", err)
				}
				if _, err := e.CountTokens(t.Context(), tc.req); !errors.Is(err, engine.ErrUnguarded) {
					t.Errorf("CountTokens err = %v", err)
				}
			})
		}
	}
	if srv.Attempts() != 0 || bsrv.Attempts() != 0 || len(bsrv.Requests()) != 0 {
		t.Error("unguarded text reached an upstream")
	}
}

func TestOpenAICountTokens(t *testing.T) {
	cases := []struct {
		name     string
		opts     upstreamtest.OpenAIOptions
		estimate bool
		req      func(t *testing.T) engine.Request
		want     int
		wantNoTk bool
	}{
		{name: "estimate-when-configured", estimate: true,
			req: func(t *testing.T) engine.Request { return promptReq(t, 1) }, want: 4, wantNoTk: true},
		{name: "tokenize-prompt", req: func(t *testing.T) engine.Request { return promptReq(t, 1) }, want: 4},
		{name: "tokenize-chat", req: func(t *testing.T) engine.Request { return chatReq(t, 1) }, want: 13},
		{name: "estimate-prompt", opts: upstreamtest.OpenAIOptions{NoTokenize: true},
			req: func(t *testing.T) engine.Request { return promptReq(t, 1) }, want: 4, wantNoTk: true}, // 16 bytes
		{name: "estimate-chat", opts: upstreamtest.OpenAIOptions{NoTokenize: true},
			req: func(t *testing.T) engine.Request { return chatReq(t, 1) }, want: 4 + 4 + 7 + 4, wantNoTk: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewOpenAIServer(tc.opts)
			defer srv.Close()
			o := newOpenAI(t, srv, func(c *Config) { c.EstimateTokens = tc.estimate })
			for range 2 {
				n, err := o.CountTokens(t.Context(), tc.req(t))
				if err != nil || n != tc.want {
					t.Fatalf("CountTokens = %d, %v; want %d", n, err, tc.want)
				}
			}
			if o.noTokenize.Load() != tc.wantNoTk {
				t.Errorf("noTokenize = %v", o.noTokenize.Load())
			}
		})
	}
}

func TestNewOpenAIValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{name: "no-url", cfg: Config{Model: "m"}},
		{name: "no-model", cfg: Config{BaseURL: "http://x/v1"}},
		{name: "not-http", cfg: Config{BaseURL: "ftp://x/v1", Model: "m"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewOpenAI(tc.cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestOpenAIWholeFailures: with engine.Request.Whole nothing reaches the
// caller before the reply is complete, so a reply cut anywhere is tried
// again, and errors map as they do for streams.
func TestOpenAIWholeFailures(t *testing.T) {
	cases := []struct {
		name         string
		fail         []upstreamtest.Failure
		wantKind     apierr.Kind // 0: success
		wantAttempts int
	}{
		{name: "503-then-ok-is-retried", fail: []upstreamtest.Failure{{Status: 503}}, wantAttempts: 2},
		{name: "drop-is-retried", fail: []upstreamtest.Failure{{DropAfter: 3}}, wantAttempts: 2},
		{name: "cut-json-is-retried", fail: []upstreamtest.Failure{{EndEarly: true}}, wantAttempts: 2},
		{name: "500-is-not-retried", fail: []upstreamtest.Failure{{Status: 500}}, wantKind: apierr.ModelError, wantAttempts: 1},
		{name: "cut-until-retries-run-out", fail: []upstreamtest.Failure{{EndEarly: true}, {EndEarly: true}, {EndEarly: true}},
			wantKind: apierr.ModelError, wantAttempts: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
			defer srv.Close()
			o := newOpenAI(t, srv, nil)
			srv.Fail(tc.fail...)
			req := chatReq(t, 64)
			req.Whole = true
			var rec recorder
			res, err := o.Generate(t.Context(), req, rec.emit)
			if got := srv.Attempts(); got != tc.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tc.wantAttempts)
			}
			if tc.wantKind == 0 {
				if err != nil || res.Text != strings.Join(upstreamtest.DefaultReply, "") || len(rec.tokens) != 1 {
					t.Fatalf("Generate = %q (%d emits), %v", res.Text, len(rec.tokens), err)
				}
				return
			}
			if k, ok := kindOf(err); !ok || k != tc.wantKind || len(rec.tokens) != 0 {
				t.Fatalf("err = %v (%d emits), want kind %v and nothing emitted", err, len(rec.tokens), tc.wantKind)
			}
		})
	}
}

// TestOpenAIWholeFromStreamingServer: a server that streams although asked
// for a complete reply is read as a stream.
func TestOpenAIWholeFromStreamingServer(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{AlwaysStream: true})
	defer srv.Close()
	o := newOpenAI(t, srv, nil)
	req := promptReq(t, 64)
	req.Whole = true
	var rec recorder
	res, err := o.Generate(t.Context(), req, rec.emit)
	if err != nil || res.Text != strings.Join(upstreamtest.DefaultReply, "") || res.StopReason != engine.StopEnd {
		t.Fatalf("Generate = %q, %q, %v", res.Text, res.StopReason, err)
	}
	if got := srv.Requests()[0].Stream; got {
		t.Fatal("asked for a stream")
	}
}
