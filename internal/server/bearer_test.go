package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/store/sqlite"
)

// sigv4Marker stands in for the SigV4 authenticator Bearer falls back to,
// recording that it was asked.
type sigv4Marker struct{ called atomic.Int32 }

func (m *sigv4Marker) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	m.called.Add(1)
	return &iam.Principal{ARN: "sigv4"}, nil, nil
}

func TestBearer(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := iam.NewDirectory(db, nil)
	const acct = "111122223333"
	alice, err := dir.CreateUser(ctx, acct, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, id, err := dir.CreateAPIKey(ctx, acct, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var lookups atomic.Int32
	lookup := func(ctx context.Context, k string) (*iam.Principal, error) {
		lookups.Add(1)
		return dir.LookupAPIKey(ctx, k)
	}
	next := &sigv4Marker{}
	b := NewBearer(lookup, next)

	req := func(auth, body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		return r
	}
	kindOf := func(err error) apierr.Kind {
		e, ok := errors.AsType[*apierr.Error](err)
		if !ok {
			t.Fatalf("err %v is not an apierr", err)
		}
		return e.Kind
	}

	t.Run("good-key-returns-principal-and-body", func(t *testing.T) {
		r := req("Bearer "+key, `{"x":1}`)
		p, body, err := b.Authenticate(r)
		if err != nil || p.ARN != alice.ARN || string(body) != `{"x":1}` {
			t.Fatalf("%+v %q %v", p, body, err)
		}
	})

	t.Run("cached", func(t *testing.T) {
		before := lookups.Load()
		for range 5 {
			if _, _, err := b.Authenticate(req("bearer "+key, "")); err != nil {
				t.Fatal(err)
			}
		}
		if lookups.Load() != before {
			t.Errorf("%d store lookups for a cached key", lookups.Load()-before)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		tests := []struct {
			name, auth string
			kind       apierr.Kind
		}{
			{"no-header", "", apierr.MissingAuthentication},
			{"empty-bearer", "Bearer ", apierr.MissingAuthentication},
			{"malformed", "Bearer sk-1234", apierr.UnrecognizedClient},
			{"unknown", "Bearer sk-strata-" + strings.Repeat("a", 16) + "-" + strings.Repeat("b", 52), apierr.UnrecognizedClient},
			{"wrong-secret", "Bearer " + key[:len(key)-1] + map[bool]string{true: "b", false: "a"}[strings.HasSuffix(key, "a")], apierr.UnrecognizedClient},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := NewBearer(lookup, nil).Authenticate(req(tc.auth, ""))
				if !errors.Is(err, ErrBadAPIKey) || kindOf(err) != tc.kind {
					t.Errorf("err = %v, want %v", err, tc.kind)
				}
				if err != nil && strings.Contains(err.Error(), key[len(key)-20:]) {
					t.Error("the error shows the secret")
				}
			})
		}
	})

	t.Run("sigv4-falls-through", func(t *testing.T) {
		p, _, err := b.Authenticate(req("AWS4-HMAC-SHA256 Credential=AKIA/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00", ""))
		if err != nil || p.ARN != "sigv4" || next.called.Load() != 1 {
			t.Errorf("%+v %v, next called %d times", p, err, next.called.Load())
		}
		if _, _, err := b.Authenticate(req("", "")); kindOf(err) != apierr.MissingAuthentication || next.called.Load() != 1 {
			t.Errorf("no credentials: %v", err)
		}
	})

	t.Run("oversize-body", func(t *testing.T) {
		_, _, err := b.Authenticate(req("Bearer "+key, strings.Repeat("a", MaxBody+1)))
		if kindOf(err) != apierr.RequestTooLarge {
			t.Errorf("err = %v", err)
		}
	})

	t.Run("deleted-key-forgotten", func(t *testing.T) {
		if err := dir.DeleteAPIKey(ctx, acct, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := b.Authenticate(req("Bearer "+key, "")); err != nil {
			t.Errorf("the cached key should still pass until forgotten or expired: %v", err)
		}
		b.Forget(id)
		if _, _, err := b.Authenticate(req("Bearer "+key, "")); !errors.Is(err, ErrBadAPIKey) {
			t.Errorf("deleted key after Forget: %v", err)
		}
	})
}
