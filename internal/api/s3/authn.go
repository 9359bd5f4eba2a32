package s3

import (
	"context"
	"crypto/hmac"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"strata/internal/auth"
	"strata/internal/iam"
)

// Keys looks up access keys; *iam.Directory is one.
type Keys interface {
	LookupAccessKey(ctx context.Context, id string) (secret string, p *iam.Principal, err error)
}

// Payload modes: the values of X-Amz-Content-Sha256 besides a hex digest.
const (
	modeUnsigned         = "UNSIGNED-PAYLOAD"
	modeStreaming        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	modeStreamingTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	modeUnsignedTrailer  = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
)

// caller is an authenticated request: who signed it and how its body is
// to be checked.
type caller struct {
	p       *iam.Principal
	a       auth.Authorization
	amzDate string
	mode    string   // X-Amz-Content-Sha256 as sent
	key     [32]byte // signing key, for signed streaming bodies
}

// streaming reports whether the body is aws-chunked.
func (c *caller) streaming() bool { return strings.HasPrefix(c.mode, "STREAMING-") }

// keyCache remembers looked-up access keys briefly, so verification does
// not read the store on every request; a deactivated key stops working
// within keyCacheTTL.
type keyCache struct {
	keys Keys

	mu sync.Mutex
	m  map[string]cachedKey // +checklocks:mu
}

type cachedKey struct {
	secret  string
	p       *iam.Principal
	expires time.Time
}

const keyCacheTTL = 10 * time.Second

func (c *keyCache) lookup(ctx context.Context, id string) (cachedKey, error) {
	now := time.Now()
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	if ok && now.Before(k.expires) {
		return k, nil
	}
	secret, p, err := c.keys.LookupAccessKey(ctx, id)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return cachedKey{}, auth.ErrUnknownKey
	}
	if err != nil {
		return cachedKey{}, err
	}
	k = cachedKey{secret: secret, p: p, expires: now.Add(keyCacheTTL)}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 10000 {
		c.m = map[string]cachedKey{}
	}
	c.m[id] = k
	c.mu.Unlock()
	return k, nil
}

func authError(k auth.Kind, msg string) *auth.Error { return &auth.Error{Kind: k, Message: msg} }

// authenticate verifies r's header signature without reading its body.
// A hex X-Amz-Content-Sha256 is checked against the body later, as it
// streams; aws-chunked bodies carry their own chunk signatures.
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	if r.Header.Get(auth.HeaderAuthorization) == "" && r.URL.Query().Has("X-Amz-Credential") {
		return h.authenticatePresigned(r)
	}
	a, err := auth.ParseAuthorization(r.Header.Get(auth.HeaderAuthorization))
	if err != nil {
		return nil, err
	}
	if a.Service != "s3" {
		return nil, authError(auth.KindBadSignature, "Credential should be scoped to correct service: 's3'.")
	}
	if a.Region != h.region {
		return nil, s3err(400, "AuthorizationHeaderMalformed",
			"The authorization header is malformed; the region '"+a.Region+"' is wrong; expecting '"+h.region+"'",
			field{"Region", h.region})
	}
	mode := r.Header.Get(auth.HeaderContentSHA256)
	c := &caller{a: a, amzDate: r.Header.Get(auth.HeaderDate), mode: mode}
	switch {
	case mode == "":
		return nil, errInvalidRequest("Missing required header for this request: x-amz-content-sha256")
	case mode == modeUnsigned || isHex64(mode):
		if _, err := h.verifier.Verify(r, ""); err != nil {
			return nil, err
		}
	case mode == modeStreaming || mode == modeStreamingTrailer || mode == modeUnsignedTrailer:
		if err := h.verifyStreaming(r, c); err != nil {
			return nil, err
		}
	case strings.HasPrefix(mode, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
		return nil, errNotImplemented("SigV4a (ECDSA) payload signing")
	default:
		return nil, errInvalidArgument("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER], or a lower-case hex SHA-256.")
	}
	k, err := h.keys.lookup(r.Context(), a.AccessKeyID)
	if err != nil {
		return nil, err
	}
	c.p = k.p
	return c, nil
}

// verifyStreaming checks the header ("seed") signature of an aws-chunked
// request. auth.Verifier only accepts a hex or UNSIGNED-PAYLOAD body hash,
// so the request is re-signed with auth.Sign, which builds the same
// canonical request, and the signatures are compared.
func (h *Handler) verifyStreaming(r *http.Request, c *caller) error {
	a := c.a
	if !signs(a, "x-amz-date") || c.amzDate == "" {
		return authError(auth.KindMalformed, "The x-amz-date header must be present and signed.")
	}
	if !signs(a, "x-amz-content-sha256") {
		return authError(auth.KindMalformed, "The x-amz-content-sha256 header must be signed.")
	}
	if r.Header.Get(auth.HeaderSecurityToken) != "" && !signs(a, "x-amz-security-token") {
		return authError(auth.KindMalformed, "The x-amz-security-token header must be signed.")
	}
	t, err := time.Parse(auth.TimeFormat, c.amzDate)
	if err != nil || t.Format(auth.TimeFormat) != c.amzDate {
		return authError(auth.KindMalformed, "X-Amz-Date must have the form yyyymmddThhmmssZ.")
	}
	if c.amzDate[:8] != a.Date {
		return authError(auth.KindBadSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.")
	}
	if d := h.now().Sub(t); d > auth.DefaultMaxSkew || d < -auth.DefaultMaxSkew {
		return authError(auth.KindExpired, "The difference between the request time and the current time is too large.")
	}
	k, err := h.keys.lookup(r.Context(), a.AccessKeyID)
	if errors.Is(err, auth.ErrUnknownKey) {
		return &auth.Error{Kind: auth.KindUnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records.", Err: err}
	}
	if err != nil {
		return err
	}
	clone := r.Clone(r.Context())
	clone.Body = nil
	if err := auth.Sign(clone, a.AccessKeyID, k.secret, a.Region, a.Service, t, c.mode, a.SignedHeaders); err != nil {
		return err
	}
	want, err := auth.ParseAuthorization(clone.Header.Get(auth.HeaderAuthorization))
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(want.Signature), []byte(a.Signature)) {
		return authError(auth.KindBadSignature, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	c.key = auth.SigningKey(k.secret, a.Date, a.Region, a.Service)
	return nil
}

func signs(a auth.Authorization, name string) bool {
	for _, h := range a.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// maxPresignExpiry is the longest X-Amz-Expires SigV4 allows (7 days).
const maxPresignExpiry = 7 * 24 * time.Hour

// authenticatePresigned verifies a presigned URL: the signature covers the
// query (without X-Amz-Signature), the signed headers and the literal
// payload hash UNSIGNED-PAYLOAD. It is re-made with auth.Sign on a copy of
// the request and compared.
func (h *Handler) authenticatePresigned(r *http.Request) (*caller, error) {
	q := r.URL.Query()
	if q.Get("X-Amz-Algorithm") != auth.Algorithm {
		return nil, authError(auth.KindMalformed, "X-Amz-Algorithm must be "+auth.Algorithm+".")
	}
	a, err := auth.ParseAuthorization(auth.Algorithm + " Credential=" + q.Get("X-Amz-Credential") +
		", SignedHeaders=" + q.Get("X-Amz-SignedHeaders") + ", Signature=" + q.Get("X-Amz-Signature"))
	if err != nil {
		return nil, err
	}
	if a.Service != "s3" {
		return nil, authError(auth.KindBadSignature, "Credential should be scoped to correct service: 's3'.")
	}
	if a.Region != h.region {
		return nil, s3err(400, "AuthorizationQueryParametersError", "X-Amz-Credential names region '"+a.Region+"'; expecting '"+h.region+"'")
	}
	amzDate := q.Get("X-Amz-Date")
	t, err := time.Parse(auth.TimeFormat, amzDate)
	if err != nil || t.Format(auth.TimeFormat) != amzDate || amzDate[:8] != a.Date {
		return nil, s3err(400, "AuthorizationQueryParametersError", "X-Amz-Date must have the form yyyymmddThhmmssZ and match the credential's date.")
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > maxPresignExpiry {
		return nil, s3err(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds.")
	}
	now := h.now()
	if t.After(now.Add(auth.DefaultMaxSkew)) {
		return nil, authError(auth.KindExpired, "The request is signed for a time in the future.")
	}
	if now.After(t.Add(time.Duration(secs) * time.Second)) {
		return nil, s3err(403, "AccessDenied", "Request has expired")
	}
	k, err := h.keys.lookup(r.Context(), a.AccessKeyID)
	if errors.Is(err, auth.ErrUnknownKey) {
		return nil, &auth.Error{Kind: auth.KindUnknownKey, Message: "The AWS Access Key Id you provided does not exist in our records.", Err: err}
	}
	if err != nil {
		return nil, err
	}
	clone := r.Clone(r.Context())
	clone.Body = nil
	var kept []string
	for part := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if !strings.HasPrefix(part, "X-Amz-Signature=") {
			kept = append(kept, part)
		}
	}
	clone.URL.RawQuery = strings.Join(kept, "&")
	if err := auth.Sign(clone, a.AccessKeyID, k.secret, a.Region, a.Service, t, modeUnsigned, a.SignedHeaders); err != nil {
		return nil, err
	}
	want, err := auth.ParseAuthorization(clone.Header.Get(auth.HeaderAuthorization))
	if err != nil {
		return nil, err
	}
	if !hmac.Equal([]byte(want.Signature), []byte(a.Signature)) {
		return nil, authError(auth.KindBadSignature, "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	}
	return &caller{p: k.p, a: a, amzDate: amzDate, mode: modeUnsigned}, nil
}
