package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Header and payload-hash names used by SigV4.
const (
	HeaderAuthorization = "Authorization"
	HeaderDate          = "X-Amz-Date"
	HeaderContentSHA256 = "X-Amz-Content-Sha256"
	HeaderSecurityToken = "X-Amz-Security-Token"

	// UnsignedPayload in X-Amz-Content-Sha256 means the body is not signed;
	// accepted for service s3 only.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// TimeFormat is the layout of X-Amz-Date.
	TimeFormat = "20060102T150405Z"

	// DefaultMaxSkew is the largest accepted difference between X-Amz-Date
	// and the server's clock, as AWS enforces.
	DefaultMaxSkew = 5 * time.Minute
)

// EmptyPayloadHash is the hex SHA-256 of an empty body.
const EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Verifier checks SigV4-signed requests. Set Lookup and Services; the zero
// values of the other fields give AWS's defaults. A Verifier is safe for
// concurrent use once its fields are set; do not change them afterwards.
type Verifier struct {
	// Lookup returns the secret access key for an access key id. For an
	// unknown id it returns an error wrapping ErrUnknownKey; any other
	// error is reported as KindInternal. Required.
	Lookup func(ctx context.Context, accessKeyID string) (secret string, err error)

	// Now returns the current time. Optional; nil means time.Now.
	Now func() time.Time

	// MaxSkew bounds |X-Amz-Date - Now()|. Optional; 0 means DefaultMaxSkew.
	MaxSkew time.Duration

	// Services lists the credential-scope service names accepted, such as
	// "bedrock", "sts", "s3". Required: an empty list accepts nothing.
	// Service "s3" gets S3's rules: the path is encoded once and
	// UNSIGNED-PAYLOAD is allowed.
	Services []string

	keys keyCache
}

// Credential is what a verified request proves: the access key that signed
// it and the scope it was signed for.
type Credential struct {
	AccessKeyID   string
	Region        string
	Service       string
	Time          time.Time // X-Amz-Date
	SecurityToken string    // X-Amz-Security-Token, "" if absent; the caller checks it
	SignedHeaders []string
}

// VerifyRequest reads r's body (at most maxBody bytes, else KindTooLarge),
// hashes it, verifies the signature, and returns the credential and the
// body. r.Body is replaced by a reader over the returned bytes, so handlers
// can read it again. Use Verify directly for bodies that must be streamed.
func (v *Verifier) VerifyRequest(r *http.Request, maxBody int64) (Credential, []byte, error) {
	// Check everything but the signature first, so callers without a
	// known key and a current date cannot make the server buffer a body.
	p, err := v.precheck(r)
	if err != nil {
		return Credential{}, nil, err
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > maxBody {
			return Credential{}, nil, newError(KindTooLarge, "The request body is larger than %d bytes.", maxBody)
		}
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		r.Body.Close()
		if err != nil {
			return Credential{}, nil, &Error{Kind: KindInternal, Message: "Reading the request body failed.", Err: err}
		}
		if int64(len(body)) > maxBody {
			return Credential{}, nil, newError(KindTooLarge, "The request body is larger than %d bytes.", maxBody)
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	c, err := v.check(r, p, hex.EncodeToString(sum[:]))
	if err != nil {
		return Credential{}, nil, err
	}
	return c, body, nil
}

// Verify checks r's SigV4 signature. payloadHash is the hex SHA-256 of the
// body, computed by the caller. If the request carries
// X-Amz-Content-Sha256, that value is what the client signed: Verify checks
// it against payloadHash (KindPayloadMismatch), or, when payloadHash is "",
// verifies the signature only and leaves the body check to the caller, who
// must then hash the body as it streams and compare it with the header.
// Without the header, payloadHash is required.
func (v *Verifier) Verify(r *http.Request, payloadHash string) (Credential, error) {
	p, err := v.precheck(r)
	if err != nil {
		return Credential{}, err
	}
	return v.check(r, p, payloadHash)
}

// prechecked is what precheck learned: everything but the signature.
type prechecked struct {
	a       Authorization
	t       time.Time
	amzDate string
	token   string
	secret  string
}

// precheck parses the Authorization header, checks the service, the
// request time and the signed-header rules, and looks up the secret.
func (v *Verifier) precheck(r *http.Request) (prechecked, error) {
	for _, h := range []string{HeaderAuthorization, HeaderDate, HeaderContentSHA256, HeaderSecurityToken} {
		if len(r.Header[h]) > 1 {
			return prechecked{}, newError(KindMalformed, "The %s header appears more than once.", h)
		}
	}
	a, err := ParseAuthorization(r.Header.Get(HeaderAuthorization))
	if err != nil {
		return prechecked{}, err
	}
	if !slices.Contains(v.Services, a.Service) {
		return prechecked{}, newError(KindBadSignature, "Credential should be scoped to correct service: '%s' is not served here.", a.Service)
	}

	// Request time.
	dateStr := r.Header.Get(HeaderDate)
	if dateStr == "" {
		return prechecked{}, newError(KindMalformed, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	if !a.signs("x-amz-date") {
		return prechecked{}, newError(KindMalformed, "The x-amz-date header must be signed.")
	}
	t, err := time.Parse(TimeFormat, dateStr)
	if err != nil {
		return prechecked{}, newError(KindMalformed, "X-Amz-Date must have the form yyyymmddThhmmssZ.")
	}
	if a.Date != dateStr[:8] {
		return prechecked{}, newError(KindBadSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.Date, dateStr[:8], dateStr)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	now = now.UTC()
	skew := v.MaxSkew
	if skew <= 0 {
		skew = DefaultMaxSkew
	}
	mins := func() string { return strconv.FormatFloat(skew.Minutes(), 'f', -1, 64) }
	if t.Before(now.Add(-skew)) {
		return prechecked{}, newError(KindExpired, "Signature expired: %s is now earlier than %s (%s - %s min.)",
			dateStr, now.Add(-skew).Format(TimeFormat), now.Format(TimeFormat), mins())
	}
	if t.After(now.Add(skew)) {
		return prechecked{}, newError(KindExpired, "Signature not yet current: %s is still later than %s (%s + %s min.)",
			dateStr, now.Add(skew).Format(TimeFormat), now.Format(TimeFormat), mins())
	}

	token := r.Header.Get(HeaderSecurityToken)
	if token != "" && !a.signs("x-amz-security-token") {
		return prechecked{}, newError(KindMalformed, "The x-amz-security-token header must be signed.")
	}
	if v.Lookup == nil {
		return prechecked{}, &Error{Kind: KindInternal, Message: "The access key could not be looked up.",
			Err: errors.New("auth: Verifier.Lookup is nil")}
	}
	secret, err := v.Lookup(r.Context(), a.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return prechecked{}, &Error{Kind: KindUnknownKey, Message: msgUnknownKey, Err: err}
		}
		return prechecked{}, &Error{Kind: KindInternal, Message: "The access key could not be looked up.", Err: err}
	}
	return prechecked{a: a, t: t, amzDate: dateStr, token: token, secret: secret}, nil
}

// check verifies the signature of a prechecked request.
func (v *Verifier) check(r *http.Request, p prechecked, payloadHash string) (Credential, error) {
	a := p.a
	s3 := a.Service == "s3"

	// Payload hash as signed.
	signedHash := payloadHash
	checkBody := false
	if h, present := header(r, HeaderContentSHA256); present {
		switch {
		case isLowerHex(h, 64):
			checkBody = payloadHash != ""
		case h == UnsignedPayload && s3:
		case h == UnsignedPayload:
			return Credential{}, newError(KindMalformed, "UNSIGNED-PAYLOAD is not accepted by this service.")
		default:
			return Credential{}, newError(KindMalformed, "X-Amz-Content-Sha256 must be a lower-case hex SHA-256 digest.")
		}
		signedHash = h
	} else if !isLowerHex(payloadHash, 64) {
		return Credential{}, &Error{Kind: KindInternal, Message: "The payload hash could not be computed.",
			Err: errors.New("auth: Verify needs the body's hex SHA-256 when X-Amz-Content-Sha256 is absent")}
	}

	canonical, err := canonicalRequest(r, a.SignedHeaders, signedHash, s3)
	if err != nil {
		return Credential{}, err
	}

	sts := stringToSign(p.amzDate, a.Scope(), canonical)
	key := v.keys.get(p.secret, a.Date, a.Region, a.Service)
	want := hmacSHA256(key[:], []byte(sts))
	got, _ := hex.DecodeString(a.Signature) // validated by ParseAuthorization
	if !hmac.Equal(want, got) {
		return Credential{}, newError(KindBadSignature, msgBadSig)
	}
	if checkBody && signedHash != payloadHash {
		return Credential{}, newError(KindPayloadMismatch, msgMismatch)
	}
	return Credential{
		AccessKeyID:   a.AccessKeyID,
		Region:        a.Region,
		Service:       a.Service,
		Time:          p.t,
		SecurityToken: p.token,
		SignedHeaders: a.SignedHeaders,
	}, nil
}

// header returns the values of a request header joined as SigV4 canonicalises
// them, and whether it is present.
func header(r *http.Request, name string) (string, bool) {
	vs, ok := r.Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// canonicalRequest builds the SigV4 canonical request for r from the
// client's signed header list.
func canonicalRequest(r *http.Request, signed []string, payloadHash string, s3 bool) (string, error) {
	var b strings.Builder
	b.Grow(512)
	b.WriteString(r.Method)
	b.WriteByte('\n')
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	if !s3 {
		path = escapePath(path)
	}
	b.WriteString(path)
	b.WriteByte('\n')
	q, err := canonicalQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	b.WriteString(q)
	b.WriteByte('\n')
	for _, name := range signed {
		b.WriteString(name)
		b.WriteByte(':')
		switch name {
		case "host", ":authority":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b.WriteString(stripSpaces(host))
		case "content-length":
			if r.ContentLength >= 0 {
				b.WriteString(strconv.FormatInt(r.ContentLength, 10))
			} else {
				writeValues(&b, r.Header[http.CanonicalHeaderKey(name)])
			}
		case ":method":
			b.WriteString(r.Method)
		default:
			writeValues(&b, r.Header[http.CanonicalHeaderKey(name)])
		}
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

func writeValues(b *strings.Builder, vs []string) {
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strings.TrimSpace(stripSpaces(v)))
	}
}

// stripSpaces collapses runs of spaces into one, as the AWS SDKs do.
func stripSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && prevSpace {
			continue
		}
		prevSpace = c == ' '
		b.WriteByte(c)
	}
	return b.String()
}

// escapePath percent-encodes every byte of p outside the RFC 3986
// unreserved set, leaving '/' alone: smithy-go's httpbinding.EscapePath(p,
// false). Applied to an already escaped path it gives the double encoding
// non-S3 services sign.
func escapePath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(p); i++ {
		if !unreserved(p[i]) && p[i] != '/' {
			n++
		}
	}
	if n == 0 {
		return p
	}
	buf := make([]byte, 0, len(p)+2*n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if unreserved(c) || c == '/' {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexDigits[c>>4], hexDigits[c&15])
		}
	}
	return string(buf)
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// maxQueryParams bounds the work spent canonicalising a query string.
const maxQueryParams = 1000

// canonicalQuery decodes raw, re-encodes each name and value per RFC 3986
// (space as %20) and sorts the pairs by encoded name, then value.
func canonicalQuery(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	type pair struct{ k, v string }
	var ps []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		if len(ps) == maxQueryParams {
			return "", newError(KindMalformed, "The query string has more than %d parameters.", maxQueryParams)
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", newError(KindMalformed, "The query string has a malformed escape.")
		}
		ps = append(ps, pair{encodeQueryComponent(dk), encodeQueryComponent(dv)})
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String(), nil
}

func encodeQueryComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func stringToSign(amzDate, scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// SigningKey derives the SigV4 signing key: HMAC chain "AWS4"+secret → date
// → region → service → "aws4_request".
func SigningKey(secret, date, region, service string) [32]byte {
	k := hmacSHA256([]byte("AWS4"+secret), []byte(date))
	k = hmacSHA256(k, []byte(region))
	k = hmacSHA256(k, []byte(service))
	k = hmacSHA256(k, []byte("aws4_request"))
	return [32]byte(k)
}

// keyCache memoises signing keys per (secret, date, region, service). It
// keys on a hash of the secret, never the secret itself, and is cleared when
// it grows past maxCachedKeys (a day's keys for a few thousand clients).
type keyCache struct {
	mu sync.Mutex
	m  map[cacheKey][32]byte // +checklocks:mu
}

type cacheKey struct {
	secret                [32]byte
	date, region, service string
}

const maxCachedKeys = 4096

func (c *keyCache) get(secret, date, region, service string) [32]byte {
	ck := cacheKey{sha256.Sum256([]byte(secret)), date, region, service}
	c.mu.Lock()
	k, ok := c.m[ck]
	c.mu.Unlock()
	if ok {
		return k
	}
	k = SigningKey(secret, date, region, service)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedKeys {
		c.m = make(map[cacheKey][32]byte)
	}
	c.m[ck] = k
	c.mu.Unlock()
	return k
}

// Sign signs r with SigV4 in header form for the given credentials, scope
// and time, signing exactly the headers named in signedHeaders (which must
// include host or :authority and x-amz-date; x-amz-date is set from t).
// It is the inverse of Verify, for strata's own outbound calls and tests
// that must sign headers the AWS SDK will not (":authority").
func Sign(r *http.Request, accessKeyID, secret, region, service string, t time.Time, payloadHash string, signedHeaders []string) error {
	t = t.UTC()
	amzDate := t.Format(TimeFormat)
	r.Header.Set(HeaderDate, amzDate)
	hs := slices.Clone(signedHeaders)
	slices.Sort(hs)
	hs = slices.Compact(hs)
	a := Authorization{AccessKeyID: accessKeyID, Date: amzDate[:8], Region: region, Service: service, SignedHeaders: hs}
	canonical, err := canonicalRequest(r, hs, payloadHash, service == "s3")
	if err != nil {
		return err
	}
	key := SigningKey(secret, a.Date, region, service)
	sig := hex.EncodeToString(hmacSHA256(key[:], []byte(stringToSign(amzDate, a.Scope(), canonical))))
	r.Header.Set(HeaderAuthorization, Algorithm+" Credential="+accessKeyID+"/"+a.Scope()+
		", SignedHeaders="+strings.Join(hs, ";")+", Signature="+sig)
	return nil
}
