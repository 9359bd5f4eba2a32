// Package storetest is the conformance suite every store.Store
// implementation runs: the embedded SQLite store and the PostgreSQL store
// must behave the same to their callers.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"strata/internal/store"
)

// Run runs the suite. newStore returns an empty store; it is called once
// per subtest.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"create-get-roundtrip", testCreateGet},
		{"unique-fields-conflict", testConflicts},
		{"lookups-by-name-arn-token", testLookups},
		{"update-bumps-version", testUpdate},
		{"stale-update-conflicts", testStaleUpdate},
		{"delete", testDelete},
		{"list-filters-and-pages", testList},
		{"apply-is-atomic", testApply},
		{"concurrent-creates-one-wins", testConcurrentCreate},
		{"bad-page-token", testBadPageToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

func rec(id string) store.Record {
	return store.Record{Kind: "thing", Account: "111122223333", ID: id, Name: "name-" + id,
		ARN: "arn:aws:test:::thing/" + id, Status: "Active", Data: []byte(`{"k":"` + id + `"}`)}
}

func mustCreate(t *testing.T, s store.Store, r store.Record) store.Record {
	t.Helper()
	got, err := s.Create(t.Context(), r)
	if err != nil {
		t.Fatalf("Create(%s): %v", r.ID, err)
	}
	return got
}

func testCreateGet(t *testing.T, s store.Store) {
	created := mustCreate(t, s, rec("a"))
	if created.Version != 1 || created.Created.IsZero() || !created.Updated.Equal(created.Created) {
		t.Fatalf("Create returned %+v; want version 1 and times set", created)
	}
	got, err := s.Get(t.Context(), created.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "name-a" || got.ARN != "arn:aws:test:::thing/a" || string(got.Data) != `{"k":"a"}` || got.Status != "Active" {
		t.Errorf("Get = %+v", got)
	}
	if !got.Created.Equal(created.Created) {
		t.Errorf("Created = %v, want %v", got.Created, created.Created)
	}
	if _, err := s.Get(t.Context(), store.Key{Kind: "thing", Account: "111122223333", ID: "zz"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(missing) err = %v, want ErrNotFound", err)
	}
	// Another account's record with the same id is separate.
	other := rec("a")
	other.Account, other.ARN, other.Name = "444455556666", "arn:aws:test:::other/a", "name-a"
	mustCreate(t, s, other)
}

func testConflicts(t *testing.T, s store.Store) {
	a := rec("a")
	a.Token = "tok"
	mustCreate(t, s, a)
	cases := []struct {
		name  string
		mod   func(r *store.Record)
		field string
	}{
		{"same-id", func(r *store.Record) { r.ID = "a"; r.Name = "x"; r.ARN = "arn:x" }, "id"},
		{"same-name", func(r *store.Record) { r.Name = "name-a" }, "name"},
		{"same-arn", func(r *store.Record) { r.ARN = a.ARN }, "arn"},
		{"same-token", func(r *store.Record) { r.Token = "tok" }, "token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rec("b")
			tc.mod(&r)
			_, err := s.Create(t.Context(), r)
			ce, ok := errors.AsType[*store.ConflictError](err)
			if !ok || !errors.Is(err, store.ErrConflict) {
				t.Fatalf("Create err = %v, want a ConflictError", err)
			}
			if ce.Field != tc.field {
				t.Errorf("conflict field = %q, want %q", ce.Field, tc.field)
			}
		})
	}
	// Empty names, ARNs and tokens never conflict.
	for _, id := range []string{"c", "d"} {
		r := rec(id)
		r.Name, r.ARN = "", ""
		mustCreate(t, s, r)
	}
}

func testLookups(t *testing.T, s store.Store) {
	r := rec("a")
	r.Token = "client-token"
	mustCreate(t, s, r)
	ctx := t.Context()
	for name, get := range map[string]func() (store.Record, error){
		"name":  func() (store.Record, error) { return s.GetByName(ctx, "thing", "111122223333", "name-a") },
		"arn":   func() (store.Record, error) { return s.GetByARN(ctx, "arn:aws:test:::thing/a") },
		"token": func() (store.Record, error) { return s.GetByToken(ctx, "thing", "111122223333", "client-token") },
	} {
		got, err := get()
		if err != nil || got.ID != "a" {
			t.Errorf("by %s: %+v, %v", name, got, err)
		}
	}
	if _, err := s.GetByName(ctx, "thing", "999999999999", "name-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByName in another account: %v, want ErrNotFound", err)
	}
	if _, err := s.GetByName(ctx, "thing", "111122223333", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetByName(\"\"): %v, want ErrNotFound", err)
	}
	// store.Lookup: ARN, name or id, in the account, of the kind.
	for _, ident := range []string{"arn:aws:test:::thing/a", "name-a", "a"} {
		if got, err := store.Lookup(ctx, s, "thing", "111122223333", ident); err != nil || got.ID != "a" {
			t.Errorf("Lookup(%q): %+v, %v", ident, got, err)
		}
		for _, other := range []struct{ kind, account string }{{"thing", "999999999999"}, {"other", "111122223333"}} {
			if _, err := store.Lookup(ctx, s, other.kind, other.account, ident); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Lookup(%q) as %s in %s: %v, want ErrNotFound", ident, other.kind, other.account, err)
			}
		}
	}
}

func testUpdate(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("a"))
	r.Status = "Done"
	r.Data = []byte(`{"k":"new"}`)
	r.Name = "renamed"
	u, err := s.Update(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 2 || !u.Updated.After(u.Created) {
		t.Errorf("Update = version %d updated %v created %v", u.Version, u.Updated, u.Created)
	}
	got, _ := s.Get(t.Context(), r.Key())
	if got.Status != "Done" || string(got.Data) != `{"k":"new"}` || got.Name != "renamed" || got.Version != 2 {
		t.Errorf("after update: %+v", got)
	}
	if _, err := s.GetByName(t.Context(), "thing", r.Account, "name-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old name still found: %v", err)
	}
	missing := rec("zz")
	if _, err := s.Update(t.Context(), missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update(missing) = %v, want ErrNotFound", err)
	}
	// Renaming onto a taken name conflicts.
	mustCreate(t, s, rec("b"))
	got.Name = "name-b"
	if _, err := s.Update(t.Context(), got); !errors.Is(err, store.ErrConflict) {
		t.Errorf("rename onto taken name: %v, want conflict", err)
	}
}

func testStaleUpdate(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("a"))
	if _, err := s.Update(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(t.Context(), r); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale Update = %v, want ErrConflict", err)
	}
	if err := s.Delete(t.Context(), r.Key(), r.Version); !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale Delete = %v, want ErrConflict", err)
	}
}

func testDelete(t *testing.T, s store.Store) {
	r := mustCreate(t, s, rec("a"))
	if err := s.Delete(t.Context(), r.Key(), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), r.Key()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete = %v", err)
	}
	if err := s.Delete(t.Context(), r.Key(), 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	// The name, ARN and id are free again.
	mustCreate(t, s, rec("a"))
}

func testList(t *testing.T, s store.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		r := rec(fmt.Sprintf("r%02d", i))
		r.Created = base.Add(time.Duration(i) * time.Minute)
		if i%5 == 0 {
			r.Status = "Failed"
		}
		mustCreate(t, s, r)
	}
	other := rec("o")
	other.Kind = "other"
	mustCreate(t, s, other)
	ctx := t.Context()
	collect := func(q store.Query) []string {
		var ids []string
		for {
			page, next, err := s.List(ctx, q)
			if err != nil {
				t.Fatalf("List(%+v): %v", q, err)
			}
			if q.Limit > 0 && len(page) > q.Limit {
				t.Fatalf("page of %d > limit %d", len(page), q.Limit)
			}
			for _, r := range page {
				ids = append(ids, r.ID)
			}
			if next == "" {
				return ids
			}
			q.PageToken = next
		}
	}
	q := store.Query{Kind: "thing", Account: "111122223333"}
	all := collect(q)
	if len(all) != 25 || all[0] != "r24" || all[24] != "r00" {
		t.Errorf("newest first: %v", all)
	}
	q.Ascending, q.Limit = true, 7
	asc := collect(q)
	if len(asc) != 25 || asc[0] != "r00" || asc[24] != "r24" {
		t.Errorf("ascending pages: %v", asc)
	}
	if got := collect(store.Query{Kind: "thing", Account: "111122223333", Status: "Failed", Limit: 2}); len(got) != 5 {
		t.Errorf("status filter: %v", got)
	}
	if got := collect(store.Query{Kind: "thing", Account: "111122223333", NameContains: "r1"}); len(got) != 10 {
		t.Errorf("name filter: %v", got)
	}
	got := collect(store.Query{Kind: "thing", Account: "111122223333",
		CreatedAfter: base.Add(9 * time.Minute), CreatedBefore: base.Add(15 * time.Minute)})
	if len(got) != 5 {
		t.Errorf("time filter: %v", got)
	}
	if got := collect(store.Query{Kind: "thing", Account: "000000000000"}); len(got) != 0 {
		t.Errorf("other account: %v", got)
	}
}

func testApply(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustCreate(t, s, rec("a"))
	b := rec("b")
	a.Status = "Completed"
	if err := s.Apply(ctx, []store.Op{{Create: &b}, {Update: &a}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, a.Key()); got.Status != "Completed" {
		t.Errorf("update in batch lost: %+v", got)
	}
	// A failing op rolls back the whole batch.
	c := rec("c")
	dup := rec("b") // conflicts
	a2, _ := s.Get(ctx, a.Key())
	a2.Status = "Changed"
	err := s.Apply(ctx, []store.Op{{Create: &c}, {Update: &a2}, {Create: &dup}})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Apply with conflict = %v", err)
	}
	if _, err := s.Get(ctx, c.Key()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("created record survived a failed batch")
	}
	if got, _ := s.Get(ctx, a.Key()); got.Status != "Completed" {
		t.Errorf("update survived a failed batch: %+v", got)
	}
	k := b.Key()
	if err := s.Apply(ctx, []store.Op{{Delete: &k}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx, []store.Op{{}}); err == nil {
		t.Error("empty op accepted")
	}
}

func testConcurrentCreate(t *testing.T, s store.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			r := rec(fmt.Sprint("c", i))
			r.Name = "same"
			_, errs[i] = s.Create(ctx, r)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent creates of one name succeeded, want 1", ok)
	}
}

func testBadPageToken(t *testing.T, s store.Store) {
	_, _, err := s.List(t.Context(), store.Query{Kind: "thing", Account: "1", PageToken: "garbage!"})
	if !errors.Is(err, store.ErrBadPageToken) {
		t.Errorf("List(bad token) = %v, want ErrBadPageToken", err)
	}
}
