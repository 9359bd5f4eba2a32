package throughput

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store"
)

// Record kinds in the metadata store.
const (
	KindProvisioned = "provisioned-model"
	// kindIndex has one record per provisioned model under account "", so
	// that a starting process finds every account's models to warm.
	kindIndex = "provisioned-model-index"
)

// Provisioned-throughput statuses.
const (
	StatusCreating  = "Creating"
	StatusInService = "InService"
	StatusUpdating  = "Updating"
	StatusFailed    = "Failed"
)

// Provisioned is a provisioned model: model units reserved for one
// imported model. One model unit keeps one engine copy of the model loaded
// (never evicted while the provisioned model exists) and reserves
// StreamsPerUnit concurrent streams for it.
type Provisioned struct {
	ARN                string            `json:"arn"`
	ID                 string            `json:"id"`
	Name               string            `json:"name"`
	Account            string            `json:"account"`
	ModelARN           string            `json:"modelArn"`
	DesiredModelARN    string            `json:"desiredModelArn"`
	ModelUnits         int               `json:"modelUnits"`
	DesiredModelUnits  int               `json:"desiredModelUnits"`
	Status             string            `json:"status"`
	FailureMessage     string            `json:"failureMessage,omitempty"`
	CommitmentDuration string            `json:"commitmentDuration,omitempty"`
	CommitmentExpires  time.Time         `json:"commitmentExpirationTime,omitzero"`
	Tags               []modelimport.Tag `json:"tags,omitempty"`
	Created            time.Time         `json:"created"`
	Modified           time.Time         `json:"modified"`
	CreatedBy          string            `json:"createdBy"`

	version int64
}

func provisionedFrom(r store.Record) (*Provisioned, error) {
	var p Provisioned
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, err
	}
	p.version = r.Version
	return &p, nil
}

func (p *Provisioned) record() store.Record {
	data, _ := json.Marshal(p)
	return store.Record{Kind: KindProvisioned, Account: p.Account, ID: p.ID, Name: p.Name, ARN: p.ARN,
		Status: p.Status, Created: p.Created, Updated: p.Modified, Version: p.version, Data: data}
}

// ModelLookup finds imported models; modelimport.Service satisfies it.
type ModelLookup interface {
	LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error)
}

// Warmer loads a model and keeps one engine copy of it resident.
type Warmer interface {
	// Warm blocks until the model modelARN of account has a loaded copy
	// (or ctx ends) and keeps it loaded until release is called.
	Warm(ctx context.Context, account, modelARN string) (release func(), err error)
}

// Options configure a Service.
type Options struct {
	Store      store.Store      // non-nil
	Models     ModelLookup      // non-nil: validates modelId
	Targets    runtime.Resolver // non-nil: resolves the underlying model at invocation
	Authorizer iam.Authorizer   // non-nil
	Warmer     Warmer           // or nil: provisioned models are InService at once
	Region     string
	// StreamsPerUnit is the concurrent streams one model unit reserves.
	// 0 means 4.
	StreamsPerUnit int
	// QueueWait is how long an invocation waits for a free stream slot
	// before ThrottlingException. 0 means refuse at once.
	QueueWait time.Duration
	// SweepEvery is how often Run looks for provisioned models deleted by
	// another replica, to release their capacity here. 0 means 30s.
	SweepEvery time.Duration
	Logger     *slog.Logger // nil means discard
	Now        func() time.Time
}

// Service is the provisioned-throughput control plane and its capacity.
type Service struct {
	o   Options
	log *slog.Logger
	ctx context.Context // ends at Close; warm-ups run under it
	end context.CancelFunc

	mu   sync.Mutex
	live map[string]*capacity // +checklocks:mu; by provisioned ARN
}

// capacity is a provisioned model's reserved streams and its warm copy in
// this process.
type capacity struct {
	arn      string
	modelARN string // the model being served (or warmed)
	slots    chan struct{}
	cancel   context.CancelFunc // ends the warm-up and releases the copy
}

// New returns a Service. Call Run to warm the existing provisioned models.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.StreamsPerUnit <= 0 {
		o.StreamsPerUnit = 4
	}
	ctx, end := context.WithCancel(context.Background())
	return &Service{o: o, log: o.Logger, ctx: ctx, end: end, live: map[string]*capacity{}}
}

// Run warms every provisioned model of every account, then, until ctx
// ends, drops every SweepEvery the capacity of models deleted through
// another replica; then it releases them all.
func (s *Service) Run(ctx context.Context) error {
	tok := ""
	for {
		recs, next, err := s.o.Store.List(ctx, store.Query{Kind: kindIndex, PageToken: tok})
		if err != nil {
			return err
		}
		for _, ir := range recs {
			acct, id, _ := strings.Cut(ir.ID, ".")
			r, err := s.o.Store.Get(ctx, store.Key{Kind: KindProvisioned, Account: acct, ID: id})
			if err != nil {
				continue // deleted meanwhile
			}
			if p, err := provisionedFrom(r); err == nil && p.Status != StatusFailed {
				s.start(p)
			}
		}
		if next == "" {
			break
		}
		tok = next
	}
	every := s.o.SweepEvery
	if every <= 0 {
		every = 30 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-tick.C:
			s.sweep(ctx)
		}
	}
}

// sweep stops the capacity of provisioned models that no longer exist.
func (s *Service) sweep(ctx context.Context) {
	s.mu.Lock()
	arns := make([]string, 0, len(s.live))
	for a := range s.live {
		arns = append(arns, a)
	}
	s.mu.Unlock()
	for _, a := range arns {
		if _, err := s.o.Store.GetByARN(ctx, a); errors.Is(err, store.ErrNotFound) {
			s.log.Info("provisioned model deleted elsewhere; releasing its capacity", "arn", a)
			s.stop(a)
		}
	}
}

// Close stops warm-ups and releases every warm copy.
func (s *Service) Close() {
	s.end()
	s.mu.Lock()
	live := s.live
	s.live = map[string]*capacity{}
	s.mu.Unlock()
	for _, c := range live {
		c.cancel()
	}
}

// start makes p's capacity live in this process and warms its model: a
// Creating or Updating model turns InService once its copy is loaded. The
// copy of the model it replaces stays loaded until then.
func (s *Service) start(p *Provisioned) {
	want := p.ModelARN
	if p.Status == StatusUpdating {
		want = p.DesiredModelARN
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.live[p.ARN]
	if c != nil && c.modelARN == want {
		return
	}
	if c == nil {
		c = &capacity{arn: p.ARN, slots: make(chan struct{}, p.ModelUnits*s.o.StreamsPerUnit)}
		s.live[p.ARN] = c
	}
	ctx, cancel := context.WithCancel(s.ctx)
	old := c.cancel
	if old != nil {
		context.AfterFunc(ctx, old)
	}
	c.modelARN, c.cancel = want, cancel
	go s.warm(ctx, p.Account, p.ID, want, old)
}

// stop ends the capacity of the provisioned model arn in this process.
func (s *Service) stop(arn string) {
	s.mu.Lock()
	c := s.live[arn]
	delete(s.live, arn)
	s.mu.Unlock()
	if c != nil {
		c.cancel()
	}
}

// warm loads modelARN, holds it until ctx ends, and records the outcome.
// Once it is loaded, it releases the copy it replaces (old, or nil).
func (s *Service) warm(ctx context.Context, account, id, modelARN string, old context.CancelFunc) {
	release := func() {}
	if s.o.Warmer != nil {
		var err error
		release, err = s.o.Warmer.Warm(ctx, account, modelARN)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("warming a provisioned model failed", "id", id, "model", modelARN, "err", err)
				s.setStatus(account, id, modelARN, StatusFailed, "The model could not be loaded: "+err.Error())
			}
			return
		}
	}
	s.setStatus(account, id, modelARN, StatusInService, "")
	if old != nil {
		old()
	}
	s.log.Info("provisioned model in service", "id", id, "model", modelARN)
	<-ctx.Done()
	release()
}

// setStatus records the end of a warm-up of modelARN, unless the
// provisioned model moved on to another model meanwhile.
func (s *Service) setStatus(account, id, modelARN, status, msg string) {
	for range 5 {
		r, err := s.o.Store.Get(s.ctx, store.Key{Kind: KindProvisioned, Account: account, ID: id})
		if err != nil {
			return
		}
		p, err := provisionedFrom(r)
		if err != nil {
			return
		}
		switch {
		case p.Status == StatusUpdating && p.DesiredModelARN == modelARN:
			if status == StatusInService {
				p.ModelARN = modelARN
			}
		case p.Status == StatusCreating && p.ModelARN == modelARN:
		default:
			return // already settled, or superseded
		}
		p.Status, p.FailureMessage, p.Modified = status, msg, s.o.Now().UTC()
		if _, err := s.o.Store.Update(s.ctx, p.record()); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			s.log.Warn("recording a provisioned model's status", "id", id, "err", err)
		}
		return
	}
}

// Admit takes one stream slot of the provisioned model provisionedARN,
// waiting at most QueueWait, or refuses with a Throttling error.
func (s *Service) Admit(ctx context.Context, provisionedARN string) (runtime.Admission, error) {
	s.mu.Lock()
	c := s.live[provisionedARN]
	s.mu.Unlock()
	if c == nil {
		return nil, apierr.New(apierr.NotFound, "The provisioned model %s could not be found.", provisionedARN)
	}
	slots := c.slots
	select {
	case slots <- struct{}{}:
		return &slotAdmission{slots: slots}, nil
	default:
	}
	if s.o.QueueWait <= 0 {
		return nil, apierr.New(apierr.Throttling, ThrottledMessage)
	}
	t := time.NewTimer(s.o.QueueWait)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return &slotAdmission{slots: slots}, nil
	case <-t.C:
		return nil, apierr.New(apierr.Throttling, ThrottledMessage)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type slotAdmission struct {
	once  sync.Once
	slots chan struct{}
}

func (a *slotAdmission) Done(int, int) { a.once.Do(func() { <-a.slots }) }

// Usage is one provisioned model's utilization in this process.
type Usage struct {
	ARN      string
	ModelARN string
	Reserved int // stream slots: model units × StreamsPerUnit
	InFlight int // streams running now
}

// Utilization returns every live provisioned model's streams in use, for
// metrics: InFlight / Reserved is its utilization.
func (s *Service) Utilization() []Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Usage, 0, len(s.live))
	for _, c := range s.live {
		out = append(out, Usage{ARN: c.arn, ModelARN: c.modelARN, Reserved: cap(c.slots), InFlight: len(c.slots)})
	}
	return out
}

// Resolve implements runtime.Resolver for provisioned-model ARNs: the
// target is the underlying model's, with ARN set to the provisioned ARN
// (so both are authorized and Admitter takes a stream slot) and Tags to
// the provisioned model's tags.
func (s *Service) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*runtime.Target, error) {
	if !IsProvisionedARN(modelID) {
		return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	}
	pm, err := s.get(ctx, p, modelID)
	if err != nil {
		return nil, err
	}
	switch pm.Status {
	case StatusInService, StatusUpdating:
	case StatusCreating:
		return nil, apierr.New(apierr.ModelNotReady, "The provisioned model %s is still being created. Wait and try your request again.", pm.ARN)
	default:
		return nil, apierr.New(apierr.Validation, "The provisioned model %s is %s: %s", pm.ARN, pm.Status, pm.FailureMessage)
	}
	s.start(pm) // after a restart, or when another replica created it
	t, err := s.o.Targets.Resolve(ctx, p, pm.ModelARN)
	if err != nil {
		return nil, err
	}
	t.ARN = pm.ARN
	if len(pm.Tags) > 0 {
		t.Tags = make(map[string]string, len(pm.Tags))
		for _, tag := range pm.Tags {
			t.Tags[tag.Key] = tag.Value
		}
	}
	return t, nil
}

var (
	nameRE  = regexp.MustCompile(`^([0-9a-zA-Z][_-]?)+$`)
	tokenRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
)
