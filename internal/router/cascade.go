package router

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Answer is one tier's answer to a query, as the runtime reports it.
type Answer struct {
	Text         string
	InputTokens  int
	OutputTokens int
	// Logprobs are the answer's per-token log-probabilities, if the engine
	// reports them; empty means unknown (never escalated on confidence).
	Logprobs []float64
	Latency  time.Duration
}

// Answerer answers a query with a tier's model. The runtime implements it;
// errors it returns should wrap [ErrThrottled] or [ErrTimeout] (or
// context.DeadlineExceeded) when those are the cause. Q is the query's
// type: a string, or the guard's scanned-text type, so that only guarded
// text reaches an engine.
type Answerer[Q any] interface {
	Answer(ctx context.Context, tier Tier, query Q) (Answer, error)
}

// Errors an [Answerer] wraps so the cascade can tell failures apart.
var (
	ErrThrottled = errors.New("tier throttled")
	ErrTimeout   = errors.New("tier timed out")
)

// Attempt outcomes.
const (
	OutcomeAnswered      = "answered"
	OutcomeLowConfidence = "low_confidence"
	OutcomeThrottled     = "throttled"
	OutcomeTimeout       = "timeout"
	OutcomeError         = "error"
)

// Attempt is one tier's try in a cascade.
type Attempt struct {
	Tier    int           `json:"tier_index"`
	Name    string        `json:"tier"`
	Outcome string        `json:"outcome"`
	Err     error         `json:"-"`
	CostUSD float64       `json:"cost_usd"`
	Latency time.Duration `json:"latency"`
	// InputTokens and OutputTokens the attempt used (0 when it failed).
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	// MeanLogprob and MinLogprob of the answer (0 when unknown).
	MeanLogprob float64 `json:"mean_logprob"`
	MinLogprob  float64 `json:"min_logprob"`
}

// Result is the cascade's final answer and its history.
type Result struct {
	Answer Answer
	// Tier is the index of the tier whose answer is returned.
	Tier int
	// Escalated is true when a tier above the first one answered.
	Escalated bool
	// Attempts lists every tier tried, in order.
	Attempts []Attempt
	// CostUSD is the cost of every attempt, including answers thrown away.
	CostUSD float64
	// Latency is the wall time of the whole cascade.
	Latency time.Duration
}

// Cascade asks tiers[start] for an answer; when the answer's confidence is
// below conf's thresholds, or the tier is throttled, fails or times out
// (after its Timeout, if set), it asks the next tier, up to the top. The top
// tier's answer is kept whatever its confidence. It fails only when every
// tier from start failed, or when ctx ends.
func Cascade[Q any](ctx context.Context, a Answerer[Q], tiers []Tier, start int, query Q, conf Confidence) (Result, error) {
	if start < 0 || start >= len(tiers) {
		return Result{}, fmt.Errorf("cascade: start tier %d outside [0, %d)", start, len(tiers))
	}
	begin := time.Now()
	var res Result
	var errs []error
	for t := start; t < len(tiers); t++ {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("cascade: %w", err)
		}
		tier := tiers[t]
		actx, cancel := ctx, context.CancelFunc(func() {})
		if tier.Timeout > 0 {
			actx, cancel = context.WithTimeout(ctx, tier.Timeout)
		}
		t0 := time.Now()
		ans, err := a.Answer(actx, tier, query)
		cancel()
		at := Attempt{Tier: t, Name: tier.Name, Latency: time.Since(t0)}
		if ans.Latency == 0 {
			ans.Latency = at.Latency
		}
		if err != nil {
			at.Err = err
			at.Outcome = classify(err)
			if ctx.Err() != nil { // the caller gave up, not the tier
				res.Attempts = append(res.Attempts, at)
				return res, fmt.Errorf("cascade: %w", errors.Join(ctx.Err(), err))
			}
			res.Attempts = append(res.Attempts, at)
			errs = append(errs, fmt.Errorf("tier %s: %w", tier.Name, err))
			continue
		}
		at.CostUSD = Cost(tier, ans.InputTokens, ans.OutputTokens, ans.Latency)
		at.MeanLogprob, at.MinLogprob = logprobStats(ans.Logprobs)
		at.InputTokens, at.OutputTokens = ans.InputTokens, ans.OutputTokens
		res.CostUSD += at.CostUSD
		at.Outcome = OutcomeAnswered
		if t < len(tiers)-1 && !confident(ans.Logprobs, conf) {
			at.Outcome = OutcomeLowConfidence
			res.Attempts = append(res.Attempts, at)
			continue
		}
		res.Attempts = append(res.Attempts, at)
		res.Answer, res.Tier, res.Escalated = ans, t, t > start
		res.Latency = time.Since(begin)
		return res, nil
	}
	res.Latency = time.Since(begin)
	if len(errs) == 0 { // unreachable: the top tier's answer is always kept
		return res, errors.New("cascade: no tier answered")
	}
	return res, fmt.Errorf("cascade: every tier from %s failed: %w", tiers[start].Name, errors.Join(errs...))
}

// classify names an answerer error's kind.
func classify(err error) string {
	switch {
	case errors.Is(err, ErrThrottled):
		return OutcomeThrottled
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	}
	return OutcomeError
}

func logprobStats(lp []float64) (mean, minimum float64) {
	if len(lp) == 0 {
		return 0, 0
	}
	minimum = lp[0]
	for _, v := range lp {
		mean += v
		minimum = min(minimum, v)
	}
	return mean / float64(len(lp)), minimum
}

// confident reports whether logprobs pass conf's thresholds. Unknown
// log-probabilities pass: there is nothing to judge.
func confident(lp []float64, conf Confidence) bool {
	if len(lp) == 0 {
		return true
	}
	mean, minimum := logprobStats(lp)
	if conf.MinMeanLogprob < 0 && mean < conf.MinMeanLogprob {
		return false
	}
	if conf.MinTokenLogprob < 0 && minimum < conf.MinTokenLogprob {
		return false
	}
	return true
}
