package auth

import (
	"strings"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// Limits on the parts of an Authorization header. AWS access key ids are 16
// to 128 characters; no SDK signs anywhere near maxSignedHeaders headers.
const (
	maxAuthorizationLen = 4096
	minAccessKeyIDLen   = 16
	maxAccessKeyIDLen   = 128
	maxScopePartLen     = 64
	maxSignedHeaders    = 64
	maxHeaderNameLen    = 128
	signatureHexLen     = 64
)

// Authorization is a parsed SigV4 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=<64 hex>
type Authorization struct {
	AccessKeyID   string
	Date          string   // credential scope date, yyyymmdd
	Region        string   // credential scope region
	Service       string   // credential scope service
	SignedHeaders []string // lower-case, strictly ascending, as the client listed them
	Signature     string   // 64 lower-case hex digits
}

// Scope returns the credential scope "date/region/service/aws4_request".
func (a Authorization) Scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
}

// signs reports whether name is among the signed headers.
func (a Authorization) signs(name string) bool {
	for _, h := range a.SignedHeaders {
		if h == name {
			return true
		}
	}
	return false
}

// ParseAuthorization parses a SigV4 Authorization header value. It is strict:
// exactly the algorithm AWS4-HMAC-SHA256, then the Credential, SignedHeaders
// and Signature parameters once each (in any order, separated by a comma
// and optional spaces), a five-part credential ending in aws4_request with
// a real calendar date, lower-case strictly sorted signed header names
// that include host or :authority, and a 64-digit lower-case hex signature.
// Errors are *Error of KindMissing (empty header) or KindMalformed.
func ParseAuthorization(header string) (Authorization, error) {
	var a Authorization
	if header == "" {
		return a, newError(KindMissing, msgMissing)
	}
	if len(header) > maxAuthorizationLen {
		return a, newError(KindMalformed, "Authorization header is too long.")
	}
	alg, rest, ok := strings.Cut(header, " ")
	if !ok || alg != Algorithm {
		return a, newError(KindMalformed, "Authorization header must use the %s algorithm.", Algorithm)
	}
	var haveCred, haveSH, haveSig bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimLeft(part, " ")
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return a, newError(KindMalformed, "Authorization header parameter is not of the form name=value.")
		}
		var err error
		switch name {
		case "Credential":
			if haveCred {
				return a, newError(KindMalformed, "Authorization header repeats the Credential parameter.")
			}
			haveCred = true
			err = parseCredential(value, &a)
		case "SignedHeaders":
			if haveSH {
				return a, newError(KindMalformed, "Authorization header repeats the SignedHeaders parameter.")
			}
			haveSH = true
			a.SignedHeaders, err = parseSignedHeaders(value)
		case "Signature":
			if haveSig {
				return a, newError(KindMalformed, "Authorization header repeats the Signature parameter.")
			}
			haveSig = true
			if !isLowerHex(value, signatureHexLen) {
				err = newError(KindMalformed, "Signature must be %d lower-case hex digits.", signatureHexLen)
			}
			a.Signature = value
		default:
			return a, newError(KindMalformed, "Authorization header has an unknown parameter.")
		}
		if err != nil {
			return Authorization{}, err
		}
	}
	if !haveCred || !haveSH || !haveSig {
		return Authorization{}, newError(KindMalformed, "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.")
	}
	return a, nil
}

func parseCredential(v string, a *Authorization) error {
	parts := strings.Split(v, "/")
	if len(parts) != 5 {
		return newError(KindMalformed, "Credential must have the form AccessKeyId/yyyymmdd/region/service/aws4_request.")
	}
	id, date, region, service, term := parts[0], parts[1], parts[2], parts[3], parts[4]
	if len(id) < minAccessKeyIDLen || len(id) > maxAccessKeyIDLen || !isAlnum(id) {
		return newError(KindMalformed, "Credential has a malformed access key id.")
	}
	if len(date) != 8 || !isDigits(date) {
		return newError(KindMalformed, "Credential has a malformed date; it must be yyyymmdd.")
	}
	if _, err := time.Parse("20060102", date); err != nil {
		return newError(KindMalformed, "Credential has a malformed date; it must be yyyymmdd.")
	}
	if !isScopeName(region) {
		return newError(KindMalformed, "Credential has a malformed region.")
	}
	if !isScopeName(service) {
		return newError(KindMalformed, "Credential has a malformed service.")
	}
	if term != "aws4_request" {
		return newError(KindMalformed, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", clip(term))
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = id, date, region, service
	return nil
}

func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, newError(KindMalformed, "SignedHeaders is empty.")
	}
	n := strings.Count(v, ";") + 1
	if n > maxSignedHeaders {
		return nil, newError(KindMalformed, "SignedHeaders lists more than %d headers.", maxSignedHeaders)
	}
	hs := make([]string, 0, n)
	hostSigned := false
	for h := range strings.SplitSeq(v, ";") {
		if !isHeaderName(h) {
			return nil, newError(KindMalformed, "SignedHeaders has a malformed header name.")
		}
		if len(hs) > 0 && h <= hs[len(hs)-1] {
			return nil, newError(KindMalformed, "SignedHeaders must be sorted and free of duplicates.")
		}
		if h == "host" || h == ":authority" {
			hostSigned = true
		}
		hs = append(hs, h)
	}
	if !hostSigned {
		return nil, newError(KindMalformed, "SignedHeaders must include host or :authority.")
	}
	return hs, nil
}

// isHeaderName reports whether h is a lower-case HTTP token (RFC 9110
// tchar), optionally starting with ':' (an HTTP/2 pseudo-header).
func isHeaderName(h string) bool {
	h = strings.TrimPrefix(h, ":")
	if h == "" || len(h) > maxHeaderNameLen {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isScopeName accepts region and service names: lower-case letters, digits
// and '-', 1 to maxScopePartLen long.
func isScopeName(s string) bool {
	if s == "" || len(s) > maxScopePartLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// clip bounds client-supplied text echoed in messages and strips bytes
// that do not belong in a header or a log line.
func clip(s string) string {
	const max = 32
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f {
			return '?'
		}
		return r
	}, s)
}
