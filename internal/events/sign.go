package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery request.
const (
	HeaderEventID   = "X-Strata-Event-Id"
	HeaderTimestamp = "X-Strata-Timestamp"
	HeaderSignature = "X-Strata-Signature"
)

// DefaultTolerance is the timestamp tolerance Verify applies when given 0.
const DefaultTolerance = 5 * time.Minute

// Errors Verify returns.
var (
	// ErrBadSignature means the signature or timestamp header is missing
	// or malformed, or no signature matches the body.
	ErrBadSignature = errors.New("events: bad signature")
	// ErrStale means the timestamp is further from now than the tolerance:
	// a replay, or clocks far apart.
	ErrStale = errors.New("events: timestamp outside the tolerance")
)

// Sign returns the X-Strata-Signature value for body sent at unix time ts:
// "v1=" and the hex HMAC-SHA256, keyed with secret, of ts in decimal, ".",
// and body.
func Sign(secret string, ts int64, body []byte) string {
	return "v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a delivery request's signature: header holds its headers
// and body its raw body, exactly as received. It fails with ErrStale when
// the timestamp is more than tolerance (0 means DefaultTolerance) away
// from now, and with ErrBadSignature when the headers are missing or
// malformed or no "v1=" signature in X-Strata-Signature (a comma-separated
// list) matches. Receivers should also drop event ids they have already
// processed.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	if secret == "" {
		return errors.New("events: Verify needs the secret")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	tsText := header.Get(HeaderTimestamp)
	if tsText == "" || len(tsText) > 19 || strings.TrimLeft(tsText, "0123456789") != "" {
		return ErrBadSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	want := mac(secret, ts, body)
	ok := false
	for _, v := range header.Values(HeaderSignature) {
		for part := range strings.SplitSeq(v, ",") {
			h, found := strings.CutPrefix(strings.TrimSpace(part), "v1=")
			if !found || len(h) != 2*sha256.Size {
				continue
			}
			got, err := hex.DecodeString(h)
			if err == nil && hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	if !ok {
		return ErrBadSignature
	}
	sent := time.Unix(ts, 0)
	if d := now.Sub(sent); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}
