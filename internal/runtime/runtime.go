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
	"slices"
	"strings"
	"sync"
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

	// Guardrail, when set, is a Bedrock guardrail (see guardrailInput):
	// applied to the input before the card guard and to the output after
	// generation.
	Guardrail *guard.Guardrail
	// GuardrailParts, when non-nil, are the only input spans the guardrail
	// evaluates (Converse guardContent blocks); nil means the prompt and
	// every message, but not the system prompts.
	GuardrailParts []GuardedPart
	// GuardrailAsync streams output chunks as they are generated and
	// applies the guardrail to the whole output at the end
	// (streamProcessingMode async). Otherwise, with a guardrail, the output
	// is buffered, evaluated, and emitted once (sync).
	GuardrailAsync bool
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
	// Guardrail holds the guardrail's assessments when the invocation
	// had one.
	Guardrail *GuardrailTrace
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
	// ResolveTTL is how long a resolved model id is reused without asking
	// the resolvers (and the metadata store) again. 0 means 2 seconds;
	// negative disables the cache. Deleting a model calls Forget.
	ResolveTTL time.Duration
	Logger     *slog.Logger // nil means discard
}

// Runtime runs invocations.
type Runtime struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	targets map[targetKey]cachedTarget // +checklocks:mu
}

type targetKey struct{ account, modelID string }

type cachedTarget struct {
	t       *Target
	expires time.Time
}

// New returns a Runtime.
func New(o Options) *Runtime {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ResolveTTL == 0 {
		o.ResolveTTL = 2 * time.Second
	}
	return &Runtime{o: o, log: o.Logger, targets: map[targetKey]cachedTarget{}}
}

// Forget drops every cached resolution, so the next request sees changes
// (a deleted model, a moved profile) at once.
func (rt *Runtime) Forget() {
	rt.mu.Lock()
	clear(rt.targets)
	rt.mu.Unlock()
}

// Resolve finds the target of modelID for p.
func (rt *Runtime) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	if modelID == "" {
		return nil, apierr.New(apierr.Validation, "modelId is required")
	}
	if rt.o.ResolveTTL < 0 {
		return rt.o.Resolver.Resolve(ctx, p, modelID)
	}
	// Targets are resolved per account; the caller's permission is checked
	// on every invocation, so sharing a resolution within an account is safe.
	k := targetKey{p.Account, modelID}
	now := time.Now()
	rt.mu.Lock()
	c, ok := rt.targets[k]
	rt.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.t, nil
	}
	t, err := rt.o.Resolver.Resolve(ctx, p, modelID)
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	if len(rt.targets) > 10000 {
		clear(rt.targets)
	}
	rt.targets[k] = cachedTarget{t: t, expires: now.Add(rt.o.ResolveTTL)}
	rt.mu.Unlock()
	return t, nil
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
	if inv.Guardrail != nil {
		if blocked, err := guardrailInput(inv, res); err != nil || blocked {
			if err == nil && emit != nil {
				err = emit(res.Text)
			}
			return res, err
		}
	}
	req, err := rt.guardInput(ctx, inv)
	if err != nil {
		return res, err
	}
	req.Whole = emit == nil // nobody reads the tokens as they come
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
		if emit != nil && (inv.Guardrail == nil || inv.GuardrailAsync) {
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
	if err == nil && inv.Guardrail != nil {
		err = guardrailOutput(inv, res)
		if err == nil && emit != nil && !inv.GuardrailAsync && res.Text != "" {
			err = emit(res.Text)
		}
	}
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

// StopGuardrail is the stop reason of an invocation whose input or output
// a guardrail blocked or changed.
const StopGuardrail engine.StopReason = "guardrail_intervened"

// GuardedPart is a span [Start, End) of one input text that a guardrail
// evaluates: System[Index] when System is set, else Messages[Index].
type GuardedPart struct {
	System     bool
	Index      int
	Start, End int
}

// GuardrailTrace is what a guardrail found in one invocation.
type GuardrailTrace struct {
	Input  *guard.ApplyResponse
	Output *guard.ApplyResponse // nil when the input was blocked
	// ModelOutput is the model's output (card data masked) before the
	// guardrail replaced it; set only when it intervened on the output.
	ModelOutput string
	// InputLatency and OutputLatency are the time each evaluation took.
	InputLatency, OutputLatency time.Duration
}

// Intervened reports whether the guardrail blocked or changed anything.
func (t *GuardrailTrace) Intervened() bool {
	return t != nil && (t.Input != nil && t.Input.Action == guard.ActionIntervened ||
		t.Output != nil && t.Output.Action == guard.ActionIntervened)
}

// guardrailBlocked reports whether r blocked its content (rather than only
// anonymizing it or detecting without action).
func guardrailBlocked(r *guard.ApplyResponse) bool {
	if r.Action != guard.ActionIntervened {
		return false
	}
	for _, a := range r.Assessments {
		if a.TopicPolicy != nil {
			for _, t := range a.TopicPolicy.Topics {
				if t.Action == guard.ActionBlocked {
					return true
				}
			}
		}
		if a.ContentPolicy != nil {
			for _, f := range a.ContentPolicy.Filters {
				if f.Action == guard.ActionBlocked {
					return true
				}
			}
		}
		if a.WordPolicy != nil {
			for _, w := range append(slices.Clone(a.WordPolicy.CustomWords), a.WordPolicy.ManagedWordLists...) {
				if w.Action == guard.ActionBlocked {
					return true
				}
			}
		}
		if a.SensitiveInformationPolicy != nil {
			for _, e := range a.SensitiveInformationPolicy.PiiEntities {
				if e.Action == guard.ActionBlocked {
					return true
				}
			}
			for _, e := range a.SensitiveInformationPolicy.Regexes {
				if e.Action == guard.ActionBlocked {
					return true
				}
			}
		}
	}
	return false
}

// guardrailInput applies inv.Guardrail to the input, on raw text before
// the card guard. When it blocks, res holds the blocked input message with
// StopGuardrail and blocked is true: the engine must not run. When it
// anonymizes, the anonymized spans replace the originals in inv, so the
// card guard and the engine see only them.
func guardrailInput(inv *Invocation, res *Result) (blocked bool, err error) {
	text := func(p GuardedPart) *string {
		if p.System {
			return &inv.System[p.Index]
		}
		return &inv.Messages[p.Index].Text
	}
	parts := inv.GuardrailParts
	if parts == nil {
		for i, m := range inv.Messages {
			parts = append(parts, GuardedPart{Index: i, End: len(m.Text)})
		}
	}
	var texts []string
	if inv.Prompt != "" && inv.GuardrailParts == nil {
		texts = append(texts, inv.Prompt)
	}
	for _, p := range parts {
		if p.Index < 0 || (p.System && p.Index >= len(inv.System)) || (!p.System && p.Index >= len(inv.Messages)) {
			return false, apierr.New(apierr.Internal, "guarded part %d out of range", p.Index)
		}
		s := *text(p)
		if p.Start < 0 || p.End > len(s) || p.Start > p.End {
			return false, apierr.New(apierr.Internal, "guarded part [%d,%d) out of range", p.Start, p.End)
		}
		texts = append(texts, s[p.Start:p.End])
	}
	if len(texts) == 0 {
		texts = []string{""}
	}
	start := time.Now()
	in, err := guard.Apply(inv.Guardrail, guard.SourceInput, texts)
	if err != nil {
		return false, apierr.Wrap(apierr.Validation, err, "The guardrail could not be applied")
	}
	res.Guardrail = &GuardrailTrace{Input: in, InputLatency: time.Since(start)}
	if guardrailBlocked(in) {
		res.Text, res.StopReason = inv.Guardrail.BlockedInputMessaging, StopGuardrail
		return true, nil
	}
	if in.Action != guard.ActionIntervened || len(in.Outputs) != len(texts) {
		return false, nil
	}
	outs := in.Outputs
	if inv.Prompt != "" && inv.GuardrailParts == nil {
		inv.Prompt, outs = outs[0].Text, outs[1:]
	}
	// Replace from the last span to the first so earlier offsets hold.
	for i := len(parts) - 1; i >= 0; i-- {
		p := parts[i]
		s := text(p)
		*s = (*s)[:p.Start] + outs[i].Text + (*s)[p.End:]
	}
	return false, nil
}

// guardrailOutput applies inv.Guardrail to the whole (card-masked) output
// in res.Text, replacing it by the blocked output message or the
// anonymized text when the guardrail intervenes.
func guardrailOutput(inv *Invocation, res *Result) error {
	start := time.Now()
	out, err := guard.Apply(inv.Guardrail, guard.SourceOutput, []string{res.Text})
	if err != nil {
		return apierr.Wrap(apierr.Internal, err, "The guardrail could not be applied to the output")
	}
	if res.Guardrail == nil {
		res.Guardrail = &GuardrailTrace{}
	}
	res.Guardrail.Output, res.Guardrail.OutputLatency = out, time.Since(start)
	if out.Action != guard.ActionIntervened || len(out.Outputs) == 0 {
		return nil
	}
	res.Guardrail.ModelOutput = res.Text
	res.Text, res.StopReason = out.Outputs[0].Text, StopGuardrail
	return nil
}
