package throughput

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Local keeps quota buckets in this process, as x/time/rate token buckets.
type Local struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter // +checklocks:mu
	now     func() time.Time
}

var _ Backend = (*Local)(nil)

// NewLocal returns an empty in-memory Backend.
func NewLocal() *Local {
	return &Local{buckets: map[string]*rate.Limiter{}, now: time.Now}
}

// bucket returns key's limiter; the caller holds l.mu, which also makes
// each Take and Give one step, so a concurrent Take cannot see a
// reservation that is about to be cancelled.
func (l *Local) bucket(key string, limit int) *rate.Limiter {
	b := l.buckets[key]
	if b == nil || b.Burst() != limit {
		b = rate.NewLimiter(rate.Limit(float64(limit)/60), limit)
		l.buckets[key] = b
		if len(l.buckets) > 100_000 {
			l.sweepLocked()
		}
	}
	return b
}

// sweepLocked forgets full buckets, which hold no state worth keeping.
func (l *Local) sweepLocked() {
	now := l.now()
	for k, b := range l.buckets {
		if b.TokensAt(now) >= float64(b.Burst()) {
			delete(l.buckets, k)
		}
	}
}

// Take implements Backend.
func (l *Local) Take(_ context.Context, key string, limit, n int, force bool) (bool, time.Duration, error) {
	n = min(n, limit)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	r := l.bucket(key, limit).ReserveN(now, n)
	if !r.OK() {
		return false, time.Minute, nil
	}
	if d := r.DelayFrom(now); d > 0 && !force {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}

// Give implements Backend. x/time/rate cannot cancel a reservation that
// has already acted, so the tokens go back as a reservation of -n, capped
// so that the bucket holds at most limit.
func (l *Local) Give(_ context.Context, key string, limit, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.bucket(key, limit)
	room := float64(limit) - b.TokensAt(now)
	if k := min(float64(n), room); k >= 1 {
		b.ReserveN(now, -int(k))
	}
	return nil
}
