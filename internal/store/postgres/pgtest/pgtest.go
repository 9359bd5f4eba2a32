// Package pgtest gives tests a fresh PostgreSQL database each: on the
// server named by STRATA_TEST_POSTGRES, or the one this machine runs
// (127.0.0.1:5432, trust auth). A test fails, not skips, when there is none.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"strata/internal/store/postgres"
)

// AdminURL is the URL of the test server's administrative database.
func AdminURL() string {
	if u := os.Getenv("STRATA_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// URL creates an empty database, dropped when the test ends, and returns
// its URL.
func URL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("PostgreSQL is required for this test (start it, or set STRATA_TEST_POSTGRES): %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "strata_test_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// Open returns a store on a fresh database, closed when the test ends
// (before the database is dropped).
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	u := URL(t)
	db, err := postgres.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
