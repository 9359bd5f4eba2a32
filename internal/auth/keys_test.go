package auth

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestNewAccessKey(t *testing.T) {
	idRE := regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	tmpRE := regexp.MustCompile(`^ASIA[A-Z2-7]{16}$`)
	secretRE := regexp.MustCompile(`^[A-Za-z0-9+/]{40}$`)
	seen := map[string]bool{}
	for range 100 {
		id, secret := NewAccessKey()
		if !idRE.MatchString(id) || !secretRE.MatchString(secret) {
			t.Fatalf("NewAccessKey = %q, %q", id, secret)
		}
		if seen[id] || seen[secret] {
			t.Fatalf("repeated key material")
		}
		seen[id], seen[secret] = true, true
		if IsTemporaryKey(id) {
			t.Fatalf("%s reported temporary", id)
		}
		tid, tsecret := NewTemporaryAccessKey()
		if !tmpRE.MatchString(tid) || !secretRE.MatchString(tsecret) || !IsTemporaryKey(tid) {
			t.Fatalf("NewTemporaryAccessKey = %q, %q", tid, tsecret)
		}
		// Every generated id passes the SigV4 parser.
		if _, err := ParseAuthorization("AWS4-HMAC-SHA256 Credential=" + id + "/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=" + sigA); err != nil {
			t.Fatalf("generated id %s rejected: %v", id, err)
		}
	}
}

func TestAPIKey(t *testing.T) {
	key, id := NewAPIKey()
	if !strings.HasPrefix(key, "sk-strata-"+id+"-") {
		t.Fatalf("key %q does not embed id %q", key, id)
	}
	got, err := ParseAPIKey(key)
	if err != nil || got != id {
		t.Fatalf("ParseAPIKey = %q, %v; want %q", got, err, id)
	}
	h := HashAPIKey(key)
	if !CheckAPIKey(key, h) {
		t.Fatal("CheckAPIKey rejects the key")
	}
	other, _ := NewAPIKey()
	tests := []struct {
		name string
		key  string
		hash string
	}{
		{"other-key", other, h},
		{"one-char-changed", key[:len(key)-1] + "a", h},
		{"empty-hash", key, ""},
		{"bad-hash", key, "zz"},
		{"short-hash", key, h[:10]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key == key[:len(key)-1]+"a" && strings.HasSuffix(key, "a") {
				t.Skip("key happens to end in a")
			}
			if CheckAPIKey(tc.key, tc.hash) {
				t.Error("CheckAPIKey accepted")
			}
		})
	}
	malformed := []string{"", "sk-strata-", "sk-other-" + key[10:], key + "a", key[:len(key)-1], strings.ToUpper(key),
		strings.Replace(key, "-"+key[len(APIKeyPrefix)+apiKeyIDLen+1:], "_"+key[len(APIKeyPrefix)+apiKeyIDLen+1:], 1)}
	for _, m := range malformed {
		if _, err := ParseAPIKey(m); err == nil {
			t.Errorf("ParseAPIKey(%q) accepted", m)
		}
	}
}

func FuzzParseAPIKey(f *testing.F) {
	key, _ := NewAPIKey()
	f.Add(key)
	f.Add("sk-strata-")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseAPIKey(s)
		if err != nil {
			return
		}
		if len(id) != apiKeyIDLen || !strings.HasPrefix(s, APIKeyPrefix+id+"-") || len(s) != apiKeyLen {
			t.Fatalf("ParseAPIKey(%q) = %q", s, id)
		}
	})
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		name, header, want string
		ok                 bool
	}{
		{"bearer", "Bearer sk-strata-x", "sk-strata-x", true},
		{"lower-scheme", "bearer tok", "tok", true},
		{"no-token", "Bearer ", "", false},
		{"sigv4", "AWS4-HMAC-SHA256 Credential=x", "", false},
		{"absent", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", "http://x/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			got, ok := BearerToken(r)
			if got != tc.want || ok != tc.ok {
				t.Errorf("BearerToken = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
