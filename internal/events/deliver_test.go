package events

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"strata/internal/store"
	"strata/internal/store/sqlite"
)

func TestDeliverAndDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		signed := newReceiver(t, nil)
		unsigned := newReceiver(t, nil)
		reg := prometheus.NewRegistry()
		b, err := New(Options{Store: s, Registerer: reg, PollInterval: 20 * time.Millisecond, Endpoints: []Endpoint{
			{Name: "signed", URL: signed.srv.URL + "/hook?x=1", Secret: "s3cret"},
			{Name: "unsigned", URL: unsigned.srv.URL},
		}})
		if err != nil {
			t.Fatal(err)
		}
		run(t, b)
		e := customizationEvent(acctA, "job-1")
		if err := b.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "both deliveries and an empty outbox", func() bool {
			return signed.count() == 1 && unsigned.count() == 1 && outboxLen(t, s) == 0 && b.Stats().Delivered == 2
		})

		r := signed.got()[0]
		if r.method != http.MethodPost || r.header.Get("Content-Type") != "application/json" || r.header.Get(HeaderEventID) != e.ID {
			t.Errorf("method %s, headers %v", r.method, r.header)
		}
		want, _ := e.MarshalJSON()
		if string(r.body) != string(want) {
			t.Errorf("body\n%s\nwant\n%s", r.body, want)
		}
		ts, err := strconv.ParseInt(r.header.Get(HeaderTimestamp), 10, 64)
		if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
			t.Errorf("timestamp header %q", r.header.Get(HeaderTimestamp))
		}
		now := time.Now()
		if err := Verify("s3cret", r.header, r.body, now, 0); err != nil {
			t.Errorf("Verify: %v", err)
		}
		tampered := slices.Clone(r.body)
		tampered[len(tampered)-3] ^= 1
		if err := Verify("s3cret", r.header, tampered, now, 0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(tampered body) = %v, want ErrBadSignature", err)
		}
		if err := Verify("other", r.header, r.body, now, 0); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify(wrong secret) = %v, want ErrBadSignature", err)
		}
		if err := Verify("s3cret", r.header, r.body, now.Add(10*time.Minute), 5*time.Minute); !errors.Is(err, ErrStale) {
			t.Errorf("Verify(10 min later) = %v, want ErrStale", err)
		}
		if u := unsigned.got()[0]; u.header.Get(HeaderSignature) != "" || string(u.body) != string(want) {
			t.Errorf("unsigned endpoint got signature %q", u.header.Get(HeaderSignature))
		}
		if st := b.Stats(); st != (Stats{Delivered: 2}) {
			t.Errorf("stats %+v", st)
		}
		var m dto.Metric
		if err := b.mDelivered.WithLabelValues("signed").Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
			got := m.GetCounter().GetValue()
			t.Errorf("strata_events_delivered_total{endpoint=signed} = %v", got)
		}
	})
}

func TestFilters(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		custom, acct, all := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
		b, err := New(Options{Store: s, PollInterval: 20 * time.Millisecond, Endpoints: []Endpoint{
			{Name: "custom", URL: custom.srv.URL, DetailTypes: []string{DetailTypeCustomizationJob}},
			{Name: "acct", URL: acct.srv.URL, Accounts: []string{acctA}},
			{Name: "all", URL: all.srv.URL},
		}})
		if err != nil {
			t.Fatal(err)
		}
		e1, e2, e3 := customizationEvent(acctA, "j1"), importEvent(acctB, "j2"), importEvent(acctA, "j3")
		for _, e := range []Event{e1, e2, e3} {
			if err := b.Publish(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		if n := outboxLen(t, s); n != 6 {
			t.Errorf("outbox has %d records before Run, want 6 (1 + 1 + 2 + 2... per matching endpoint)", n)
		}
		run(t, b)
		waitFor(t, "an empty outbox", func() bool { return outboxLen(t, s) == 0 })
		for _, tc := range []struct {
			name string
			rc   *receiver
			want []string
		}{
			{"custom-gets-customization-events", custom, []string{e1.ID}},
			{"acct-gets-its-account", acct, []string{e1.ID, e3.ID}},
			{"all-gets-all", all, []string{e1.ID, e2.ID, e3.ID}},
		} {
			got := tc.rc.ids(t)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, want)
			}
		}

		only, err := New(Options{Store: s, Endpoints: []Endpoint{{Name: "custom", URL: custom.srv.URL, DetailTypes: []string{DetailTypeCustomizationJob}}}})
		if err != nil {
			t.Fatal(err)
		}
		if ops := only.Ops(importEvent(acctA, "j4")); ops != nil {
			t.Errorf("Ops with no matching endpoint = %v, want nil", ops)
		}
	})
}

func TestRetryWithBackoff(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			if n <= 2 {
				http.Error(w, "not yet", http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		})
		const first = 60 * time.Millisecond
		b, err := New(Options{Store: s, FirstRetry: first, MaxRetry: time.Second, PollInterval: 10 * time.Millisecond,
			Endpoints: []Endpoint{{Name: "flaky", URL: rc.srv.URL, Secret: "k"}}})
		if err != nil {
			t.Fatal(err)
		}
		run(t, b)
		e := customizationEvent(acctA, "j")
		if err := b.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the third attempt and an empty outbox", func() bool {
			return rc.count() == 3 && outboxLen(t, s) == 0 && b.Stats().Delivered == 1
		})
		got := rc.got()
		if d := got[1].at.Sub(got[0].at); d < first {
			t.Errorf("second attempt %v after the first, want >= %v", d, first)
		}
		if d := got[2].at.Sub(got[1].at); d < 2*first {
			t.Errorf("third attempt %v after the second, want >= %v (doubled)", d, 2*first)
		}
		for i, r := range got {
			if r.header.Get(HeaderEventID) != e.ID {
				t.Errorf("attempt %d has event id %q, want %q", i, r.header.Get(HeaderEventID), e.ID)
			}
			if err := Verify("k", r.header, r.body, time.Now(), 0); err != nil {
				t.Errorf("attempt %d: %v", i, err)
			}
		}
		if st := b.Stats(); st != (Stats{Delivered: 1, Failed: 2}) {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestBackoffSchedule(t *testing.T) {
	b, err := New(Options{Store: nopStore{}})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := b.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := b.backoff(1000); got != 5*time.Minute {
		t.Errorf("backoff(1000) = %v", got)
	}
}

func TestGiveUp(t *testing.T) {
	tests := []struct {
		name         string
		advance      time.Duration // after the first failure
		wantRequests int
	}{
		// The clock jumps past MaxAge: the record is dropped without
		// another attempt.
		{"older-than-max-age-dropped-unsent", 2 * time.Hour, 1},
		// The second attempt is due and fails; the third would fall after
		// MaxAge, so the record is dropped then.
		{"next-attempt-past-max-age-dropped", 40 * time.Minute, 2},
	}
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := open()
				rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
					http.Error(w, "down", http.StatusServiceUnavailable)
				})
				clk := &clock{t: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)}
				b, err := New(Options{Store: s, Now: clk.Now, FirstRetry: 30 * time.Minute, MaxRetry: time.Hour, MaxAge: time.Hour,
					PollInterval: 10 * time.Millisecond, Endpoints: []Endpoint{{Name: "down", URL: rc.srv.URL}}})
				if err != nil {
					t.Fatal(err)
				}
				run(t, b)
				if err := b.Publish(t.Context(), importEvent(acctA, tc.name)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the first failure", func() bool { return b.Stats().Failed == 1 })
				_, es := outbox(t, s)
				if len(es) != 1 || es[0].Attempts != 1 || !strings.Contains(es[0].LastError, "503") ||
					!es[0].NextAttempt.Equal(clk.Now().Add(30*time.Minute)) || es[0].LeaseOwner != "" {
					t.Fatalf("after the first failure the outbox holds %+v", es)
				}
				clk.Add(tc.advance)
				b.Wake()
				waitFor(t, "the drop", func() bool { return b.Stats().Dropped == 1 })
				if n := outboxLen(t, s); n != 0 {
					t.Errorf("outbox holds %d records after the drop", n)
				}
				time.Sleep(50 * time.Millisecond) // nothing more may come
				if n := rc.count(); n != tc.wantRequests {
					t.Errorf("receiver got %d requests, want %d", n, tc.wantRequests)
				}
			})
		}
	})
}

func TestReplicasDeliverOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		var mu sync.Mutex
		seen := map[string]int{}
		rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen[r.Header.Get(HeaderEventID)]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond) // widen the window for a double delivery
			w.WriteHeader(http.StatusOK)
		})
		eps := []Endpoint{{Name: "hook", URL: rc.srv.URL, Secret: "k"}}
		var buses []*Bus
		for _, node := range []string{"replica-a", "replica-b"} {
			b, err := New(Options{Store: open(), NodeID: node, Endpoints: eps, PollInterval: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			buses = append(buses, b)
		}
		// Record every event before either replica runs, so both race
		// for every record from their first scan.
		const n = 40
		var ops []store.Op
		for i := range n {
			ops = append(ops, buses[0].Ops(customizationEvent(acctA, "job-"+strconv.Itoa(i)))...)
		}
		if err := buses[0].o.Store.Apply(t.Context(), ops); err != nil {
			t.Fatal(err)
		}
		for _, b := range buses {
			run(t, b)
		}
		waitFor(t, "every event", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == n
		})
		waitFor(t, "an empty outbox and both counts", func() bool {
			return outboxLen(t, buses[1].o.Store) == 0 && buses[0].Stats().Delivered+buses[1].Stats().Delivered >= n
		})
		time.Sleep(100 * time.Millisecond) // let any duplicate arrive
		mu.Lock()
		defer mu.Unlock()
		for id, c := range seen {
			if c != 1 {
				t.Errorf("event %s delivered %d times", id, c)
			}
		}
		if rc.count() != n {
			t.Errorf("receiver got %d requests for %d events", rc.count(), n)
		}
		a, bb := buses[0].Stats(), buses[1].Stats()
		t.Logf("replica-a delivered %d, replica-b %d", a.Delivered, bb.Delivered)
		if a.Delivered+bb.Delivered != n || a.Failed+bb.Failed != 0 {
			t.Errorf("stats %+v and %+v", a, bb)
		}
	})
}

func TestOpsInFailedTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		b, err := New(Options{Store: s, Endpoints: []Endpoint{
			{Name: "one", URL: "http://127.0.0.1:1/"},
			{Name: "two", URL: "https://hooks.example.com/x", Secret: "k"},
		}})
		if err != nil {
			t.Fatal(err)
		}
		job := store.Record{Kind: "model-customization-job", Account: acctA, ID: "j1", Name: "job-one", Status: "InProgress"}
		if _, err := s.Create(t.Context(), job); err != nil {
			t.Fatal(err)
		}
		dup := job
		dup.ID = "j2" // same name: a conflict
		ops := b.Ops(customizationEvent(acctA, "job-one"))
		if len(ops) != 2 {
			t.Fatalf("Ops returned %d ops, want 2 (one per endpoint)", len(ops))
		}
		for _, tc := range []struct {
			name string
			ops  []store.Op
		}{
			{"conflict-before-ops", append([]store.Op{{Create: &dup}}, ops...)},
			{"conflict-after-ops", append(slices.Clone(ops), store.Op{Create: &dup})},
		} {
			if err := s.Apply(t.Context(), tc.ops); !errors.Is(err, store.ErrConflict) {
				t.Fatalf("%s: Apply = %v, want a conflict", tc.name, err)
			}
			if n := outboxLen(t, s); n != 0 {
				t.Errorf("%s: outbox holds %d records after a failed transaction", tc.name, n)
			}
		}
		upd := job
		upd.Status = "Completed"
		if err := s.Apply(t.Context(), append([]store.Op{{Update: &upd}}, ops...)); err != nil {
			t.Fatal(err)
		}
		recs, es := outbox(t, s)
		if len(recs) != 2 || es[0].EventID != es[1].EventID || es[0].Endpoint == es[1].Endpoint {
			t.Errorf("outbox after a committed transaction: %+v", es)
		}
	})
}

func TestRunStopsPromptly(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		rc := newReceiver(t, nil)
		hang := make(chan struct{})
		hanging := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			close(hang)
			<-r.Context().Done()
		})
		b, err := New(Options{Store: s, Timeout: time.Minute, Endpoints: []Endpoint{
			{Name: "idle", URL: rc.srv.URL, DetailTypes: []string{"nothing"}},
			{Name: "hanging", URL: hanging.srv.URL},
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Idle: nothing to deliver.
		stop := run(t, b)
		time.Sleep(20 * time.Millisecond)
		start := time.Now()
		stop()
		if d := time.Since(start); d > time.Second {
			t.Errorf("idle Run took %v to stop", d)
		}
		// Mid-delivery to a receiver that never answers.
		stop = run(t, b)
		if err := b.Publish(t.Context(), importEvent(acctA, "j")); err != nil {
			t.Fatal(err)
		}
		<-hang
		start = time.Now()
		stop()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Run took %v to stop during a delivery", d)
		}
		if st := b.Stats(); st != (Stats{}) {
			t.Errorf("a cancelled attempt counted: %+v", st)
		}
		_, es := outbox(t, s)
		if len(es) != 1 || es[0].LeaseOwner != b.o.NodeID {
			t.Fatalf("outbox after stopping mid-delivery: %+v", es)
		}
	})
}

func TestHangingReceiverCutByTimeout(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() store.Store) {
		s := open()
		var rc *receiver
		rc = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-rc.release:
			}
		})
		const timeout = 150 * time.Millisecond
		b, err := New(Options{Store: s, Timeout: timeout, FirstRetry: time.Hour, Endpoints: []Endpoint{{Name: "slow", URL: rc.srv.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		run(t, b)
		start := time.Now()
		if err := b.Publish(t.Context(), importEvent(acctA, "j")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a failed attempt", func() bool { return b.Stats().Failed == 1 })
		if d := time.Since(start); d < timeout || d > 5*time.Second {
			t.Errorf("the attempt failed after %v, want about %v", d, timeout)
		}
		_, es := outbox(t, s)
		if len(es) != 1 || es[0].Attempts != 1 || !strings.Contains(es[0].LastError, "deadline") {
			t.Errorf("outbox: %+v", es)
		}
		if strings.Contains(es[0].LastError, rc.srv.URL) {
			t.Errorf("last error shows the URL: %s", es[0].LastError)
		}
	})
}

func TestRedirectNotFollowed(t *testing.T) {
	s := sqliteStore(t)
	target := newReceiver(t, nil)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
	})
	b, err := New(Options{Store: s, FirstRetry: time.Hour, Endpoints: []Endpoint{{Name: "moved", URL: rc.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	if err := b.Publish(t.Context(), importEvent(acctA, "j")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed attempt", func() bool { return b.Stats().Failed == 1 })
	_, es := outbox(t, s)
	if target.count() != 0 || len(es) != 1 || !strings.Contains(es[0].LastError, "307") {
		t.Errorf("redirect target got %d requests; outbox %+v", target.count(), es)
	}
}

func TestResponseBodyBounded(t *testing.T) {
	s := sqliteStore(t)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := []byte(strings.Repeat("x", 32<<10))
		for r.Context().Err() == nil { // endless
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	b, err := New(Options{Store: s, Timeout: time.Minute, FirstRetry: time.Hour, Endpoints: []Endpoint{{Name: "chatty", URL: rc.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	start := time.Now()
	if err := b.Publish(t.Context(), importEvent(acctA, "j")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a failed attempt", func() bool { return b.Stats().Failed == 1 })
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("an endless response body took %v", d)
	}
	_, es := outbox(t, s)
	if len(es) != 1 || !strings.HasPrefix(es[0].LastError, "status 500") || len(es[0].LastError) > 300 {
		t.Errorf("outbox: %+v", es)
	}
}

// TestUnknownEndpointLeftToOthers: a record for a webhook this replica
// does not know is neither delivered nor dropped before MaxAge.
func TestUnknownEndpointLeftToOthers(t *testing.T) {
	s := sqliteStore(t)
	rc := newReceiver(t, nil)
	old, err := New(Options{Store: s, Endpoints: []Endpoint{{Name: "gone", URL: rc.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Publish(t.Context(), importEvent(acctA, "j")); err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Store: s, PollInterval: 5 * time.Millisecond, Endpoints: []Endpoint{{Name: "new", URL: rc.srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, b)
	time.Sleep(50 * time.Millisecond)
	stop()
	if rc.count() != 0 || outboxLen(t, s) != 1 || b.Stats() != (Stats{}) {
		t.Errorf("requests %d, outbox %d, stats %+v", rc.count(), outboxLen(t, s), b.Stats())
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		ep      Endpoint
		wantErr string
	}{
		{"loopback-unsigned-ok", Endpoint{Name: "a", URL: "http://127.0.0.1:9000/hook"}, ""},
		{"localhost-unsigned-ok", Endpoint{Name: "a", URL: "http://localhost:9000/hook"}, ""},
		{"ipv6-loopback-unsigned-ok", Endpoint{Name: "a", URL: "http://[::1]:9000/hook"}, ""},
		{"remote-signed-ok", Endpoint{Name: "a.b_c-1", URL: "https://hooks.example.com/strata", Secret: "k", DetailTypes: []string{DetailTypeImportJob}, Accounts: []string{acctA}}, ""},
		{"remote-unsigned", Endpoint{Name: "a", URL: "https://hooks.example.com/strata"}, "needs a secret"},
		{"bad-scheme", Endpoint{Name: "a", URL: "ftp://127.0.0.1/x"}, "scheme"},
		{"no-host", Endpoint{Name: "a", URL: "http:///x"}, "no host"},
		{"user-info", Endpoint{Name: "a", URL: "https://u:p@hooks.example.com/", Secret: "k"}, "user info"},
		{"fragment", Endpoint{Name: "a", URL: "http://127.0.0.1/x#y"}, "fragment"},
		{"empty-name", Endpoint{URL: "http://127.0.0.1/"}, "name"},
		{"bad-name", Endpoint{Name: "a b", URL: "http://127.0.0.1/"}, "name"},
		{"bad-account", Endpoint{Name: "a", URL: "http://127.0.0.1/", Accounts: []string{"12"}}, "account"},
		{"empty-detail-type", Endpoint{Name: "a", URL: "http://127.0.0.1/", DetailTypes: []string{" "}}, "detail type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Store: nopStore{}, Endpoints: []Endpoint{tc.ep}})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("New = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := New(Options{Store: nopStore{}, Endpoints: []Endpoint{{Name: "a", URL: "http://127.0.0.1/"}, {Name: "a", URL: "http://127.0.0.1/2"}}}); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Errorf("repeated names: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a store succeeded")
	}
	if _, err := New(Options{Store: nopStore{}, Timeout: -time.Second}); err == nil {
		t.Error("New with a negative timeout succeeded")
	}
}

func TestClientRedirectPolicyNotMutated(t *testing.T) {
	c := &http.Client{Timeout: time.Second}
	if _, err := New(Options{Store: nopStore{}, Client: c}); err != nil {
		t.Fatal(err)
	}
	if c.CheckRedirect != nil {
		t.Error("New changed the caller's client")
	}
}

// sqliteStore is a store for tests whose subject is not the store.
func sqliteStore(t *testing.T) store.Store {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// nopStore is a Store that is never called: for tests of New alone.
type nopStore struct{ store.Store }
