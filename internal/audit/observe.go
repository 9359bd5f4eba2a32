package audit

import (
	"context"
	"errors"

	"strata/internal/apierr"
	"strata/internal/runtime"
)

var _ runtime.Observer = (*Trail)(nil)

// Observe implements runtime.Observer: every invocation becomes an event.
func (t *Trail) Observe(ctx context.Context, inv *runtime.Invocation, res *runtime.Result, err error) {
	req := RequestFrom(ctx)
	e := Event{
		RequestID: req.ID, SourceIP: req.SourceIP, API: "runtime", Operation: inv.API, Outcome: "ok",
		InputTokens: res.InputTokens, OutputTokens: res.OutputTokens, LatencyMS: res.Latency.Milliseconds(),
		OutputFindings: res.OutputFindings,
	}
	if inv.Principal != nil {
		e.Principal, e.Account = inv.Principal.ARN, inv.Principal.Account
	}
	if inv.Target != nil {
		e.Resource, e.Model, e.Tags = inv.Target.ARN, inv.Target.ModelARN, inv.Target.Tags
	}
	if err != nil {
		e.Outcome = apierr.From(err).Kind.String()
		if errors.Is(err, context.Canceled) {
			e.Outcome = "ClientClosed"
		}
	}
	t.Append(e)
}
