// Package runtime is the invocation pipeline every inference API shares:
// authorize -> guard the input -> admit -> engine -> guard the output ->
// account. It also owns model residency: loading models on first use,
// evicting idle ones under a memory budget, and copies of hot models.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/engine"
	"strata/internal/guard"
	"strata/internal/iam"
)

// Target is what a model id resolved to.
type Target struct {
	// ARN is what the caller invoked: a model, provisioned-model or
	// inference-profile ARN.
	ARN string
	// ModelARN is the model that serves the request.
	ModelARN string
	// Family selects the InvokeModel body format: "mistral" or "llama".
	Family   string
	Instruct bool
	Account  string
	// Loadable is set for models the built-in engine serves; Engine for
	// remote engines, which are always warm.
	Loadable Loadable
	Engine   engine.Engine
	// Tags are cost-allocation tags (inference profiles).
	Tags map[string]string
}

// Resolver finds the target of a model id (an ARN, name or id) in the
// caller's account. It returns an apierr NotFound error for unknown ids.
type Resolver interface {
	Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error)
}

// Admission is a reservation of capacity for one invocation.
type Admission interface {
	// Done ends the reservation, reporting the tokens actually used.
	Done(inputTokens, outputTokens int)
}

// Admitter admits an invocation or refuses it with a Throttling error.
type Admitter interface {
	Admit(ctx context.Context, p *iam.Principal, t *Target, estimatedTokens int) (Admission, error)
}

// Observer sees every finished invocation, for metrics and records. The
// texts it gets are masked.
type Observer interface {
	Observe(ctx context.Context, inv *Invocation, res *Result, err error)
}

// Message is one chat turn, in raw (unguarded) text.
type Message struct {
	Role string // "user" or "assistant"
	Text string
}

// Invocation is one request as the APIs hand it over, in raw text.
type Invocation struct {
	Principal *iam.Principal
	Target    *Target
	Action    string // IAM action, e.g. "bedrock:InvokeModel"
	API       string // for metrics: "InvokeModel", "ConverseStream", "chat.completions", ...

	Prompt   string    // a completion prompt, used as is, or
	System   []string  // system prompts, and
	Messages []Message // a chat that the engine formats

	MaxTokens   int
	Temperature float64
	TopP        float64
	TopK        int
	Seed        *int64
	Stop        []string
	Logprobs    bool
}

// Result is a finished invocation.
type Result struct {
	Text         string // masked
	StopReason   engine.StopReason
	InputTokens  int
	OutputTokens int
	Latency      time.Duration
	FirstToken   time.Duration
	// Logprobs holds each generated token's log probability (when asked).
	Logprobs []float64
	// OutputFindings counts card data masked in the output.
	OutputFindings int
}

// Options configure a Runtime.
type Options struct {
	Resolver   Resolver       // non-nil
	Authorizer iam.Authorizer // non-nil
	Guard      *guard.Guard   // non-nil
	Residency  *Residency     // non-nil
	Admitter   Admitter       // or nil for no limits
	Observer   Observer       // or nil
	// Timeout bounds one generation; past it the request fails with
	// ModelTimeoutException. 0 means 5 minutes.
	Timeout time.Duration
	Logger  *slog.Logger // nil means discard
}

// Runtime runs invocations.
type Runtime struct {
	o   Options
	log *slog.Logger
}

// New returns a Runtime.
func New(o Options) *Runtime {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{o: o, log: o.Logger}
}

// Resolve finds the target of modelID for p.
func (rt *Runtime) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	if modelID == "" {
		return nil, apierr.New(apierr.Validation, "modelId is required")
	}
	return rt.o.Resolver.Resolve(ctx, p, modelID)
}

func (rt *Runtime) authorize(ctx context.Context, inv *Invocation) error {
	resources := []string{inv.Target.ARN}
	if inv.Target.ModelARN != "" && inv.Target.ModelARN != inv.Target.ARN {
		resources = append(resources, inv.Target.ModelARN)
	}
	for _, res := range resources {
		err := rt.o.Authorizer.Authorize(ctx, iam.Request{Principal: inv.Principal, Action: inv.Action, Resource: res})
		if d, ok := errors.AsType[*iam.DeniedError](err); ok {
			return apierr.Wrap(apierr.AccessDenied, err, d.Error())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// guardInput clears every raw text of inv. Any guard failure refuses the
// request: the guard fails closed.
func (rt *Runtime) guardInput(ctx context.Context, inv *Invocation) (engine.Request, error) {
	req := engine.Request{
		MaxTokens: inv.MaxTokens, Temperature: inv.Temperature, TopP: inv.TopP, TopK: inv.TopK,
		Seed: inv.Seed, Stop: inv.Stop, Logprobs: inv.Logprobs,
	}
	var raws []string
	if inv.Prompt != "" {
		raws = append(raws, inv.Prompt)
	}
	raws = append(raws, inv.System...)
	for _, m := range inv.Messages {
		raws = append(raws, m.Text)
	}
	if len(raws) == 0 {
		return req, apierr.New(apierr.Validation, "the request has no prompt or messages")
	}
	texts, err := rt.o.Guard.InputAll(ctx, raws)
	if err != nil {
		if errors.Is(err, guard.ErrRefused) && strings.Contains(err.Error(), "split across messages") {
			return req, apierr.Wrap(apierr.Validation, err, "The request was refused: it holds a card number split across messages")
		}
		return req, apierr.Wrap(apierr.Internal, err, "The request was refused because its content could not be cleared of card data")
	}
	i := 0
	if inv.Prompt != "" {
		req.Prompt = texts[0]
		i++
	}
	for range inv.System {
		req.Messages = append(req.Messages, engine.Message{Role: "system", Content: texts[i]})
		i++
	}
	for _, m := range inv.Messages {
		req.Messages = append(req.Messages, engine.Message{Role: m.Role, Content: texts[i]})
		i++
	}
	return req, nil
}

// Invoke runs inv. emit gets the output as it streams, masked, in order;
// an error from emit stops generation. The engine's slot is freed as soon
// as ctx is done.
func (rt *Runtime) Invoke(ctx context.Context, inv *Invocation, emit func(text string) error) (res *Result, err error) {
	start := time.Now()
	res = &Result{}
	defer func() {
		res.Latency = time.Since(start)
		if rt.o.Observer != nil {
			rt.o.Observer.Observe(ctx, inv, res, err)
		}
	}()
	if inv.MaxTokens <= 0 {
		return res, apierr.New(apierr.Validation, "max tokens must be positive")
	}
	if err := rt.authorize(ctx, inv); err != nil {
		return res, err
	}
	req, err := rt.guardInput(ctx, inv)
	if err != nil {
		return res, err
	}
	eng, release, err := rt.engineFor(ctx, inv.Target)
	if err != nil {
		return res, err
	}
	defer release()
	if n, err := eng.CountTokens(ctx, req); err == nil {
		res.InputTokens = n
	}
	if rt.o.Admitter != nil {
		adm, err := rt.o.Admitter.Admit(ctx, inv.Principal, inv.Target, res.InputTokens+inv.MaxTokens)
		if err != nil {
			return res, err
		}
		defer func() { adm.Done(res.InputTokens, res.OutputTokens) }()
	}

	gctx, cancel := context.WithTimeout(ctx, rt.o.Timeout)
	defer cancel()
	out := rt.o.Guard.OutputStream()
	var text strings.Builder
	send := func(s string) error {
		if s == "" {
			return nil
		}
		if res.FirstToken == 0 {
			res.FirstToken = time.Since(start)
		}
		text.WriteString(s)
		if emit != nil {
			return emit(s)
		}
		return nil
	}
	gen, err := eng.Generate(gctx, req, func(t engine.Token) error {
		res.OutputTokens++
		if inv.Logprobs {
			res.Logprobs = append(res.Logprobs, t.Logprob)
		}
		masked, err := out.Write(t.Text)
		if err != nil {
			return fmt.Errorf("%w: %w", guard.ErrRefused, err)
		}
		return send(masked)
	})
	if err == nil {
		var rest string
		if rest, err = out.Close(); err == nil {
			err = send(rest)
		}
	}
	res.OutputFindings = len(out.Findings())
	if gen.InputTokens > 0 {
		res.InputTokens = gen.InputTokens
	}
	if gen.OutputTokens > 0 {
		res.OutputTokens = gen.OutputTokens
	}
	res.StopReason = gen.StopReason
	res.Text = text.String()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return res, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return res, apierr.Wrap(apierr.ModelTimeout, err, "The model did not finish within the time limit")
		case errors.Is(err, guard.ErrRefused):
			return res, apierr.Wrap(apierr.Internal, err, "The output could not be cleared of card data")
		}
		if _, ok := errors.AsType[*apierr.Error](err); ok {
			return res, err
		}
		return res, apierr.Wrap(apierr.ModelError, err, "The model failed while generating")
	}
	return res, nil
}

// CountTokens returns how many input tokens inv would use.
func (rt *Runtime) CountTokens(ctx context.Context, inv *Invocation) (int, error) {
	if err := rt.authorize(ctx, inv); err != nil {
		return 0, err
	}
	req, err := rt.guardInput(ctx, inv)
	if err != nil {
		return 0, err
	}
	eng, release, err := rt.engineFor(ctx, inv.Target)
	if err != nil {
		return 0, err
	}
	defer release()
	return eng.CountTokens(ctx, req)
}

func (rt *Runtime) engineFor(ctx context.Context, t *Target) (engine.Engine, func(), error) {
	if t.Engine != nil {
		return t.Engine, func() {}, nil
	}
	if t.Loadable == nil {
		return nil, nil, apierr.New(apierr.Internal, "the model %s has no engine", t.ModelARN)
	}
	eng, release, err := rt.o.Residency.Acquire(ctx, t.Loadable)
	switch {
	case errors.Is(err, ErrNotReady):
		return nil, nil, apierr.Wrap(apierr.ModelNotReady, err, "Model is not ready for inference. Wait and try your request again. Refer to https://docs.aws.amazon.com/bedrock/latest/userguide/invoke-imported-model.html#handle-model-not-ready-exception.")
	case errors.Is(err, ErrNoCapacity):
		return nil, nil, apierr.Wrap(apierr.ServiceUnavailable, err, "The service has no memory free for this model now. Try again later.")
	case err != nil:
		return nil, nil, apierr.Wrap(apierr.ModelError, err, "The model could not be loaded")
	}
	return eng, release, nil
}

// Residency returns the residency manager.
func (rt *Runtime) Residency() *Residency { return rt.o.Residency }

// Chain resolves a model id with the first resolver that knows it: each
// returns an apierr NotFound error for ids it does not own.
type Chain []Resolver

// Resolve implements Resolver.
func (c Chain) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	var last error
	for _, r := range c {
		t, err := r.Resolve(ctx, p, modelID)
		if err == nil {
			return t, nil
		}
		if e, ok := errors.AsType[*apierr.Error](err); !ok || e.Kind != apierr.NotFound {
			return nil, err
		}
		last = err
	}
	if last == nil {
		last = apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	}
	return nil, last
}

// Static resolves every model id to one target (a single-model server).
type Static struct{ Target *Target }

// Resolve implements Resolver.
func (s Static) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	return s.Target, nil
}

// Observers sends every invocation to each of its observers in turn.
type Observers []Observer

// Observe implements Observer.
func (os Observers) Observe(ctx context.Context, inv *Invocation, res *Result, err error) {
	for _, o := range os {
		o.Observe(ctx, inv, res, err)
	}
}
