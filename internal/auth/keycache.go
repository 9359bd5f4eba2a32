package auth

import "sync"

// keyCache memoises signing keys per access key and credential scope, so
// a request costs one HMAC instead of five. An entry is added only after a
// signature made with its key verified, and is used only while the key's
// secret is the one it was derived from. The map is cleared when it grows
// past maxCachedKeys (a day's keys for a few thousand clients).
//
// Values are pointers, so formatting a Verifier with %v prints addresses,
// not secrets or keys.
type keyCache struct {
	mu sync.Mutex
	m  map[scopeKey]*cachedKey // +checklocks:mu
}

// scopeKey names a signing key: an access key id and a credential scope.
// It holds nothing secret.
type scopeKey struct {
	accessKeyID, date, region, service string
}

type cachedKey struct {
	secret string // the secret the key was derived from
	key    [32]byte
}

const maxCachedKeys = 4096

// lookup returns the cached signing key for the access key id and scope,
// if one was derived from secret.
func (c *keyCache) lookup(accessKeyID, secret, date, region, service string) (key [32]byte, ok bool) {
	c.mu.Lock()
	e := c.m[scopeKey{accessKeyID, date, region, service}]
	c.mu.Unlock()
	if e == nil || !equalSecret(e.secret, secret) {
		return [32]byte{}, false
	}
	return e.key, true
}

// add caches key, the signing key of secret for the access key id and
// scope, replacing any older entry.
func (c *keyCache) add(accessKeyID, secret, date, region, service string, key [32]byte) {
	e := &cachedKey{secret: secret, key: key}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[scopeKey]*cachedKey)
	}
	c.m[scopeKey{accessKeyID, date, region, service}] = e
	c.mu.Unlock()
}

// equalSecret reports whether a == b in time that depends only on their
// lengths, as crypto/subtle.ConstantTimeCompare does for byte slices.
func equalSecret(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return d == 0
}
