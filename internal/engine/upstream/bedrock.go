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

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"

	"strata/internal/apierr"
	"strata/internal/engine"
)

// BedrockConfig configures a Bedrock engine.
type BedrockConfig struct {
	// Endpoint is the runtime endpoint: "https://bedrock-runtime.us-east-1.amazonaws.com"
	// or a strata URL. "" means AWS's endpoint for Region.
	Endpoint string
	// Region signs the requests. Required.
	Region string
	// Model is the model id or ARN to invoke. Required.
	Model string
	// Family selects the InvokeModel body format for completion prompts:
	// "mistral" ({"prompt","max_tokens"} -> outputs[].text) or "llama"
	// ({"prompt","max_gen_len"} -> generation). "" means mistral.
	Family string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials.
	// The first two are required.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Timeout, MaxRetries, Backoff and ProbeInterval are as in Config.
	Timeout       time.Duration
	MaxRetries    int
	Backoff       time.Duration
	ProbeInterval time.Duration
	// Client sends the requests, or nil for a pooled client.
	Client *http.Client
	// Logger gets retries and health transitions; nil means discard.
	Logger *slog.Logger
}

// Bedrock is an engine.Engine over the Bedrock runtime API: AWS Bedrock or
// another strata. Chat requests use ConverseStream, completion prompts
// InvokeModelWithResponseStream in the family's body format. Bedrock
// streams carry no logprobs, so a request asking for them is refused; seeds
// are not sent (Bedrock has no seed parameter). It is safe for concurrent
// use.
type Bedrock struct {
	*base
	cfg        BedrockConfig
	rt         *bedrockruntime.Client
	endpoint   string
	client     *http.Client
	ownsClient bool
	noCount    atomic.Bool // the model does not support CountTokens
}

var _ engine.Engine = (*Bedrock)(nil)

// NewBedrock returns a Bedrock engine and starts its health prober; Close
// stops it.
func NewBedrock(cfg BedrockConfig) (*Bedrock, error) {
	if cfg.Region == "" || cfg.Model == "" {
		return nil, errors.New("upstream: bedrock engine needs a region and a model")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("upstream: bedrock engine needs static credentials")
	}
	switch cfg.Family {
	case "":
		cfg.Family = "mistral"
	case "mistral", "llama":
	default:
		return nil, fmt.Errorf("upstream: unknown model family %q (want mistral or llama)", cfg.Family)
	}
	endpoint := strings.TrimRight(cfg.Endpoint, "/")
	if endpoint == "" {
		endpoint = "https://bedrock-runtime." + cfg.Region + ".amazonaws.com"
	}
	b := &Bedrock{
		base:     newBase(endpoint, cfg.Timeout, cfg.MaxRetries, cfg.Backoff, cfg.ProbeInterval, cfg.Logger),
		cfg:      cfg,
		endpoint: endpoint,
		client:   cfg.Client,
	}
	if b.client == nil {
		b.client, b.ownsClient = newHTTPClient(), true
	}
	b.rt = bedrockruntime.New(bedrockruntime.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(
			cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)),
		HTTPClient: ownBodyClient{b.client},
		// Retries are ours: only before the first token, with our backoff.
		Retryer: aws.NopRetryer{},
	})
	b.startProber(b.Health)
	return b, nil
}

// ownBodyClient sends each request with a private copy of its body. The SDK
// closes the request body as soon as Do returns, while net/http may still be
// reading it (its check for bytes past Content-Length); the read then fails,
// and the transport closes the connection under the response stream ("use
// of closed network connection" mid-stream). Our bodies are small JSON
// documents we built, so copying them is cheap.
type ownBodyClient struct{ c *http.Client }

func (o ownBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		buf, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("upstream: reading request body: %w", err)
		}
		r.Body = io.NopCloser(bytes.NewReader(buf))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
		r.ContentLength = int64(len(buf))
	}
	return o.c.Do(r)
}

// Close stops the prober and releases idle connections.
func (b *Bedrock) Close() error {
	b.close()
	if b.ownsClient {
		b.client.CloseIdleConnections()
	}
	return nil
}

// Health checks that the endpoint answers HTTP: GET {endpoint}/ping. Any
// answer below 500 counts as up (AWS answers an unsigned GET with an
// error, which still proves it is reachable); a connection failure or a 5xx
// is down. It costs nothing and needs no credentials.
func (b *Bedrock) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.endpoint+"/ping", nil)
	if err != nil {
		return fmt.Errorf("upstream: health request: %w", err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream: health check: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("upstream: health check answered %d", resp.StatusCode)
	}
	return nil
}

// Generate streams a generation from Bedrock, calling emit for each text
// delta as it arrives. Token.ID is -1.
func (b *Bedrock) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (engine.Result, error) {
	prompt, msgs, err := texts(req)
	if err != nil {
		return engine.Result{}, err
	}
	if req.MaxTokens <= 0 {
		return engine.Result{}, apierr.New(apierr.Validation, "max tokens must be positive")
	}
	if req.Logprobs {
		return engine.Result{}, apierr.New(apierr.Validation, "This model does not return logprobs.")
	}
	if prompt != nil {
		body, err := b.invokeBody(*prompt, req)
		if err != nil {
			return engine.Result{}, err
		}
		return b.run(ctx, func(ctx context.Context) (engine.Result, bool, error) {
			return b.invokeStream(ctx, body, emit)
		})
	}
	in := b.converseInput(msgs, req)
	return b.run(ctx, func(ctx context.Context) (engine.Result, bool, error) {
		return b.converseStream(ctx, in, req, emit)
	})
}

// converseInput builds a ConverseStream request: system messages become
// the system prompt.
func (b *Bedrock) converseInput(msgs []chatMessage, req engine.Request) *bedrockruntime.ConverseStreamInput {
	in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String(b.cfg.Model)}
	for _, m := range msgs {
		if m.Role == "system" {
			in.System = append(in.System, &types.SystemContentBlockMemberText{Value: m.Content})
			continue
		}
		in.Messages = append(in.Messages, types.Message{
			Role:    types.ConversationRole(m.Role),
			Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Content}},
		})
	}
	ic := &types.InferenceConfiguration{
		MaxTokens:   aws.Int32(int32(min(req.MaxTokens, 1<<30))),
		Temperature: aws.Float32(float32(req.Temperature)),
	}
	if req.TopP > 0 && req.TopP < 1 {
		ic.TopP = aws.Float32(float32(req.TopP))
	}
	for _, s := range req.Stop {
		if s != "" {
			ic.StopSequences = append(ic.StopSequences, s)
		}
	}
	in.InferenceConfig = ic
	if req.TopK > 0 {
		in.AdditionalModelRequestFields = document.NewLazyDocument(map[string]any{"top_k": req.TopK})
	}
	return in
}

func (b *Bedrock) converseStream(ctx context.Context, in *bedrockruntime.ConverseStreamInput, req engine.Request, emit func(engine.Token) error) (res engine.Result, emitted bool, err error) {
	var text strings.Builder
	defer func() { res.Text = text.String() }()
	out, err := b.rt.ConverseStream(ctx, in)
	if err != nil {
		return res, false, sdkFailure(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	count, usage, stopped := 0, false, false
	for ev := range stream.Events() {
		switch v := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			d, ok := v.Value.Delta.(*types.ContentBlockDeltaMemberText)
			if !ok || d.Value == "" {
				continue
			}
			t := engine.Token{ID: -1, Text: d.Value}
			text.WriteString(t.Text)
			count++
			emitted = true
			if err := emit(t); err != nil {
				return res, true, emitError{err}
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stopped = true
			switch v.Value.StopReason {
			case types.StopReasonMaxTokens, types.StopReasonModelContextWindowExceeded:
				res.StopReason = engine.StopLength
			case types.StopReasonStopSequence:
				res.StopReason = engine.StopSequence
			default:
				res.StopReason = engine.StopEnd
			}
		case *types.ConverseStreamOutputMemberMetadata:
			if u := v.Value.Usage; u != nil {
				usage = true
				res.InputTokens = int(aws.ToInt32(u.InputTokens))
				res.OutputTokens = int(aws.ToInt32(u.OutputTokens))
			}
		}
	}
	if err := stream.Err(); err != nil {
		return res, emitted, sdkStreamFailure(err)
	}
	if !stopped {
		return res, emitted, streamFailure(errors.New("the stream ended without messageStop"))
	}
	if !usage {
		res.OutputTokens = count
	}
	return res, emitted, nil
}

// invokeBody is the InvokeModel body of a completion prompt in the
// family's format.
func (b *Bedrock) invokeBody(prompt string, req engine.Request) ([]byte, error) {
	body := map[string]any{"prompt": prompt, "temperature": req.Temperature}
	if req.TopP > 0 && req.TopP < 1 {
		body["top_p"] = req.TopP
	}
	if b.cfg.Family == "llama" {
		body["max_gen_len"] = req.MaxTokens
		if req.TopK > 0 || len(req.Stop) > 0 {
			return nil, apierr.New(apierr.Validation, "This model's completion format takes neither top_k nor stop sequences.")
		}
	} else {
		body["max_tokens"] = req.MaxTokens
		if req.TopK > 0 {
			body["top_k"] = req.TopK
		}
		var stops []string
		for _, s := range req.Stop {
			if s != "" {
				stops = append(stops, s)
			}
		}
		if len(stops) > 0 {
			body["stop"] = stops
		}
	}
	out, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("upstream: encoding request: %w", err)
	}
	return out, nil
}

// invokeChunk is one chunk of an InvokeModelWithResponseStream reply in
// either family's format.
type invokeChunk struct {
	Outputs []struct {
		Text       string  `json:"text"`
		StopReason *string `json:"stop_reason"`
	} `json:"outputs"` // mistral
	Generation           *string `json:"generation"`             // llama
	StopReason           *string `json:"stop_reason"`            // llama
	PromptTokenCount     *int    `json:"prompt_token_count"`     // llama
	GenerationTokenCount *int    `json:"generation_token_count"` // llama
	Metrics              *struct {
		InputTokenCount  int `json:"inputTokenCount"`
		OutputTokenCount int `json:"outputTokenCount"`
	} `json:"amazon-bedrock-invocationMetrics"`
}

func (b *Bedrock) invokeStream(ctx context.Context, body []byte, emit func(engine.Token) error) (res engine.Result, emitted bool, err error) {
	var all strings.Builder
	defer func() { res.Text = all.String() }()
	out, err := b.rt.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{
		ModelId:     aws.String(b.cfg.Model),
		Body:        body,
		ContentType: aws.String("application/json"),
		Accept:      aws.String("application/json"),
	})
	if err != nil {
		return res, false, sdkFailure(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	count, usage, stopped := 0, false, false
	for ev := range stream.Events() {
		part, ok := ev.(*types.ResponseStreamMemberChunk)
		if !ok {
			continue
		}
		var c invokeChunk
		if err := json.Unmarshal(part.Value.Bytes, &c); err != nil {
			return res, emitted, &failure{kind: apierr.ModelError, msg: "The upstream model server sent a malformed stream.", err: err}
		}
		var text string
		var reason *string
		if c.Generation != nil {
			text, reason = *c.Generation, c.StopReason
		}
		for _, o := range c.Outputs {
			text += o.Text
			if o.StopReason != nil {
				reason = o.StopReason
			}
		}
		if text != "" {
			t := engine.Token{ID: -1, Text: text}
			all.WriteString(text)
			count++
			emitted = true
			if err := emit(t); err != nil {
				return res, true, emitError{err}
			}
		}
		if reason != nil && *reason != "" {
			stopped = true
			res.StopReason = stopReason(*reason, nil, nil)
		}
		// Llama chunks carry running counts; the last chunk's metrics win.
		if c.PromptTokenCount != nil {
			res.InputTokens = *c.PromptTokenCount
		}
		if c.GenerationTokenCount != nil {
			usage = true
			res.OutputTokens = *c.GenerationTokenCount
		}
		if m := c.Metrics; m != nil {
			usage = true
			res.InputTokens, res.OutputTokens = m.InputTokenCount, m.OutputTokenCount
		}
	}
	if err := stream.Err(); err != nil {
		return res, emitted, sdkStreamFailure(err)
	}
	if !stopped {
		return res, emitted, streamFailure(errors.New("the stream ended without a stop reason"))
	}
	if !usage {
		res.OutputTokens = count
	}
	return res, emitted, nil
}

// sdkFailure classifies an error from calling a Bedrock operation.
func sdkFailure(err error) *failure {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return apiFailure(ae.ErrorCode(), ae.ErrorMessage(), err)
	}
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok {
		code := re.HTTPStatusCode()
		f := &failure{kind: apierr.ModelError, msg: "The upstream model server failed.", err: err, retry: code >= 500 || code == 429}
		if code == 429 {
			f.kind, f.msg = apierr.Throttling, "The upstream model server is busy. Try your request again."
		}
		return f
	}
	return transportFailure(err)
}

// sdkStreamFailure classifies an error that ended an event stream.
func sdkStreamFailure(err error) *failure {
	if _, ok := errors.AsType[smithy.APIError](err); ok {
		return sdkFailure(err)
	}
	return streamFailure(err)
}

// apiFailure maps a Bedrock error type to a failure.
func apiFailure(code, message string, err error) *failure {
	f := &failure{err: err}
	switch code {
	case "ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException":
		f.kind, f.msg, f.retry = apierr.Throttling, "The upstream model server is busy. Try your request again.", true
	case "ValidationException":
		msg := sanitize(message)
		if msg == "" {
			msg = "The upstream model server refused the request."
		}
		f.kind, f.msg = apierr.Validation, msg
	case "ModelTimeoutException":
		f.kind, f.msg = apierr.ModelTimeout, "The upstream model server timed out."
	case "ModelNotReadyException":
		f.kind, f.msg, f.retry = apierr.ModelNotReady, "The upstream model is not ready for inference. Wait and try your request again.", true
	case "ServiceUnavailableException":
		f.kind, f.msg, f.retry = apierr.ModelError, "The upstream model server is unavailable.", true
	case "InternalServerException":
		f.kind, f.msg, f.retry = apierr.ModelError, "The upstream model server failed.", true
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException":
		f.kind, f.msg = apierr.ModelError, "The upstream model server refused strata's credentials."
	case "ResourceNotFoundException":
		f.kind, f.msg = apierr.ModelError, "The upstream model server does not serve this model."
	default:
		f.kind, f.msg = apierr.ModelError, "The upstream model server failed while generating."
	}
	return f
}

// CountTokens counts req's prompt tokens with Bedrock's CountTokens, or
// estimates them (bytes/4 rounded up, plus 4 per chat message) when the
// model does not support it (remembered) or the call fails.
func (b *Bedrock) CountTokens(ctx context.Context, req engine.Request) (int, error) {
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
	if !b.noCount.Load() {
		in := &bedrockruntime.CountTokensInput{ModelId: aws.String(b.cfg.Model)}
		if prompt != nil {
			body, err := b.invokeBody(*prompt, engine.Request{MaxTokens: max(req.MaxTokens, 1)})
			if err != nil {
				return 0, err
			}
			in.Input = &types.CountTokensInputMemberInvokeModel{Value: types.InvokeModelTokensRequest{Body: body}}
		} else {
			ci := b.converseInput(msgs, engine.Request{MaxTokens: 1})
			in.Input = &types.CountTokensInputMemberConverse{Value: types.ConverseTokensRequest{Messages: ci.Messages, System: ci.System}}
		}
		cctx, cancel := context.WithTimeout(ctx, min(b.timeout, 10*time.Second))
		out, err := b.rt.CountTokens(cctx, in)
		cancel()
		if err == nil && out.InputTokens != nil {
			return int(*out.InputTokens), nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if ae, ok := errors.AsType[smithy.APIError](err); ok {
			switch ae.ErrorCode() {
			case "ValidationException", "UnknownOperationException", "AccessDeniedException", "ResourceNotFoundException":
				b.noCount.Store(true)
			}
		}
		b.log.Debug("CountTokens failed; estimating", "upstream", b.name, "err", err)
	}
	return estimateTokens(all, prompt == nil), nil
}
