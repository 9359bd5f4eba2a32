package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
)

// Access key id prefixes, as AWS uses them.
const (
	LongTermKeyPrefix  = "AKIA" // an IAM user's access key
	TemporaryKeyPrefix = "ASIA" // an STS session's access key
)

// upperBase32 is RFC 4648 base32 (A-Z, 2-7), the alphabet of AWS key ids.
var upperBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// lowerBase32 is the same alphabet in lower case, for API keys.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewAccessKey returns a new long-term access key: an id of "AKIA" and 16
// base32 characters (80 random bits) and a 40-character secret (240 random
// bits, base64 alphabet) from crypto/rand.
func NewAccessKey() (id, secret string) { return newAccessKey(LongTermKeyPrefix) }

// NewTemporaryAccessKey is NewAccessKey for STS sessions: the id starts
// with "ASIA".
func NewTemporaryAccessKey() (id, secret string) { return newAccessKey(TemporaryKeyPrefix) }

func newAccessKey(prefix string) (id, secret string) {
	var idb [10]byte
	rand.Read(idb[:])
	var sb [30]byte
	rand.Read(sb[:])
	return prefix + upperBase32.EncodeToString(idb[:]), base64.StdEncoding.EncodeToString(sb[:])
}

// IsTemporaryKey reports whether id is an STS session's access key id.
func IsTemporaryKey(id string) bool { return strings.HasPrefix(id, TemporaryKeyPrefix) }

// APIKeyPrefix starts every API bearer key.
const APIKeyPrefix = "sk-strata-"

// API key shape: APIKeyPrefix + id (16 lower base32 chars, 80 bits) + "-" +
// secret (52 lower base32 chars, 256 bits).
const (
	apiKeyIDLen     = 16
	apiKeySecretLen = 52
	apiKeyLen       = len(APIKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen
)

// ErrMalformedAPIKey is returned by ParseAPIKey for a string that is not an
// API key strata made.
var ErrMalformedAPIKey = errors.New("malformed API key")

// NewAPIKey returns a new bearer key for the OpenAI-style API,
// "sk-strata-<id>-<secret>", and its id. Store the id and HashAPIKey(key);
// show the key once and never store it.
func NewAPIKey() (key, id string) {
	var idb [10]byte
	rand.Read(idb[:])
	var sb [32]byte
	rand.Read(sb[:])
	id = lowerBase32.EncodeToString(idb[:])
	return APIKeyPrefix + id + "-" + lowerBase32.EncodeToString(sb[:]), id
}

// ParseAPIKey checks key's shape and returns its id, which names the stored
// hash to compare against with CheckAPIKey.
func ParseAPIKey(key string) (id string, err error) {
	if len(key) != apiKeyLen || !strings.HasPrefix(key, APIKeyPrefix) {
		return "", ErrMalformedAPIKey
	}
	rest := key[len(APIKeyPrefix):]
	id, secret := rest[:apiKeyIDLen], rest[apiKeyIDLen+1:]
	if rest[apiKeyIDLen] != '-' || !isLowerBase32(id) || !isLowerBase32(secret) {
		return "", ErrMalformedAPIKey
	}
	return id, nil
}

func isLowerBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// HashAPIKey returns the hex SHA-256 of key, the value to store. A plain
// hash suffices: the secret part carries 256 random bits, so there is
// nothing to brute-force.
func HashAPIKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// CheckAPIKey reports, in constant time, whether key hashes to storedHash
// (a HashAPIKey result).
func CheckAPIKey(key, storedHash string) bool {
	want, err := hex.DecodeString(storedHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(got[:], want) == 1
}

// BearerToken returns the token of an "Authorization: Bearer <token>"
// header (the scheme is case-insensitive) and whether there was one.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get(HeaderAuthorization)
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
