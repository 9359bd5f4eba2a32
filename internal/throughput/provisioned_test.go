package throughput

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store/sqlite"
)

const acct = "111122223333"

var root = &iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::" + acct + ":root"}

// models is an in-memory ModelLookup and runtime.Resolver over a fixed set
// of imported models.
type models map[string]*modelimport.Model

func (m models) LookupModel(_ context.Context, account, ident string) (*modelimport.Model, error) {
	for _, mm := range m {
		if mm.Account == account && (mm.ARN == ident || mm.Name == ident || mm.ID == ident) {
			return mm, nil
		}
	}
	return nil, apierr.New(apierr.NotFound, "The imported model %s could not be found.", ident)
}

func (m models) Resolve(ctx context.Context, p *iam.Principal, id string) (*runtime.Target, error) {
	mm, err := m.LookupModel(ctx, p.Account, id)
	if err != nil {
		return nil, err
	}
	return &runtime.Target{ARN: mm.ARN, ModelARN: mm.ARN, Account: mm.Account, Family: "llama"}, nil
}

func newModels() models {
	m := models{}
	for _, id := range []string{"aaaaaaaaaaaa", "bbbbbbbbbbbb"} {
		m[id] = &modelimport.Model{ID: id, Name: "model-" + id[:1], Account: acct,
			ARN: "arn:aws:bedrock:us-east-1:" + acct + ":imported-model/" + id}
	}
	return m
}

// gateWarmer loads nothing until its gate opens, and counts the copies it
// holds.
type gateWarmer struct {
	gate chan struct{}
	mu   sync.Mutex
	held map[string]int
}

func (w *gateWarmer) Warm(ctx context.Context, _, modelARN string) (func(), error) {
	select {
	case <-w.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w.mu.Lock()
	w.held[modelARN]++
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.held[modelARN]--
		w.mu.Unlock()
	}, nil
}

func (w *gateWarmer) holding(modelARN string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.held[modelARN]
}

func newService(t *testing.T, w Warmer, queueWait time.Duration) (*Service, models) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m := newModels()
	s := New(Options{Store: db, Models: m, Targets: m, Authorizer: &iam.Evaluator{}, Warmer: w,
		Region: "us-east-1", StreamsPerUnit: 2, QueueWait: queueWait})
	t.Cleanup(s.Close)
	return s, m
}

func waitStatus(t *testing.T, s *Service, ident, want string) *Provisioned {
	t.Helper()
	for range 200 {
		pm, err := s.Get(t.Context(), root, ident)
		if err != nil {
			t.Fatal(err)
		}
		if pm.Status == want {
			return pm
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never became %s", ident, want)
	return nil
}

func kindOf(err error) apierr.Kind {
	if e, ok := errors.AsType[*apierr.Error](err); ok {
		return e.Kind
	}
	return -1
}

func TestProvisionedLifecycle(t *testing.T) {
	w := &gateWarmer{gate: make(chan struct{}), held: map[string]int{}}
	s, m := newService(t, w, 0)
	ctx := t.Context()
	a, b := m["aaaaaaaaaaaa"], m["bbbbbbbbbbbb"]

	pm, err := s.Create(ctx, root, CreateInput{Name: "pt", ModelID: "model-a", ModelUnits: 2, CommitmentDuration: "OneMonth",
		ClientRequestToken: "tok-1", Tags: []modelimport.Tag{{Key: "team", Value: "support"}}})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Status != StatusCreating || pm.ModelARN != a.ARN || pm.CommitmentExpires.IsZero() {
		t.Fatalf("created %+v", pm)
	}
	// Creating: invocations are not served yet.
	if _, err := s.Resolve(ctx, root, pm.ARN); kindOf(err) != apierr.ModelNotReady {
		t.Fatalf("resolving a Creating model: %v", err)
	}
	close(w.gate)
	waitStatus(t, s, pm.ARN, StatusInService)
	if w.holding(a.ARN) != 1 {
		t.Errorf("the warm copy is not held")
	}

	t.Run("idempotent-create", func(t *testing.T) {
		again, err := s.Create(ctx, root, CreateInput{Name: "pt", ModelID: "model-a", ModelUnits: 2, CommitmentDuration: "OneMonth", ClientRequestToken: "tok-1"})
		if err != nil || again.ARN != pm.ARN {
			t.Fatalf("%v %+v", err, again)
		}
		if _, err := s.Create(ctx, root, CreateInput{Name: "pt2", ModelID: "model-a", ModelUnits: 1, ClientRequestToken: "tok-1"}); kindOf(err) != apierr.Conflict {
			t.Fatalf("reused token: %v", err)
		}
	})
	t.Run("duplicate-name", func(t *testing.T) {
		if _, err := s.Create(ctx, root, CreateInput{Name: "pt", ModelID: "model-a", ModelUnits: 1}); kindOf(err) != apierr.Conflict {
			t.Fatalf("%v", err)
		}
	})
	t.Run("bad-input", func(t *testing.T) {
		for _, in := range []CreateInput{
			{Name: "", ModelID: "model-a", ModelUnits: 1},
			{Name: "x y", ModelID: "model-a", ModelUnits: 1},
			{Name: "x", ModelID: "model-a", ModelUnits: 0},
			{Name: "x", ModelID: "model-a", ModelUnits: 1, CommitmentDuration: "OneYear"},
		} {
			if _, err := s.Create(ctx, root, in); kindOf(err) != apierr.Validation {
				t.Errorf("%+v: %v", in, err)
			}
		}
		if _, err := s.Create(ctx, root, CreateInput{Name: "x", ModelID: "nope", ModelUnits: 1}); kindOf(err) != apierr.NotFound {
			t.Errorf("unknown model: %v", err)
		}
	})
	t.Run("other-account-cannot-see-it", func(t *testing.T) {
		other := &iam.Principal{Account: "444455556666", Kind: iam.KindRoot, ARN: "arn:aws:iam::444455556666:root"}
		if _, err := s.Get(ctx, other, pm.ARN); kindOf(err) != apierr.NotFound {
			t.Fatalf("%v", err)
		}
	})
	t.Run("resolve-and-stream-slots", func(t *testing.T) {
		tg, err := s.Resolve(ctx, root, pm.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if tg.ARN != pm.ARN || tg.ModelARN != a.ARN {
			t.Fatalf("target %+v", tg)
		}
		// 2 units × 2 streams: the fifth concurrent stream is throttled.
		var adms []runtime.Admission
		for range 4 {
			adm, err := s.Admit(ctx, pm.ARN)
			if err != nil {
				t.Fatal(err)
			}
			adms = append(adms, adm)
		}
		if _, err := s.Admit(ctx, pm.ARN); kindOf(err) != apierr.Throttling {
			t.Fatalf("a fifth stream: %v", err)
		}
		u := s.Utilization()
		if len(u) != 1 || u[0].Reserved != 4 || u[0].InFlight != 4 {
			t.Fatalf("utilization %+v", u)
		}
		adms[0].Done(1, 1)
		adms[0].Done(1, 1) // idempotent
		if u := s.Utilization(); u[0].InFlight != 3 {
			t.Fatalf("after one ended: %+v", u)
		}
		for _, adm := range adms[1:] {
			adm.Done(1, 1)
		}
	})
	t.Run("list-filters", func(t *testing.T) {
		if _, err := s.Create(ctx, root, CreateInput{Name: "other", ModelID: b.ARN, ModelUnits: 1}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			in   ListInput
			want int
		}{
			{"all", ListInput{}, 2},
			{"name-contains", ListInput{NameContains: "oth"}, 1},
			{"model-arn", ListInput{ModelARN: a.ARN}, 1},
			{"status", ListInput{Status: StatusInService}, -1},
			{"page", ListInput{MaxResults: 1}, 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, _, err := s.List(ctx, root, tc.in)
				if err != nil {
					t.Fatal(err)
				}
				if tc.want >= 0 && len(got) != tc.want {
					t.Errorf("%d results, want %d", len(got), tc.want)
				}
			})
		}
		if _, _, err := s.List(ctx, root, ListInput{Status: "Sleeping"}); kindOf(err) != apierr.Validation {
			t.Errorf("bad status: %v", err)
		}
	})
	t.Run("update-moves-to-another-model", func(t *testing.T) {
		if err := s.Update(ctx, root, "pt", UpdateInput{DesiredName: "pt-renamed", DesiredModelID: "model-b"}); err != nil {
			t.Fatal(err)
		}
		got := waitStatus(t, s, pm.ARN, StatusInService)
		if got.Name != "pt-renamed" || got.ModelARN != b.ARN || got.DesiredModelARN != b.ARN {
			t.Fatalf("after update %+v", got)
		}
		for range 100 {
			if w.holding(a.ARN) == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if w.holding(a.ARN) != 0 || w.holding(b.ARN) < 1 {
			t.Errorf("warm copies: a %d, b %d", w.holding(a.ARN), w.holding(b.ARN))
		}
	})
	t.Run("tags", func(t *testing.T) {
		if err := s.UpdateTags(ctx, root, pm.ARN, []modelimport.Tag{{Key: "cost", Value: "1"}}, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.UpdateTags(ctx, root, pm.ARN, nil, []string{"team"}); err != nil {
			t.Fatal(err)
		}
		tags, err := s.Tags(ctx, root, pm.ARN)
		if err != nil || len(tags) != 1 || tags[0].Key != "cost" {
			t.Fatalf("%v %+v", err, tags)
		}
	})
	t.Run("delete-frees-capacity", func(t *testing.T) {
		if err := s.Delete(ctx, root, pm.ARN); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, root, pm.ARN); kindOf(err) != apierr.NotFound {
			t.Fatalf("after delete: %v", err)
		}
		if _, err := s.Admit(ctx, pm.ARN); kindOf(err) != apierr.NotFound {
			t.Fatalf("admit after delete: %v", err)
		}
		for range 100 {
			if w.holding(b.ARN) == 1 { // only "other" holds b now
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if w.holding(b.ARN) != 1 {
			t.Errorf("copies of b held: %d, want 1", w.holding(b.ARN))
		}
	})
}

func TestProvisionedQueueWait(t *testing.T) {
	s, m := newService(t, nil, 200*time.Millisecond)
	pm, err := s.Create(t.Context(), root, CreateInput{Name: "q", ModelID: m["aaaaaaaaaaaa"].ARN, ModelUnits: 1})
	if err != nil {
		t.Fatal(err)
	}
	if pm.Status != StatusInService { // no Warmer: in service at once
		t.Fatalf("status %s", pm.Status)
	}
	a1, _ := s.Admit(t.Context(), pm.ARN)
	a2, _ := s.Admit(t.Context(), pm.ARN)
	go func() { time.Sleep(50 * time.Millisecond); a1.Done(0, 0) }()
	start := time.Now()
	a3, err := s.Admit(t.Context(), pm.ARN)
	if err != nil {
		t.Fatalf("a queued stream was not admitted when a slot freed: %v", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Errorf("admitted without waiting")
	}
	if _, err := s.Admit(t.Context(), pm.ARN); kindOf(err) != apierr.Throttling {
		t.Fatalf("after the queue wait: %v", err)
	}
	a2.Done(0, 0)
	a3.Done(0, 0)
}

func TestProvisionedRunRewarms(t *testing.T) {
	w := &gateWarmer{gate: make(chan struct{}), held: map[string]int{}}
	close(w.gate)
	s, m := newService(t, w, 0)
	pm, err := s.Create(t.Context(), root, CreateInput{Name: "r", ModelID: "model-a", ModelUnits: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, s, pm.ARN, StatusInService)
	s.Close()
	// A new process over the same store warms it again at Run.
	s2 := New(Options{Store: s.o.Store, Models: m, Targets: m, Authorizer: &iam.Evaluator{}, Warmer: w, Region: "us-east-1",
		SweepEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s2.Run(ctx) }()
	for range 100 {
		if len(s2.Utilization()) == 1 && w.holding(m["aaaaaaaaaaaa"].ARN) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u := s2.Utilization(); len(u) != 1 || u[0].Reserved != 4 {
		t.Errorf("after Run: %+v", u)
	}
	// Deleted through another replica (s3): s2's sweep releases it.
	s3 := New(Options{Store: s.o.Store, Models: m, Targets: m, Authorizer: &iam.Evaluator{}, Region: "us-east-1"})
	defer s3.Close()
	if err := s3.Delete(t.Context(), root, pm.ARN); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if len(s2.Utilization()) == 0 && w.holding(m["aaaaaaaaaaaa"].ARN) == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if u := s2.Utilization(); len(u) != 0 || w.holding(m["aaaaaaaaaaaa"].ARN) != 0 {
		t.Errorf("after a delete elsewhere: %+v, %d copies held", u, w.holding(m["aaaaaaaaaaaa"].ARN))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAdmitterSkipsQuotasForProvisioned(t *testing.T) {
	s, m := newService(t, nil, 0)
	pm, err := s.Create(t.Context(), root, CreateInput{Name: "bypass", ModelID: "model-a", ModelUnits: 1})
	if err != nil {
		t.Fatal(err)
	}
	a := &Admitter{Quotas: NewQuotas(NewLocal(), Limit{RequestsPerMinute: 1}, nil, nil), Provisioned: s}
	tg, err := s.Resolve(t.Context(), root, pm.ARN)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		adm, err := a.Admit(t.Context(), root, tg, 10)
		if err != nil {
			t.Fatalf("request %d through the provisioned model: %v", i, err)
		}
		adm.Done(1, 1)
	}
	direct, _ := m.Resolve(t.Context(), root, "model-a")
	if _, err := a.Admit(t.Context(), root, direct, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Admit(t.Context(), root, direct, 10); kindOf(err) != apierr.Throttling {
		t.Fatalf("on-demand over quota: %v", err)
	}
}
