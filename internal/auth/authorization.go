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
	if strings.Count(v, "/") != 4 {
		return newError(KindMalformed, "Credential must have the form AccessKeyId/yyyymmdd/region/service/aws4_request.")
	}
	id, rest, _ := strings.Cut(v, "/")
	date, rest, _ := strings.Cut(rest, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")
	if len(id) < minAccessKeyIDLen || len(id) > maxAccessKeyIDLen || !isAlnum(id) {
		return newError(KindMalformed, "Credential has a malformed access key id.")
	}
	if len(date) != 8 || !isDigits(date) {
		return newError(KindMalformed, "Credential has a malformed date; it must be yyyymmdd.")
	}
	if !isCalendarDate(date) {
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
		if c >= 'a' && c <= 'z' || c == '-' || c >= '0' && c <= '9' {
			continue // the usual bytes, checked first
		}
		if !isTokenByte(c) || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// isTokenByte reports whether c is an RFC 9110 tchar: a letter, a digit or
// one of "!#$%&'*+-.^_`|~".
func isTokenByte(c byte) bool {
	// mask is a 128-bit set of the tchar bytes.
	const mask = 0 |
		(1<<10-1)<<'0' |
		(1<<26-1)<<'a' |
		(1<<26-1)<<'A' |
		1<<'!' | 1<<'#' | 1<<'$' | 1<<'%' | 1<<'&' | 1<<'\'' | 1<<'*' |
		1<<'+' | 1<<'-' | 1<<'.' | 1<<'^' | 1<<'_' | 1<<'`' | 1<<'|' | 1<<'~'
	// For c >= 128 both shifts give 0.
	return (uint64(1)<<c)&(mask&(1<<64-1))|
		(uint64(1)<<(c-64))&(mask>>64) != 0
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

// isCalendarDate reports whether the eight digits s are a yyyymmdd date
// that exists, as time.Parse("20060102", s) checks.
func isCalendarDate(s string) bool {
	y, m, d := atoi(s[0:4]), atoi(s[4:6]), atoi(s[6:8])
	return m >= 1 && m <= 12 && d >= 1 && d <= daysIn(m, y)
}

// daysIn returns the number of days in month m of year y (proleptic
// Gregorian, as package time counts).
func daysIn(m, y int) int {
	if m == 2 {
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	}
	return 30 + (m+m>>3)&1
}

// atoi returns the value of a string of decimal digits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// parseAmzDate is time.Parse(TimeFormat, s), without the general parser
// for the yyyymmddThhmmssZ form the SDKs send.
func parseAmzDate(s string) (time.Time, error) {
	if len(s) != len(TimeFormat) || s[8] != 'T' || s[15] != 'Z' || !isDigits(s[0:8]) || !isDigits(s[9:15]) || !isCalendarDate(s[0:8]) {
		return time.Parse(TimeFormat, s)
	}
	h, m, sec := atoi(s[9:11]), atoi(s[11:13]), atoi(s[13:15])
	if h >= 24 || m >= 60 || sec >= 60 {
		return time.Parse(TimeFormat, s) // for its error
	}
	return time.Date(atoi(s[0:4]), time.Month(atoi(s[4:6])), atoi(s[6:8]), h, m, sec, 0, time.UTC), nil
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex[S ~string | ~[]byte](s S, n int) bool {
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
