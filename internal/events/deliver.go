package events

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"strata/internal/store"
)

// leaseTime is how long a claim lasts: longer than an attempt, so only a
// replica that died mid-attempt loses its claim to another.
func (b *Bus) leaseTime() time.Duration { return b.o.Timeout + 30*time.Second }

// Run delivers outbox records until ctx ends, then returns nil once its
// in-flight attempts (cut by ctx) have stopped. Call it once per Bus; run
// one Bus per replica.
func (b *Bus) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, b.o.Concurrency)
	for {
		next, err := b.round(ctx, sem, &wg)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			b.log.Error("scanning the event outbox", "err", err)
		}
		wait := b.o.PollInterval
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(b.o.Now()), time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-b.wake:
			t.Stop()
		}
	}
}

// round looks at every outbox record once, starting the delivery of each
// due one it can claim. It returns the earliest time a record it skipped
// becomes due (zero if none).
func (b *Bus) round(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup) (time.Time, error) {
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	token := ""
	for {
		recs, tok, err := b.o.Store.List(ctx, store.Query{Kind: KindOutbox, Ascending: true, Limit: 500, PageToken: token})
		if err != nil {
			return next, err
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				return next, ctx.Err()
			}
			if b.isInflight(r.ID) {
				continue
			}
			var e entry
			if err := json.Unmarshal(r.Data, &e); err != nil {
				b.log.Error("unreadable event outbox record; dropping it", "id", r.ID, "err", err)
				b.drop(ctx, r, "")
				continue
			}
			now := b.o.Now()
			leased := e.LeaseOwner != "" && e.LeaseOwner != b.o.NodeID && now.Before(e.LeaseUntil)
			if leased {
				soonest(e.LeaseUntil)
				continue
			}
			if now.After(r.Created.Add(b.o.MaxAge)) {
				b.log.Warn("giving up an undelivered event", "endpoint", e.Endpoint, "event", e.EventID,
					"attempts", e.Attempts, "last_error", e.LastError)
				b.drop(ctx, r, e.Endpoint)
				continue
			}
			ep, ok := b.byName[e.Endpoint]
			if !ok {
				// Another replica's configuration has this webhook (say,
				// during a rolling change); leave it to that replica, and
				// to the give-up above.
				continue
			}
			if now.Before(e.NextAttempt) {
				soonest(e.NextAttempt)
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return next, ctx.Err()
			}
			claimed, err := b.claim(ctx, r, e)
			if err != nil {
				<-sem
				if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
					continue // another replica took or finished it
				}
				return next, err
			}
			b.setInflight(r.ID, true)
			wg.Go(func() {
				defer func() { <-sem }()
				defer b.setInflight(r.ID, false)
				b.deliver(ctx, claimed, e, ep)
				b.Wake() // rescan: a retry may now be due sooner than the poll
			})
		}
		if tok == "" {
			return next, nil
		}
		token = tok
	}
}

func (b *Bus) isInflight(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight[id]
}

func (b *Bus) setInflight(id string, on bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if on {
		b.inflight[id] = true
	} else {
		delete(b.inflight, id)
	}
}

// claim takes r's lease with an optimistic update: it fails with a version
// conflict when another replica changed r since it was read.
func (b *Bus) claim(ctx context.Context, r store.Record, e entry) (store.Record, error) {
	e.LeaseOwner, e.LeaseUntil = b.o.NodeID, b.o.Now().UTC().Add(b.leaseTime())
	return b.save(ctx, r, e)
}

func (b *Bus) save(ctx context.Context, r store.Record, e entry) (store.Record, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return r, err
	}
	r.Data = data
	return b.o.Store.Update(ctx, r)
}

// deliver makes one attempt at a claimed record and deletes it on success,
// or reschedules or drops it.
func (b *Bus) deliver(ctx context.Context, r store.Record, e entry, ep Endpoint) {
	log := b.log.With("endpoint", ep.Name, "event", e.EventID)
	err := b.post(ctx, ep, e)
	if ctx.Err() != nil {
		return // stopping: the lease runs out, or this node takes it back on restart
	}
	if err == nil {
		if err := b.o.Store.Delete(ctx, r.Key(), 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			// It is delivered again when the lease runs out.
			log.Error("deleting a delivered event from the outbox", "err", err)
		}
		b.delivered.Add(1)
		if b.mDelivered != nil {
			b.mDelivered.WithLabelValues(ep.Name).Inc()
		}
		log.Debug("delivered an event", "attempts", e.Attempts+1)
		return
	}
	// Count the failure once the outbox shows it.
	defer func() {
		b.failed.Add(1)
		if b.mFailed != nil {
			b.mFailed.WithLabelValues(ep.Name).Inc()
		}
	}()
	e.Attempts++
	e.LastError = err.Error()
	e.NextAttempt = b.o.Now().UTC().Add(b.backoff(e.Attempts))
	if e.NextAttempt.After(r.Created.Add(b.o.MaxAge)) {
		log.Warn("giving up an undelivered event", "attempts", e.Attempts, "err", err)
		b.drop(ctx, r, ep.Name)
		return
	}
	log.Info("event delivery failed; retrying later", "attempts", e.Attempts, "next", e.NextAttempt, "err", err)
	e.LeaseOwner, e.LeaseUntil = "", time.Time{}
	if _, err := b.save(ctx, r, e); err != nil && !errors.Is(err, store.ErrNotFound) {
		// A conflict means another replica took the record over after
		// this lease ran out; it reschedules it.
		log.Warn("rescheduling an event", "err", err)
	}
}

// backoff is the wait after the n-th failed attempt: FirstRetry doubled
// n-1 times, at most MaxRetry.
func (b *Bus) backoff(n int) time.Duration {
	d := b.o.FirstRetry
	for i := 1; i < n && d < b.o.MaxRetry; i++ {
		d *= 2
	}
	return min(d, b.o.MaxRetry)
}

// drop deletes r (if unchanged since read) and counts it.
func (b *Bus) drop(ctx context.Context, r store.Record, endpoint string) {
	if err := b.o.Store.Delete(ctx, r.Key(), r.Version); err != nil {
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			b.log.Error("dropping an event outbox record", "id", r.ID, "err", err)
		}
		return
	}
	b.dropped.Add(1)
	if b.mDropped != nil && endpoint != "" {
		b.mDropped.WithLabelValues(endpoint).Inc()
	}
}
