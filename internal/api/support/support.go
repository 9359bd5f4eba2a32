// Package support serves the support application's endpoint of the guides,
// POST /query: {"query"} -> {"query", "response", "model_used",
// "latency_seconds", "complexity_score"} plus "tier", "cost_usd",
// "escalated" and "request_id". The router picks the cheapest tier that can
// answer, the cascade escalates when an answer is unsure or a tier fails,
// and every tier is invoked through the runtime pipeline, so the query is
// authorized and guarded like any other invocation.
package support

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/router"
	"strata/internal/runtime"
)

// Authenticator verifies a request and returns its principal and body.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// Recorder keeps each query's outcome (the audit trail).
type Recorder interface {
	Append(e audit.Event)
}

// Options configure a Handler.
type Options struct {
	Authn   Authenticator    // non-nil
	Router  *router.Router   // non-nil
	Runtime *runtime.Runtime // non-nil
	Cascade router.Confidence
	// System is the support assistant's system prompt. Default: a short
	// instruction to answer as a payments company's support agent.
	System string
	// MaxTokens bounds an answer. Default 256.
	MaxTokens int
	// Handoff is the answer to a query handed to a person.
	Handoff  string
	Recorder Recorder // or nil
	Observe  func(router.Outcome)
	Logger   *slog.Logger // nil means discard
}

// Handler serves POST /query.
type Handler struct {
	o   Options
	log *slog.Logger
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.System == "" {
		o.System = "You are the customer support assistant of a payments company. Answer briefly and accurately. Never ask for full card numbers, CVVs or PINs."
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 256
	}
	if o.Handoff == "" {
		o.Handoff = "I'm connecting you with a member of our support team, who will be with you shortly."
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o, log: o.Logger}
}

// Register adds POST /query to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /query", h.query)
}

// MaxQueryBytes bounds a query.
const MaxQueryBytes = 32 << 10

var statusOf = map[apierr.Kind]int{
	apierr.Validation: 400, apierr.AccessDenied: 403, apierr.UnrecognizedClient: 403, apierr.InvalidSignature: 403,
	apierr.MissingAuthentication: 403, apierr.NotFound: 404, apierr.Throttling: 429, apierr.ModelNotReady: 503,
	apierr.ServiceUnavailable: 503, apierr.ModelTimeout: 504,
}

func writeError(w http.ResponseWriter, requestID string, err error) {
	e := apierr.From(err)
	st, ok := statusOf[e.Kind]
	if !ok {
		st = http.StatusInternalServerError
	}
	if e.Kind == apierr.Throttling || e.Kind == apierr.ModelNotReady {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, st, map[string]string{"error": e.Message, "type": e.Kind.String(), "request_id": requestID})
}

func writeJSON(w http.ResponseWriter, st int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	json.NewEncoder(w).Encode(v)
}

// response is the guides' /query response plus strata's fields.
type response struct {
	Query           string  `json:"query"`
	Response        string  `json:"response"`
	ModelUsed       string  `json:"model_used"`
	LatencySeconds  float64 `json:"latency_seconds"`
	ComplexityScore float64 `json:"complexity_score"`
	Tier            string  `json:"tier"`
	CostUSD         float64 `json:"cost_usd"`
	Escalated       bool    `json:"escalated"`
	RequestID       string  `json:"request_id"`
	Handoff         bool    `json:"handoff,omitempty"`
	Rule            string  `json:"rule,omitempty"`
}

func (h *Handler) query(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	req := audit.RequestFrom(r.Context())
	p, body, err := h.o.Authn.Authenticate(r)
	if err != nil {
		writeError(w, req.ID, authError(err))
		return
	}
	var in struct {
		Query *string `json:"query"`
	}
	if len(body) > MaxQueryBytes {
		writeError(w, req.ID, apierr.New(apierr.Validation, "the request body is larger than %d bytes", MaxQueryBytes))
		return
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, req.ID, apierr.New(apierr.Validation, "the request body is not valid JSON"))
		return
	}
	if in.Query == nil || strings.TrimSpace(*in.Query) == "" {
		writeError(w, req.ID, apierr.New(apierr.Validation, "query is required and must not be empty"))
		return
	}
	// The router, the response and the records see the query masked: card
	// data never leaves this function unmasked, and only the runtime's guard
	// (with its vault) sees the raw text on its way to a model.
	masked := guard.MaskString(*in.Query)
	d := h.o.Router.Route(masked)
	out := response{Query: masked, ComplexityScore: d.ComplexityScore, RequestID: req.ID, Rule: d.Rule}
	var res router.Result
	var cerr error
	if d.Handoff {
		out.Response, out.ModelUsed, out.Tier, out.Handoff = h.o.Handoff, "human", "handoff", true
	} else {
		ans := &answerer{h: h, p: p}
		res, cerr = router.Cascade(r.Context(), ans, h.o.Router.Tiers(), d.Tier, *in.Query, h.o.Cascade)
	}
	o := router.NewOutcome(req.ID, start, h.o.Router.Tiers(), d, res, cerr != nil)
	if h.o.Observe != nil {
		h.o.Observe(o)
	}
	if h.o.Recorder != nil {
		outcome := "ok"
		if cerr != nil {
			outcome = apierr.From(cerr).Kind.String()
		}
		h.o.Recorder.Append(audit.Event{RequestID: req.ID, SourceIP: req.SourceIP, Principal: p.ARN, Account: p.Account,
			API: "support", Operation: "Query", Resource: o.Model, Outcome: outcome, Model: o.Model, Tier: o.Tier,
			Tags: tagOf(o.Tag), InputTokens: o.InputTokens, OutputTokens: o.OutputTokens, CostUSD: o.CostUSD,
			LatencyMS: time.Since(start).Milliseconds(), Escalated: o.Escalated})
	}
	if cerr != nil {
		writeError(w, req.ID, lastError(res, cerr))
		return
	}
	if !d.Handoff {
		out.Response, out.ModelUsed, out.Tier = res.Answer.Text, o.Model, o.Tier
		out.Escalated = res.Escalated
	}
	out.CostUSD = o.CostUSD
	out.LatencySeconds = time.Since(start).Seconds()
	writeJSON(w, http.StatusOK, out)
}

func tagOf(tag string) map[string]string {
	if tag == "" {
		return nil
	}
	return map[string]string{"tier-tag": tag}
}

// authError keeps authentication failures in apierr's kinds.
func authError(err error) error {
	if _, ok := errors.AsType[*apierr.Error](err); ok {
		return err
	}
	return apierr.Wrap(apierr.AccessDenied, err, "The request could not be authenticated: "+err.Error())
}

// lastError returns the most telling error of a failed cascade.
func lastError(res router.Result, err error) error {
	for i := len(res.Attempts) - 1; i >= 0; i-- {
		if e := res.Attempts[i].Err; e != nil {
			if _, ok := errors.AsType[*apierr.Error](e); ok {
				return e
			}
		}
	}
	if _, ok := errors.AsType[*apierr.Error](err); ok {
		return err
	}
	return apierr.Wrap(apierr.ServiceUnavailable, err, "No tier could answer the query")
}

// answerer answers with one tier through the runtime, as the caller.
type answerer struct {
	h *Handler
	p *iam.Principal
}

func (a *answerer) Answer(ctx context.Context, tier router.Tier, query string) (router.Answer, error) {
	t, err := a.h.o.Runtime.Resolve(ctx, a.p, tier.Model)
	if err != nil {
		return router.Answer{}, err
	}
	inv := &runtime.Invocation{
		Principal: a.p, Target: t, Action: "bedrock:InvokeModel", API: "query",
		System: []string{a.h.o.System}, Messages: []runtime.Message{{Role: "user", Text: query}},
		MaxTokens: a.h.o.MaxTokens, Temperature: 0.2, Logprobs: true,
	}
	res, err := a.h.o.Runtime.Invoke(ctx, inv, nil)
	if err != nil {
		switch apierr.From(err).Kind {
		case apierr.Throttling, apierr.ModelNotReady, apierr.ServiceUnavailable:
			return router.Answer{}, errors.Join(router.ErrThrottled, err)
		case apierr.ModelTimeout:
			return router.Answer{}, errors.Join(router.ErrTimeout, err)
		}
		return router.Answer{}, err
	}
	return router.Answer{Text: res.Text, InputTokens: res.InputTokens, OutputTokens: res.OutputTokens,
		Logprobs: res.Logprobs, Latency: res.Latency}, nil
}
