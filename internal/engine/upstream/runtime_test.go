package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	bedrockapi "strata/internal/api/bedrock"
	"strata/internal/engine"
	"strata/internal/engine/upstream"
	"strata/internal/engine/upstream/upstreamtest"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// allowAll authorizes every request: these tests are about the engine.
type allowAll struct{}

func (allowAll) Authorize(context.Context, iam.Request) error { return nil }

// TestThroughRuntime runs the invocation pipeline over an OpenAI upstream:
// card data in the prompt is masked before it leaves, card data in the
// upstream's reply is masked before the caller sees it, and the upstream's
// usage is what the runtime accounts.
func TestThroughRuntime(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{
		Reply: []string{"Your", " card", " 4111", " 1111", " 1111", " 1111", " is", " fine", "."},
	})
	defer srv.Close()
	eng, err := upstream.NewOpenAI(upstream.Config{BaseURL: srv.BaseURL(), Model: "m", ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	res := &runtime.RemoteResolver{Region: "us-east-1", Models: map[string]*runtime.Remote{
		"vllm-large": {Name: "vllm-large", Family: "mistral", Engine: eng}}}
	rt := runtime.New(runtime.Options{Resolver: res, Authorizer: allowAll{}, Guard: guard.New(guard.Options{}),
		Residency: runtime.NewResidency(runtime.ResidencyOptions{})})
	p := &iam.Principal{Account: "123456789012"}
	target, err := rt.Resolve(t.Context(), p, "vllm-large")
	if err != nil {
		t.Fatal(err)
	}
	inv := &runtime.Invocation{Principal: p, Target: target, Action: "bedrock:InvokeModel", API: "Converse",
		Messages:  []runtime.Message{{Role: "user", Text: "Is my card 5555 5555 5555 4444 still valid?"}},
		MaxTokens: 32}
	var streamed strings.Builder
	out, err := rt.Invoke(t.Context(), inv, func(s string) error { streamed.WriteString(s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if srv.PANs() != 0 {
		t.Fatal("a card number reached the upstream")
	}
	sent := srv.Requests()[0].Messages[0].Content
	if strings.Contains(sent, "5555 5555") || !strings.Contains(sent, "****4444") {
		t.Errorf("upstream got %q", sent)
	}
	if strings.Contains(out.Text, "4111 1111") || strings.Contains(streamed.String(), "4111 1111") {
		t.Errorf("the upstream's card number reached the caller: %q", out.Text)
	}
	if out.OutputFindings != 1 || out.Text != streamed.String() {
		t.Errorf("findings %d, text %q, streamed %q", out.OutputFindings, out.Text, streamed.String())
	}
	// The test server counts words + 2: "Is my card [MASTERCARD ****4444]
	// still valid?" is 7 words.
	if out.InputTokens != 9 || out.OutputTokens != 9 {
		t.Errorf("usage %d in, %d out; want the upstream's 9, 9", out.InputTokens, out.OutputTokens)
	}

	// A caller that goes away frees the upstream at once.
	srv.Fail(upstreamtest.Failure{Hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := rt.Invoke(ctx, inv, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	select {
	case <-srv.Cancelled():
	case <-time.After(3 * time.Second):
		t.Fatal("the upstream request outlived its caller")
	}
}

// bodyAuthn accepts every request as one principal (signatures are checked
// by internal/auth; this test is about the wire).
type bodyAuthn struct{ p *iam.Principal }

func (a bodyAuthn) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	body, err := io.ReadAll(r.Body)
	return a.p, body, err
}

// TestBedrockAgainstStrata chains two hops: the Bedrock engine talks to
// strata's own Bedrock runtime API, which serves the model through an
// OpenAI engine over a loopback vLLM-like server. It proves the Bedrock
// engine and strata's event streams speak the same wire, in both body
// families and Converse.
func TestBedrockAgainstStrata(t *testing.T) {
	srv := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{})
	defer srv.Close()
	inner, err := upstream.NewOpenAI(upstream.Config{BaseURL: srv.BaseURL(), Model: "m", ProbeInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	res := &runtime.RemoteResolver{Region: "us-east-1", Models: map[string]*runtime.Remote{
		"mistral-remote": {Name: "mistral-remote", Family: "mistral", Engine: inner},
		"llama-remote":   {Name: "llama-remote", Family: "llama", Engine: inner}}}
	rt := runtime.New(runtime.Options{Resolver: res, Authorizer: allowAll{}, Guard: guard.New(guard.Options{}),
		Residency: runtime.NewResidency(runtime.ResidencyOptions{})})
	mux := http.NewServeMux()
	(&bedrockapi.Handler{Authn: bodyAuthn{&iam.Principal{Account: "123456789012"}}, Runtime: rt}).Register(mux)
	front := httptest.NewServer(mux)
	defer front.Close()

	full := strings.Join(upstreamtest.DefaultReply, "")
	cases := []struct {
		name, model, family string
		chat                bool
		max, wantOut        int
		wantText            string
		wantStop            engine.StopReason
	}{
		{name: "converse-stream", model: "mistral-remote", chat: true, max: 64, wantOut: 17, wantText: full, wantStop: engine.StopEnd},
		{name: "converse-stream-length", model: "mistral-remote", chat: true, max: 4, wantOut: 4, wantText: "Hello, this is", wantStop: engine.StopLength},
		{name: "invoke-stream-mistral", model: "mistral-remote", family: "mistral", max: 64, wantOut: 17, wantText: full, wantStop: engine.StopEnd},
		{name: "invoke-stream-llama", model: "llama-remote", family: "llama", max: 3, wantOut: 3, wantText: "Hello, this", wantStop: engine.StopLength},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := upstream.NewBedrock(upstream.BedrockConfig{Endpoint: front.URL, Region: "us-east-1", Model: tc.model,
				Family: tc.family, AccessKeyID: "AKID", SecretAccessKey: "s", ProbeInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			g, _, err := guard.Mask("Tell me a story")
			if err != nil {
				t.Fatal(err)
			}
			req := engine.Request{Prompt: g, MaxTokens: tc.max}
			if tc.chat {
				req = engine.Request{Messages: []engine.Message{{Role: "user", Content: g}}, MaxTokens: tc.max}
			}
			var streamed strings.Builder
			out, err := b.Generate(t.Context(), req, func(tok engine.Token) error { streamed.WriteString(tok.Text); return nil })
			if err != nil {
				t.Fatal(err)
			}
			if out.Text != tc.wantText || streamed.String() != tc.wantText || out.StopReason != tc.wantStop {
				t.Errorf("got %q (streamed %q) %s; want %q %s", out.Text, streamed.String(), out.StopReason, tc.wantText, tc.wantStop)
			}
			if out.InputTokens <= 0 || out.OutputTokens != tc.wantOut {
				t.Errorf("usage %d in, %d out; want %d out", out.InputTokens, out.OutputTokens, tc.wantOut)
			}
			n, err := b.CountTokens(t.Context(), req)
			if err != nil || n <= 0 {
				t.Errorf("CountTokens = %d, %v", n, err)
			}
		})
	}
}
