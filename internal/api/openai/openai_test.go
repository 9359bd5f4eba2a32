package openai

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/convert"
	"strata/internal/engine"
	"strata/internal/engine/llm"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/server"
	"strata/internal/store/sqlite"
)

const account = "111122223333"

// sharedDir finds ../shared beside the repository.
func sharedDir(t testing.TB) string {
	t.Helper()
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(d, "shared")
		}
	}
	t.Fatal("../shared not found beside the repository")
	return ""
}

var (
	storiesOnce sync.Once
	storiesEng  *llm.Engine
	storiesErr  error
)

// stories opens stories260K (converted with the engine's converter) in
// the built-in engine, once per test binary.
func stories(t testing.TB) engine.Engine {
	t.Helper()
	shared := sharedDir(t)
	storiesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "openai-stories-")
		if err != nil {
			storiesErr = err
			return
		}
		out := filepath.Join(dir, "model")
		src := filepath.Join(shared, "models", "stories260K")
		if storiesErr = convert.Llama2C(context.Background(), filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), out, convert.Options{}); storiesErr != nil {
			return
		}
		storiesEng, storiesErr = llm.Open(out, llm.LoadOptions{Threads: 1}, llm.Options{MaxSeqs: 4})
	})
	if storiesErr != nil {
		t.Fatal(storiesErr)
	}
	return storiesEng
}

// resolver serves named engines as targets of account.
type resolver map[string]engine.Engine

func (r resolver) Resolve(ctx context.Context, p *iam.Principal, id string) (*runtime.Target, error) {
	eng, ok := r[id]
	if !ok {
		return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", id)
	}
	a := "arn:aws:bedrock:us-east-1:" + account + ":imported-model/" + id
	return &runtime.Target{ARN: a, ModelARN: a, Family: "llama", Account: account, Engine: eng}, nil
}

// models is an in-memory Models over fixed model records.
type models []*modelimport.Model

func (m models) ListModels(ctx context.Context, p *iam.Principal, in modelimport.ListInput) ([]*modelimport.Model, string, error) {
	return m, "", nil
}

func (m models) GetModel(ctx context.Context, p *iam.Principal, ident string) (*modelimport.Model, error) {
	for _, x := range m {
		if x.Name == ident || x.ARN == ident {
			return x, nil
		}
	}
	return nil, apierr.New(apierr.NotFound, "no model %s", ident)
}

// failing emits a few tokens, then fails, as an engine can mid-stream.
type failing struct{}

func (failing) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (engine.Result, error) {
	for _, s := range []string{"Once", " upon"} {
		if err := emit(engine.Token{Text: s}); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{OutputTokens: 2}, errors.New("device lost")
}
func (failing) CountTokens(ctx context.Context, req engine.Request) (int, error) { return 1, nil }
func (failing) Close() error                                                     { return nil }

type fixture struct {
	srv             *httptest.Server
	adminKey, roKey string
	forgotten       []string
	dir             *iam.Directory
}

const (
	allowAll   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	denyInvoke = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"bedrock:InvokeModel*","Resource":"*"}]}`
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{dir: iam.NewDirectory(db, nil)}
	for _, u := range []struct{ name, policy string }{{"admin", allowAll}, {"noinvoke", denyInvoke}} {
		if _, err := f.dir.CreateUser(ctx, account, u.name, map[string]string{"p": u.policy}); err != nil {
			t.Fatal(err)
		}
	}
	if f.adminKey, _, err = f.dir.CreateAPIKey(ctx, account, "admin"); err != nil {
		t.Fatal(err)
	}
	if f.roKey, _, err = f.dir.CreateAPIKey(ctx, account, "noinvoke"); err != nil {
		t.Fatal(err)
	}
	authz := &iam.Evaluator{}
	rt := runtime.New(runtime.Options{
		Resolver:   resolver{"stories": stories(t), "failing": failing{}},
		Authorizer: authz, Guard: guard.New(guard.Options{}), Residency: runtime.NewResidency(runtime.ResidencyOptions{}),
	})
	bearer := server.NewBearer(f.dir.LookupAPIKey, nil)
	h := &Handler{Authn: bearer, Runtime: rt, Keys: f.dir, Authorizer: authz,
		Models: models{{Name: "stories", ARN: "arn:aws:bedrock:us-east-1:" + account + ":imported-model/stories", Account: account, Created: time.Unix(1700000000, 0)}},
		Forget: func(id string) { f.forgotten = append(f.forgotten, id); bearer.Forget(id) },
		Now:    func() time.Time { return time.Unix(1800000000, 0) },
	}
	mux := http.NewServeMux()
	h.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, key, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type wireErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func TestErrorsOnTheWire(t *testing.T) {
	f := newFixture(t)
	chat := `{"model":"stories","messages":[{"role":"user","content":"hi"}],"max_tokens":5}`
	tests := []struct {
		name, method, path, key, body string
		status                        int
		typ, code, param              string
	}{
		{"no-key", "POST", "/v1/chat/completions", "", chat, 401, "invalid_request_error", "invalid_api_key", ""},
		{"malformed-key", "POST", "/v1/chat/completions", "sk-abc", chat, 401, "invalid_request_error", "invalid_api_key", ""},
		{"unknown-key", "POST", "/v1/chat/completions", "sk-strata-aaaaaaaaaaaaaaaa-" + strings.Repeat("b", 52), chat, 401, "invalid_request_error", "invalid_api_key", ""},
		{"malformed-json", "POST", "/v1/chat/completions", f.adminKey, `{"model":`, 400, "invalid_request_error", "", ""},
		{"not-an-object", "POST", "/v1/chat/completions", f.adminKey, `[1,2]`, 400, "invalid_request_error", "", ""},
		{"wrong-type", "POST", "/v1/chat/completions", f.adminKey, `{"model":"stories","messages":[{"role":"user","content":"hi"}],"max_tokens":"5"}`, 400, "invalid_request_error", "", "max_tokens"},
		{"missing-model", "POST", "/v1/chat/completions", f.adminKey, `{"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "", "model"},
		{"unknown-model", "POST", "/v1/chat/completions", f.adminKey, `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "invalid_request_error", "model_not_found", "model"},
		{"denied-by-policy", "POST", "/v1/chat/completions", f.roKey, chat, 403, "invalid_request_error", "permission_denied", ""},
		{"tool-role", "POST", "/v1/chat/completions", f.adminKey, `{"model":"stories","messages":[{"role":"tool","content":"x"}]}`, 400, "invalid_request_error", "", "messages[0].role"},
		{"image-part", "POST", "/v1/chat/completions", f.adminKey, `{"model":"stories","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "invalid_request_error", "", "messages[0].content"},
		{"stream-options-without-stream", "POST", "/v1/chat/completions", f.adminKey, `{"model":"stories","messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}`, 400, "invalid_request_error", "", "stream_options"},
		{"too-many-stops", "POST", "/v1/completions", f.adminKey, `{"model":"stories","prompt":"a","stop":["a","b","c","d","e"]}`, 400, "invalid_request_error", "", "stop"},
		{"token-prompt", "POST", "/v1/completions", f.adminKey, `{"model":"stories","prompt":[1,2,3]}`, 400, "invalid_request_error", "", "prompt"},
		{"top-logprobs-completions", "POST", "/v1/completions", f.adminKey, `{"model":"stories","prompt":"a","logprobs":3}`, 400, "invalid_request_error", "", "logprobs"},
		{"model-error-before-stream", "POST", "/v1/completions", f.adminKey, `{"model":"failing","prompt":"a","max_tokens":1}`, 500, "server_error", "model_error", ""},
		{"unknown-url", "GET", "/v1/embeddings", f.adminKey, ``, 404, "invalid_request_error", "unknown_url", ""},
		{"unknown-model-get", "GET", "/v1/models/nope", f.adminKey, ``, 404, "invalid_request_error", "model_not_found", "model"},
		{"oversize-body", "POST", "/v1/chat/completions", f.adminKey, `{"model":"stories","messages":[{"role":"user","content":"` + strings.Repeat("a", server.MaxBody) + `"}]}`, 413, "invalid_request_error", "request_too_large", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.do(t, tc.method, tc.path, tc.key, tc.body)
			var e wireErr
			b, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("status %d body %s", resp.StatusCode, b)
			}
			if resp.StatusCode != tc.status || e.Error.Type != tc.typ || e.Error.Message == "" {
				t.Errorf("status %d %s, want %d %s", resp.StatusCode, b, tc.status, tc.typ)
			}
			if got := deref(e.Error.Code); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
			if got := deref(e.Error.Param); got != tc.param {
				t.Errorf("param %q, want %q", got, tc.param)
			}
			if strings.Contains(string(b), "device lost") || strings.Contains(string(b), "goroutine") {
				t.Errorf("the error leaks internals: %s", b)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// events reads an SSE body into its data payloads.
func events(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		d, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("not an SSE data line: %q", line)
		}
		out = append(out, d)
	}
	return out
}

func TestChatStream(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "POST", "/v1/chat/completions", f.adminKey,
		`{"model":"stories","messages":[{"role":"system","content":"Stories."},{"role":"user","content":[{"type":"text","text":"Tell me"}]}],"max_tokens":12,"temperature":0,"stream":true,"stream_options":{"include_usage":true},"logprobs":true}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ev := events(t, resp.Body)
	if n := len(ev); n < 4 || ev[n-1] != "[DONE]" {
		t.Fatalf("events %q", ev)
	}
	type chunk struct {
		ID, Object string
		Created    int64
		Choices    []struct {
			Delta        map[string]any
			FinishReason *string `json:"finish_reason"`
			Logprobs     *struct {
				Content []struct{ Token string }
			}
		}
		Usage *struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	var chunks []chunk
	for _, e := range ev[:len(ev)-1] {
		var c chunk
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("%v: %s", err, e)
		}
		if c.Object != "chat.completion.chunk" || !strings.HasPrefix(c.ID, "chatcmpl-") || (len(chunks) > 0 && c.ID != chunks[0].ID) || c.Created != 1800000000 {
			t.Errorf("chunk header %+v", c)
		}
		chunks = append(chunks, c)
	}
	n := len(chunks)
	if chunks[0].Choices[0].Delta["role"] != "assistant" {
		t.Errorf("first chunk %s", ev[0])
	}
	var text strings.Builder
	for _, c := range chunks[1 : n-2] {
		if c.Choices[0].FinishReason != nil || c.Usage != nil {
			t.Errorf("content chunk with finish or usage: %+v", c)
		}
		text.WriteString(c.Choices[0].Delta["content"].(string))
	}
	fin := chunks[n-2]
	if fin.Choices[0].FinishReason == nil || *fin.Choices[0].FinishReason != "length" || len(fin.Choices[0].Delta) != 0 {
		t.Errorf("finish chunk %s", ev[n-2])
	}
	var joined strings.Builder
	for _, tl := range fin.Choices[0].Logprobs.Content {
		joined.WriteString(tl.Token)
	}
	if joined.String() != text.String() || len(fin.Choices[0].Logprobs.Content) != 12 {
		t.Errorf("logprobs %+v for text %q", fin.Choices[0].Logprobs, text.String())
	}
	if u := chunks[n-1]; len(u.Choices) != 0 || u.Usage == nil || u.Usage.CompletionTokens != 12 || u.Usage.PromptTokens == 0 {
		t.Errorf("usage chunk %s", ev[n-1])
	}

	// The same request whole gives the same text.
	resp = f.do(t, "POST", "/v1/chat/completions", f.adminKey,
		`{"model":"stories","messages":[{"role":"system","content":"Stories."},{"role":"user","content":"Tell me"}],"max_completion_tokens":12,"temperature":0}`)
	var whole struct {
		Choices []struct {
			Message      struct{ Role, Content string }
			FinishReason string `json:"finish_reason"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&whole); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, err)
	}
	if whole.Choices[0].Message.Content != text.String() || whole.Choices[0].Message.Role != "assistant" {
		t.Errorf("whole %+v, streamed %q", whole, text.String())
	}
}

func TestMidStreamErrorEvent(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "POST", "/v1/completions", f.adminKey, `{"model":"failing","prompt":"a","max_tokens":5,"stream":true}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ev := events(t, resp.Body)
	if len(ev) < 2 {
		t.Fatalf("events %q", ev)
	}
	last := ev[len(ev)-1]
	var e wireErr
	if err := json.Unmarshal([]byte(last), &e); err != nil || e.Error.Type != "server_error" || deref(e.Error.Code) != "model_error" {
		t.Errorf("last event %q, want an error event", last)
	}
	if strings.Contains(last, "device lost") || slices.Contains(ev, "[DONE]") {
		t.Errorf("events %q", ev)
	}
}

func TestCompletionGreedyMatchesReference(t *testing.T) {
	f := newFixture(t)
	ref, err := os.ReadFile(filepath.Join(sharedDir(t), "models", "stories260K", "expected_greedy_t0.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimPrefix(string(ref), "Once upon a time")
	resp := f.do(t, "POST", "/v1/completions", f.adminKey, `{"model":"stories","prompt":"Once upon a time","max_tokens":60,"temperature":0,"logprobs":0}`)
	var out struct {
		Object  string
		Choices []struct {
			Text     string
			Logprobs struct {
				Tokens        []string
				TokenLogprobs []float64 `json:"token_logprobs"`
				TextOffset    []int     `json:"text_offset"`
			}
			FinishReason string `json:"finish_reason"`
		}
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, err)
	}
	c := out.Choices[0]
	if out.Object != "text_completion" || !strings.HasPrefix(want, c.Text) || len(c.Text) < 100 || c.FinishReason != "length" {
		t.Errorf("completion %+v", out)
	}
	if len(c.Logprobs.Tokens) != 60 || strings.Join(c.Logprobs.Tokens, "") != c.Text || len(c.Logprobs.TextOffset) != 60 {
		t.Errorf("logprobs %+v", c.Logprobs)
	}
	for i, off := range c.Logprobs.TextOffset {
		if !strings.HasPrefix(c.Text[off:], c.Logprobs.Tokens[i]) {
			t.Errorf("text_offset[%d] = %d does not point at %q", i, off, c.Logprobs.Tokens[i])
		}
	}
	if out.Usage.PromptTokens != 5 || out.Usage.CompletionTokens != 60 {
		t.Errorf("usage %+v", out.Usage)
	}
}

func TestModels(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "GET", "/v1/models", f.adminKey, "")
	b, _ := io.ReadAll(resp.Body)
	want := `{"data":[{"created":1700000000,"id":"stories","object":"model","owned_by":"111122223333"}],"object":"list"}`
	if resp.StatusCode != 200 || string(b) != want {
		t.Errorf("got %d %s\nwant %s", resp.StatusCode, b, want)
	}
	resp = f.do(t, "GET", "/v1/models/arn:aws:bedrock:us-east-1:"+account+":imported-model/stories", f.adminKey, "")
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"stories"`) {
		t.Errorf("get by ARN: %d %s", resp.StatusCode, b)
	}
}

func TestAPIKeyManagement(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "POST", "/strata/api-keys", f.adminKey, `{"userName":"noinvoke"}`)
	var created struct{ ID, Key, UserName, UserArn string }
	if err := json.NewDecoder(resp.Body).Decode(&created); err != nil || resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode, err)
	}
	if !strings.HasPrefix(created.Key, "sk-strata-"+created.ID+"-") || created.UserArn != "arn:aws:iam::"+account+":user/noinvoke" {
		t.Errorf("created %+v", created)
	}
	// The new key authenticates as noinvoke: listing works, invoking is denied.
	if r := f.do(t, "GET", "/v1/models", created.Key, ""); r.StatusCode != 200 {
		t.Errorf("new key: %d", r.StatusCode)
	}
	if r := f.do(t, "POST", "/v1/completions", created.Key, `{"model":"stories","prompt":"a"}`); r.StatusCode != 403 {
		t.Errorf("new key invoking: %d, want 403", r.StatusCode)
	}
	resp = f.do(t, "GET", "/strata/api-keys?userName=noinvoke", f.adminKey, "")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), created.ID) || strings.Contains(string(b), created.Key) || strings.Count(string(b), `"id"`) != 2 {
		t.Errorf("list %d %s", resp.StatusCode, b)
	}
	if r := f.do(t, "POST", "/strata/api-keys", f.adminKey, `{"userName":"nobody"}`); r.StatusCode != 404 {
		t.Errorf("key for an unknown user: %d", r.StatusCode)
	}
	if r := f.do(t, "DELETE", "/strata/api-keys/"+created.ID, f.adminKey, ""); r.StatusCode != 200 {
		t.Fatalf("delete: %d", r.StatusCode)
	}
	if len(f.forgotten) != 1 || f.forgotten[0] != created.ID {
		t.Errorf("forgotten %v", f.forgotten)
	}
	if r := f.do(t, "GET", "/v1/models", created.Key, ""); r.StatusCode != 401 {
		t.Errorf("deleted key: %d, want 401", r.StatusCode)
	}
	if r := f.do(t, "DELETE", "/strata/api-keys/"+created.ID, f.adminKey, ""); r.StatusCode != 404 {
		t.Errorf("second delete: %d", r.StatusCode)
	}
}

func TestWireErrorMapping(t *testing.T) {
	tests := []struct {
		name       string
		kind       apierr.Kind
		status     int
		code       string
		retryAfter bool
	}{
		{"validation", apierr.Validation, 400, "", false},
		{"not-found", apierr.NotFound, 404, "not_found", false},
		{"access-denied", apierr.AccessDenied, 403, "permission_denied", false},
		{"throttling", apierr.Throttling, 429, "rate_limit_exceeded", true},
		{"model-not-ready", apierr.ModelNotReady, 429, "rate_limit_exceeded", true},
		{"unavailable", apierr.ServiceUnavailable, 503, "service_unavailable", true},
		{"too-large", apierr.RequestTooLarge, 413, "request_too_large", false},
		{"timeout", apierr.ModelTimeout, 500, "model_timeout", false},
		{"internal", apierr.Internal, 500, "", false},
		{"unrecognized-client", apierr.UnrecognizedClient, 401, "invalid_api_key", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteError(w, nil, apierr.Wrap(tc.kind, errors.New("secret cause"), "shown message"))
			var e wireErr
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || deref(e.Error.Code) != tc.code || e.Error.Message != "shown message" {
				t.Errorf("%d %s", w.Code, w.Body)
			}
			if got := w.Header().Get("Retry-After") != ""; got != tc.retryAfter {
				t.Errorf("Retry-After %q", w.Header().Get("Retry-After"))
			}
			if strings.Contains(w.Body.String(), "secret cause") {
				t.Error("the cause leaked")
			}
		})
	}
	t.Run("untyped-error", func(t *testing.T) {
		w := httptest.NewRecorder()
		WriteError(w, nil, errors.New("disk on fire at /var/lib"))
		if w.Code != 500 || strings.Contains(w.Body.String(), "disk") {
			t.Errorf("%d %s", w.Code, w.Body)
		}
	})
}

func TestAlignLogprobs(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string
		lps    []float64
		want   []string
	}{
		{"one-piece-per-token", []string{"a", "b", "c"}, []float64{-1, -2, -3}, []string{"a", "b", "c"}},
		{"held-back-then-released", []string{"a", "12"}, []float64{-1, -2, -3}, []string{"a", "12", ""}},
		{"released-at-close", []string{"a", "b", "c"}, []float64{-1, -2}, []string{"a", "bc"}},
		{"nothing", nil, nil, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := alignLogprobs(true, tc.pieces, tc.lps)
			toks := make([]string, len(got))
			for i, g := range got {
				toks[i] = g.Token
				if g.Logprob != tc.lps[i] {
					t.Errorf("logprob %d = %v", i, g.Logprob)
				}
			}
			if strings.Join(toks, "|") != strings.Join(tc.want, "|") {
				t.Errorf("tokens %q, want %q", toks, tc.want)
			}
		})
	}
	if alignLogprobs(false, []string{"a"}, []float64{-1}) != nil {
		t.Error("logprobs without asking")
	}
}
