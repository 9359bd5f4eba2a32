package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"strata/internal/auth"
	"strata/internal/iam"
	"strata/internal/store/sqlite"
)

type gcmSealer struct{ aead cipher.AEAD }

func (s gcmSealer) Seal(_ context.Context, pt, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, pt, aad), nil
}

func (s gcmSealer) Open(_ context.Context, ct, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ct) < n {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, ct[:n], ct[n:], aad)
}

// signed returns a GetCallerIdentity request signed with the key, and with
// token in X-Amz-Security-Token when it is not "".
func signed(t *testing.T, id, secret, token string) *http.Request {
	t.Helper()
	body := "Action=GetCallerIdentity&Version=2011-06-15"
	r := httptest.NewRequest("POST", "http://strata.test/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	headers := []string{"host", "x-amz-date", "content-type"}
	if token != "" {
		r.Header.Set(auth.HeaderSecurityToken, token)
		headers = append(headers, "x-amz-security-token")
	}
	sum := sha256.Sum256([]byte(body))
	if err := auth.Sign(r, id, secret, "us-east-1", "sts", time.Now(), hex.EncodeToString(sum[:]), headers); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSigV4Sessions(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(b)
	dir := iam.NewDirectory(db, gcmSealer{a})
	boot, err := dir.Bootstrap(ctx, func(iam.Bootstrap) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := dir.LookupAccessKey(ctx, boot.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := dir.AssumeRole(ctx, &iam.Evaluator{}, admin, iam.AssumeRoleInput{RoleARN: boot.RoleARN, SessionName: "check", Duration: 900 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := NewSigV4(dir, "sts")
	now := time.Now()
	s.Now = func() time.Time { return now }

	p, _, err := s.Authenticate(signed(t, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	if err != nil {
		t.Fatalf("the session's own request: %v", err)
	}
	if p.ARN != creds.AssumedRoleARN || p.RoleARN != boot.RoleARN {
		t.Fatalf("principal %+v", p)
	}
	// Now cached: a wrong or missing token is still refused.
	for _, tc := range []struct {
		name  string
		token string
		want  auth.Kind
	}{
		{"missing-token", "", auth.KindInvalidToken},
		{"wrong-token", "A" + creds.SessionToken[1:], auth.KindInvalidToken},
		{"other-token", "bm90IGEgdG9rZW4=", auth.KindInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.Authenticate(signed(t, creds.AccessKeyID, creds.SecretAccessKey, tc.token))
			if k := auth.KindOf(err); k != tc.want {
				t.Fatalf("Authenticate = %v (kind %v), want %v", err, k, tc.want)
			}
			code, status := auth.KindOf(err).Wire(auth.Query)
			if code != "InvalidClientTokenId" || status != 403 {
				t.Errorf("wire %s %d", code, status)
			}
		})
	}
	// A long-term key with a token is refused; without one it works.
	adminSecret := func() string {
		sec, _, err := dir.LookupAccessKey(ctx, boot.AccessKeyID)
		if err != nil {
			t.Fatal(err)
		}
		return sec
	}()
	if _, _, err := s.Authenticate(signed(t, boot.AccessKeyID, adminSecret, creds.SessionToken)); auth.KindOf(err) != auth.KindInvalidToken {
		t.Errorf("long-term key with a session token: %v", err)
	}
	if _, _, err := s.Authenticate(signed(t, boot.AccessKeyID, adminSecret, "")); err != nil {
		t.Errorf("long-term key: %v", err)
	}

	// S3 looks keys up itself: under SecurityTokenContext, LookupAccessKey
	// sees the request's token.
	var got error
	h := auth.SecurityTokenContext(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, got = s.LookupAccessKey(r.Context(), creds.AccessKeyID)
	}))
	for _, tc := range []struct {
		token string
		ok    bool
	}{{creds.SessionToken, true}, {"", false}, {"wrong", false}} {
		r := httptest.NewRequest("GET", "/bucket", nil)
		if tc.token != "" {
			r.Header.Set(auth.HeaderSecurityToken, tc.token)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
		if (got == nil) != tc.ok {
			t.Errorf("LookupAccessKey with token %q: %v", tc.token, got)
		}
	}
	r := httptest.NewRequest("GET", "/bucket/key?X-Amz-Credential=x&X-Amz-Security-Token="+strings.ReplaceAll(creds.SessionToken, "+", "%2B"), nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	if got != nil {
		t.Errorf("presigned URL token: %v", got)
	}
	// Without the middleware, session keys are refused (fail closed).
	if _, _, err := s.LookupAccessKey(ctx, creds.AccessKeyID); auth.KindOf(err) != auth.KindInvalidToken {
		t.Errorf("LookupAccessKey without a token: %v", err)
	}

	// Expiry, by the injected clock, even while cached.
	now = now.Add(15 * time.Minute)
	_, _, err = s.Authenticate(signed(t, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken))
	if auth.KindOf(err) != auth.KindExpiredToken {
		t.Fatalf("after expiry: %v", err)
	}
	if code, status := auth.KindOf(err).Wire(auth.Query); code != "ExpiredToken" || status != 400 {
		t.Errorf("expired wire %s %d", code, status)
	}
	if code, _ := auth.KindOf(err).Wire(auth.JSON); code != "ExpiredTokenException" {
		t.Errorf("expired JSON wire %s", code)
	}
	if code, _ := auth.KindOf(err).Wire(auth.S3); code != "ExpiredToken" {
		t.Errorf("expired S3 wire %s", code)
	}
	if strings.Contains(err.Error(), creds.SecretAccessKey) || strings.Contains(err.Error(), creds.SessionToken) {
		t.Fatal("an auth error shows a secret")
	}
}
