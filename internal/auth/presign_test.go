package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// exampleURL is the presigned URL of the AWS example (S3 API reference,
// "Authenticating requests: using query parameters"), valid for a day.
const exampleURL = "http://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256" +
	"&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z" +
	"&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

// presignedSDK returns a URL presigned by aws-sdk-go-v2's signer, as the
// s3 presign client makes it, with a session token.
func presignedSDK(t testing.TB, method, rawURL string, expires string, when time.Time) string {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := req.URL.Query()
	q.Set("X-Amz-Expires", expires)
	req.URL.RawQuery = q.Encode()
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: "FwoGZXIvYXdzEXAMPLETOKEN"}
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, UnsignedPayload, "s3", testRegion, when,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func getURL(t testing.TB, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return roundTrip(t, req)
}

// withParam returns u with query parameter name set to value ("" deletes it).
func withParam(u, name, value string) string {
	parsed, _ := url.Parse(u)
	q := parsed.Query()
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

func TestVerifyPresigned(t *testing.T) {
	sdkURL := presignedSDK(t, http.MethodGet, "http://localhost:9000/bucket/dir/my%20file.txt?x-id=GetObject", "600", testNow)
	tests := []struct {
		name   string
		method string
		url    string
		now    time.Time // zero means testNow
		v      func(v *Verifier)
		kind   Kind
		msg    string // substring of the message
	}{
		{name: "aws-example", url: exampleURL, now: exampleTime.Add(23 * time.Hour)},
		{name: "sdk", url: sdkURL},
		{name: "sdk-put", method: http.MethodPut, url: presignedSDK(t, http.MethodPut, "http://localhost/bucket/k?partNumber=1&uploadId=u%2B1", "3600", testNow)},
		{name: "sdk-max-expiry", url: presignedSDK(t, http.MethodGet, "http://localhost/bucket/k", "604800", testNow.Add(-167*time.Hour))},
		{name: "sdk-near-future", url: presignedSDK(t, http.MethodGet, "http://localhost/bucket/k", "60", testNow.Add(4*time.Minute))},
		{name: "region-served", url: sdkURL, v: func(v *Verifier) { v.Regions = []string{testRegion} }},

		{name: "aws-example-expired", url: exampleURL, now: exampleTime.Add(24*time.Hour + time.Second), kind: KindURLExpired, msg: "Request has expired"},
		{name: "expired", url: sdkURL, now: testNow.Add(11 * time.Minute), kind: KindURLExpired},
		{name: "future", url: presignedSDK(t, http.MethodGet, "http://localhost/bucket/k", "60", testNow.Add(6*time.Minute)), kind: KindExpired},
		{name: "expires-too-long", url: presignedSDK(t, http.MethodGet, "http://localhost/bucket/k", "604801", testNow), kind: KindMalformedQuery},
		{name: "expires-zero", url: presignedSDK(t, http.MethodGet, "http://localhost/bucket/k", "0", testNow), kind: KindMalformedQuery},
		{name: "expires-not-a-number", url: withParam(sdkURL, "X-Amz-Expires", "ten"), kind: KindMalformedQuery},
		{name: "date-malformed", url: withParam(sdkURL, "X-Amz-Date", "2026-11-21T12:00:00Z"), kind: KindMalformedQuery},
		{name: "date-fraction", url: withParam(sdkURL, "X-Amz-Date", "20261121T120000.5Z"), kind: KindMalformedQuery},
		{name: "date-not-scope-date", url: withParam(sdkURL, "X-Amz-Date", "20261122T120000Z"), kind: KindMalformedQuery},
		{name: "region-not-served", url: sdkURL, v: func(v *Verifier) { v.Regions = []string{"eu-west-1"} }, kind: KindMalformedQuery,
			msg: "X-Amz-Credential names region 'us-east-1'; expecting 'eu-west-1'"},
		{name: "algorithm", url: withParam(sdkURL, "X-Amz-Algorithm", "AWS4-HMAC-SHA512"), kind: KindMalformed},
		{name: "no-algorithm", url: withParam(sdkURL, "X-Amz-Algorithm", ""), kind: KindMalformed},
		{name: "credential-malformed", url: withParam(sdkURL, "X-Amz-Credential", testKeyID+"/20261121/us-east-1/s3"), kind: KindMalformed},
		{name: "signed-headers-missing", url: withParam(sdkURL, "X-Amz-SignedHeaders", ""), kind: KindMalformed},
		{name: "signed-headers-without-host", url: withParam(sdkURL, "X-Amz-SignedHeaders", "x-amz-date"), kind: KindMalformed},
		{name: "signature-missing", url: withParam(sdkURL, "X-Amz-Signature", ""), kind: KindMalformed},
		{name: "signature-repeated", url: sdkURL + "&X-Amz-Signature=" + strings.Repeat("0", 64), kind: KindMalformed},
		{name: "service-not-served", url: withParam(sdkURL, "X-Amz-Credential", testKeyID+"/20261121/us-east-1/iam/aws4_request"), kind: KindBadSignature},
		{name: "bedrock", url: withParam(sdkURL, "X-Amz-Credential", testKeyID+"/20261121/us-east-1/bedrock/aws4_request"), kind: KindBadSignature},
		{name: "unknown-key", url: withParam(sdkURL, "X-Amz-Credential", "AKIAUNKNOWNUNKNOWN00/20261121/us-east-1/s3/aws4_request"), kind: KindUnknownKey},
		{name: "tampered-path", url: strings.Replace(sdkURL, "my%20file", "other", 1), kind: KindBadSignature},
		{name: "tampered-query", url: withParam(sdkURL, "x-id", "DeleteObject"), kind: KindBadSignature},
		{name: "added-query", url: sdkURL + "&versionId=1", kind: KindBadSignature},
		{name: "tampered-token", url: withParam(sdkURL, "X-Amz-Security-Token", "other"), kind: KindBadSignature},
		{name: "tampered-expiry", url: withParam(sdkURL, "X-Amz-Expires", "6000"), kind: KindBadSignature},
		{name: "tampered-method", method: http.MethodDelete, url: sdkURL, kind: KindBadSignature},
		{name: "malformed-query", url: sdkURL + "&a=%zz", kind: KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := testVerifier()
			now := tc.now
			if now.IsZero() {
				now = testNow
			}
			v.Now = func() time.Time { return now }
			if tc.v != nil {
				tc.v(v)
			}
			r := getURL(t, cmpOr(tc.method, http.MethodGet), tc.url)
			if !IsPresigned(r) {
				t.Fatal("IsPresigned = false")
			}
			c, err := v.VerifyPresigned(r)
			if KindOf(err) != tc.kind {
				t.Fatalf("VerifyPresigned = %v, want kind %v", err, tc.kind)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.msg) || strings.Contains(err.Error(), testSecret) {
					t.Fatalf("message %q, want %q", err, tc.msg)
				}
				return
			}
			if c.AccessKeyID != testKeyID || c.Service != "s3" || c.Region != testRegion || c.Chunks != nil {
				t.Errorf("credential = %+v", c)
			}
			if tc.name == "sdk" && c.SecurityToken != "FwoGZXIvYXdzEXAMPLETOKEN" {
				t.Errorf("security token %q", c.SecurityToken)
			}
		})
	}
}

func TestIsPresigned(t *testing.T) {
	r := getURL(t, http.MethodGet, exampleURL)
	r.Header.Set(HeaderAuthorization, "AWS4-HMAC-SHA256 x")
	if IsPresigned(r) {
		t.Error("a request with an Authorization header is presigned")
	}
	if IsPresigned(getURL(t, http.MethodGet, "http://localhost/b/k?X-Amz-Date=1")) {
		t.Error("a request without X-Amz-Credential is presigned")
	}
}

// FuzzVerifyPresigned feeds VerifyPresigned any query and path: it never
// panics, fails only with an *Error whose message hides the secret and
// the expected signature, and accepts only the URL as signed.
func FuzzVerifyPresigned(f *testing.F) {
	valid := presignedSDK(f, http.MethodGet, "http://localhost/bucket/k?x-id=GetObject", "600", testNow)
	u, _ := url.Parse(valid)
	f.Add(u.RawQuery, u.Path)
	f.Add(strings.Split(exampleURL, "?")[1], "/test.txt")
	f.Add("X-Amz-Credential=a%2Fb&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=-1", "/")
	f.Add("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261121%2Fus-east-1%2Fs3%2Faws4_request"+
		"&X-Amz-Date=20261121T120000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature="+strings.Repeat("a", 64), "/b/k")
	sig := u.Query().Get("X-Amz-Signature")
	f.Fuzz(func(t *testing.T, rawQuery, path string) {
		r := &http.Request{Method: http.MethodGet, Host: "localhost", Header: http.Header{},
			URL: &url.URL{Path: path, RawQuery: rawQuery}}
		c, err := testVerifier().VerifyPresigned(r)
		if err != nil {
			if KindOf(err) == 0 || KindOf(err) == KindInternal {
				t.Fatalf("error %T %v", err, err)
			}
			if strings.Contains(err.Error(), testSecret) || strings.Contains(err.Error(), sig) && !strings.Contains(rawQuery, sig) {
				t.Fatalf("error reveals a secret: %v", err)
			}
			return
		}
		if c.AccessKeyID != testKeyID || c.Service != "s3" {
			t.Fatalf("credential %+v", c)
		}
	})
}
