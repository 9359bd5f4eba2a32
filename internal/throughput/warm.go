package throughput

import (
	"context"
	"errors"
	"time"

	"strata/internal/iam"
	"strata/internal/runtime"
)

// ResidencyWarmer is the Warmer of the built-in engine: it loads a model
// through the runtime's residency manager and holds one in-flight slot on
// the loaded copy, which keeps the copy from being evicted.
type ResidencyWarmer struct {
	Targets   runtime.Resolver   // non-nil: resolves imported-model ARNs
	Residency *runtime.Residency // non-nil
	// Retry is the pause between load attempts while the model is cold or
	// memory is short. 0 means 100ms.
	Retry time.Duration
}

var _ Warmer = (*ResidencyWarmer)(nil)

// Warm implements Warmer.
func (w *ResidencyWarmer) Warm(ctx context.Context, account, modelARN string) (func(), error) {
	t, err := w.Targets.Resolve(ctx, &iam.Principal{Account: account}, modelARN)
	if err != nil {
		return nil, err
	}
	if t.Engine != nil || t.Loadable == nil { // remote engines are always warm
		return func() {}, nil
	}
	retry := w.Retry
	if retry <= 0 {
		retry = 100 * time.Millisecond
	}
	for {
		_, release, err := w.Residency.Acquire(ctx, t.Loadable)
		if err == nil {
			return release, nil
		}
		if !errors.Is(err, runtime.ErrNotReady) && !errors.Is(err, runtime.ErrNoCapacity) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retry):
		}
	}
}
