package upstreamtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// BedrockOptions configure a BedrockServer. The zero value works.
type BedrockOptions struct {
	// Reply is the tokens generated, in order; nil means DefaultReply.
	Reply []string
	// TokenDelay is waited before each token's event.
	TokenDelay time.Duration
	// AccessKeyID, when set, must be the one requests are signed with.
	AccessKeyID string
	// NoCountTokens answers CountTokens with a ValidationException, like
	// models that do not support it.
	NoCountTokens bool
}

// BedrockRequest is a request the server received.
type BedrockRequest struct {
	Op      string // "ConverseStream", "InvokeModelWithResponseStream" or "CountTokens"
	ModelID string
	Body    json.RawMessage
}

// BedrockServer is a loopback Bedrock runtime that streams deterministic
// replies.
type BedrockServer struct {
	*httptest.Server
	opts      BedrockOptions
	fail      failures
	unhealthy atomic.Bool
	pans      atomic.Int64
	attempts  atomic.Int64
	mu        sync.Mutex
	requests  []BedrockRequest
	cancelled chan string
}

// NewBedrockServer starts a server on loopback. Call Close when done.
func NewBedrockServer(opts BedrockOptions) *BedrockServer {
	if opts.Reply == nil {
		opts.Reply = DefaultReply
	}
	s := &BedrockServer{opts: opts, cancelled: make(chan string, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		if s.unhealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"status":"healthy"}`))
	})
	mux.HandleFunc("POST /model/{modelId}/converse-stream", s.converse)
	mux.HandleFunc("POST /model/{modelId}/invoke-with-response-stream", s.invoke)
	mux.HandleFunc("POST /model/{modelId}/count-tokens", s.countTokens)
	s.Server = httptest.NewServer(mux)
	return s
}

// Fail queues failures for the next streaming requests, one each, in order.
func (s *BedrockServer) Fail(fs ...Failure) { s.fail.push(fs...) }

// SetHealthy makes /ping answer 200 (true) or 503 (false).
func (s *BedrockServer) SetHealthy(ok bool) { s.unhealthy.Store(!ok) }

// PANs is how many requests held a card number (and were refused).
func (s *BedrockServer) PANs() int { return int(s.pans.Load()) }

// Attempts is how many streaming requests arrived.
func (s *BedrockServer) Attempts() int { return int(s.attempts.Load()) }

// Requests returns the requests received so far.
func (s *BedrockServer) Requests() []BedrockRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]BedrockRequest(nil), s.requests...)
}

// Cancelled receives the operation of each request whose client went away
// before the server finished answering it.
func (s *BedrockServer) Cancelled() <-chan string { return s.cancelled }

func bedrockError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// begin reads, records and checks a request. It returns false when it has
// answered it.
func (s *BedrockServer) begin(w http.ResponseWriter, r *http.Request, op string) ([]byte, bool) {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=") ||
		(s.opts.AccessKeyID != "" && !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+s.opts.AccessKeyID+"/")) {
		bedrockError(w, http.StatusForbidden, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, false
	}
	s.mu.Lock()
	s.requests = append(s.requests, BedrockRequest{Op: op, ModelID: r.PathValue("modelId"), Body: body})
	s.mu.Unlock()
	if hasPAN(string(body)) {
		s.pans.Add(1)
		bedrockError(w, http.StatusBadRequest, "ValidationException", "the request holds a card number")
		return nil, false
	}
	return body, true
}

type converseBody struct {
	Messages []struct {
		Role    string `json:"role"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"messages"`
	System []struct {
		Text string `json:"text"`
	} `json:"system"`
	InferenceConfig struct {
		MaxTokens     int      `json:"maxTokens"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
}

func (c *converseBody) texts() []string {
	var out []string
	for _, s := range c.System {
		out = append(out, s.Text)
	}
	for _, m := range c.Messages {
		for _, b := range m.Content {
			out = append(out, b.Text)
		}
	}
	return out
}

type invokeBody struct {
	Prompt    string   `json:"prompt"`
	MaxTokens *int     `json:"max_tokens"`
	MaxGenLen *int     `json:"max_gen_len"`
	Stop      []string `json:"stop"`
}

// streamer writes event-stream frames.
type streamer struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
}

func newStreamer(w http.ResponseWriter) *streamer {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	return &streamer{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}
}

func (s *streamer) frame(msgType, typeHeader, typ string, v any) bool {
	payload, _ := json.Marshal(v)
	var h eventstream.Headers
	h.Set(":message-type", eventstream.StringValue(msgType))
	h.Set(typeHeader, eventstream.StringValue(typ))
	h.Set(":content-type", eventstream.StringValue("application/json"))
	if err := s.enc.Encode(s.w, eventstream.Message{Headers: h, Payload: payload}); err != nil {
		return false
	}
	return s.rc.Flush() == nil
}

func (s *streamer) event(typ string, v any) bool { return s.frame("event", ":event-type", typ, v) }

func (s *streamer) exception(typ, msg string) bool {
	return s.frame("exception", ":exception-type", typ, map[string]string{"message": msg})
}

// stream runs a failure and a plan, calling tok for each token; it returns
// false when the client went away or the stream was cut.
func (s *BedrockServer) stream(w http.ResponseWriter, r *http.Request, op string, f Failure, p plan, tok func(st *streamer, i int, t string) bool) (*streamer, bool) {
	done := r.Context().Done()
	gone := func() {
		select {
		case s.cancelled <- op:
		default:
		}
	}
	st := newStreamer(w)
	st.rc.Flush()
	hang := func() (*streamer, bool) {
		<-done
		gone()
		return st, false
	}
	if f.Hang && f.DropAfter <= 0 {
		return hang()
	}
	for i, t := range p.tokens {
		if (f.DropAfter > 0 && i == f.DropAfter) || (f.DropAfter < 0 && i == 0) {
			if f.Hang {
				return hang()
			}
			if f.EndEarly {
				return st, false
			}
			if f.Exception != "" {
				st.exception(f.Exception, f.Message)
				return st, false
			}
			panic(http.ErrAbortHandler)
		}
		if !sleep(s.opts.TokenDelay, done) || !tok(st, i, t) {
			gone()
			return st, false
		}
	}
	if f.EndEarly {
		return st, false
	}
	if f.DropAfter != 0 {
		if f.Exception != "" {
			st.exception(f.Exception, f.Message)
			return st, false
		}
		panic(http.ErrAbortHandler)
	}
	return st, true
}

// preFail answers a queued failure that has a status; it reports whether
// it did.
func preFail(w http.ResponseWriter, f Failure) bool {
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	typ := f.ErrorType
	if typ == "" {
		typ = "InternalServerException"
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	bedrockError(w, f.Status, typ, msg)
	return true
}

func (s *BedrockServer) converse(w http.ResponseWriter, r *http.Request) {
	s.attempts.Add(1)
	body, ok := s.begin(w, r, "ConverseStream")
	if !ok {
		return
	}
	var req converseBody
	if err := json.Unmarshal(body, &req); err != nil || len(req.Messages) == 0 {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request, please reformat your input and try again.")
		return
	}
	if req.InferenceConfig.MaxTokens <= 0 {
		req.InferenceConfig.MaxTokens = 512
	}
	f := s.fail.pop()
	if preFail(w, f) {
		return
	}
	p := makePlan(s.opts.Reply, req.InferenceConfig.MaxTokens, req.InferenceConfig.StopSequences)
	st, ok := s.stream(w, r, "ConverseStream", f, p, func(st *streamer, i int, t string) bool {
		if i == 0 && !st.event("messageStart", map[string]string{"role": "assistant"}) {
			return false
		}
		return st.event("contentBlockDelta", map[string]any{"contentBlockIndex": 0, "delta": map[string]string{"text": t}})
	})
	if !ok {
		return
	}
	if len(p.tokens) == 0 {
		st.event("messageStart", map[string]string{"role": "assistant"})
	}
	reason := "end_turn"
	switch {
	case p.matched != "":
		reason = "stop_sequence"
	case p.finish == "length":
		reason = "max_tokens"
	}
	in := countWords(req.texts(), true)
	st.event("contentBlockStop", map[string]int{"contentBlockIndex": 0})
	st.event("messageStop", map[string]string{"stopReason": reason})
	st.event("metadata", map[string]any{
		"usage":   map[string]int{"inputTokens": in, "outputTokens": len(p.tokens), "totalTokens": in + len(p.tokens)},
		"metrics": map[string]int{"latencyMs": 1}})
}

func (s *BedrockServer) invoke(w http.ResponseWriter, r *http.Request) {
	s.attempts.Add(1)
	body, ok := s.begin(w, r, "InvokeModelWithResponseStream")
	if !ok {
		return
	}
	var req invokeBody
	if err := json.Unmarshal(body, &req); err != nil || req.Prompt == "" {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: #: required key [prompt] not found, please reformat your input and try again.")
		return
	}
	llama := req.MaxGenLen != nil
	limit := 512
	switch {
	case llama:
		limit = *req.MaxGenLen
	case req.MaxTokens != nil:
		limit = *req.MaxTokens
	}
	f := s.fail.pop()
	if preFail(w, f) {
		return
	}
	w.Header().Set("X-Amzn-Bedrock-Content-Type", "application/json")
	p := makePlan(s.opts.Reply, limit, req.Stop)
	chunk := func(st *streamer, v any) bool {
		b, _ := json.Marshal(v)
		return st.event("chunk", map[string]string{"bytes": base64.StdEncoding.EncodeToString(b)})
	}
	st, ok := s.stream(w, r, "InvokeModelWithResponseStream", f, p, func(st *streamer, i int, t string) bool {
		if llama {
			return chunk(st, map[string]any{"generation": t, "prompt_token_count": nil, "generation_token_count": i + 1, "stop_reason": nil})
		}
		return chunk(st, map[string]any{"outputs": []any{map[string]any{"text": t, "stop_reason": nil}}})
	})
	if !ok {
		return
	}
	in := countWords([]string{req.Prompt}, false)
	metrics := map[string]int{"inputTokenCount": in, "outputTokenCount": len(p.tokens), "invocationLatency": 1, "firstByteLatency": 1}
	if llama {
		chunk(st, map[string]any{"generation": "", "prompt_token_count": in, "generation_token_count": len(p.tokens),
			"stop_reason": p.finish, "amazon-bedrock-invocationMetrics": metrics})
		return
	}
	chunk(st, map[string]any{"outputs": []any{map[string]any{"text": "", "stop_reason": p.finish}},
		"amazon-bedrock-invocationMetrics": metrics})
}

func (s *BedrockServer) countTokens(w http.ResponseWriter, r *http.Request) {
	body, ok := s.begin(w, r, "CountTokens")
	if !ok {
		return
	}
	if s.opts.NoCountTokens {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "The provided model doesn't support counting tokens.")
		return
	}
	var in struct {
		Input struct {
			InvokeModel *struct {
				Body []byte `json:"body"` // base64 in JSON
			} `json:"invokeModel"`
			Converse *converseBody `json:"converse"`
		} `json:"input"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		bedrockError(w, http.StatusBadRequest, "ValidationException", "malformed request")
		return
	}
	n := 0
	switch {
	case in.Input.InvokeModel != nil:
		var b invokeBody
		json.Unmarshal(in.Input.InvokeModel.Body, &b)
		n = countWords([]string{b.Prompt}, false)
	case in.Input.Converse != nil:
		n = countWords(in.Input.Converse.texts(), true)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]int{"inputTokens": n})
}
