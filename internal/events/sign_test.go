package events

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	const secret = "whsec"
	body := []byte(`{"id":"e1"}`)
	now := time.Unix(1_800_000_000, 0)
	ts := now.Unix()
	good := Sign(secret, ts, body)
	hdr := func(ts, sig string) http.Header {
		h := http.Header{}
		if ts != "" {
			h.Set(HeaderTimestamp, ts)
		}
		if sig != "" {
			h.Set(HeaderSignature, sig)
		}
		return h
	}
	tsText := strconv.FormatInt(ts, 10)
	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"valid", hdr(tsText, good), body, now, 0, nil},
		{"valid-within-tolerance", hdr(tsText, good), body, now.Add(4 * time.Minute), 0, nil},
		{"valid-clock-behind", hdr(tsText, good), body, now.Add(-4 * time.Minute), 0, nil},
		{"valid-among-several", hdr(tsText, "v1=00, "+good+",v0=zz"), body, now, 0, nil},
		{"tampered-body", hdr(tsText, good), []byte(`{"id":"e2"}`), now, 0, ErrBadSignature},
		{"tampered-timestamp", hdr(strconv.FormatInt(ts+1, 10), good), body, now, 0, ErrBadSignature},
		{"old-timestamp", hdr(tsText, good), body, now.Add(6 * time.Minute), 0, ErrStale},
		{"future-timestamp", hdr(tsText, good), body, now.Add(-6 * time.Minute), 0, ErrStale},
		{"old-with-short-tolerance", hdr(tsText, good), body, now.Add(31 * time.Second), 30 * time.Second, ErrStale},
		{"no-signature", hdr(tsText, ""), body, now, 0, ErrBadSignature},
		{"no-timestamp", hdr("", good), body, now, 0, ErrBadSignature},
		{"signed-timestamp-negative", hdr("-1", good), body, now, 0, ErrBadSignature},
		{"timestamp-not-a-number", hdr("12a", good), body, now, 0, ErrBadSignature},
		{"timestamp-too-long", hdr("99999999999999999999999", good), body, now, 0, ErrBadSignature},
		{"signature-not-hex", hdr(tsText, "v1=zz"), body, now, 0, ErrBadSignature},
		{"signature-wrong-scheme", hdr(tsText, "v2="+good[3:]), body, now, 0, ErrBadSignature},
		{"signature-truncated", hdr(tsText, good[:len(good)-2]), body, now, 0, ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(secret, tc.h, tc.body, tc.now, tc.tol)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if err := Verify("", hdr(tsText, good), body, now, 0); err == nil {
		t.Error("Verify with an empty secret succeeded")
	}
}

// TestSignKnownAnswer pins the signature scheme for receivers in other
// languages: HMAC-SHA256("key", "1700000000.{}"), computed independently
// (python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1700000000.{}",hashlib.sha256).hexdigest())').
func TestSignKnownAnswer(t *testing.T) {
	const want = "v1=" + knownAnswer
	if got := Sign("key", 1700000000, []byte("{}")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// FuzzVerify feeds Verify arbitrary headers: it must not panic, and must
// accept only a signature made with the secret over the body.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"id":"e1"}`)
	f.Add("1800000000", Sign("k", 1800000000, body), body)
	f.Add("1800000000", "v1=00,v1=zz", body)
	f.Add("-5", "", []byte{})
	f.Add("18000000000000000000", "v1="+Sign("k", 0, nil), []byte("x"))
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, ts, sig string, b []byte) {
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		err := Verify("k", h, b, now, time.Hour)
		if err == nil {
			n, perr := strconv.ParseInt(ts, 10, 64)
			if perr != nil {
				t.Fatalf("accepted timestamp %q", ts)
			}
			if d := now.Sub(time.Unix(n, 0)); d > time.Hour || d < -time.Hour {
				t.Fatalf("accepted stale timestamp %q", ts)
			}
			if Verify("k", h, append(b, '!'), now, time.Hour) == nil {
				t.Fatalf("accepted signature %q for two bodies", sig)
			}
		}
	})
}

const knownAnswer = "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
