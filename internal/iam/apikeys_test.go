package iam_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/auth"
	"strata/internal/iam"
	"strata/internal/store/sqlite"
)

func newDirectory(t *testing.T) *iam.Directory {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// API keys keep only hashes, so no sealer is needed.
	return iam.NewDirectory(db, nil)
}

const readOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:Get*","Resource":"*"}]}`

func TestAPIKeys(t *testing.T) {
	ctx := t.Context()
	d := newDirectory(t)
	const acct, other = "111122223333", "444455556666"
	alice, err := d.CreateUser(ctx, acct, "alice", map[string]string{"ro": readOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, acct, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.CreateUser(ctx, other, "alice", nil); err != nil {
		t.Fatal(err)
	}
	key, id, err := d.CreateAPIKey(ctx, acct, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if pid, err := auth.ParseAPIKey(key); err != nil || pid != id {
		t.Fatalf("key %q id %q: ParseAPIKey = %q, %v", key, id, pid, err)
	}
	bobKey, _, err := d.CreateAPIKey(ctx, acct, "bob")
	if err != nil {
		t.Fatal(err)
	}
	otherKey, otherID, err := d.CreateAPIKey(ctx, other, "alice")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("lookup-returns-the-users-principal", func(t *testing.T) {
		p, err := d.LookupAPIKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if p.ARN != alice.ARN || p.Account != acct || p.Kind != iam.KindUser || len(p.Policies) != 1 {
			t.Errorf("principal %+v, want alice's %+v", p, alice)
		}
		authz := &iam.Evaluator{}
		if err := authz.Authorize(ctx, iam.Request{Principal: p, Action: "bedrock:GetImportedModel", Resource: "*"}); err != nil {
			t.Errorf("alice's policy does not apply through the key: %v", err)
		}
		if err := authz.Authorize(ctx, iam.Request{Principal: p, Action: "bedrock:InvokeModel", Resource: "*"}); err == nil {
			t.Error("the key allows more than alice's policy")
		}
	})

	t.Run("lookup-refuses", func(t *testing.T) {
		wrongSecret := key[:len(key)-4] + "aaaa"
		if wrongSecret == key {
			wrongSecret = key[:len(key)-4] + "bbbb"
		}
		tests := []struct{ name, key string }{
			{"empty", ""},
			{"malformed", "sk-not-a-strata-key"},
			{"unknown-id", "sk-strata-" + strings.Repeat("a", 16) + "-" + strings.Repeat("b", 52)},
			{"wrong-secret", wrongSecret},
			{"upper-case", strings.ToUpper(key)},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if p, err := d.LookupAPIKey(ctx, tc.key); !errors.Is(err, iam.ErrNoSuchEntity) {
					t.Errorf("LookupAPIKey = %v, %v; want ErrNoSuchEntity", p, err)
				}
			})
		}
	})

	t.Run("unknown-user", func(t *testing.T) {
		if _, _, err := d.CreateAPIKey(ctx, acct, "carol"); !errors.Is(err, iam.ErrNoSuchEntity) {
			t.Errorf("err = %v, want ErrNoSuchEntity", err)
		}
	})

	t.Run("list-is-per-account-and-user", func(t *testing.T) {
		all, err := d.ListAPIKeys(ctx, acct, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 {
			t.Fatalf("account keys: %+v", all)
		}
		mine, err := d.ListAPIKeys(ctx, acct, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if len(mine) != 1 || mine[0].ID != id || mine[0].UserARN != alice.ARN || mine[0].Created.IsZero() {
			t.Errorf("alice's keys: %+v", mine)
		}
		for _, k := range all {
			if strings.Contains(k.ID, "-") {
				t.Errorf("listing shows more than the id: %+v", k)
			}
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := d.DeleteAPIKey(ctx, acct, otherID); !errors.Is(err, iam.ErrNoSuchEntity) {
			t.Errorf("deleting another account's key: %v", err)
		}
		if _, err := d.LookupAPIKey(ctx, otherKey); err != nil {
			t.Errorf("the other account's key stopped working: %v", err)
		}
		if err := d.DeleteAPIKey(ctx, acct, id); err != nil {
			t.Fatal(err)
		}
		if _, err := d.LookupAPIKey(ctx, key); !errors.Is(err, iam.ErrNoSuchEntity) {
			t.Errorf("deleted key still works: %v", err)
		}
		if _, err := d.LookupAPIKey(ctx, bobKey); err != nil {
			t.Errorf("bob's key stopped working: %v", err)
		}
		if err := d.DeleteAPIKey(ctx, acct, id); !errors.Is(err, iam.ErrNoSuchEntity) {
			t.Errorf("second delete: %v", err)
		}
	})
}
