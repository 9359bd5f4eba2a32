package upstream

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"strata/internal/apierr"
	"strata/internal/engine"
)

// Defaults shared by both engines.
const (
	defaultTimeout       = 5 * time.Minute
	defaultRetries       = 2
	defaultBackoff       = 200 * time.Millisecond
	maxBackoff           = 2 * time.Second
	maxRetryAfter        = 10 * time.Second
	defaultProbeInterval = 10 * time.Second
	maxProbeTimeout      = 5 * time.Second
)

// failure is one failed attempt, classified for retries and the wire.
type failure struct {
	kind apierr.Kind
	msg  string // safe to show the caller
	err  error  // the cause, for logs
	// retry marks failures worth another attempt (before the first token).
	retry bool
	// retryAfter is the upstream's Retry-After, or 0.
	retryAfter time.Duration
	// unreachable marks failures to reach the upstream at all (connection
	// refused, reset, DNS), which mark it down.
	unreachable bool
}

func (f *failure) Error() string {
	if f.err != nil {
		return f.msg + ": " + f.err.Error()
	}
	return f.msg
}

func (f *failure) Unwrap() error { return f.err }

// emitError wraps an error from the caller's emit callback, which Generate
// returns unchanged.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }
func (e emitError) Unwrap() error { return e.err }

// attemptFunc runs one attempt. It reports whether it emitted any token.
type attemptFunc func(ctx context.Context) (res engine.Result, emitted bool, err error)

// base is what both engines share: per-request timeout, retries with
// backoff before the first token, and the up/down health state.
type base struct {
	name    string // for logs and messages
	timeout time.Duration
	retries int
	backoff time.Duration
	log     *slog.Logger

	down      atomic.Bool
	health    func(ctx context.Context) error
	interval  time.Duration
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// displayName is u without credentials, for logs.
func displayName(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "upstream"
}

func newBase(name string, timeout time.Duration, retries int, backoff, interval time.Duration, log *slog.Logger) *base {
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	switch {
	case retries == 0:
		retries = defaultRetries
	case retries < 0:
		retries = 0
	}
	if backoff <= 0 {
		backoff = defaultBackoff
	}
	if interval == 0 {
		interval = defaultProbeInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &base{name: displayName(name), timeout: timeout, retries: retries, backoff: backoff, interval: interval, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
}

// Healthy reports whether the upstream is considered up: the last probe or
// request reached it.
func (b *base) Healthy() bool { return !b.down.Load() }

func (b *base) setDown(down bool, err error) {
	if b.down.Swap(down) != down {
		if down {
			b.log.Warn("upstream marked down", "upstream", b.name, "err", err)
		} else {
			b.log.Info("upstream marked up", "upstream", b.name)
		}
	}
}

// startProber starts the background health checks, unless disabled.
func (b *base) startProber(health func(ctx context.Context) error) {
	b.health = health
	if b.interval < 0 {
		close(b.done)
		return
	}
	go b.probe()
}

func (b *base) probe() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), min(b.interval, maxProbeTimeout))
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := b.health(ctx)
		cancel()
		b.setDown(err != nil, err)
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
	}
}

// close stops the prober and waits for it.
func (b *base) close() {
	b.closeOnce.Do(func() {
		close(b.stop)
		<-b.done
	})
}

// run runs attempts under the request timeout, retrying failures that ask
// for it as long as no token was emitted, and maps the outcome for the
// wire. ctx is the caller's context.
func (b *base) run(ctx context.Context, attempt attemptFunc) (engine.Result, error) {
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	retries := b.retries
	if b.down.Load() {
		// A down upstream gets one try, so callers fail fast.
		retries = 0
	}
	for n := 0; ; n++ {
		res, emitted, err := attempt(rctx)
		if err == nil {
			b.setDown(false, nil)
			return res, nil
		}
		if e, ok := errors.AsType[emitError](err); ok {
			return res, e.err
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if rctx.Err() != nil {
			return res, apierr.Wrap(apierr.ModelTimeout, err, "The model did not finish within the time limit")
		}
		f, ok := errors.AsType[*failure](err)
		if !ok {
			f = &failure{kind: apierr.ModelError, msg: "The upstream model server failed", err: err}
		}
		if f.unreachable {
			b.setDown(true, err)
		}
		if !f.retry || emitted || n >= retries || f.retryAfter > maxRetryAfter {
			return res, b.wireError(f)
		}
		wait := b.wait(n, f.retryAfter)
		if dl, ok := rctx.Deadline(); ok && time.Until(dl) < wait {
			return res, b.wireError(f)
		}
		b.log.Debug("retrying upstream request", "upstream", b.name, "attempt", n+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-rctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			return res, apierr.Wrap(apierr.ModelTimeout, err, "The model did not finish within the time limit")
		}
	}
}

// wait is the backoff before retry n+1: the base doubled n times, capped,
// with jitter over its upper half, and at least retryAfter.
func (b *base) wait(n int, retryAfter time.Duration) time.Duration {
	d := min(b.backoff<<min(n, 16), maxBackoff)
	d = d/2 + rand.N(d/2+1)
	return max(d, retryAfter)
}

// wireError turns a final failure into an apierr error.
func (b *base) wireError(f *failure) error {
	kind := f.kind
	msg := f.msg
	if kind == apierr.ModelError && b.down.Load() {
		kind = apierr.ServiceUnavailable
		msg = "The upstream model server is unavailable. Try again later."
	}
	return apierr.Wrap(kind, f, msg)
}
