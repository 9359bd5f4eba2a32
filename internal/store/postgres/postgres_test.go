package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"strata/internal/store"
	"strata/internal/store/storetest"
)

// adminURL reaches the test server: STRATA_TEST_POSTGRES, or the local
// PostgreSQL this machine runs (127.0.0.1:5432, trust auth).
func adminURL() string {
	if u := os.Getenv("STRATA_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// newDB creates a fresh database for one test and drops it afterwards.
func newDB(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, adminURL())
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (start it, or set STRATA_TEST_POSTGRES): %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "strata_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(adminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	db, err := Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newDB)
}
