package openai

import (
	"errors"
	"testing"

	"strata/internal/runtime"
)

var chatSeeds = []string{
	`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"m","messages":[{"role":"system","content":"s"},{"role":"developer","content":[{"type":"text","text":"d"}]},{"role":"user","content":[{"type":"text","text":"u"}]},{"role":"assistant","content":null}],"max_completion_tokens":5,"temperature":0.2,"top_p":0.9,"seed":-3,"stop":["a","b"],"n":1,"logprobs":true,"top_logprobs":0,"stream":true,"stream_options":{"include_usage":true}}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`,
	`{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"x","response_format":{"type":"json_object"}}`,
	`{"model":"m","messages":[{"role":"tool","content":"x"}],"tools":[]}`,
	`{"model":"m","messages":[]}`,
	`{"model":`, `[]`, `null`, ``, `{"model":1}`, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`,
}

func checkParsed(t *testing.T, inv *runtime.Invocation, err error) {
	t.Helper()
	if err != nil {
		e, ok := errors.AsType[*Error](err)
		if !ok || e.Status != 400 || e.Type != typeInvalidRequest || e.Message == "" {
			t.Fatalf("error %v is not a 400 invalid_request_error", err)
		}
		return
	}
	if inv.MaxTokens < 1 || inv.MaxTokens > maxGenTokens || inv.Temperature < 0 || inv.Temperature > 2 ||
		inv.TopP < 0 || inv.TopP > 1 || len(inv.Stop) > maxStop {
		t.Fatalf("accepted out-of-range values: %+v", inv)
	}
}

// FuzzParseChat checks that any body either parses into an invocation
// within range or is refused with a 400, never a panic.
func FuzzParseChat(f *testing.F) {
	for _, s := range chatSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inv := &runtime.Invocation{}
		_, _, _, err := parseChat(body, inv)
		checkParsed(t, inv, err)
		if err == nil && len(inv.Messages) == 0 {
			t.Fatal("accepted a chat with no user or assistant message")
		}
	})
}

// FuzzParseCompletion is FuzzParseChat for /v1/completions bodies.
func FuzzParseCompletion(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","prompt":"Once upon a time","max_tokens":20,"temperature":0,"logprobs":0}`,
		`{"model":"m","prompt":["one"],"stream":true,"stream_options":{"include_usage":false},"stop":"."}`,
		`{"model":"m","prompt":[1,2]}`, `{"model":"m","prompt":""}`, `{"model":"m","prompt":"a","echo":true}`,
		`{"model":"m","prompt":"a","best_of":2}`, `{"model":"m","prompt":"a","logprobs":9}`, `{"prompt":"a"}`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inv := &runtime.Invocation{}
		_, _, _, err := parseCompletion(body, inv)
		checkParsed(t, inv, err)
		if err == nil && inv.Prompt == "" {
			t.Fatal("accepted an empty prompt")
		}
	})
}
