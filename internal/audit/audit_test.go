package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"strata/internal/store"
	"strata/internal/store/sqlite"
)

func newStore(t *testing.T) store.Store {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
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
}

func TestTamperingDetected(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, st store.Store)
	}{
		{"altered-field", func(t *testing.T, st store.Store) {
			r, _ := st.Get(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 5)})
			var e Event
			json.Unmarshal(r.Data, &e)
			e.Outcome = "AccessDeniedException"
			r.Data, _ = json.Marshal(e)
			st.Update(t.Context(), r)
		}},
		{"altered-and-rehashed", func(t *testing.T, st store.Store) {
			r, _ := st.Get(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 5)})
			var e Event
			json.Unmarshal(r.Data, &e)
			e.Principal = "someone-else"
			e.Hash = e.digest() // the next event's PrevHash still names the old hash
			r.Data, _ = json.Marshal(e)
			st.Update(t.Context(), r)
		}},
		{"removed", func(t *testing.T, st store.Store) {
			st.Delete(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 4)}, 0)
		}},
		{"truncated-head", func(t *testing.T, st store.Store) {
			st.Delete(t.Context(), store.Key{Kind: Kind, ID: eventID("n", 1)}, 0)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			fill(t, st, "n", 10)
			tc.tamper(t, st)
			if _, err := Verify(t.Context(), st); !errors.Is(err, ErrBroken) {
				t.Errorf("Verify = %v, want ErrBroken", err)
			}
		})
	}
}

func TestList(t *testing.T) {
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
}
