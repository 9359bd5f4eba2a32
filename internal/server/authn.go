package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"strata/internal/auth"
	"strata/internal/iam"
)

// MaxBody bounds a signed request body that is read whole before it is
// verified (every JSON API request).
const MaxBody = 16 << 20

// SigV4 authenticates AWS SigV4-signed requests against the IAM directory.
// Looked-up keys are cached briefly so verification does not hit the
// store on every request.
type SigV4 struct {
	verifier *auth.Verifier
	dir      *iam.Directory

	// Now is the clock sessions expire by; nil means time.Now. Set it
	// before use.
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey // +checklocks:mu
}

type cachedKey struct {
	secret    string
	principal *iam.Principal
	session   *iam.Session // for a temporary (ASIA) key, else nil
	expires   time.Time
}

// keyCacheTTL is how long a looked-up access key is trusted without
// reading the store again; a deactivated key stops working within it.
const keyCacheTTL = 10 * time.Second

// NewSigV4 returns an authenticator for the given SigV4 service names.
func NewSigV4(dir *iam.Directory, services ...string) *SigV4 {
	s := &SigV4{dir: dir, cache: map[string]cachedKey{}}
	s.verifier = &auth.Verifier{Services: services, Lookup: s.lookupSecret}
	return s
}

// lookup returns the key id's secret and principal. The session token ctx
// carries (auth.WithSecurityToken) is checked on every call, cached or
// not: a temporary key needs its session's token and an unexpired
// session; a long-term key must come without one.
func (s *SigV4) lookup(ctx context.Context, id string) (cachedKey, error) {
	token, _ := auth.SecurityTokenFrom(ctx)
	temporary := auth.IsTemporaryKey(id)
	if !temporary && token != "" {
		return cachedKey{}, auth.ErrInvalidToken
	}
	now := time.Now()
	s.mu.Lock()
	c, ok := s.cache[id]
	s.mu.Unlock()
	if !ok || !now.Before(c.expires) {
		var err error
		if c, err = s.load(ctx, id, temporary); err != nil {
			return cachedKey{}, err
		}
		c.expires = now.Add(keyCacheTTL)
		s.mu.Lock()
		if len(s.cache) > 10000 {
			clear(s.cache)
		}
		s.cache[id] = c
		s.mu.Unlock()
	}
	if c.session != nil {
		if err := c.session.Check(token, s.now()); err != nil {
			return cachedKey{}, err
		}
	}
	return c, nil
}

// load reads a key from the directory.
func (s *SigV4) load(ctx context.Context, id string, temporary bool) (cachedKey, error) {
	if temporary {
		sess, err := s.dir.LookupSession(ctx, id)
		if errors.Is(err, iam.ErrNoSuchEntity) {
			return cachedKey{}, auth.ErrUnknownKey
		}
		if err != nil {
			return cachedKey{}, err
		}
		return cachedKey{secret: sess.Secret(), principal: sess.Principal, session: sess}, nil
	}
	secret, p, err := s.dir.LookupAccessKey(ctx, id)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return cachedKey{}, auth.ErrUnknownKey
	}
	if err != nil {
		return cachedKey{}, err
	}
	return cachedKey{secret: secret, principal: p}, nil
}

func (s *SigV4) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *SigV4) lookupSecret(ctx context.Context, id string) (string, error) {
	c, err := s.lookup(ctx, id)
	return c.secret, err
}

// LookupAccessKey returns an access key's secret and principal from the
// cache, reading the directory when the entry is missing or older than
// keyCacheTTL. An unknown key is auth.ErrUnknownKey. APIs that verify
// signatures themselves (S3) share the cache through it; their handler
// must run under auth.SecurityTokenContext so that ctx carries the
// request's session token, or session (ASIA) keys are refused.
func (s *SigV4) LookupAccessKey(ctx context.Context, id string) (secret string, p *iam.Principal, err error) {
	c, err := s.lookup(ctx, id)
	return c.secret, c.principal, err
}

// Authenticate verifies r's signature and returns its principal and body.
func (s *SigV4) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	cred, body, err := s.verifier.VerifyRequest(r, MaxBody)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.lookup(auth.WithSecurityToken(r.Context(), cred.SecurityToken), cred.AccessKeyID)
	if err != nil {
		return nil, nil, err
	}
	return c.principal, body, nil
}
