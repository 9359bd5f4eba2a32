package auth

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const (
	sigA = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
	cred = "Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1/bedrock/aws4_request"
)

func TestParseAuthorization(t *testing.T) {
	good := Authorization{
		AccessKeyID:   "AKIAIOSFODNN7EXAMPLE",
		Date:          "20261121",
		Region:        "us-east-1",
		Service:       "bedrock",
		SignedHeaders: []string{"content-type", "host", "x-amz-date"},
		Signature:     sigA,
	}
	tests := []struct {
		name   string
		header string
		want   Authorization
		kind   Kind // 0 means success
	}{
		{"sdk-form", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;x-amz-date, Signature=" + sigA, good, 0},
		{"no-spaces", "AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=content-type;host;x-amz-date,Signature=" + sigA, good, 0},
		{"any-order", "AWS4-HMAC-SHA256 Signature=" + sigA + ", SignedHeaders=content-type;host;x-amz-date, " + cred, good, 0},
		{"authority", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=:authority;x-amz-date, Signature=" + sigA,
			Authorization{AccessKeyID: good.AccessKeyID, Date: good.Date, Region: good.Region, Service: good.Service,
				SignedHeaders: []string{":authority", "x-amz-date"}, Signature: sigA}, 0},
		{"empty", "", Authorization{}, KindMissing},
		{"other-algorithm", "AWS4-HMAC-SHA512 " + cred + ", SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"sigv4a", "AWS4-ECDSA-P256-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"bearer", "Bearer sk-strata-abc", Authorization{}, KindMalformed},
		{"missing-signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host", Authorization{}, KindMalformed},
		{"missing-credential", "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"repeated-credential", "AWS4-HMAC-SHA256 " + cred + ", " + cred + ", SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"repeated-signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sigA + ", Signature=" + sigA, Authorization{}, KindMalformed},
		{"unknown-param", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sigA + ", Foo=bar", Authorization{}, KindMalformed},
		{"upper-hex-signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + strings.ToUpper(sigA), Authorization{}, KindMalformed},
		{"short-signature", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sigA[:63], Authorization{}, KindMalformed},
		{"four-part-credential", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1/aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"bad-terminator", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1/bedrock/aws5_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"bad-date", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261321/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"short-key-id", "AWS4-HMAC-SHA256 Credential=AKIA/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"key-id-slash-injection", "AWS4-HMAC-SHA256 Credential=AKIA IOSFODNN7EXAMPLE/20261121/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"upper-region", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/US-EAST-1/bedrock/aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"empty-service", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/us-east-1//aws4_request, SignedHeaders=host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"unsorted-headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date;host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"duplicate-headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"upper-header", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=Host, Signature=" + sigA, Authorization{}, KindMalformed},
		{"no-host-signed", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=x-amz-date, Signature=" + sigA, Authorization{}, KindMalformed},
		{"empty-header-name", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host;;x-amz-date, Signature=" + sigA, Authorization{}, KindMalformed},
		{"empty-signed-headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=, Signature=" + sigA, Authorization{}, KindMalformed},
		{"too-long", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host, Signature=" + sigA + strings.Repeat(" ", maxAuthorizationLen), Authorization{}, KindMalformed},
		{"too-many-headers", "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=" + manyHeaders(maxSignedHeaders+1) + ", Signature=" + sigA, Authorization{}, KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAuthorization(tc.header)
			if tc.kind != 0 {
				if KindOf(err) != tc.kind {
					t.Fatalf("ParseAuthorization error = %v, want kind %v", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAuthorization: %v", err)
			}
			if got.AccessKeyID != tc.want.AccessKeyID || got.Scope() != tc.want.Scope() ||
				strings.Join(got.SignedHeaders, ";") != strings.Join(tc.want.SignedHeaders, ";") || got.Signature != tc.want.Signature {
				t.Errorf("ParseAuthorization = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// manyHeaders returns a sorted SignedHeaders value of n names, host first.
func manyHeaders(n int) string {
	out := []string{"host"}
	for i := 1; i < n; i++ {
		out = append(out, "x-"+strings.Repeat("a", i))
	}
	return strings.Join(out, ";")
}

// formatAuthorization renders a as the AWS SDKs do.
func formatAuthorization(a Authorization) string {
	return Algorithm + " Credential=" + a.AccessKeyID + "/" + a.Scope() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
}

func FuzzParseAuthorization(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;x-amz-date, Signature=" + sigA)
	f.Add("AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=:authority;x-amz-date,Signature=" + sigA)
	f.Add("AWS4-HMAC-SHA256 Signature=" + sigA + ", SignedHeaders=host, " + cred)
	f.Add("AWS4-HMAC-SHA256 Credential=A/B/C/D/E, SignedHeaders=host, Signature=x")
	f.Add("")
	f.Add("AWS4-HMAC-SHA256 ")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := ParseAuthorization(header)
		if err != nil {
			if KindOf(err) != KindMissing && KindOf(err) != KindMalformed {
				t.Fatalf("error of unexpected kind: %v", err)
			}
			return
		}
		// A parsed header satisfies every invariant the verifier relies on.
		if len(a.Signature) != 64 || !isLowerHex(a.Signature, 64) {
			t.Fatalf("bad signature %q", a.Signature)
		}
		if !a.signs("host") && !a.signs(":authority") {
			t.Fatalf("host not signed: %v", a.SignedHeaders)
		}
		for i := 1; i < len(a.SignedHeaders); i++ {
			if a.SignedHeaders[i-1] >= a.SignedHeaders[i] {
				t.Fatalf("signed headers not strictly sorted: %v", a.SignedHeaders)
			}
		}
		if strings.ContainsAny(a.AccessKeyID+a.Scope(), " ,;=\n") {
			t.Fatalf("separator inside credential %q", a.AccessKeyID+"/"+a.Scope())
		}
		// Rendering and parsing again is the identity.
		b, err := ParseAuthorization(formatAuthorization(a))
		if err != nil {
			t.Fatalf("reparse of %q: %v", formatAuthorization(a), err)
		}
		if formatAuthorization(a) != formatAuthorization(b) {
			t.Fatalf("round trip changed %q to %q", formatAuthorization(a), formatAuthorization(b))
		}
	})
}

// TestIsTokenByte checks isTokenByte, and the header names it admits,
// against RFC 9110's tchar list for every byte.
func TestIsTokenByte(t *testing.T) {
	const punct = "!#$%&'*+-.^_`|~"
	for c := range 256 {
		b := byte(c)
		lower := b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || strings.IndexByte(punct, b) >= 0
		tchar := lower || b >= 'A' && b <= 'Z'
		if got := isTokenByte(b); got != tchar {
			t.Errorf("isTokenByte(%q) = %v, want %v", b, got, tchar)
		}
		if got := isHeaderName("x" + string(b)); got != lower {
			t.Errorf("isHeaderName(%q) = %v, want %v", "x"+string(b), got, lower)
		}
	}
}

// FuzzParseAmzDate checks parseAmzDate and isCalendarDate against
// time.Parse.
func FuzzParseAmzDate(f *testing.F) {
	for _, s := range []string{"20261121T120000Z", "20261121T235959Z", "20261121T240000Z", "20261121T126000Z", "20261121T120060Z",
		"20240229T000000Z", "20230229T000000Z", "21000229T000000Z", "20000229T000000Z", "00000229T000000Z", "20261131T000000Z",
		"20261301T000000Z", "20260001T000000Z", "20260100T000000Z", "20261121T90000Z", "20261121T120000.5Z", "20261121t120000Z",
		"2026112aT120000Z", "20261121T1200000", "", "99991231T235959Z", "-0261121T120000Z", "+0261121T120000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseAmzDate(s)
		want, wantErr := time.Parse(TimeFormat, s)
		if (err == nil) != (wantErr == nil) || got != want {
			t.Fatalf("parseAmzDate(%q) = %v, %v; want %v, %v", s, got, err, want, wantErr)
		}
		if len(s) >= 8 && isDigits(s[:8]) {
			_, wantErr := time.Parse("20060102", s[:8])
			if got := isCalendarDate(s[:8]); got != (wantErr == nil) {
				t.Fatalf("isCalendarDate(%q) = %v, time.Parse error %v", s[:8], got, wantErr)
			}
		}
	})
}

// TestIsCalendarDate compares isCalendarDate with time.Parse for every
// month and day number in leap and common years.
func TestIsCalendarDate(t *testing.T) {
	for _, y := range []int{0, 4, 1900, 1996, 2000, 2023, 2024, 2026, 2100, 2400, 9999} {
		for m := range 100 {
			for d := range 100 {
				s := fmt.Sprintf("%04d%02d%02d", y, m, d)
				_, err := time.Parse("20060102", s)
				if got := isCalendarDate(s); got != (err == nil) {
					t.Fatalf("isCalendarDate(%q) = %v, time.Parse error %v", s, got, err)
				}
				amz := s + "T235959Z"
				got, err := parseAmzDate(amz)
				want, wantErr := time.Parse(TimeFormat, amz)
				if (err == nil) != (wantErr == nil) || got != want {
					t.Fatalf("parseAmzDate(%q) = %v, %v; want %v, %v", amz, got, err, want, wantErr)
				}
			}
		}
	}
}
