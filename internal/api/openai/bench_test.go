package openai

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"strata/internal/runtime"
)

// BenchmarkCompletionOneToken is one /v1/completions request over
// loopback HTTP: bearer auth (cached), parsing, the runtime pipeline
// (authorize, guard in and out) and one token of stories260K.
func BenchmarkCompletionOneToken(b *testing.B) {
	f := newFixture(b)
	body := `{"model":"stories","prompt":"Once upon a time","max_tokens":1,"temperature":0}`
	client := &http.Client{}
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.adminKey)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkParseChat parses a typical chat completions body.
func BenchmarkParseChat(b *testing.B) {
	body := []byte(`{"model":"stories","messages":[{"role":"system","content":"You are a helpful support agent for a payments company."},{"role":"user","content":"How do I reset the PIN of my card?"}],"max_tokens":256,"temperature":0.2,"stream":true,"stream_options":{"include_usage":true}}`)
	for b.Loop() {
		if _, _, _, err := parseChat(body, &runtime.Invocation{}); err != nil {
			b.Fatal(err)
		}
	}
}
