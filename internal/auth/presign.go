package auth

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxPresignExpiry is the longest X-Amz-Expires SigV4 allows (7 days).
const MaxPresignExpiry = 7 * 24 * time.Hour

// The query parameters of a presigned URL.
const (
	queryAlgorithm     = "X-Amz-Algorithm"
	queryCredential    = "X-Amz-Credential"
	queryDate          = "X-Amz-Date"
	queryExpires       = "X-Amz-Expires"
	querySignedHeaders = "X-Amz-SignedHeaders"
	querySignature     = "X-Amz-Signature"
	querySecurityToken = "X-Amz-Security-Token"
)

// IsPresigned reports whether r authenticates with a presigned URL: it
// has no (or an empty) Authorization header and its query has
// X-Amz-Credential.
func IsPresigned(r *http.Request) bool {
	return r.Header.Get(HeaderAuthorization) == "" && r.URL.Query().Has(queryCredential)
}

// VerifyPresigned checks the SigV4 signature of a presigned URL (query
// form): the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-Expires,
// X-Amz-SignedHeaders and X-Amz-Signature parameters, each at most once.
// The signature covers the method, path, query (without X-Amz-Signature),
// the signed headers and the payload hash UNSIGNED-PAYLOAD, as S3 signs
// presigned URLs, so only service s3 is accepted. X-Amz-Expires is 1 to
// 604800 seconds (MaxPresignExpiry). A URL dated more than MaxSkew ahead
// of now is KindExpired; one used after X-Amz-Date + X-Amz-Expires is
// KindURLExpired. X-Amz-Security-Token, if present, is returned in the
// Credential for the caller to check.
func (v *Verifier) VerifyPresigned(r *http.Request) (Credential, error) {
	p, err := v.precheckPresigned(r)
	if err != nil {
		return Credential{}, err
	}
	if _, err := v.verifySignature(r, &p, []byte(UnsignedPayload), true); err != nil {
		return Credential{}, err
	}
	return p.credential(), nil
}

// precheckPresigned parses and checks a presigned URL's query parameters
// and looks up the secret: everything but the signature.
func (v *Verifier) precheckPresigned(r *http.Request) (prechecked, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return prechecked{}, newError(KindMalformed, "The query string is malformed.")
	}
	for _, name := range [...]string{queryAlgorithm, queryCredential, queryDate, queryExpires, querySignedHeaders, querySignature, querySecurityToken} {
		if len(q[name]) > 1 {
			return prechecked{}, newError(KindMalformed, "The %s parameter appears more than once.", name)
		}
	}
	if q.Get(queryAlgorithm) != Algorithm {
		return prechecked{}, newError(KindMalformed, "X-Amz-Algorithm must be %s.", Algorithm)
	}
	var a Authorization
	if err := parseCredential(q.Get(queryCredential), &a); err != nil {
		return prechecked{}, err
	}
	if a.SignedHeaders, err = parseSignedHeaders(q.Get(querySignedHeaders)); err != nil {
		return prechecked{}, err
	}
	if a.Signature = q.Get(querySignature); !isLowerHex(a.Signature, signatureHexLen) {
		return prechecked{}, newError(KindMalformed, "Signature must be %d lower-case hex digits.", signatureHexLen)
	}
	if !slices.Contains(v.Services, a.Service) {
		return prechecked{}, newError(KindBadSignature, "Credential should be scoped to correct service: '%s' is not served here.", a.Service)
	}
	if a.Service != "s3" {
		return prechecked{}, newError(KindBadSignature, "Presigned URLs are accepted for service s3 only.")
	}
	if !v.servesRegion(a.Region) {
		return prechecked{}, newError(KindMalformedQuery, "X-Amz-Credential names region '%s'; expecting '%s'",
			a.Region, strings.Join(v.Regions, "' or '"))
	}
	p := prechecked{a: a, amzDate: q.Get(queryDate), token: q.Get(querySecurityToken)}
	t, err := parseAmzDate(p.amzDate)
	if err != nil || len(p.amzDate) != len(TimeFormat) || p.amzDate[:8] != a.Date {
		return prechecked{}, newError(KindMalformedQuery, "X-Amz-Date must have the form yyyymmddThhmmssZ and match the credential's date.")
	}
	secs, err := strconv.Atoi(q.Get(queryExpires))
	if err != nil || secs < 1 || time.Duration(secs)*time.Second > MaxPresignExpiry {
		return prechecked{}, newError(KindMalformedQuery, "X-Amz-Expires must be between 1 and %d seconds.", int(MaxPresignExpiry/time.Second))
	}
	now := v.now()
	if t.After(now.Add(v.maxSkew())) {
		return prechecked{}, newError(KindExpired, "The request is signed for a time in the future.")
	}
	if now.After(t.Add(time.Duration(secs) * time.Second)) {
		return prechecked{}, newError(KindURLExpired, "Request has expired")
	}
	p.t = t
	if p.secret, err = v.lookup(r, a.AccessKeyID); err != nil {
		return prechecked{}, err
	}
	return p, nil
}
