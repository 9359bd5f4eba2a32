package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"strata/internal/store"
	"strata/internal/store/postgres"
	"strata/internal/store/postgres/pgtest"
	"strata/internal/store/sqlite"
)

// forEachStore runs f against SQLite (a temp file) and PostgreSQL (a fresh
// database). open returns a new handle on the same database each call, as
// another replica would have.
func forEachStore(t *testing.T, f func(t *testing.T, open func() store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "metadata.db")
		f(t, func() store.Store {
			db, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		u := pgtest.URL(t)
		f(t, func() store.Store {
			db, err := postgres.Open(context.Background(), u)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
	method string
}

// receiver is a webhook on loopback. handle answers the n-th request
// (from 1); nil answers 204.
type receiver struct {
	srv     *httptest.Server
	release chan struct{} // closed at cleanup: unblocks hanging handlers
	mu      sync.Mutex
	reqs    []received
}

func newReceiver(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{release: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{header: r.Header.Clone(), body: body, at: time.Now(), method: r.Method})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if handle == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		handle(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() { close(rc.release) }) // runs before Close
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// ids returns the event ids the receiver got, in order.
func (rc *receiver) ids(t *testing.T) []string {
	var out []string
	for _, r := range rc.got() {
		var e struct{ ID string }
		if err := json.Unmarshal(r.body, &e); err != nil {
			t.Fatalf("receiver got a body that is not JSON: %v", err)
		}
		out = append(out, e.ID)
	}
	return out
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts b.Run until the test ends; the returned func stops it and
// waits for it to return.
func run(t *testing.T, b *Bus) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Run did not return 10 s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// outbox returns the outbox records and their documents.
func outbox(t *testing.T, s store.Store) ([]store.Record, []entry) {
	t.Helper()
	recs, _, err := s.List(context.Background(), store.Query{Kind: KindOutbox, Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	for _, r := range recs {
		var e entry
		if err := json.Unmarshal(r.Data, &e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return recs, es
}

func outboxLen(t *testing.T, s store.Store) int {
	recs, _ := outbox(t, s)
	return len(recs)
}

// clock is a settable clock for the Now option.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	acctA = "111111111111"
	acctB = "222222222222"
)

func customizationEvent(account, job string) Event {
	t := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	return CustomizationJobStateChange("us-east-1", account, CustomizationDetail{
		JobName: job, JobArn: "arn:aws:bedrock:us-east-1:" + account + ":model-customization-job/" + job,
		JobStatus: "Completed", CreationTime: t, LastModifiedTime: t, EndTime: t,
	}, t)
}

func importEvent(account, job string) Event {
	t := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	return ImportJobStateChange("us-east-1", account, ImportDetail{
		JobName: job, JobArn: "arn:aws:bedrock:us-east-1:" + account + ":model-import-job/" + job,
		JobStatus: "InProgress", CreationTime: t, LastModifiedTime: t,
	}, t)
}
