package auth

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// rotatingVerifier is testVerifier whose secret for testKeyID can be
// changed, as when a key is rotated or replaced in the store.
func rotatingVerifier(secret *string) *Verifier {
	var mu sync.Mutex
	v := testVerifier()
	v.Lookup = func(_ context.Context, id string) (string, error) {
		if id != testKeyID {
			return "", fmt.Errorf("key %s: %w", id, ErrUnknownKey)
		}
		mu.Lock()
		defer mu.Unlock()
		return *secret, nil
	}
	return v
}

func cachedKeys(v *Verifier) int {
	v.keys.mu.Lock()
	defer v.keys.mu.Unlock()
	return len(v.keys.m)
}

// TestVerifySecretChange checks that a cached signing key is not used once
// the access key's secret changes: requests signed with the old secret
// fail, and requests signed with the new one verify.
func TestVerifySecretChange(t *testing.T) {
	const newSecret = "newnewnewnewnewnewnewnewnewnewnewnewnewn"
	secret := testSecret
	v := rotatingVerifier(&secret)
	get := func(s string) *http.Request {
		return sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", secret: s}.sign(t)
	}
	for i := range 2 { // the second time from the cache
		if _, err := v.Verify(get(testSecret), EmptyPayloadHash); err != nil {
			t.Fatalf("Verify %d with the current secret: %v", i, err)
		}
	}
	if n := cachedKeys(v); n != 1 {
		t.Fatalf("%d cached keys, want 1", n)
	}

	secret = newSecret
	_, err := v.Verify(get(testSecret), EmptyPayloadHash)
	if KindOf(err) != KindBadSignature {
		t.Fatalf("Verify with the old secret after rotation: %v, want bad-signature", err)
	}
	if code, _ := err.(*Error).Wire(JSON); code != "InvalidSignatureException" {
		t.Errorf("wire code = %s", code)
	}
	for i := range 2 {
		if _, err := v.Verify(get(newSecret), EmptyPayloadHash); err != nil {
			t.Fatalf("Verify %d with the new secret: %v", i, err)
		}
	}

	// And back: the entry now holds the new secret's key.
	secret = testSecret
	if _, err := v.Verify(get(newSecret), EmptyPayloadHash); KindOf(err) != KindBadSignature {
		t.Fatalf("Verify with the replaced secret: %v, want bad-signature", err)
	}
	if _, err := v.Verify(get(testSecret), EmptyPayloadHash); err != nil {
		t.Fatalf("Verify with the restored secret: %v", err)
	}
}

// TestVerifyCachesOnlyVerifiedKeys checks that requests that fail
// verification add nothing to the signing-key cache, so a caller who knows
// an access key id but not its secret cannot fill it.
func TestVerifyCachesOnlyVerifiedKeys(t *testing.T) {
	v := testVerifier()
	for i := range 50 {
		r := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock",
			secret: fmt.Sprintf("wrong%035d", i)}.sign(t)
		if _, err := v.Verify(r, EmptyPayloadHash); KindOf(err) != KindBadSignature {
			t.Fatalf("Verify: %v, want bad-signature", err)
		}
	}
	if n := cachedKeys(v); n != 0 {
		t.Fatalf("%d cached keys after failed requests, want 0", n)
	}
}

// TestVerifyCacheBounded checks that the signing-key cache stays bounded
// however many scopes verify.
func TestVerifyCacheBounded(t *testing.T) {
	v := testVerifier()
	v.keys.m = make(map[scopeKey]*cachedKey)
	for i := range maxCachedKeys - 1 {
		v.keys.m[scopeKey{testKeyID, "20261121", fmt.Sprintf("r%d", i), "bedrock"}] = &cachedKey{}
	}
	for range 3 {
		r := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"}.sign(t)
		if _, err := v.Verify(r, EmptyPayloadHash); err != nil {
			t.Fatal(err)
		}
		r = sdkRequest{method: "PUT", url: "http://localhost/b/k", service: "s3", body: "x"}.sign(t)
		if _, err := v.Verify(r, sha256Hex([]byte("x"))); err != nil {
			t.Fatal(err)
		}
		if n := cachedKeys(v); n > maxCachedKeys {
			t.Fatalf("cache grew to %d", n)
		}
	}
}

// TestVerifierFormatHidesSecrets checks that printing a Verifier whose
// cache is full shows neither a secret nor a signing key.
func TestVerifierFormatHidesSecrets(t *testing.T) {
	v := testVerifier()
	r := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"}.sign(t)
	if _, err := v.Verify(r, EmptyPayloadHash); err != nil {
		t.Fatal(err)
	}
	key := SigningKey(testSecret, "20261121", testRegion, "bedrock")
	for _, format := range []string{"%v", "%+v", "%#v"} {
		s := fmt.Sprintf(format, v)
		if strings.Contains(s, testSecret) || strings.Contains(s, hex.EncodeToString(key[:])) ||
			strings.Contains(s, fmt.Sprint(key)) || strings.Contains(s, fmt.Sprintf("%#v", key)) {
			t.Errorf("%s of a Verifier reveals a secret: %s", format, s)
		}
	}
}

func TestEqualSecret(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"", "", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"", "a", false},
		{testSecret, testSecret, true},
		{testSecret, "x" + testSecret[1:], false},
	}
	for _, tc := range tests {
		if got := equalSecret(tc.a, tc.b); got != tc.want {
			t.Errorf("equalSecret(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
