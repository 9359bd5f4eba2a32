package runtime

import (
	"context"
	"strings"
	"sync"
	"testing"

	"strata/internal/engine"
	"strata/internal/guard"
	"strata/internal/iam"
)

// echoEngine records the texts it is given and streams out a fixed reply
// word by word.
type echoEngine struct {
	reply string
	mu    sync.Mutex
	seen  []string // +checklocks:mu
	calls int      // +checklocks:mu
}

func (e *echoEngine) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (engine.Result, error) {
	e.mu.Lock()
	e.calls++
	for _, m := range req.Messages {
		e.seen = append(e.seen, m.Content.String())
	}
	if req.Prompt.Valid() {
		e.seen = append(e.seen, req.Prompt.String())
	}
	e.mu.Unlock()
	n := 0
	for _, w := range strings.SplitAfter(e.reply, " ") {
		if err := emit(engine.Token{Text: w}); err != nil {
			return engine.Result{}, err
		}
		n++
	}
	return engine.Result{Text: e.reply, StopReason: engine.StopEnd, OutputTokens: n}, nil
}

func (e *echoEngine) CountTokens(ctx context.Context, req engine.Request) (int, error) { return 1, nil }
func (e *echoEngine) Close() error                                                     { return nil }

// allowAll authorizes everything (the IAM evaluator is tested elsewhere).
type allowAll struct{}

func (allowAll) Authorize(context.Context, iam.Request) error { return nil }

func testGuardrail() *guard.Guardrail {
	return &guard.Guardrail{
		BlockedInputMessaging: "input blocked", BlockedOutputsMessaging: "output blocked",
		WordPolicyConfig: &guard.WordPolicyConfig{WordsConfig: []guard.WordConfig{{Text: "forbidden"}}},
		SensitiveInformationPolicyConfig: &guard.SensitiveInformationPolicyConfig{PiiEntitiesConfig: []guard.PiiEntityConfig{
			{Type: "CREDIT_DEBIT_CARD_NUMBER", Action: "BLOCK"}, {Type: "EMAIL", Action: "ANONYMIZE"}}},
	}
}

func TestInvokeGuardrail(t *testing.T) {
	cases := []struct {
		name     string
		messages []Message
		parts    []GuardedPart
		reply    string
		async    bool
		calls    int      // engine calls
		seen     []string // texts the engine got
		text     string   // res.Text
		emitted  string   // what emit got, joined
		stop     engine.StopReason
	}{
		{name: "card-blocks-input", messages: []Message{{Role: "user", Text: "card 4111 1111 1111 1111"}}, reply: "x",
			calls: 0, text: "input blocked", emitted: "input blocked", stop: StopGuardrail},
		{name: "word-blocks-input", messages: []Message{{Role: "user", Text: "a forbidden thing"}}, reply: "x",
			calls: 0, text: "input blocked", emitted: "input blocked", stop: StopGuardrail},
		{name: "email-anonymized-before-engine", messages: []Message{{Role: "user", Text: "mail jo@example.com now"}}, reply: "ok",
			calls: 1, seen: []string{"mail {EMAIL} now"}, text: "ok", emitted: "ok", stop: engine.StopEnd},
		{name: "only-guarded-parts-evaluated", messages: []Message{{Role: "user", Text: "forbidden jo@example.com | mail a@b.example"}},
			parts: []GuardedPart{{Index: 0, Start: 27, End: 43}}, reply: "ok",
			calls: 1, seen: []string{"forbidden jo@example.com | mail {EMAIL}"}, text: "ok", emitted: "ok", stop: engine.StopEnd},
		{name: "output-blocked-sync-emits-only-message", messages: []Message{{Role: "user", Text: "hi"}}, reply: "this is forbidden text",
			calls: 1, seen: []string{"hi"}, text: "output blocked", emitted: "output blocked", stop: StopGuardrail},
		{name: "output-anonymized-sync", messages: []Message{{Role: "user", Text: "hi"}}, reply: "write to jo@example.com",
			calls: 1, seen: []string{"hi"}, text: "write to {EMAIL}", emitted: "write to {EMAIL}", stop: StopGuardrail},
		{name: "output-blocked-async-streams-then-marks", messages: []Message{{Role: "user", Text: "hi"}}, reply: "this is forbidden text", async: true,
			calls: 1, seen: []string{"hi"}, text: "output blocked", emitted: "this is forbidden text", stop: StopGuardrail},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eng := &echoEngine{reply: tc.reply}
			rt := New(Options{Resolver: Static{}, Authorizer: allowAll{}, Guard: guard.New(guard.Options{})})
			inv := &Invocation{Principal: &iam.Principal{Account: "111122223333"}, Target: &Target{ARN: "m", Engine: eng},
				Action: "bedrock:InvokeModel", Messages: tc.messages, MaxTokens: 10,
				Guardrail: testGuardrail(), GuardrailParts: tc.parts, GuardrailAsync: tc.async}
			var emitted strings.Builder
			res, err := rt.Invoke(t.Context(), inv, func(s string) error { emitted.WriteString(s); return nil })
			if err != nil {
				t.Fatal(err)
			}
			eng.mu.Lock()
			calls, seen := eng.calls, eng.seen
			eng.mu.Unlock()
			if calls != tc.calls || strings.Join(seen, "|") != strings.Join(tc.seen, "|") {
				t.Errorf("engine calls %d seen %q, want %d %q", calls, seen, tc.calls, tc.seen)
			}
			if res.Text != tc.text || emitted.String() != tc.emitted || res.StopReason != tc.stop {
				t.Errorf("text %q emitted %q stop %q, want %q %q %q", res.Text, emitted.String(), res.StopReason, tc.text, tc.emitted, tc.stop)
			}
			if res.Guardrail == nil || res.Guardrail.Input == nil {
				t.Fatal("no input assessment")
			}
			if tc.stop == StopGuardrail && !res.Guardrail.Intervened() {
				t.Error("Intervened() is false")
			}
			if tc.calls > 0 && res.Guardrail.Output == nil {
				t.Error("no output assessment")
			}
			if res.Guardrail.Output != nil && res.Guardrail.Output.Action == guard.ActionIntervened && res.Guardrail.ModelOutput != tc.reply {
				t.Errorf("model output %q", res.Guardrail.ModelOutput)
			}
		})
	}
}

func TestInvokeWithoutGuardrailUnchanged(t *testing.T) {
	eng := &echoEngine{reply: "a forbidden reply"}
	rt := New(Options{Resolver: Static{}, Authorizer: allowAll{}, Guard: guard.New(guard.Options{})})
	inv := &Invocation{Principal: &iam.Principal{Account: "111122223333"}, Target: &Target{ARN: "m", Engine: eng},
		Action: "bedrock:InvokeModel", Messages: []Message{{Role: "user", Text: "forbidden"}}, MaxTokens: 10}
	var chunks int
	res, err := rt.Invoke(t.Context(), inv, func(string) error { chunks++; return nil })
	if err != nil || res.Text != "a forbidden reply" || res.Guardrail != nil || chunks != 3 {
		t.Errorf("res %+v chunks %d err %v", res, chunks, err)
	}
}
