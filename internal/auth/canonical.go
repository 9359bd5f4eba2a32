package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

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
// client's signed header list. For a presigned URL the query's
// X-Amz-Signature is left out.
func canonicalRequest(r *http.Request, signed []string, payloadHash string, s3, presigned bool) (string, error) {
	b, err := appendCanonicalRequest(make([]byte, 0, 512), r, signed, s3, presigned)
	if err != nil {
		return "", err
	}
	return string(append(b, payloadHash...)), nil
}

// appendCanonicalRequest appends the canonical request of canonicalRequest
// to b, all but the payload hash that ends it.
func appendCanonicalRequest(b []byte, r *http.Request, signed []string, s3, presigned bool) ([]byte, error) {
	b = append(b, r.Method...)
	b = append(b, '\n')
	path := escapedPath(r.URL)
	if path == "" {
		path = "/"
	}
	if s3 {
		b = append(b, path...)
	} else {
		b = appendEscapePath(b, path)
	}
	b = append(b, '\n')
	b, err := appendCanonicalQuery(b, r.URL.RawQuery, presigned)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	for _, name := range signed {
		b = append(b, name...)
		b = append(b, ':')
		switch name {
		case "host", ":authority":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			b = append(b, stripSpaces(host)...)
		case "content-length":
			if r.ContentLength >= 0 {
				b = strconv.AppendInt(b, r.ContentLength, 10)
			} else {
				b = appendValues(b, headerValues(r.Header, name))
			}
		case ":method":
			b = append(b, r.Method...)
		default:
			b = appendValues(b, headerValues(r.Header, name))
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	return b, nil
}

func appendValues(b []byte, vs []string) []byte {
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, strings.TrimSpace(stripSpaces(v))...)
	}
	return b
}

// headerValues returns h[http.CanonicalHeaderKey(name)] without allocating
// the canonical key.
func headerValues(h http.Header, name string) []string {
	var buf [1 + maxHeaderNameLen]byte
	if len(name) > len(buf) {
		return h[http.CanonicalHeaderKey(name)]
	}
	k := buf[:len(name)]
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c == '-') && !isTokenByte(c) {
			// CanonicalHeaderKey leaves such names alone.
			return h[name]
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
		upper = c == '-'
	}
	return h[string(k)] // the compiler does not copy k for a map index
}

// escapedPath is u.EscapedPath(), without allocating in the usual case
// of a RawPath of unreserved bytes, '/' and percent escapes (as the AWS
// SDKs send) that decodes to u.Path.
func escapedPath(u *url.URL) string {
	raw, path := u.RawPath, u.Path
	if raw == "" {
		return u.EscapedPath()
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case unreserved(c) || c == '/':
			i++
		case c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]):
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 3
		default:
			return u.EscapedPath()
		}
		if path == "" || path[0] != c {
			return u.EscapedPath()
		}
		path = path[1:]
	}
	if path != "" {
		return u.EscapedPath()
	}
	return raw
}

// isHex reports whether c is a hex digit of either case.
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// unhex returns the value of the hex digit c.
func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
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
	return string(appendEscapePath(nil, p))
}

// appendEscapePath appends escapePath(p) to b.
func appendEscapePath(b []byte, p string) []byte {
	const hexDigits = "0123456789ABCDEF"
	start := 0
	for i := 0; i < len(p); i++ {
		if c := p[i]; !unreserved(c) && c != '/' {
			b = append(b, p[start:i]...)
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
			start = i + 1
		}
	}
	return append(b, p[start:]...)
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
	b, err := appendCanonicalQuery(nil, raw, false)
	return string(b), err
}

// appendCanonicalQuery appends canonicalQuery(raw) to b, without the
// X-Amz-Signature parameter if presigned.
func appendCanonicalQuery(b []byte, raw string, presigned bool) ([]byte, error) {
	if raw == "" {
		return b, nil
	}
	type pair struct{ k, v string }
	var ps []pair
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		if len(ps) == maxQueryParams {
			return nil, newError(KindMalformed, "The query string has more than %d parameters.", maxQueryParams)
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return nil, newError(KindMalformed, "The query string has a malformed escape.")
		}
		if presigned && dk == querySignature {
			continue
		}
		ps = append(ps, pair{encodeQueryComponent(dk), encodeQueryComponent(dv)})
	}
	slices.SortFunc(ps, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	for i, p := range ps {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b, nil
}

func encodeQueryComponent(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

func stringToSign(amzDate, scope, canonical string) string {
	h := sha256.Sum256([]byte(canonical))
	return Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(h[:])
}

// appendStringToSign appends the string to sign of stringToSign to b.
func appendStringToSign(b []byte, amzDate string, a *Authorization, canonicalHash *[sha256.Size]byte) []byte {
	b = append(b, Algorithm+"\n"...)
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, a.Date...)
	b = append(b, '/')
	b = append(b, a.Region...)
	b = append(b, '/')
	b = append(b, a.Service...)
	b = append(b, "/aws4_request\n"...)
	return hex.AppendEncode(b, canonicalHash[:])
}

func hmacSHA256(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// hmacSum returns HMAC-SHA256(key, buf[sha256.BlockSize:]). The first
// block of buf is room the caller leaves before the string to sign; it is
// not used (crypto/hmac does the padding: the signature is computed by the
// standard library's HMAC, as an auditor expects).
func hmacSum(key *[sha256.Size]byte, buf []byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(buf[sha256.BlockSize:])
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}
