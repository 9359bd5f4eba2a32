package upstreamtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// OpenAIOptions configure an OpenAIServer. The zero value works.
type OpenAIOptions struct {
	// Model is the only model served; "" serves any name.
	Model string
	// Reply is the tokens generated, in order; nil means DefaultReply.
	Reply []string
	// TokenDelay is waited before each token's chunk.
	TokenDelay time.Duration
	// NoUsage leaves usage out, like servers that ignore include_usage.
	NoUsage bool
	// NoDone ends streams without "data: [DONE]".
	NoDone bool
	// NoTokenize answers /tokenize with 404, like servers other than vLLM.
	NoTokenize bool
	// APIKey, when set, must come as the bearer token.
	APIKey string
	// AlwaysStream streams even when asked for a complete reply, as some
	// servers do.
	AlwaysStream bool
}

// OpenAIRequest is a chat or completion request the server received.
type OpenAIRequest struct {
	Path     string
	Model    string `json:"model"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	Prompt        *string         `json:"prompt"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int            `json:"top_k"`
	Seed          *int64          `json:"seed"`
	Stop          []string        `json:"stop"`
	Logprobs      json.RawMessage `json:"logprobs"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (r *OpenAIRequest) texts() []string {
	var out []string
	if r.Prompt != nil {
		out = append(out, *r.Prompt)
	}
	for _, m := range r.Messages {
		out = append(out, m.Content)
	}
	return out
}

// OpenAIServer is a loopback OpenAI-compatible server. Its URL field is the
// root; BaseURL adds /v1.
type OpenAIServer struct {
	*httptest.Server
	opts      OpenAIOptions
	fail      failures
	unhealthy atomic.Bool
	pans      atomic.Int64
	attempts  atomic.Int64
	mu        sync.Mutex
	requests  []OpenAIRequest
	cancelled chan string
}

// NewOpenAIServer starts a server on loopback. Call Close when done.
func NewOpenAIServer(opts OpenAIOptions) *OpenAIServer {
	if opts.Reply == nil {
		opts.Reply = DefaultReply
	}
	s := &OpenAIServer{opts: opts, cancelled: make(chan string, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.models)
	mux.HandleFunc("POST /v1/chat/completions", s.generate)
	mux.HandleFunc("POST /v1/completions", s.generate)
	mux.HandleFunc("POST /tokenize", s.tokenize)
	s.Server = httptest.NewServer(mux)
	return s
}

// BaseURL is the URL to configure an OpenAI engine with.
func (s *OpenAIServer) BaseURL() string { return s.URL + "/v1" }

// Fail queues failures for the next requests to the generation endpoints,
// one each, in order.
func (s *OpenAIServer) Fail(fs ...Failure) { s.fail.push(fs...) }

// SetHealthy makes /models answer 200 (true) or 503 (false).
func (s *OpenAIServer) SetHealthy(ok bool) { s.unhealthy.Store(!ok) }

// PANs is how many requests held a card number (and were refused).
func (s *OpenAIServer) PANs() int { return int(s.pans.Load()) }

// Attempts is how many generation requests arrived.
func (s *OpenAIServer) Attempts() int { return int(s.attempts.Load()) }

// Requests returns the generation requests received so far.
func (s *OpenAIServer) Requests() []OpenAIRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]OpenAIRequest(nil), s.requests...)
}

// Cancelled receives the path of each request whose client went away
// before the server finished answering it.
func (s *OpenAIServer) Cancelled() <-chan string { return s.cancelled }

func (s *OpenAIServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		openAIError(w, http.StatusUnauthorized, "Incorrect API key provided.", "invalid_request_error")
		return false
	}
	return true
}

func openAIError(w http.ResponseWriter, status int, msg, typ string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

func (s *OpenAIServer) models(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	if s.unhealthy.Load() {
		openAIError(w, http.StatusServiceUnavailable, "loading", "server_error")
		return
	}
	name := s.opts.Model
	if name == "" {
		name = "test-model"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": []any{
		map[string]any{"id": name, "object": "model", "owned_by": "upstreamtest"}}})
}

func (s *OpenAIServer) tokenize(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoTokenize {
		http.NotFound(w, r)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	var req OpenAIRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		openAIError(w, http.StatusBadRequest, "malformed JSON", "invalid_request_error")
		return
	}
	n := countWords(req.texts(), req.Prompt == nil)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"count": n, "max_model_len": 4096, "tokens": make([]int, n)})
}

func (s *OpenAIServer) generate(w http.ResponseWriter, r *http.Request) {
	s.attempts.Add(1)
	if !s.authorized(w, r) {
		return
	}
	var req OpenAIRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		openAIError(w, http.StatusBadRequest, "malformed JSON: "+err.Error(), "invalid_request_error")
		return
	}
	req.Path = r.URL.Path
	s.mu.Lock()
	s.requests = append(s.requests, req)
	s.mu.Unlock()
	for _, t := range req.texts() {
		if hasPAN(t) {
			s.pans.Add(1)
			openAIError(w, http.StatusBadRequest, "the request holds a card number", "invalid_request_error")
			return
		}
	}
	chat := r.URL.Path == "/v1/chat/completions"
	switch {
	case s.opts.Model != "" && req.Model != s.opts.Model:
		openAIError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist.", req.Model), "NotFoundError")
		return
	case req.MaxTokens <= 0:
		openAIError(w, http.StatusBadRequest, "max_tokens must be at least 1", "invalid_request_error")
		return
	case chat && len(req.Messages) == 0, !chat && req.Prompt == nil:
		openAIError(w, http.StatusBadRequest, "no prompt or messages", "invalid_request_error")
		return
	}
	f := s.fail.pop()
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		msg := f.Message
		if msg == "" {
			msg = http.StatusText(f.Status)
		}
		openAIError(w, f.Status, msg, "server_error")
		return
	}
	if !req.Stream && !s.opts.AlwaysStream {
		s.complete(w, r, &req, chat, f)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	done := r.Context().Done()
	gone := func() {
		select {
		case s.cancelled <- r.URL.Path:
		default:
		}
	}
	if f.Hang && f.DropAfter <= 0 {
		<-done
		gone()
		return
	}
	p := makePlan(s.opts.Reply, req.MaxTokens, req.Stop)
	logprobs := req.wantsLogprobs()
	write := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	fmt.Fprint(w, ": upstreamtest\n\n")
	for i, tok := range p.tokens {
		if (f.DropAfter > 0 && i == f.DropAfter) || (f.DropAfter < 0 && i == 0) {
			if f.Hang {
				<-done
				gone()
				return
			}
			if f.EndEarly {
				return
			}
			panic(http.ErrAbortHandler) // cuts the connection
		}
		if !sleep(s.opts.TokenDelay, done) {
			gone()
			return
		}
		choice := map[string]any{"index": 0, "finish_reason": nil}
		if chat {
			choice["delta"] = map[string]any{"role": "assistant", "content": tok}
			if logprobs {
				choice["logprobs"] = logprobsOf(chat, []string{tok}, i)
			}
		} else {
			choice["text"] = tok
			if logprobs {
				choice["logprobs"] = logprobsOf(chat, []string{tok}, i)
			}
		}
		if !write(chunk(chat, choice)) {
			gone()
			return
		}
	}
	if f.EndEarly {
		return
	}
	if f.DropAfter != 0 {
		panic(http.ErrAbortHandler)
	}
	last := map[string]any{"index": 0, "finish_reason": p.finish, "stop_reason": nil}
	if p.matched != "" {
		last["stop_reason"] = p.matched
	}
	if chat {
		last["delta"] = map[string]any{}
	} else {
		last["text"] = ""
	}
	write(chunk(chat, last))
	if !s.opts.NoUsage && req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		in := countWords(req.texts(), chat)
		c := chunk(chat, nil)
		c["choices"] = []any{}
		c["usage"] = map[string]int{"prompt_tokens": in, "completion_tokens": len(p.tokens), "total_tokens": in + len(p.tokens)}
		write(c)
	}
	if !s.opts.NoDone {
		fmt.Fprint(w, "data: [DONE]\n\n")
		rc.Flush()
	}
}

// complete answers a request that does not stream with the whole reply
// in one JSON object, after the same per-token delays; a failure that
// drops or hangs the stream drops or hangs this reply before it is sent.
func (s *OpenAIServer) complete(w http.ResponseWriter, r *http.Request, req *OpenAIRequest, chat bool, f Failure) {
	done := r.Context().Done()
	gone := func() {
		select {
		case s.cancelled <- r.URL.Path:
		default:
		}
	}
	if f.Hang {
		<-done
		gone()
		return
	}
	if f.EndEarly {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"cmpl-upstreamtest","choices":[`) // and ends, cleanly
		return
	}
	if f.DropAfter != 0 {
		panic(http.ErrAbortHandler) // cuts the connection
	}
	p := makePlan(s.opts.Reply, req.MaxTokens, req.Stop)
	for range p.tokens {
		if !sleep(s.opts.TokenDelay, done) {
			gone()
			return
		}
	}
	logprobs := req.wantsLogprobs()
	text := strings.Join(p.tokens, "")
	choice := map[string]any{"index": 0, "finish_reason": p.finish, "stop_reason": nil}
	if p.matched != "" {
		choice["stop_reason"] = p.matched
	}
	if chat {
		choice["message"] = map[string]any{"role": "assistant", "content": text}
	} else {
		choice["text"] = text
	}
	if logprobs {
		choice["logprobs"] = logprobsOf(chat, p.tokens, 0)
	}
	c := chunk(chat, choice)
	if chat {
		c["object"] = "chat.completion"
	}
	if !s.opts.NoUsage {
		in := countWords(req.texts(), chat)
		c["usage"] = map[string]int{"prompt_tokens": in, "completion_tokens": len(p.tokens), "total_tokens": in + len(p.tokens)}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(c)
}

// wantsLogprobs reports whether the request asks for logprobs (true for
// chat, a positive count for completions).
func (r *OpenAIRequest) wantsLogprobs() bool {
	v := string(r.Logprobs)
	return len(v) > 0 && v != "false" && v != "null" && v != "0"
}

// logprobsOf is a choice's logprobs object for toks, the tokens from
// index first of the reply, in the chat or the completions shape.
func logprobsOf(chat bool, toks []string, first int) map[string]any {
	if chat {
		content := make([]any, len(toks))
		for i, tok := range toks {
			content[i] = map[string]any{"token": tok, "logprob": Logprob(first + i), "bytes": []byte(tok), "top_logprobs": []any{}}
		}
		return map[string]any{"content": content}
	}
	lps, offsets, at := make([]float64, len(toks)), make([]int, len(toks)), 0
	for i, tok := range toks {
		lps[i], offsets[i] = Logprob(first+i), at
		at += len(tok)
	}
	return map[string]any{"tokens": toks, "token_logprobs": lps, "top_logprobs": nil, "text_offset": offsets}
}

func chunk(chat bool, choice map[string]any) map[string]any {
	obj := "text_completion"
	if chat {
		obj = "chat.completion.chunk"
	}
	c := map[string]any{"id": "cmpl-upstreamtest", "object": obj, "created": 1700000000, "model": "test-model", "usage": nil}
	if choice != nil {
		c["choices"] = []any{choice}
	}
	return c
}
