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

	keys keyCache  // signing keys of verified requests
	bufs sync.Pool // of *[]byte, scratch for canonical requests
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
		body, err = readBody(r.Body, r.ContentLength, maxBody)
		r.Body.Close()
		if err != nil {
			return Credential{}, nil, &Error{Kind: KindInternal, Message: "Reading the request body failed.", Err: err}
		}
		if int64(len(body)) > maxBody {
			return Credential{}, nil, newError(KindTooLarge, "The request body is larger than %d bytes.", maxBody)
		}
	}
	br := &bodyReader{}
	br.Reset(body)
	r.Body = br
	sum := sha256.Sum256(body)
	var hash [2 * sha256.Size]byte
	hex.Encode(hash[:], sum[:])
	c, err := v.check(r, &p, hash[:])
	if err != nil {
		return Credential{}, nil, err
	}
	return c, body, nil
}

// bodyReader is what VerifyRequest leaves in r.Body: io.NopCloser of a
// bytes.Reader over the body, in one allocation.
type bodyReader struct{ bytes.Reader }

// Close does nothing and returns nil.
func (*bodyReader) Close() error { return nil }

// smallBody is the largest declared Content-Length for which readBody
// allocates the whole body up front. Larger bodies grow as they arrive, so
// a client cannot make the server allocate more than it sends.
const smallBody = 32 << 10

// readBody reads at most max+1 bytes of body, whose length is size if
// size >= 0, as io.ReadAll would, but into one right-sized slice when
// size is small.
func readBody(body io.Reader, size, max int64) ([]byte, error) {
	if size < 0 || size > smallBody {
		return io.ReadAll(io.LimitReader(body, max+1))
	}
	lr := io.LimitedReader{R: body, N: max + 1}
	// One spare byte, so the read that reports EOF needs no growth.
	b := make([]byte, 0, size+1)
	for {
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
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
	var buf [2 * sha256.Size]byte
	return v.check(r, &p, append(buf[:0], payloadHash...))
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
	// The names are in canonical form, so the map is read directly.
	authz, dateStr, token := r.Header[HeaderAuthorization], r.Header[HeaderDate], r.Header[HeaderSecurityToken]
	for _, h := range [...]struct {
		name string
		n    int
	}{
		{HeaderAuthorization, len(authz)},
		{HeaderDate, len(dateStr)},
		{HeaderContentSHA256, len(r.Header[HeaderContentSHA256])},
		{HeaderSecurityToken, len(token)},
	} {
		if h.n > 1 {
			return prechecked{}, newError(KindMalformed, "The %s header appears more than once.", h.name)
		}
	}
	a, err := ParseAuthorization(first(authz))
	if err != nil {
		return prechecked{}, err
	}
	if !slices.Contains(v.Services, a.Service) {
		return prechecked{}, newError(KindBadSignature, "Credential should be scoped to correct service: '%s' is not served here.", a.Service)
	}
	p := prechecked{a: a, amzDate: first(dateStr), token: first(token)}
	if err := v.checkTime(&p); err != nil {
		return prechecked{}, err
	}
	if p.token != "" && !a.signs("x-amz-security-token") {
		return prechecked{}, newError(KindMalformed, "The x-amz-security-token header must be signed.")
	}
	if v.Lookup == nil {
		return prechecked{}, &Error{Kind: KindInternal, Message: "The access key could not be looked up.",
			Err: errors.New("auth: Verifier.Lookup is nil")}
	}
	p.secret, err = v.Lookup(r.Context(), a.AccessKeyID)
	if err != nil {
		if errors.Is(err, ErrUnknownKey) {
			return prechecked{}, &Error{Kind: KindUnknownKey, Message: msgUnknownKey, Err: err}
		}
		return prechecked{}, &Error{Kind: KindInternal, Message: "The access key could not be looked up.", Err: err}
	}
	return p, nil
}

// checkTime parses p.amzDate into p.t and checks it against the credential
// scope's date and the clock.
func (v *Verifier) checkTime(p *prechecked) error {
	a, dateStr := &p.a, p.amzDate
	if dateStr == "" {
		return newError(KindMalformed, "Authorization header requires existence of a 'X-Amz-Date' header.")
	}
	if !a.signs("x-amz-date") {
		return newError(KindMalformed, "The x-amz-date header must be signed.")
	}
	t, err := parseAmzDate(dateStr)
	if err != nil {
		return newError(KindMalformed, "X-Amz-Date must have the form yyyymmddThhmmssZ.")
	}
	if a.Date != dateStr[:8] {
		return newError(KindBadSignature,
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
		return newError(KindExpired, "Signature expired: %s is now earlier than %s (%s - %s min.)",
			dateStr, now.Add(-skew).Format(TimeFormat), now.Format(TimeFormat), mins())
	}
	if t.After(now.Add(skew)) {
		return newError(KindExpired, "Signature not yet current: %s is still later than %s (%s + %s min.)",
			dateStr, now.Add(skew).Format(TimeFormat), now.Format(TimeFormat), mins())
	}
	p.t = t
	return nil
}

// first returns the first of a header's values, as http.Header.Get does.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// check verifies the signature of a prechecked request. payloadHash is
// the caller's hex SHA-256 of the body, or empty; check does not retain it.
func (v *Verifier) check(r *http.Request, p *prechecked, payloadHash []byte) (Credential, error) {
	a := &p.a
	s3 := a.Service == "s3"

	// Payload hash as signed: the header's if present, else payloadHash.
	signedHash, present := header(r, HeaderContentSHA256)
	checkBody := false
	if present {
		switch {
		case isLowerHex(signedHash, 64):
			checkBody = len(payloadHash) != 0
		case signedHash == UnsignedPayload && s3:
		case signedHash == UnsignedPayload:
			return Credential{}, newError(KindMalformed, "UNSIGNED-PAYLOAD is not accepted by this service.")
		default:
			return Credential{}, newError(KindMalformed, "X-Amz-Content-Sha256 must be a lower-case hex SHA-256 digest.")
		}
	} else if !isLowerHex(payloadHash, 64) {
		return Credential{}, &Error{Kind: KindInternal, Message: "The payload hash could not be computed.",
			Err: errors.New("auth: Verify needs the body's hex SHA-256 when X-Amz-Content-Sha256 is absent")}
	}

	bp := v.getBuf()
	defer v.putBuf(bp)
	b, err := appendCanonicalRequest((*bp)[:0], r, a.SignedHeaders, s3)
	if err != nil {
		return Credential{}, err
	}
	if present {
		b = append(b, signedHash...)
	} else {
		b = append(b, payloadHash...)
	}
	canonicalHash := sha256.Sum256(b)
	// The string to sign goes after the canonical request, behind a block
	// of room for hmacSum's inner key pad.
	sts := len(b)
	b = append(b, make([]byte, sha256.BlockSize)...)
	b = appendStringToSign(b, p.amzDate, a, &canonicalHash)
	*bp = b

	key, cached := v.keys.lookup(a.AccessKeyID, p.secret, a.Date, a.Region, a.Service)
	if !cached {
		key = SigningKey(p.secret, a.Date, a.Region, a.Service)
	}
	want := hmacSum(&key, b[sts:])
	got := decodeSignature(a.Signature) // validated by ParseAuthorization
	if !hmac.Equal(want[:], got[:]) {
		return Credential{}, newError(KindBadSignature, msgBadSig)
	}
	if !cached {
		v.keys.add(a.AccessKeyID, p.secret, a.Date, a.Region, a.Service, key)
	}
	if checkBody && signedHash != string(payloadHash) {
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

// maxPooledBuf bounds the scratch buffers kept for reuse, so one request
// with huge headers does not pin memory.
const maxPooledBuf = 16 << 10

func (v *Verifier) getBuf() *[]byte {
	if bp, ok := v.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (v *Verifier) putBuf(bp *[]byte) {
	if cap(*bp) > maxPooledBuf {
		return
	}
	*bp = (*bp)[:0]
	v.bufs.Put(bp)
}

// decodeSignature decodes a 64-digit hex signature.
func decodeSignature(s string) [sha256.Size]byte {
	var out [sha256.Size]byte
	for i := range out {
		out[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return out
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
