package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/engine/upstream/upstreamtest"
)

const testAccessKey = "AKIDUPSTREAMTEST"

func newBedrock(t testing.TB, srv *upstreamtest.BedrockServer, mod func(*BedrockConfig)) *Bedrock {
	t.Helper()
	cfg := BedrockConfig{
		Endpoint: srv.URL, Region: "us-east-1", Model: "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123",
		AccessKeyID: testAccessKey, SecretAccessKey: "secret", Backoff: time.Millisecond, ProbeInterval: -1,
	}
	if mod != nil {
		mod(&cfg)
	}
	b, err := NewBedrock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestBedrockGenerate(t *testing.T) {
	full := strings.Join(upstreamtest.DefaultReply, "")
	cases := []struct {
		name     string
		family   string
		req      func(t *testing.T) engine.Request
		wantOp   string
		wantBody []string // substrings of the request body
		wantText string
		wantStop engine.StopReason
		wantIn   int
		wantOut  int
	}{
		{
			name: "converse-stream", req: func(t *testing.T) engine.Request { return chatReq(t, 64) },
			wantOp: "ConverseStream", wantBody: []string{`"system":[{"text":"You are terse."}]`, `"maxTokens":64`},
			wantText: full, wantStop: engine.StopEnd, wantIn: 13, wantOut: 17,
		},
		{
			name: "converse-max-tokens", req: func(t *testing.T) engine.Request { return chatReq(t, 3) },
			wantOp: "ConverseStream", wantText: "Hello, this", wantStop: engine.StopLength, wantIn: 13, wantOut: 3,
		},
		{
			name: "converse-stop-sequence-and-top-k",
			req: func(t *testing.T) engine.Request {
				r := chatReq(t, 64)
				r.Stop, r.TopK, r.TopP = []string{" upstream"}, 20, 0.5
				return r
			},
			wantOp:   "ConverseStream",
			wantBody: []string{`"stopSequences":[" upstream"]`, `"additionalModelRequestFields":{"top_k":20}`, `"topP":0.5`},
			wantText: "Hello, this is the", wantStop: engine.StopSequence, wantIn: 13, wantOut: 5,
		},
		{
			name: "invoke-mistral", family: "mistral",
			req: func(t *testing.T) engine.Request {
				r := promptReq(t, 4)
				r.Stop, r.TopK = []string{"zzz"}, 5
				return r
			},
			wantOp:   "InvokeModelWithResponseStream",
			wantBody: []string{`"max_tokens":4`, `"prompt":"Once upon a time"`, `"stop":["zzz"]`, `"top_k":5`},
			wantText: "Hello, this is", wantStop: engine.StopLength, wantIn: 4, wantOut: 4,
		},
		{
			name: "invoke-llama", family: "llama", req: func(t *testing.T) engine.Request { return promptReq(t, 64) },
			wantOp: "InvokeModelWithResponseStream", wantBody: []string{`"max_gen_len":64`},
			wantText: full, wantStop: engine.StopEnd, wantIn: 4, wantOut: 17,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{AccessKeyID: testAccessKey})
			defer srv.Close()
			b := newBedrock(t, srv, func(c *BedrockConfig) { c.Family = tc.family })
			var rec recorder
			res, err := b.Generate(t.Context(), tc.req(t), rec.emit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tc.wantText || rec.text() != tc.wantText {
				t.Errorf("text = %q, emitted %q; want %q", res.Text, rec.text(), tc.wantText)
			}
			if res.StopReason != tc.wantStop {
				t.Errorf("stop = %q, want %q", res.StopReason, tc.wantStop)
			}
			if res.InputTokens != tc.wantIn || res.OutputTokens != tc.wantOut || len(rec.tokens) != tc.wantOut {
				t.Errorf("usage = %d in, %d out, %d emitted; want %d, %d", res.InputTokens, res.OutputTokens, len(rec.tokens), tc.wantIn, tc.wantOut)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 || reqs[0].Op != tc.wantOp || !strings.HasSuffix(reqs[0].ModelID, "imported-model/abc123") {
				t.Fatalf("server saw %+v", reqs)
			}
			var compact bytes.Buffer
			json.Compact(&compact, reqs[0].Body)
			for _, want := range tc.wantBody {
				if !strings.Contains(compact.String(), want) {
					t.Errorf("body %s lacks %s", compact.String(), want)
				}
			}
		})
	}
}

func TestBedrockFailures(t *testing.T) {
	cases := []struct {
		name         string
		prompt       bool
		fail         []upstreamtest.Failure
		wantErr      bool
		wantKind     apierr.Kind
		wantAttempts int
		wantEmitted  int
		wantMsg      string
	}{
		{name: "throttled-then-ok-is-retried",
			fail:         []upstreamtest.Failure{{Status: 429, ErrorType: "ThrottlingException", Message: "Too many requests"}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "unavailable-then-ok-is-retried", prompt: true,
			fail:         []upstreamtest.Failure{{Status: 503, ErrorType: "ServiceUnavailableException"}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "not-ready-then-ok-is-retried", prompt: true,
			fail:         []upstreamtest.Failure{{Status: 429, ErrorType: "ModelNotReadyException"}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "throttled-until-retries-run-out",
			fail: []upstreamtest.Failure{{Status: 429, ErrorType: "ThrottlingException"}, {Status: 429, ErrorType: "ThrottlingException"},
				{Status: 429, ErrorType: "ThrottlingException"}},
			wantErr: true, wantKind: apierr.Throttling, wantAttempts: 3},
		{name: "validation-passes-message",
			fail:    []upstreamtest.Failure{{Status: 400, ErrorType: "ValidationException", Message: "max_tokens 99999 is too large"}},
			wantErr: true, wantKind: apierr.Validation, wantAttempts: 1, wantMsg: "max_tokens 99999 is too large"},
		{name: "model-timeout",
			fail:    []upstreamtest.Failure{{Status: 408, ErrorType: "ModelTimeoutException"}},
			wantErr: true, wantKind: apierr.ModelTimeout, wantAttempts: 1},
		{name: "stream-exception-after-tokens-is-not-retried",
			fail:    []upstreamtest.Failure{{DropAfter: 2, Exception: "throttlingException", Message: "slow down"}},
			wantErr: true, wantKind: apierr.Throttling, wantAttempts: 1, wantEmitted: 2},
		{name: "invoke-drop-mid-stream-is-not-retried", prompt: true,
			fail:    []upstreamtest.Failure{{DropAfter: 3}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 3},
		{name: "converse-end-without-stop-is-an-error",
			fail:    []upstreamtest.Failure{{EndEarly: true}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 17},
		{name: "invoke-end-without-stop-is-an-error", prompt: true,
			fail:    []upstreamtest.Failure{{EndEarly: true}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 17},
		{name: "converse-drop-before-first-token-is-retried", fail: []upstreamtest.Failure{{DropAfter: -1}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "stream-exception-before-first-token-is-retried",
			fail:         []upstreamtest.Failure{{DropAfter: -1, Exception: "serviceUnavailableException", Message: "busy"}},
			wantAttempts: 2, wantEmitted: 17},
		{name: "converse-drop-mid-stream-is-not-retried",
			fail:    []upstreamtest.Failure{{DropAfter: 3}},
			wantErr: true, wantKind: apierr.ModelError, wantAttempts: 1, wantEmitted: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
			defer srv.Close()
			b := newBedrock(t, srv, nil)
			srv.Fail(tc.fail...)
			req := chatReq(t, 64)
			if tc.prompt {
				req = promptReq(t, 64)
			}
			var rec recorder
			res, err := b.Generate(t.Context(), req, rec.emit)
			if got := srv.Attempts(); got != tc.wantAttempts {
				t.Errorf("server saw %d attempts, want %d", got, tc.wantAttempts)
			}
			if len(rec.tokens) != tc.wantEmitted {
				t.Errorf("emitted %d tokens, want %d", len(rec.tokens), tc.wantEmitted)
			}
			if !tc.wantErr {
				if err != nil || res.Text != strings.Join(upstreamtest.DefaultReply, "") {
					t.Fatalf("Generate = %q, %v", res.Text, err)
				}
				return
			}
			if kind, ok := kindOf(err); !ok || kind != tc.wantKind {
				t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
			}
			if msg := apierr.From(err).Message; !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("message %q lacks %q", msg, tc.wantMsg)
			}
		})
	}
}

func TestBedrockRefusesLogprobs(t *testing.T) {
	srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
	defer srv.Close()
	b := newBedrock(t, srv, nil)
	req := chatReq(t, 4)
	req.Logprobs = true
	_, err := b.Generate(t.Context(), req, func(engine.Token) error { return nil })
	if kind, _ := kindOf(err); kind != apierr.Validation {
		t.Fatalf("err = %v", err)
	}
}

func TestBedrockWrongCredentials(t *testing.T) {
	srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{AccessKeyID: testAccessKey})
	defer srv.Close()
	b := newBedrock(t, srv, func(c *BedrockConfig) { c.AccessKeyID = "AKIDOTHER" })
	_, err := b.Generate(t.Context(), chatReq(t, 4), func(engine.Token) error { return nil })
	if kind, _ := kindOf(err); kind != apierr.ModelError || srv.Attempts() != 1 {
		t.Fatalf("err = %v after %d attempts", err, srv.Attempts())
	}
}

func TestBedrockCancelAndTimeout(t *testing.T) {
	cases := []struct {
		name     string
		prompt   bool
		timeout  time.Duration
		wantKind apierr.Kind // 0 means context.Canceled
	}{
		{name: "cancel-converse"},
		{name: "cancel-invoke", prompt: true},
		{name: "timeout-converse", timeout: 150 * time.Millisecond, wantKind: apierr.ModelTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
			defer srv.Close()
			b := newBedrock(t, srv, func(c *BedrockConfig) { c.Timeout = tc.timeout })
			srv.Fail(upstreamtest.Failure{Hang: true})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tc.wantKind == 0 {
				time.AfterFunc(100*time.Millisecond, cancel)
			}
			req := chatReq(t, 8)
			if tc.prompt {
				req = promptReq(t, 8)
			}
			start := time.Now()
			_, err := b.Generate(ctx, req, func(engine.Token) error { return nil })
			if tc.wantKind == 0 && !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if kind, _ := kindOf(err); tc.wantKind != 0 && kind != tc.wantKind {
				t.Fatalf("err = %v, want %v", err, tc.wantKind)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			waitCancelled(t, srv.Cancelled())
		})
	}
}

func TestBedrockCountTokens(t *testing.T) {
	cases := []struct {
		name    string
		opts    upstreamtest.BedrockOptions
		family  string
		req     func(t *testing.T) engine.Request
		want    int
		wantEst bool
	}{
		{name: "count-converse", req: func(t *testing.T) engine.Request { return chatReq(t, 1) }, want: 13},
		{name: "count-invoke-llama", family: "llama", req: func(t *testing.T) engine.Request { return promptReq(t, 1) }, want: 4},
		{name: "estimate-when-unsupported", opts: upstreamtest.BedrockOptions{NoCountTokens: true},
			req: func(t *testing.T) engine.Request { return chatReq(t, 1) }, want: 19, wantEst: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := upstreamtest.NewBedrockServer(tc.opts)
			defer srv.Close()
			b := newBedrock(t, srv, func(c *BedrockConfig) { c.Family = tc.family })
			for range 2 {
				n, err := b.CountTokens(t.Context(), tc.req(t))
				if err != nil || n != tc.want {
					t.Fatalf("CountTokens = %d, %v; want %d", n, err, tc.want)
				}
			}
			calls := 0
			for _, r := range srv.Requests() {
				if r.Op == "CountTokens" {
					calls++
				}
			}
			if want := map[bool]int{false: 2, true: 1}[tc.wantEst]; calls != want {
				t.Errorf("%d CountTokens calls, want %d", calls, want)
			}
		})
	}
}

func TestBedrockHealth(t *testing.T) {
	srv := upstreamtest.NewBedrockServer(upstreamtest.BedrockOptions{})
	defer srv.Close()
	b := newBedrock(t, srv, func(c *BedrockConfig) { c.ProbeInterval = 10 * time.Millisecond })
	if err := b.Health(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.SetHealthy(false)
	waitFor(t, "marked down", func() bool { return !b.Healthy() })
	srv.SetHealthy(true)
	waitFor(t, "marked up", b.Healthy)
}

func TestNewBedrockValidates(t *testing.T) {
	ok := BedrockConfig{Region: "us-east-1", Model: "m", AccessKeyID: "a", SecretAccessKey: "s", ProbeInterval: -1}
	cases := []struct {
		name string
		mod  func(*BedrockConfig)
	}{
		{name: "no-region", mod: func(c *BedrockConfig) { c.Region = "" }},
		{name: "no-model", mod: func(c *BedrockConfig) { c.Model = "" }},
		{name: "no-credentials", mod: func(c *BedrockConfig) { c.SecretAccessKey = "" }},
		{name: "unknown-family", mod: func(c *BedrockConfig) { c.Family = "gpt" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			if _, err := NewBedrock(cfg); err == nil {
				t.Error("accepted")
			}
		})
	}
}
