package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/h1"
)

// Config configures an OpenAI engine.
type Config struct {
	// BaseURL is the API root, with its version: "http://vllm:8000/v1",
	// "http://ollama:11434/v1". Required.
	BaseURL string
	// Model is the upstream's model name, sent as "model". Required.
	Model string
	// APIKey is sent as a bearer token, or "" for none. It is never logged
	// nor shown in errors.
	APIKey string
	// Timeout bounds one request over all its attempts. 0 means 5 minutes.
	Timeout time.Duration
	// MaxRetries is how many times a failed request is retried before its
	// first token. 0 means 2; negative means no retries.
	MaxRetries int
	// Backoff is the wait before the first retry, doubled for each later
	// one up to 2s, with jitter. 0 means 200ms.
	Backoff time.Duration
	// ProbeInterval is the period of the background health checks. 0 means
	// 10s; negative disables the prober.
	ProbeInterval time.Duration
	// Client sends the requests, or nil for a pooled client. It must not set
	// a Timeout shorter than the longest stream.
	Client *http.Client
	// EstimateTokens makes CountTokens always estimate instead of calling
	// /tokenize, saving a round trip per request.
	EstimateTokens bool
	// Logger gets retries and health transitions; nil means discard.
	Logger *slog.Logger
}

// OpenAI is an engine.Engine over an OpenAI-compatible server (vLLM,
// llama.cpp server, Ollama, TGI). It is safe for concurrent use.
type OpenAI struct {
	*base
	cfg        Config
	url        string // BaseURL without a trailing slash
	root       string // url without its /v1 suffix, for /tokenize
	client     *http.Client
	ownsClient bool
	noTokenize atomic.Bool // the upstream has no /tokenize
}

var _ engine.Engine = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI engine and starts its health prober; Close
// stops it.
func NewOpenAI(cfg Config) (*OpenAI, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("upstream: openai engine needs a base URL and a model")
	}
	if !strings.HasPrefix(cfg.BaseURL, "http://") && !strings.HasPrefix(cfg.BaseURL, "https://") {
		return nil, fmt.Errorf("upstream: base URL %q is not http(s)", cfg.BaseURL)
	}
	o := &OpenAI{
		base:   newBase(cfg.BaseURL, cfg.Timeout, cfg.MaxRetries, cfg.Backoff, cfg.ProbeInterval, cfg.Logger),
		cfg:    cfg,
		url:    strings.TrimRight(cfg.BaseURL, "/"),
		client: cfg.Client,
	}
	o.root = strings.TrimSuffix(o.url, "/v1")
	o.noTokenize.Store(cfg.EstimateTokens)
	if o.client == nil {
		o.client, o.ownsClient = newHTTPClient(), true
	}
	o.startProber(o.Health)
	return o, nil
}

// newHTTPClient returns a pooled client without a global timeout (streams
// are bounded by their context). Plain-HTTP upstreams go through h1's
// transport, which spares each request net/http's goroutine hand-offs;
// https and proxied ones through net/http's.
func newHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: &h1.Transport{Fallback: t, MaxIdlePerHost: 64, IdleTimeout: 90 * time.Second}}
}

// Close stops the prober and releases idle connections.
func (o *OpenAI) Close() error {
	o.close()
	if o.ownsClient {
		o.client.CloseIdleConnections()
	}
	return nil
}

// Health checks the upstream with GET {BaseURL}/models.
func (o *OpenAI) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url+"/models", nil)
	if err != nil {
		return fmt.Errorf("upstream: health request: %w", err)
	}
	o.auth(req)
	resp, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream: health check: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream: health check answered %d", resp.StatusCode)
	}
	return nil
}

// send sends a generation request. The engine's own client's transport is
// called directly: http.Client would copy the headers for redirects, which
// an upstream model server does not send; a client from Config is used as
// given.
func (o *OpenAI) send(r *http.Request) (*http.Response, error) {
	if o.ownsClient {
		return o.client.Transport.RoundTrip(r)
	}
	return o.client.Do(r)
}

func (o *OpenAI) auth(r *http.Request) {
	if o.cfg.APIKey != "" {
		r.Header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
}

// chatMessage is one message of a chat request.
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// openAIRequest is the body of a chat or completion request, streamed
// unless the caller wants only the whole reply (engine.Request.Whole).
type openAIRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages,omitempty"`
	Prompt        *string       `json:"prompt,omitempty"`
	MaxTokens     int           `json:"max_tokens"`
	Temperature   float64       `json:"temperature"`
	TopP          *float64      `json:"top_p,omitempty"`
	TopK          *int          `json:"top_k,omitempty"`
	Seed          *int64        `json:"seed,omitempty"`
	Stop          []string      `json:"stop,omitempty"`
	Logprobs      any           `json:"logprobs,omitempty"` // true (chat) or 1 (completions)
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"` // only with Stream: servers refuse it otherwise
}

// texts returns the texts of req, refusing any the guard did not make.
func texts(req engine.Request) (prompt *string, msgs []chatMessage, err error) {
	if len(req.Messages) > 0 {
		if req.Prompt.Valid() {
			return nil, nil, apierr.New(apierr.Validation, "the request sets both a prompt and messages")
		}
		msgs = make([]chatMessage, len(req.Messages))
		for i, m := range req.Messages {
			if !m.Content.Valid() {
				return nil, nil, engine.ErrUnguarded
			}
			msgs[i] = chatMessage{Role: m.Role, Content: m.Content.String()}
		}
		return nil, msgs, nil
	}
	if !req.Prompt.Valid() {
		return nil, nil, engine.ErrUnguarded
	}
	s := req.Prompt.String()
	return &s, nil, nil
}

// body builds the request body and the path it goes to.
func (o *OpenAI) body(req engine.Request) (path string, body []byte, err error) {
	prompt, msgs, err := texts(req)
	if err != nil {
		return "", nil, err
	}
	if req.MaxTokens <= 0 {
		return "", nil, apierr.New(apierr.Validation, "max tokens must be positive")
	}
	b := openAIRequest{Model: o.cfg.Model, Messages: msgs, Prompt: prompt, MaxTokens: req.MaxTokens,
		Temperature: req.Temperature, Seed: req.Seed, Stream: !req.Whole}
	if b.Stream {
		b.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{IncludeUsage: true}
	}
	if req.TopP > 0 && req.TopP < 1 {
		b.TopP = &req.TopP
	}
	if req.TopK > 0 {
		b.TopK = &req.TopK
	}
	for _, s := range req.Stop {
		if s != "" {
			b.Stop = append(b.Stop, s)
		}
	}
	path = "/chat/completions"
	if prompt != nil {
		path = "/completions"
	}
	if req.Logprobs {
		if prompt != nil {
			b.Logprobs = 1
		} else {
			b.Logprobs = true
		}
	}
	body, err = json.Marshal(b)
	if err != nil {
		return "", nil, fmt.Errorf("upstream: encoding request: %w", err)
	}
	return path, body, nil
}

// Generate streams a generation from the upstream, calling emit for each
// token as its chunk arrives; with Request.Whole it asks for the complete
// reply instead and emits it at once. Token.ID is -1: the OpenAI API does not give
// ids. With Request.Logprobs each token carries the upstream's logprob.
func (o *OpenAI) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (engine.Result, error) {
	path, body, err := o.body(req)
	if err != nil {
		return engine.Result{}, err
	}
	return o.run(ctx, func(ctx context.Context) (engine.Result, bool, error) {
		return o.attempt(ctx, path, body, req, emit)
	})
}

// attempt sends one request and streams its reply (or reads it whole).
func (o *OpenAI) attempt(ctx context.Context, path string, body []byte, req engine.Request, emit func(engine.Token) error) (res engine.Result, emitted bool, err error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url+path, bytes.NewReader(body))
	if err != nil {
		return res, false, fmt.Errorf("upstream: building request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Whole {
		hreq.Header.Set("Accept", "application/json")
	} else {
		hreq.Header.Set("Accept", "text/event-stream")
	}
	o.auth(hreq)
	resp, err := o.send(hreq)
	if err != nil {
		return res, false, transportFailure(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, false, statusFailure(resp, o.cfg.APIKey)
	}
	s := streamState{req: req, emit: emit, res: &res}
	defer func() { res.Text = s.text.String() }()
	if req.Whole && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// (A server that streams although asked not to is read as a
		// stream below.)
		return o.whole(resp.Body, &s)
	}
	sse := newSSEReader(resp.Body)
	defer sse.release()
	for {
		data, err := sse.next()
		if err == io.EOF && s.finished {
			break // some servers end without [DONE]
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return res, s.emitted, streamFailure(err)
		}
		if string(data) == "[DONE]" {
			drain(resp.Body)
			break
		}
		if err := s.chunk(data, o.cfg.APIKey); err != nil {
			return res, s.emitted, err
		}
	}
	if !s.finished {
		return res, s.emitted, streamFailure(errors.New("the stream ended without a finish reason"))
	}
	if !s.usage {
		res.OutputTokens = s.count
	}
	return res, s.emitted, nil
}

// maxWhole bounds a complete (not streamed) reply.
const maxWhole = 32 << 20

// whole reads a complete reply, which has the shape of one streamed chunk
// (choices[0].message or .text, logprobs, finish_reason, usage), and
// emits its text: in one piece, or one token per logprob entry.
func (o *OpenAI) whole(body io.Reader, s *streamState) (engine.Result, bool, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxWhole+1))
	if err != nil {
		return *s.res, false, streamFailure(err)
	}
	if len(data) > maxWhole {
		return *s.res, false, &failure{kind: apierr.ModelError, msg: "The upstream model server sent too long a reply."}
	}
	if !json.Valid(data) {
		// A reply cut short, as a connection cut is: nothing was emitted,
		// so it may be tried again.
		return *s.res, false, streamFailure(fmt.Errorf("%w: the reply is not complete JSON", io.ErrUnexpectedEOF))
	}
	if err := s.chunk(data, o.cfg.APIKey); err != nil {
		return *s.res, s.emitted, err
	}
	if !s.finished {
		return *s.res, s.emitted, &failure{kind: apierr.ModelError, msg: "The upstream model server sent a reply without a finish reason."}
	}
	if !s.usage {
		// Servers send usage with complete replies; for one that does not,
		// estimate as CountTokens does.
		s.res.OutputTokens = max(s.count, estimateTokens([]string{s.text.String()}, false))
	}
	return *s.res, s.emitted, nil // attempt fills in the text
}

// Reading a reply to its end after [DONE] lets the transport reuse its
// connection; closing it before makes the next request open a new one.
// Servers end the reply right after [DONE], so drain waits at most
// drainWait for the end and reads at most maxDrain bytes; a server that
// holds the reply open loses the connection instead.
const (
	drainWait = 50 * time.Millisecond
	maxDrain  = 64 << 10
)

// drain reads body to its end, within drainWait (then closing it aborts
// the read) and maxDrain bytes.
func drain(body io.ReadCloser) {
	t := time.AfterFunc(drainWait, func() { body.Close() })
	io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	t.Stop()
}

// chunkJSON is one streamed chunk of a chat or completion reply.
type chunkJSON struct {
	Choices []choiceJSON    `json:"choices"`
	Usage   *usageJSON      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type choiceJSON struct {
	Index int `json:"index"`
	Delta struct {
		Content *string `json:"content"`
	} `json:"delta"`
	Message struct { // a complete (not streamed) chat reply's
		Content *string `json:"content"`
	} `json:"message"`
	Text         *string         `json:"text"`
	Logprobs     *logprobsJSON   `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
	StopReason   json.RawMessage `json:"stop_reason"` // vLLM: the stop string matched
}

type logprobsJSON struct {
	Content       []tokenLogprobJSON `json:"content"`
	Tokens        []string           `json:"tokens"`
	TokenLogprobs []*float64         `json:"token_logprobs"`
}

type tokenLogprobJSON struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
}

type usageJSON struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// streamState follows one streamed reply.
type streamState struct {
	req      engine.Request
	emit     func(engine.Token) error
	res      *engine.Result
	text     strings.Builder
	emitted  bool
	finished bool
	usage    bool
	count    int // tokens emitted, for servers that send no usage
}

// tokenLogprob is one token's text and logprob from a chunk.
type tokenLogprob struct {
	text    string
	logprob float64
}

// chunk handles one chunk's data.
func (s *streamState) chunk(data []byte, apiKey string) error {
	var c chunkJSON
	if !decodeChunk(data, &c) {
		c = chunkJSON{}
		if err := json.Unmarshal(data, &c); err != nil {
			return &failure{kind: apierr.ModelError, msg: "The upstream model server sent a malformed stream.", err: err}
		}
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		msg := sanitize(upstreamMessage(data), apiKey)
		var e struct {
			Code json.RawMessage `json:"code"`
			Type string          `json:"type"`
		}
		json.Unmarshal(c.Error, &e)
		if (string(e.Code) == "400" || e.Type == "BadRequestError" || e.Type == "invalid_request_error") && msg != "" {
			// vLLM reports a request it cannot serve (too long a prompt) in
			// the stream.
			return &failure{kind: apierr.Validation, msg: msg, err: errors.New(msg)}
		}
		return &failure{kind: apierr.ModelError, msg: "The upstream model server failed while generating.", err: errors.New(msg)}
	}
	if c.Usage != nil && (c.Usage.PromptTokens > 0 || c.Usage.CompletionTokens > 0) {
		s.usage = true
		s.res.InputTokens, s.res.OutputTokens = c.Usage.PromptTokens, c.Usage.CompletionTokens
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue
		}
		var text string
		switch {
		case ch.Delta.Content != nil:
			text = *ch.Delta.Content
		case ch.Message.Content != nil:
			text = *ch.Message.Content
		case ch.Text != nil:
			text = *ch.Text
		}
		var lps []tokenLogprob
		if lp := ch.Logprobs; lp != nil && s.req.Logprobs {
			for _, e := range lp.Content {
				lps = append(lps, tokenLogprob{e.Token, e.Logprob})
			}
			for i, t := range lp.Tokens {
				var v float64
				if i < len(lp.TokenLogprobs) && lp.TokenLogprobs[i] != nil {
					v = *lp.TokenLogprobs[i]
				}
				lps = append(lps, tokenLogprob{t, v})
			}
		}
		for _, t := range splitTokens(text, lps) {
			s.text.WriteString(t.Text)
			if s.req.Logprobs {
				s.res.Tokens = append(s.res.Tokens, t)
			}
			s.count++
			s.emitted = true
			if err := s.emit(t); err != nil {
				return emitError{err}
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			s.finished = true
			s.res.StopReason = stopReason(*ch.FinishReason, ch.StopReason, s.req.Stop)
		}
	}
	return nil
}

// splitTokens turns a chunk's text into tokens. With logprobs there is one
// token per logprob entry, each with its own text when the entries spell
// the chunk's text exactly, else the first carries the whole text (the text
// is what counts; the logprobs stay one per token).
func splitTokens(text string, lps []tokenLogprob) []engine.Token {
	if len(lps) == 0 {
		if text == "" {
			return nil
		}
		return []engine.Token{{ID: -1, Text: text}}
	}
	toks := make([]engine.Token, len(lps))
	var sb strings.Builder
	for i, lp := range lps {
		toks[i] = engine.Token{ID: -1, Text: lp.text, Logprob: lp.logprob}
		sb.WriteString(lp.text)
	}
	if sb.String() != text {
		for i := range toks {
			toks[i].Text = ""
		}
		toks[0].Text = text
	}
	return toks
}

// stopReason maps a finish_reason (and vLLM's stop_reason) to the engine's.
func stopReason(finish string, matched json.RawMessage, stops []string) engine.StopReason {
	switch finish {
	case "length", "max_tokens", "model_length":
		return engine.StopLength
	case "stop_sequence":
		return engine.StopSequence
	case "stop":
		var s string
		if len(matched) > 0 && json.Unmarshal(matched, &s) == nil && s != "" {
			for _, st := range stops {
				if st == s {
					return engine.StopSequence
				}
			}
		}
	}
	return engine.StopEnd
}

// CountTokens counts req's prompt tokens with the upstream's /tokenize
// (vLLM) when it has one, else estimates them as bytes/4 rounded up plus 4
// per chat message. The estimate is only for admission control.
func (o *OpenAI) CountTokens(ctx context.Context, req engine.Request) (int, error) {
	prompt, msgs, err := texts(req)
	if err != nil {
		return 0, err
	}
	var all []string
	if prompt != nil {
		all = []string{*prompt}
	}
	for _, m := range msgs {
		all = append(all, m.Content)
	}
	if !o.noTokenize.Load() {
		n, err := o.tokenize(ctx, prompt, msgs)
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		o.log.Debug("tokenize failed; estimating", "upstream", o.name, "err", err)
	}
	return estimateTokens(all, prompt == nil), nil
}

// errNoTokenize marks an upstream without /tokenize.
var errNoTokenize = errors.New("upstream: no /tokenize endpoint")

// tokenize calls vLLM's POST {root}/tokenize.
func (o *OpenAI) tokenize(ctx context.Context, prompt *string, msgs []chatMessage) (int, error) {
	body := map[string]any{"model": o.cfg.Model}
	if prompt != nil {
		body["prompt"] = *prompt
	} else {
		body["messages"] = msgs
		body["add_generation_prompt"] = true
	}
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, min(o.timeout, 10*time.Second))
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, o.root+"/tokenize", bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	o.auth(hreq)
	resp, err := o.client.Do(hreq)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		o.noTokenize.Store(true)
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return 0, errNoTokenize
	default:
		return 0, fmt.Errorf("upstream: tokenize answered %d", resp.StatusCode)
	}
	var out struct {
		Count  *int              `json:"count"`
		Tokens []json.RawMessage `json:"tokens"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return 0, fmt.Errorf("upstream: decoding tokenize reply: %w", err)
	}
	if out.Count != nil {
		return *out.Count, nil
	}
	if out.Tokens != nil {
		return len(out.Tokens), nil
	}
	return 0, errors.New("upstream: tokenize reply has no count")
}
