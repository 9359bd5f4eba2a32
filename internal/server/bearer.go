package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"strata/internal/apierr"
	"strata/internal/auth"
	"strata/internal/iam"
)

// Authenticator returns the principal of a request and its body (read,
// bounded, and restored on r). SigV4 and Bearer implement it.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// APIKeyLookup finds the principal of an API bearer key;
// iam.Directory.LookupAPIKey satisfies it. It returns iam.ErrNoSuchEntity
// for keys that do not authenticate.
type APIKeyLookup func(ctx context.Context, key string) (*iam.Principal, error)

// ErrBadAPIKey is wrapped by the error Bearer returns for a missing,
// malformed, unknown or deleted API key, so an API can answer 401.
var ErrBadAPIKey = errors.New("invalid API key")

// Bearer authenticates "Authorization: Bearer <API key>" requests. A
// request without a bearer token goes to Next (typically SigV4), or fails
// with ErrBadAPIKey when Next is nil. Looked-up keys are cached for
// keyCacheTTL, keyed by the key's hash, so a deleted key stops working
// within that time on other replicas (at once here, through Forget).
type Bearer struct {
	lookup APIKeyLookup
	next   Authenticator

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedBearer // +checklocks:mu
}

type cachedBearer struct {
	id        string
	principal *iam.Principal
	expires   time.Time
}

// NewBearer returns a bearer-key authenticator that falls back to next
// (or nil) for requests without a bearer token.
func NewBearer(lookup APIKeyLookup, next Authenticator) *Bearer {
	return &Bearer{lookup: lookup, next: next, cache: map[[sha256.Size]byte]cachedBearer{}}
}

// Authenticate implements Authenticator.
func (b *Bearer) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	key, ok := auth.BearerToken(r)
	if !ok {
		if b.next != nil && r.Header.Get(auth.HeaderAuthorization) != "" {
			return b.next.Authenticate(r)
		}
		if b.next != nil && r.URL.Query().Get("X-Amz-Signature") != "" {
			return b.next.Authenticate(r) // a presigned URL
		}
		return nil, nil, apierr.Wrap(apierr.MissingAuthentication, ErrBadAPIKey,
			"You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
	}
	p, err := b.principal(r.Context(), key)
	if err != nil {
		return nil, nil, err
	}
	body, err := readBody(r, MaxBody)
	if err != nil {
		return nil, nil, err
	}
	return p, body, nil
}

func (b *Bearer) principal(ctx context.Context, key string) (*iam.Principal, error) {
	h := sha256.Sum256([]byte(key))
	now := time.Now()
	b.mu.Lock()
	c, ok := b.cache[h]
	b.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.principal, nil
	}
	id, err := auth.ParseAPIKey(key)
	if err != nil {
		return nil, badKey("")
	}
	p, err := b.lookup(ctx, key)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return nil, badKey(id)
	}
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "The API key could not be checked. Try your request again.")
	}
	b.mu.Lock()
	if len(b.cache) > 10000 {
		clear(b.cache)
	}
	b.cache[h] = cachedBearer{id: id, principal: p, expires: now.Add(keyCacheTTL)}
	b.mu.Unlock()
	return p, nil
}

// Forget drops the cached key with this id, so a deleted key stops
// working at once on this replica.
func (b *Bearer) Forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for h, c := range b.cache {
		if c.id == id {
			delete(b.cache, h)
		}
	}
}

// badKey is the 401 for a key that does not authenticate. It names the
// key by its id (not secret) when the key is well formed, and never shows
// any part of the secret.
func badKey(id string) error {
	shown := "sk-*****"
	if id != "" {
		shown = auth.APIKeyPrefix + id + "-*****"
	}
	return apierr.Wrap(apierr.UnrecognizedClient, ErrBadAPIKey, "Incorrect API key provided: "+shown+". You can find your API keys with `strata keys list`.")
}

// readBody reads r's body, at most limit bytes, and puts a reader over the
// bytes back on r.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	tooLarge := apierr.New(apierr.RequestTooLarge, "The request body is larger than %d bytes.", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	r.Body.Close()
	if err != nil {
		return nil, apierr.Wrap(apierr.Validation, err, "The request body could not be read.")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}
