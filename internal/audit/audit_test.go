package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"strata/internal/store"
	"strata/internal/store/postgres/pgtest"
	"strata/internal/store/sqlite"
)

func newStore(t testing.TB) store.Store {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stores are the metadata stores the trail is tested on.
var stores = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"sqlite", newStore},
	{"postgres", func(t testing.TB) store.Store { return pgtest.Open(t) }},
}

// onEachStore runs test once per store, as a subtest.
func onEachStore(t *testing.T, test func(t *testing.T, newStore func(testing.TB) store.Store)) {
	for _, s := range stores {
		t.Run(s.name, func(t *testing.T) { test(t, s.open) })
	}
}

func fill(t *testing.T, st store.Store, node string, n int) *Trail {
	tr, err := Open(t.Context(), st, node, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		tr.Append(Event{API: "bedrock", Operation: "InvokeModel", Outcome: "ok", Principal: fmt.Sprint("user", i), InputTokens: i})
	}
	if err := tr.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestChainVerifies(t *testing.T) {
	onEachStore(t, func(t *testing.T, newStore func(testing.TB) store.Store) {
		st := newStore(t)
		fill(t, st, "node-a", 30)
		fill(t, st, "node-b", 5)
		fill(t, st, "node-a", 7) // reopened: continues the chain
		r, err := Verify(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		if r.Events != 42 || r.Nodes["node-a"] != 37 || r.Nodes["node-b"] != 5 {
			t.Errorf("report = %+v", r)
		}
	})
}

// editEvents rewrites the stored block that holds node n's event seq.
func editEvents(t *testing.T, st store.Store, seq int64, edit func([]Event) []Event) {
	t.Helper()
	recs, _, err := st.List(t.Context(), store.Query{Kind: Kind})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		events, err := readBlock(r)
		if err != nil {
			t.Fatal(err)
		}
		if seq < events[0].Seq || seq > events[len(events)-1].Seq {
			continue
		}
		if r.Data, err = json.Marshal(edit(events)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Update(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no block holds event %d", seq)
}

func TestTamperingDetected(t *testing.T) {
	onEachStore(t, func(t *testing.T, newStore func(testing.TB) store.Store) {
		tests := []struct {
			name   string
			tamper func(t *testing.T, st store.Store)
		}{
			{"altered-field", func(t *testing.T, st store.Store) {
				editEvents(t, st, 5, func(es []Event) []Event {
					es[4].Outcome = "AccessDeniedException"
					return es
				})
			}},
			{"altered-and-rehashed", func(t *testing.T, st store.Store) {
				editEvents(t, st, 5, func(es []Event) []Event {
					es[4].Principal = "someone-else"
					es[4].Hash = es[4].digest() // the next event's PrevHash still names the old hash
					return es
				})
			}},
			{"removed", func(t *testing.T, st store.Store) {
				editEvents(t, st, 4, func(es []Event) []Event { return append(es[:3], es[4:]...) })
			}},
			{"reordered", func(t *testing.T, st store.Store) {
				editEvents(t, st, 2, func(es []Event) []Event {
					es[1], es[2] = es[2], es[1]
					return es
				})
			}},
			{"removed-block", func(t *testing.T, st store.Store) {
				st.Delete(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 11)}, 0)
			}},
			{"truncated-head", func(t *testing.T, st store.Store) {
				st.Delete(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 1)}, 0)
			}},
			{"unreadable-block", func(t *testing.T, st store.Store) {
				r, err := st.Get(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 11)})
				if err != nil {
					t.Fatal(err)
				}
				r.Data = r.Data[:len(r.Data)/2]
				st.Update(t.Context(), r)
			}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				st := newStore(t)
				// Three flushes: blocks starting at events 1, 11 and 16.
				fill(t, st, "n", 10)
				fill(t, st, "n", 5)
				fill(t, st, "n", 5)
				if r, err := Verify(t.Context(), st); err != nil || r.Events != 20 {
					t.Fatalf("before tampering: %+v, %v", r, err)
				}
				tc.tamper(t, st)
				if _, err := Verify(t.Context(), st); !errors.Is(err, ErrBroken) {
					t.Errorf("Verify = %v, want ErrBroken", err)
				}
			})
		}
	})
}

// TestBlocks checks that one flush writes one record, and more when it
// holds more events, or events further apart, than a block may.
func TestBlocks(t *testing.T) {
	onEachStore(t, func(t *testing.T, newStore func(testing.TB) store.Store) {
		st := newStore(t)
		tr, err := Open(t.Context(), st, "n", nil)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		for i := range maxBlockEvents + 10 {
			tr.Append(Event{API: "bedrock", Operation: "InvokeModel", Outcome: "ok", Time: t0.Add(time.Duration(i) * time.Millisecond)})
		}
		tr.Append(Event{API: "bedrock", Operation: "InvokeModel", Outcome: "ok", Time: t0.Add(5 * time.Minute)})
		if err := tr.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		recs, _, err := st.List(t.Context(), store.Query{Kind: Kind, Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int
		for _, r := range recs {
			events, err := readBlock(r)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(events))
		}
		if fmt.Sprint(sizes) != fmt.Sprint([]int{maxBlockEvents, 10, 1}) {
			t.Errorf("block sizes %v, want [%d 10 1]", sizes, maxBlockEvents)
		}
		if r, err := Verify(t.Context(), st); err != nil || r.Events != maxBlockEvents+11 {
			t.Errorf("Verify: %+v, %v", r, err)
		}
		// List finds the events of a range, including those of a block that
		// starts before it.
		n := 0
		from, to := t0.Add(500*time.Millisecond), t0.Add(5*time.Minute)
		if err := List(t.Context(), st, from, to, func(e Event) error {
			if e.Time.Before(from) || !e.Time.Before(to) {
				return fmt.Errorf("event at %v outside [%v, %v)", e.Time, from, to)
			}
			n++
			return nil
		}); err != nil || n != maxBlockEvents+10-500 {
			t.Errorf("List: %d events, %v; want %d", n, err, maxBlockEvents+10-500)
		}
	})
}

func TestList(t *testing.T) {
	onEachStore(t, func(t *testing.T, newStore func(testing.TB) store.Store) {
		st := newStore(t)
		fill(t, st, "n", 12)
		n := 0
		err := List(t.Context(), st, time.Time{}, time.Time{}, func(e Event) error {
			n++
			if e.Seq != int64(n) {
				return fmt.Errorf("event %d at position %d", e.Seq, n)
			}
			return nil
		})
		if err != nil || n != 12 {
			t.Fatalf("List: %d events, %v", n, err)
		}
	})
}
