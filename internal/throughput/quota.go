package throughput

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/runtime"
)

// ThrottledMessage is Bedrock's message for a throttled request.
const ThrottledMessage = "Too many requests, please wait before trying again."

// Defaults are the on-demand quotas when nothing is configured, per
// account and model: 600 requests and 600,000 tokens per minute.
var Defaults = Limit{RequestsPerMinute: 600, TokensPerMinute: 600_000}

// Limit is an on-demand quota. A zero field does not limit.
type Limit struct {
	RequestsPerMinute int
	TokensPerMinute   int
}

// Override sets the quota of one account and model. Empty or "*" fields
// match anything; Model matches a model ARN or its id (the part after
// "imported-model/").
type Override struct {
	Account string
	Model   string
	Limit   Limit
}

// Backend keeps the quota buckets: each key is a bucket that refills at
// limit units per minute and holds at most limit. Implementations are safe
// for concurrent use; Local keeps them in memory, Redis shares them between
// replicas. Both pass the same conformance suite.
type Backend interface {
	// Take takes n units from key's bucket. With force it always takes
	// them, and the bucket may go into debt that later refills repay;
	// otherwise, when fewer than n units are there, it takes nothing and
	// returns false and how long to wait. n is capped at limit.
	Take(ctx context.Context, key string, limit, n int, force bool) (ok bool, retryAfter time.Duration, err error)
	// Give returns n units to key's bucket; it never holds more than limit.
	Give(ctx context.Context, key string, limit, n int) error
}

// Quotas enforces on-demand quotas.
type Quotas struct {
	backend   Backend
	def       Limit
	overrides []Override
	log       *slog.Logger
}

// NewQuotas returns quotas over backend with default limit def (pass
// Defaults for Bedrock-like quotas) and per-account, per-model overrides;
// the most specific override wins (account and model, then model, then
// account). A nil logger discards.
func NewQuotas(backend Backend, def Limit, overrides []Override, log *slog.Logger) *Quotas {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Quotas{backend: backend, def: def, overrides: overrides, log: log}
}

// LimitFor returns the quota of account on model.
func (q *Quotas) LimitFor(account, modelARN string) Limit {
	best, score := q.def, -1
	_, id, _ := strings.Cut(resourceOf(modelARN), "/")
	for _, o := range q.overrides {
		s := 0
		switch o.Account {
		case "", "*":
		case account:
			s++
		default:
			continue
		}
		switch o.Model {
		case "", "*":
		case modelARN, id:
			s += 2
		default:
			continue
		}
		if s > score {
			best, score = o.Limit, s
		}
	}
	return best
}

func resourceOf(s string) string {
	a, err := arn.Parse(s)
	if err != nil {
		return s
	}
	return a.Resource
}

// Admit takes one request and estimatedTokens tokens from p's quota on the
// target's model, or refuses with a Throttling error. The Admission's Done
// settles the difference between the estimate and the tokens used. When
// the backend fails (Redis is down), the request is admitted and the
// failure logged: quotas protect capacity, they are not an access control.
func (q *Quotas) Admit(ctx context.Context, p *iam.Principal, t *runtime.Target, estimatedTokens int) (runtime.Admission, error) {
	lim := q.LimitFor(p.Account, t.ModelARN)
	base := p.Account + "/" + t.ModelARN
	a := &quotaAdmission{q: q, tokensKey: base + "/tpm", tpm: lim.TokensPerMinute}
	if lim.RequestsPerMinute > 0 {
		ok, wait, err := q.backend.Take(ctx, base+"/rpm", lim.RequestsPerMinute, 1, false)
		if err != nil {
			q.log.Warn("quota backend failed; admitting", "err", err)
			return nopAdmission{}, nil
		}
		if !ok {
			return nil, throttled(wait)
		}
	}
	if lim.TokensPerMinute > 0 && estimatedTokens > 0 {
		n := min(estimatedTokens, lim.TokensPerMinute)
		ok, wait, err := q.backend.Take(ctx, a.tokensKey, lim.TokensPerMinute, n, false)
		if err != nil {
			q.log.Warn("quota backend failed; admitting", "err", err)
			return nopAdmission{}, nil
		}
		if !ok {
			if lim.RequestsPerMinute > 0 {
				// The request was not served: give its request back.
				if err := q.backend.Give(ctx, base+"/rpm", lim.RequestsPerMinute, 1); err != nil {
					q.log.Warn("quota backend failed", "err", err)
				}
			}
			return nil, throttled(wait)
		}
		a.reserved = n
	}
	return a, nil
}

func throttled(wait time.Duration) error {
	e := apierr.New(apierr.Throttling, ThrottledMessage)
	e.Err = &RetryAfterError{Wait: wait}
	return e
}

// RetryAfterError carries how long a throttled caller should wait.
type RetryAfterError struct{ Wait time.Duration }

func (e *RetryAfterError) Error() string { return "retry after " + e.Wait.String() }

type quotaAdmission struct {
	q         *Quotas
	tokensKey string
	tpm       int
	reserved  int
}

// Done settles the token reservation: unused tokens go back, extra tokens
// are taken even into debt.
func (a *quotaAdmission) Done(inputTokens, outputTokens int) {
	if a.tpm <= 0 {
		return
	}
	// The request's context may be done by now; go-redis bounds the call
	// with its own read and write timeouts.
	ctx := context.Background()
	var err error
	switch used := inputTokens + outputTokens; {
	case used < a.reserved:
		err = a.q.backend.Give(ctx, a.tokensKey, a.tpm, a.reserved-used)
	case used > a.reserved:
		_, _, err = a.q.backend.Take(ctx, a.tokensKey, a.tpm, used-a.reserved, true)
	}
	if err != nil {
		a.q.log.Warn("settling a token reservation", "err", err)
	}
}

type nopAdmission struct{}

func (nopAdmission) Done(int, int) {}

// Admitter is the runtime's Admitter: invocations of a provisioned model
// take one of its reserved stream slots and skip on-demand quotas; all
// others take from the on-demand quotas.
type Admitter struct {
	Quotas      *Quotas  // or nil for no on-demand limits
	Provisioned *Service // or nil when provisioned throughput is off
}

var _ runtime.Admitter = (*Admitter)(nil)

// Admit implements runtime.Admitter.
func (a *Admitter) Admit(ctx context.Context, p *iam.Principal, t *runtime.Target, estimatedTokens int) (runtime.Admission, error) {
	if IsProvisionedARN(t.ARN) && a.Provisioned != nil {
		return a.Provisioned.Admit(ctx, t.ARN)
	}
	if a.Quotas == nil {
		return nopAdmission{}, nil
	}
	return a.Quotas.Admit(ctx, p, t, estimatedTokens)
}

// IsProvisionedARN reports whether s is a provisioned-model ARN.
func IsProvisionedARN(s string) bool {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "bedrock" {
		return false
	}
	typ, _ := a.ResourceType()
	return typ == "provisioned-model"
}
