package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestVerifierPassesSessionToken checks that Lookup sees the request's
// X-Amz-Security-Token in its context and that a token failure it returns
// keeps its kind.
func TestVerifierPassesSessionToken(t *testing.T) {
	const id, secret, good = "ASIAAAAAAAAAAAAAAAAA", "secret", "the-token"
	now := time.Now()
	v := &Verifier{Services: []string{"sts"}, Lookup: func(ctx context.Context, got string) (string, error) {
		tok, ok := SecurityTokenFrom(ctx)
		switch {
		case !ok:
			t.Error("Lookup's context carries no token slot")
		case tok == "expired":
			return "", ErrExpiredToken
		case tok != good:
			return "", ErrInvalidToken
		}
		return secret, nil
	}}
	for _, tc := range []struct {
		token string
		want  Kind
	}{{good, 0}, {"", KindInvalidToken}, {"bad", KindInvalidToken}, {"expired", KindExpiredToken}} {
		body := "Action=GetCallerIdentity"
		r := httptest.NewRequest("POST", "http://strata.test/", strings.NewReader(body))
		hs := []string{"host", "x-amz-date"}
		if tc.token != "" {
			r.Header.Set(HeaderSecurityToken, tc.token)
			hs = append(hs, "x-amz-security-token")
		}
		sum := sha256.Sum256([]byte(body))
		if err := Sign(r, id, secret, "us-east-1", "sts", now, hex.EncodeToString(sum[:]), hs); err != nil {
			t.Fatal(err)
		}
		_, _, err := v.VerifyRequest(r, 1<<20)
		if k := KindOf(err); k != tc.want {
			t.Errorf("token %q: %v (kind %v), want kind %v", tc.token, err, k, tc.want)
		}
	}
}
