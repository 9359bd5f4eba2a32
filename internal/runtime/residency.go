package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"strata/internal/engine"
)

// ErrNotReady means the model is cold: it is being loaded and the caller
// should retry shortly (Bedrock's ModelNotReadyException).
var ErrNotReady = errors.New("runtime: the model is not ready yet")

// ErrNoCapacity means the memory budget is held by models in use, so the
// model cannot be loaded now.
var ErrNoCapacity = errors.New("runtime: no memory for the model now")

// Loadable is a model the residency manager can load.
type Loadable interface {
	// Key identifies the model (its ARN).
	Key() string
	// Size estimates the memory a loaded copy takes, in bytes.
	Size() int64
	// Load makes one engine copy of the model.
	Load(ctx context.Context) (engine.Engine, error)
}

// ResidencyOptions configure a Residency.
type ResidencyOptions struct {
	// Budget is the memory, in bytes, that loaded models may take; least
	// recently used idle models are evicted to make room. 0 means 8 GiB.
	Budget int64
	// ColdWait is how long a request waits for a cold model to load before
	// it gets ErrNotReady. 0 means answer ErrNotReady at once.
	ColdWait time.Duration
	// MaxCopies bounds the copies of one hot model. 0 means 1.
	MaxCopies int
	// CopyAfter is the in-flight requests per copy above which another
	// copy is loaded, memory permitting. 0 means 8.
	CopyAfter int
	Logger    *slog.Logger // nil means discard
	// OnLoad and OnEvict, when set, observe loads (with their duration)
	// and evictions, for metrics.
	OnLoad  func(key string, d time.Duration, err error)
	OnEvict func(key string)
}

// Residency keeps models loaded: it loads on first use, keeps a memory
// budget with least-recently-used eviction, and adds copies of a hot model.
// Load is asynchronous: a request for a cold model starts the load and
// waits at most ColdWait.
type Residency struct {
	o   ResidencyOptions
	log *slog.Logger

	mu    sync.Mutex
	slots map[string]*slot // +checklocks:mu
	used  int64            // +checklocks:mu; bytes of loaded and loading copies
}

type slot struct {
	key      string
	size     int64
	copies   []*copyState
	loading  int           // copies being loaded
	ready    chan struct{} // closed when the first copy is ready or failed
	err      error         // of the last failed load, until the next try
	lastUsed time.Time
}

type copyState struct {
	eng      engine.Engine
	inflight int
}

// NewResidency returns a Residency.
func NewResidency(o ResidencyOptions) *Residency {
	if o.Budget == 0 {
		o.Budget = 8 << 30
	}
	if o.MaxCopies == 0 {
		o.MaxCopies = 1
	}
	if o.CopyAfter == 0 {
		o.CopyAfter = 8
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Residency{o: o, log: o.Logger, slots: map[string]*slot{}}
}

// Acquire returns an engine copy of m for one request, loading m if it is
// cold. Call release when the request ends.
func (r *Residency) Acquire(ctx context.Context, m Loadable) (eng engine.Engine, release func(), err error) {
	r.mu.Lock()
	s := r.slots[m.Key()]
	if s == nil {
		s = &slot{key: m.Key(), size: m.Size()}
		r.slots[s.key] = s
	}
	s.lastUsed = time.Now()
	if c := r.pickLocked(s); c != nil {
		c.inflight++
		r.maybeCopyLocked(s, m)
		r.mu.Unlock()
		return c.eng, r.releaser(s, c), nil
	}
	if s.loading == 0 {
		if err := r.startLoadLocked(s, m); err != nil {
			r.mu.Unlock()
			return nil, nil, err
		}
	}
	ready := s.ready
	r.mu.Unlock()

	if r.o.ColdWait <= 0 {
		return nil, nil, ErrNotReady
	}
	t := time.NewTimer(r.o.ColdWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
		return nil, nil, ErrNotReady
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.pickLocked(s); c != nil {
		c.inflight++
		return c.eng, r.releaser(s, c), nil
	}
	if s.err != nil {
		return nil, nil, s.err
	}
	return nil, nil, ErrNotReady
}

// pickLocked returns the least busy copy of s, or nil.
func (r *Residency) pickLocked(s *slot) *copyState {
	var best *copyState
	for _, c := range s.copies {
		if best == nil || c.inflight < best.inflight {
			best = c
		}
	}
	return best
}

func (r *Residency) releaser(s *slot, c *copyState) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			c.inflight--
			s.lastUsed = time.Now()
			r.mu.Unlock()
		})
	}
}

// maybeCopyLocked starts another copy of a busy model when allowed.
func (r *Residency) maybeCopyLocked(s *slot, m Loadable) {
	if s.loading > 0 || len(s.copies) >= r.o.MaxCopies {
		return
	}
	for _, c := range s.copies {
		if c.inflight < r.o.CopyAfter {
			return
		}
	}
	if r.used+s.size > r.o.Budget {
		return // copies never evict other models
	}
	r.startLoadLocked(s, m)
}

// startLoadLocked reserves memory (evicting idle models) and loads one
// copy of s in the background.
func (r *Residency) startLoadLocked(s *slot, m Loadable) error {
	if s.size > r.o.Budget {
		return fmt.Errorf("%w: the model needs %d bytes, the budget is %d", ErrNoCapacity, s.size, r.o.Budget)
	}
	if !r.evictLocked(s.size, s.key) {
		return fmt.Errorf("%w: %d bytes are held by models in use", ErrNoCapacity, r.used)
	}
	r.used += s.size
	s.loading++
	if len(s.copies) == 0 {
		s.ready = make(chan struct{})
		s.err = nil
	}
	ready := s.ready
	go func() {
		start := time.Now()
		eng, err := m.Load(context.Background())
		if r.o.OnLoad != nil {
			r.o.OnLoad(s.key, time.Since(start), err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		s.loading--
		if err != nil {
			r.used -= s.size
			s.err = err
			r.log.Error("loading a model", "model", s.key, "err", err)
		} else {
			s.copies = append(s.copies, &copyState{eng: eng})
			r.log.Info("model loaded", "model", s.key, "copies", len(s.copies), "took", time.Since(start).Round(time.Millisecond))
		}
		if len(s.copies) <= 1 && s.loading == 0 {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}
		if len(s.copies) == 0 && s.loading == 0 && err != nil {
			delete(r.slots, s.key) // the next request retries the load
		}
	}()
	return nil
}

// evictLocked frees memory for need bytes by closing least recently used
// idle models other than keep. It reports whether there is room.
func (r *Residency) evictLocked(need int64, keep string) bool {
	for r.used+need > r.o.Budget {
		var victim *slot
		for _, s := range r.slots {
			if s.key == keep || s.loading > 0 || len(s.copies) == 0 || busy(s) {
				continue
			}
			if victim == nil || s.lastUsed.Before(victim.lastUsed) {
				victim = s
			}
		}
		if victim == nil {
			return false
		}
		for _, c := range victim.copies {
			c.eng.Close()
			r.used -= victim.size
		}
		delete(r.slots, victim.key)
		r.log.Info("model evicted", "model", victim.key)
		if r.o.OnEvict != nil {
			r.o.OnEvict(victim.key)
		}
	}
	return true
}

func busy(s *slot) bool {
	for _, c := range s.copies {
		if c.inflight > 0 {
			return true
		}
	}
	return false
}

// Evict unloads a model now (for instance when it is deleted). Requests
// already holding it finish first.
func (r *Residency) Evict(key string) {
	r.mu.Lock()
	s := r.slots[key]
	if s == nil {
		r.mu.Unlock()
		return
	}
	delete(r.slots, key)
	copies := s.copies
	r.used -= int64(len(copies)) * s.size
	r.mu.Unlock()
	go func() {
		for _, c := range copies {
			for {
				r.mu.Lock()
				idle := c.inflight == 0
				r.mu.Unlock()
				if idle {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			c.eng.Close()
		}
	}()
}

// Status describes one model's residency.
type Status struct {
	Key      string
	Copies   int
	Loading  int
	InFlight int
	Bytes    int64
}

// Statuses returns every known model's residency.
func (r *Residency) Statuses() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Status
	for _, s := range r.slots {
		st := Status{Key: s.key, Copies: len(s.copies), Loading: s.loading, Bytes: int64(len(s.copies)) * s.size}
		for _, c := range s.copies {
			st.InFlight += c.inflight
		}
		out = append(out, st)
	}
	return out
}

// Close unloads every model.
func (r *Residency) Close() {
	r.mu.Lock()
	slots := r.slots
	r.slots = map[string]*slot{}
	r.mu.Unlock()
	for _, s := range slots {
		for _, c := range s.copies {
			c.eng.Close()
		}
	}
}
