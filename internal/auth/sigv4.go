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

	// The aws-chunked payload modes of X-Amz-Content-Sha256, accepted for
	// service s3 only, by Verify without a payload hash. In the signed
	// modes every chunk carries a signature (see ChunkVerifier); in
	// StreamingUnsignedPayloadTrailer none does.
	StreamingPayload                = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingPayloadTrailer         = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	StreamingUnsignedPayloadTrailer = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

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
	// Service "s3" gets S3's rules: the path is encoded once,
	// UNSIGNED-PAYLOAD and the aws-chunked modes are allowed, and
	// X-Amz-Content-Sha256 is required when the caller streams the body.
	Services []string

	// Regions lists the credential-scope regions accepted. Optional; an
	// empty list accepts any region. A request for another region fails with
	// KindWrongRegion (header form) or KindMalformedQuery (presigned URL).
	Regions []string

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

	// Chunks verifies the chunk and trailer signatures of a signed
	// aws-chunked body (X-Amz-Content-Sha256 StreamingPayload or
	// StreamingPayloadTrailer); nil for every other payload mode. The
	// caller must run every chunk through it before using the body.
	Chunks *ChunkVerifier
}

// VerifyRequest reads r's body (at most maxBody bytes, else KindTooLarge),
// hashes it, verifies the signature, and returns the credential and the
// body. r.Body is replaced by a reader over the returned bytes, so handlers
// can read it again. Use Verify directly for bodies that must be streamed.
func (v *Verifier) VerifyRequest(r *http.Request, maxBody int64) (Credential, []byte, error) {
	// Check everything but the signature first, so callers without a
	// known key and a current date cannot make the server buffer a body.
	p, err := v.precheck(r, true)
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
// Without the header, payloadHash is required, except that service s3
// requires the header when payloadHash is "".
//
// For service s3, with payloadHash "", X-Amz-Content-Sha256 may also name an
// aws-chunked payload mode (StreamingPayload, StreamingPayloadTrailer,
// StreamingUnsignedPayloadTrailer); it must then be a signed header. For
// the signed modes Credential.Chunks verifies the body's chunk signatures,
// chained from this request's signature.
func (v *Verifier) Verify(r *http.Request, payloadHash string) (Credential, error) {
	p, err := v.precheck(r, payloadHash != "")
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

	payload    string // X-Amz-Content-Sha256, if present
	present    bool   // whether X-Amz-Content-Sha256 is present
	hexPayload bool   // payload is a hex SHA-256 digest
	chunked    bool   // payload is a signed aws-chunked mode
}

// precheck parses the Authorization header, checks the service, the
// region, the payload mode, the request time and the signed-header rules,
// and looks up the secret. hashGiven says whether the caller supplies the
// body's hash (else it streams the body).
func (v *Verifier) precheck(r *http.Request, hashGiven bool) (prechecked, error) {
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
	if !v.servesRegion(a.Region) {
		return prechecked{}, newError(KindWrongRegion, "The authorization header is malformed; the region '%s' is wrong; expecting '%s'",
			a.Region, strings.Join(v.Regions, "' or '"))
	}
	p := prechecked{a: a, amzDate: first(dateStr), token: first(token)}
	if err := p.checkPayload(r.Header[HeaderContentSHA256], hashGiven); err != nil {
		return prechecked{}, err
	}
	if err := v.checkTime(&p); err != nil {
		return prechecked{}, err
	}
	if p.token != "" && !a.signs("x-amz-security-token") {
		return prechecked{}, newError(KindMalformed, "The x-amz-security-token header must be signed.")
	}
	if p.secret, err = v.lookup(r, a.AccessKeyID); err != nil {
		return prechecked{}, err
	}
	return p, nil
}

// servesRegion reports whether the Verifier accepts credentials scoped to
// region.
func (v *Verifier) servesRegion(region string) bool {
	return len(v.Regions) == 0 || slices.Contains(v.Regions, region)
}

// lookup returns the secret of an access key id, turning Lookup's errors
// into *Error.
func (v *Verifier) lookup(r *http.Request, accessKeyID string) (string, error) {
	if v.Lookup == nil {
		return "", &Error{Kind: KindInternal, Message: msgLookup, Err: errors.New("auth: Verifier.Lookup is nil")}
	}
	ctx := WithSecurityToken(r.Context(), securityToken(r))
	secret, err := v.Lookup(ctx, accessKeyID)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok {
			return "", e
		}
		if errors.Is(err, ErrUnknownKey) {
			return "", &Error{Kind: KindUnknownKey, Message: msgUnknownKey, Err: err}
		}
		return "", &Error{Kind: KindInternal, Message: msgLookup, Err: err}
	}
	return secret, nil
}

// checkPayload checks X-Amz-Content-Sha256 (its values vs, at most one)
// against the payload modes the service accepts, and records it in p.
func (p *prechecked) checkPayload(vs []string, hashGiven bool) error {
	s3 := p.a.Service == "s3"
	if len(vs) == 0 {
		if s3 && !hashGiven {
			return unsupportedPayload("Missing required header for this request: x-amz-content-sha256.")
		}
		return nil // check requires the caller's hash
	}
	mode := vs[0]
	p.payload, p.present = mode, true
	switch {
	case isLowerHex(mode, 64):
		p.hexPayload = true
	case mode == UnsignedPayload && s3:
	case mode == UnsignedPayload:
		return unsupportedPayload("UNSIGNED-PAYLOAD is not accepted by this service.")
	case s3 && !hashGiven && (mode == StreamingPayload || mode == StreamingPayloadTrailer || mode == StreamingUnsignedPayloadTrailer):
		if !p.a.signs("x-amz-content-sha256") {
			return newError(KindMalformed, "The x-amz-content-sha256 header must be signed.")
		}
		p.chunked = mode != StreamingUnsignedPayloadTrailer
	case s3:
		return unsupportedPayload("X-Amz-Content-Sha256 must be UNSIGNED-PAYLOAD, an aws-chunked mode or a lower-case hex SHA-256 digest.")
	default:
		return unsupportedPayload("X-Amz-Content-Sha256 must be a lower-case hex SHA-256 digest.")
	}
	return nil
}

func unsupportedPayload(msg string) *Error {
	return &Error{Kind: KindMalformed, Message: msg, Err: ErrUnsupportedPayload}
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
	now, skew := v.now(), v.maxSkew()
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

// now returns the current time in UTC.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now().UTC()
	}
	return time.Now().UTC()
}

func (v *Verifier) maxSkew() time.Duration {
	if v.MaxSkew <= 0 {
		return DefaultMaxSkew
	}
	return v.MaxSkew
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
	// Payload hash as signed: the header's if present, else payloadHash.
	payload := payloadHash
	var buf [2 * sha256.Size]byte
	if p.present {
		payload = append(buf[:0], p.payload...) // at most 64 bytes, checked by checkPayload
	} else if !isLowerHex(payloadHash, 64) {
		return Credential{}, &Error{Kind: KindInternal, Message: "The payload hash could not be computed.",
			Err: errors.New("auth: Verify needs the body's hex SHA-256 when X-Amz-Content-Sha256 is absent")}
	}
	key, err := v.verifySignature(r, p, payload, false)
	if err != nil {
		return Credential{}, err
	}
	if p.hexPayload && len(payloadHash) != 0 && p.payload != string(payloadHash) {
		return Credential{}, newError(KindPayloadMismatch, msgMismatch)
	}
	c := p.credential()
	if p.chunked {
		c.Chunks = newChunkVerifier(key, p.amzDate, &p.a)
	}
	return c, nil
}

// credential returns the Credential a verified request proves.
func (p *prechecked) credential() Credential {
	return Credential{
		AccessKeyID:   p.a.AccessKeyID,
		Region:        p.a.Region,
		Service:       p.a.Service,
		Time:          p.t,
		SecurityToken: p.token,
		SignedHeaders: p.a.SignedHeaders,
	}
}

// verifySignature builds r's canonical request, ending in payload, and
// its string to sign, and compares their signature with the client's in
// constant time. presigned says the signature is in the query (X-Amz-
// Signature, left out of the canonical query). It returns the signing key.
func (v *Verifier) verifySignature(r *http.Request, p *prechecked, payload []byte, presigned bool) ([32]byte, error) {
	a := &p.a
	bp := v.getBuf()
	defer v.putBuf(bp)
	b, err := appendCanonicalRequest((*bp)[:0], r, a.SignedHeaders, a.Service == "s3", presigned)
	if err != nil {
		return [32]byte{}, err
	}
	b = append(b, payload...)
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
	got := decodeSignature(a.Signature) // validated by the parser
	if !hmac.Equal(want[:], got[:]) {
		return [32]byte{}, newError(KindBadSignature, msgBadSig)
	}
	if !cached {
		v.keys.add(a.AccessKeyID, p.secret, a.Date, a.Region, a.Service, key)
	}
	return key, nil
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
	canonical, err := canonicalRequest(r, hs, payloadHash, service == "s3", false)
	if err != nil {
		return err
	}
	key := SigningKey(secret, a.Date, region, service)
	sig := hex.EncodeToString(hmacSHA256(key[:], []byte(stringToSign(amzDate, a.Scope(), canonical))))
	r.Header.Set(HeaderAuthorization, Algorithm+" Credential="+accessKeyID+"/"+a.Scope()+
		", SignedHeaders="+strings.Join(hs, ";")+", Signature="+sig)
	return nil
}
