package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

const (
	testKeyID  = "AKIAIOSFODNN7EXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	testRegion = "us-east-1"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func testVerifier() *Verifier {
	return &Verifier{
		Lookup: func(_ context.Context, id string) (string, error) {
			if id == testKeyID {
				return testSecret, nil
			}
			return "", fmt.Errorf("key %s: %w", id, ErrUnknownKey)
		},
		Now:      func() time.Time { return testNow },
		Services: []string{"bedrock", "sts", "s3"},
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// sdkRequest describes a request signed by the real aws-sdk-go-v2 signer.
type sdkRequest struct {
	method, url, body string
	service           string
	headers           map[string]string
	payloadHash       string // "" means sha256(body)
	token             string
	signTime          time.Time // zero means testNow
	secret            string    // "" means testSecret
	keyID             string    // "" means testKeyID
}

// sign signs the request with aws-sdk-go-v2's SigV4 signer and returns the
// request as the server sees it: written to the wire and read back.
func (s sdkRequest) sign(t *testing.T) *http.Request {
	t.Helper()
	req, err := http.NewRequest(s.method, s.url, strings.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	if s.body == "" {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	for k, v := range s.headers {
		req.Header.Set(k, v)
	}
	if s.token != "" {
		req.Header.Set(HeaderSecurityToken, s.token)
	}
	hash := s.payloadHash
	if hash == "" {
		hash = sha256Hex([]byte(s.body))
	}
	when := s.signTime
	if when.IsZero() {
		when = testNow
	}
	creds := aws.Credentials{AccessKeyID: cmpOr(s.keyID, testKeyID), SecretAccessKey: cmpOr(s.secret, testSecret), SessionToken: s.token}
	err = v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, s.service, testRegion, when,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = s.service == "s3" })
	if err != nil {
		t.Fatal(err)
	}
	return roundTrip(t, req)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// roundTrip serialises a client request and parses it as a server would.
func roundTrip(t testing.TB, req *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const arnPath = "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aimported-model%2Fabc/invoke"

func TestVerifySDKSigned(t *testing.T) {
	tests := []struct {
		name   string
		req    sdkRequest
		mutate func(r *http.Request)
		kind   Kind // 0 means verified
	}{
		{name: "get-with-query", req: sdkRequest{method: "GET", url: "http://127.0.0.1:8080/imported-models?maxResults=10&nameContains=my%20model&sortBy=CreationTime", service: "bedrock"}},
		{name: "get-query-needs-encoding-sort", req: sdkRequest{method: "GET", url: "http://localhost/model-import-jobs?b=a%2Fb&b=a-b&a=%E2%82%AC&empty=&flag", service: "bedrock"}},
		{name: "post-json-body", req: sdkRequest{method: "POST", url: "http://localhost:8080/model-import-jobs", body: `{"jobName":"j1","importedModelName":"m1"}`, service: "bedrock",
			headers: map[string]string{"Content-Type": "application/json", "Amz-Sdk-Invocation-Id": "abc", "Amz-Sdk-Request": "attempt=1; max=3"}}},
		{name: "arn-path-double-encoded", req: sdkRequest{method: "POST", url: "http://localhost" + arnPath, body: `{"prompt":"hi"}`, service: "bedrock"}},
		{name: "sts-query-protocol", req: sdkRequest{method: "POST", url: "http://localhost/", body: "Action=GetCallerIdentity&Version=2011-06-15", service: "sts",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}},
		{name: "session-token", req: sdkRequest{method: "GET", url: "http://localhost/imported-models", service: "bedrock", token: "FwoGZXIvYXdzEXAMPLETOKEN"}},
		{name: "header-values-collapsed", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock",
			headers: map[string]string{"X-Custom": "  a   b  c  "}}},
		{name: "s3-unsigned-payload", req: sdkRequest{method: "PUT", url: "http://localhost/bucket/dir/my%20file.safetensors", body: "weights", service: "s3",
			payloadHash: UnsignedPayload, headers: map[string]string{HeaderContentSHA256: UnsignedPayload}}},
		{name: "s3-signed-payload-header", req: sdkRequest{method: "PUT", url: "http://localhost/bucket/key", body: "weights", service: "s3",
			headers: map[string]string{HeaderContentSHA256: sha256Hex([]byte("weights"))}}},
		{name: "js-style-content-sha256", req: sdkRequest{method: "POST", url: "http://localhost/model-import-jobs", body: "{}", service: "bedrock",
			headers: map[string]string{HeaderContentSHA256: sha256Hex([]byte("{}")), "X-Amz-User-Agent": "aws-sdk-js/3.1162.0"}}},
		{name: "unsigned-header-changed", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Set("User-Agent", "other") }},
		{name: "skew-within-limit", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", signTime: testNow.Add(-4 * time.Minute)}},

		{name: "wrong-secret", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", secret: "wrongwrongwrongwrongwrongwrongwrongwrong"}, kind: KindBadSignature},
		{name: "unknown-key", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", keyID: "AKIAUNKNOWNUNKNOWN00"}, kind: KindUnknownKey},
		{name: "tampered-body", req: sdkRequest{method: "POST", url: "http://localhost/x", body: `{"a":1}`, service: "bedrock"},
			mutate: func(r *http.Request) { r.Body = io.NopCloser(strings.NewReader(`{"a":2}`)) }, kind: KindBadSignature},
		{name: "tampered-path", req: sdkRequest{method: "POST", url: "http://localhost" + arnPath, body: "{}", service: "bedrock"},
			mutate: func(r *http.Request) {
				r.URL.RawPath = strings.Replace(arnPath, "abc", "abd", 1)
				r.URL.Path = "/model/x"
			}, kind: KindBadSignature},
		{name: "tampered-query", req: sdkRequest{method: "GET", url: "http://localhost/x?maxResults=10", service: "bedrock"},
			mutate: func(r *http.Request) { r.URL.RawQuery = "maxResults=1000" }, kind: KindBadSignature},
		{name: "tampered-method", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Method = "DELETE" }, kind: KindBadSignature},
		{name: "tampered-signed-header", req: sdkRequest{method: "POST", url: "http://localhost/x", body: "{}", service: "bedrock", headers: map[string]string{"Content-Type": "application/json"}},
			mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, kind: KindBadSignature},
		{name: "tampered-host", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Host = "evil.example" }, kind: KindBadSignature},
		{name: "tampered-token", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", token: "tok1"},
			mutate: func(r *http.Request) { r.Header.Set(HeaderSecurityToken, "tok2") }, kind: KindBadSignature},
		{name: "expired", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", signTime: testNow.Add(-6 * time.Minute)}, kind: KindExpired},
		{name: "from-the-future", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", signTime: testNow.Add(6 * time.Minute)}, kind: KindExpired},
		{name: "scope-date-differs", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Set(HeaderDate, "20261122T000100Z") }, kind: KindBadSignature},
		{name: "service-not-served", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "iam"}, kind: KindBadSignature},
		{name: "unsigned-payload-not-s3", req: sdkRequest{method: "POST", url: "http://localhost/x", body: "{}", service: "bedrock",
			payloadHash: UnsignedPayload, headers: map[string]string{HeaderContentSHA256: UnsignedPayload}}, kind: KindMalformed},
		{name: "s3-payload-mismatch", req: sdkRequest{method: "PUT", url: "http://localhost/bucket/key", body: "weights", service: "s3",
			headers: map[string]string{HeaderContentSHA256: sha256Hex([]byte("other"))}, payloadHash: sha256Hex([]byte("other"))}, kind: KindPayloadMismatch},
		{name: "bedrock-payload-mismatch", req: sdkRequest{method: "POST", url: "http://localhost/x", body: "{}", service: "bedrock",
			headers: map[string]string{HeaderContentSHA256: sha256Hex([]byte("[]"))}, payloadHash: sha256Hex([]byte("[]"))}, kind: KindPayloadMismatch},
		{name: "bad-content-sha256", req: sdkRequest{method: "POST", url: "http://localhost/x", body: "{}", service: "bedrock",
			headers: map[string]string{HeaderContentSHA256: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}, kind: KindMalformed},
		{name: "missing-authorization", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Del(HeaderAuthorization) }, kind: KindMissing},
		{name: "missing-date", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Del(HeaderDate) }, kind: KindMalformed},
		{name: "two-authorization-headers", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Add(HeaderAuthorization, r.Header.Get(HeaderAuthorization)) }, kind: KindMalformed},
		{name: "two-date-headers", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Add(HeaderDate, "20261121T120000Z") }, kind: KindMalformed},
		{name: "token-not-signed", req: sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"},
			mutate: func(r *http.Request) { r.Header.Set(HeaderSecurityToken, "injected") }, kind: KindMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req.sign(t)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			c, body, err := testVerifier().VerifyRequest(r, 1<<20)
			if tc.kind != 0 {
				if KindOf(err) != tc.kind {
					t.Fatalf("VerifyRequest error = %v, want kind %v", err, tc.kind)
				}
				if strings.Contains(err.Error(), testSecret) {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("VerifyRequest: %v", err)
			}
			if c.AccessKeyID != testKeyID || c.Region != testRegion || c.Service != tc.req.service || c.SecurityToken != tc.req.token {
				t.Errorf("credential = %+v", c)
			}
			if string(body) != tc.req.body {
				t.Errorf("body = %q, want %q", body, tc.req.body)
			}
			again, _ := io.ReadAll(r.Body)
			if string(again) != tc.req.body {
				t.Errorf("restored body = %q, want %q", again, tc.req.body)
			}
		})
	}
}

// TestVerifyMessagesHideSignature checks that no failure message carries the
// expected signature.
func TestVerifyMessagesHideSignature(t *testing.T) {
	r := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock", secret: "wrongwrongwrongwrongwrongwrongwrongwrong"}.sign(t)
	_, err := testVerifier().Verify(r, EmptyPayloadHash)
	good := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"}.sign(t)
	a, _ := ParseAuthorization(good.Header.Get(HeaderAuthorization))
	if err == nil || strings.Contains(err.Error(), a.Signature) {
		t.Fatalf("error %v is nil or reveals the expected signature", err)
	}
	code, status := err.(*Error).Wire(JSON)
	if code != "InvalidSignatureException" || status != 403 {
		t.Errorf("Wire = %s %d", code, status)
	}
}

func TestVerifyTooLarge(t *testing.T) {
	r := sdkRequest{method: "POST", url: "http://localhost/x", body: strings.Repeat("x", 100), service: "bedrock"}.sign(t)
	if _, _, err := testVerifier().VerifyRequest(r, 99); KindOf(err) != KindTooLarge {
		t.Fatalf("error = %v, want too-large", err)
	}
	// Chunked: no Content-Length, so the limit applies while reading.
	r = sdkRequest{method: "POST", url: "http://localhost/x", body: strings.Repeat("x", 100), service: "bedrock"}.sign(t)
	r.ContentLength = -1
	if _, _, err := testVerifier().VerifyRequest(r, 99); KindOf(err) != KindTooLarge {
		t.Fatalf("chunked error = %v, want too-large", err)
	}
}

func TestVerifyStreamingS3(t *testing.T) {
	// For a streamed S3 upload the caller verifies the signature with no
	// payload hash and checks the body against the header afterwards.
	r := sdkRequest{method: "PUT", url: "http://localhost/bucket/key", body: "weights", service: "s3",
		headers: map[string]string{HeaderContentSHA256: sha256Hex([]byte("weights"))}}.sign(t)
	if _, err := testVerifier().Verify(r, ""); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Without the header a payload hash is required.
	r = sdkRequest{method: "PUT", url: "http://localhost/bucket/key", body: "weights", service: "bedrock"}.sign(t)
	if _, err := testVerifier().Verify(r, ""); KindOf(err) != KindInternal {
		t.Fatalf("Verify without hash: %v, want internal", err)
	}
}

func TestEscapePathMatchesSmithy(t *testing.T) {
	for _, p := range []string{"/", arnPath, "/a b/c%2Fd/ü/~._-/!$&'()*+,;=:@", "/%41%zz"} {
		if got, want := escapePath(p), httpbinding.EscapePath(p, false); got != want {
			t.Errorf("escapePath(%q) = %q, want %q", p, got, want)
		}
	}
}

// TestAWSTestSuiteVector checks the get-vanilla case of AWS's published
// SigV4 test suite.
func TestAWSTestSuiteVector(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://example.amazonaws.com/", nil)
	r := roundTrip(t, req)
	r.Header.Set(HeaderDate, "20150830T123600Z")
	r.Header.Set(HeaderAuthorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
	// AKIDEXAMPLE is 11 characters, shorter than real key ids, so check
	// the signature algorithm below the parser's length rule.
	a := Authorization{AccessKeyID: "AKIDEXAMPLE", Date: "20150830", Region: "us-east-1", Service: "service", SignedHeaders: []string{"host", "x-amz-date"}}
	canonical, err := canonicalRequest(r, a.SignedHeaders, EmptyPayloadHash, false, false)
	if err != nil {
		t.Fatal(err)
	}
	key := SigningKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", a.Date, a.Region, a.Service)
	got := hex.EncodeToString(hmacSHA256(key[:], []byte(stringToSign("20150830T123600Z", a.Scope(), canonical))))
	if want := "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}

	// The same through the buffer Verifier.check signs in.
	b, err := appendCanonicalRequest(nil, r, a.SignedHeaders, false, false)
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, EmptyPayloadHash...)
	if string(b) != canonical {
		t.Errorf("appendCanonicalRequest = %q, want %q", b, canonical)
	}
	h := sha256.Sum256(b)
	b = appendStringToSign(make([]byte, sha256.BlockSize), "20150830T123600Z", &a, &h)
	if sts := stringToSign("20150830T123600Z", a.Scope(), canonical); string(b[sha256.BlockSize:]) != sts {
		t.Errorf("appendStringToSign = %q, want %q", b[sha256.BlockSize:], sts)
	}
	if sig := hmacSum(&key, b); hex.EncodeToString(sig[:]) != got {
		t.Errorf("hmacSum signature = %x, want %s", sig, got)
	}
	if decodeSignature(got) != [32]byte(must(hex.DecodeString(got))) {
		t.Errorf("decodeSignature(%s) is wrong", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestSigningKeyCache(t *testing.T) {
	var c keyCache
	const id = "AKIAIOSFODNN7EXAMPLE"
	if _, ok := c.lookup(id, "s1", "20261121", "us-east-1", "bedrock"); ok {
		t.Fatal("empty cache has a key")
	}
	k1 := SigningKey("s1", "20261121", "us-east-1", "bedrock")
	c.add(id, "s1", "20261121", "us-east-1", "bedrock", k1)
	if got, ok := c.lookup(id, "s1", "20261121", "us-east-1", "bedrock"); !ok || got != k1 {
		t.Fatal("cached key differs from derived key")
	}
	if _, ok := c.lookup(id, "s2", "20261121", "us-east-1", "bedrock"); ok {
		t.Fatal("different secrets share a cached key")
	}
	for _, scope := range [][3]string{{"20261122", "us-east-1", "bedrock"}, {"20261121", "us-west-2", "bedrock"}, {"20261121", "us-east-1", "s3"}} {
		if _, ok := c.lookup(id, "s1", scope[0], scope[1], scope[2]); ok {
			t.Fatalf("scope %v shares a cached key", scope)
		}
	}
	if _, ok := c.lookup("AKIAOTHEROTHEROTHER0", "s1", "20261121", "us-east-1", "bedrock"); ok {
		t.Fatal("different access keys share a cached key")
	}
	for i := range maxCachedKeys + 10 {
		c.add(id, "s", fmt.Sprint(i), "r", "s", [32]byte{})
	}
	if len(c.m) > maxCachedKeys {
		t.Fatalf("cache grew to %d", len(c.m))
	}
}

func TestKindWire(t *testing.T) {
	tests := []struct {
		kind   Kind
		proto  Protocol
		code   string
		status int
	}{
		{KindMissing, JSON, "MissingAuthenticationTokenException", 403},
		{KindUnknownKey, JSON, "UnrecognizedClientException", 403},
		{KindUnknownKey, Query, "InvalidClientTokenId", 403},
		{KindBadSignature, Query, "SignatureDoesNotMatch", 403},
		{KindExpired, JSON, "InvalidSignatureException", 403},
		{KindExpired, S3, "RequestTimeTooSkewed", 403},
		{KindPayloadMismatch, S3, "XAmzContentSHA256Mismatch", 400},
		{KindPayloadMismatch, JSON, "InvalidSignatureException", 403},
		{KindMalformed, JSON, "IncompleteSignatureException", 400},
		{KindWrongRegion, S3, "AuthorizationHeaderMalformed", 400},
		{KindWrongRegion, JSON, "InvalidSignatureException", 403},
		{KindMalformedQuery, S3, "AuthorizationQueryParametersError", 400},
		{KindMalformedQuery, Query, "IncompleteSignature", 400},
		{KindURLExpired, S3, "AccessDenied", 403},
		{KindURLExpired, JSON, "InvalidSignatureException", 403},
		{Kind(99), JSON, "InternalFailure", 500},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v-%d", tc.kind, tc.proto), func(t *testing.T) {
			code, status := tc.kind.Wire(tc.proto)
			if code != tc.code || status != tc.status {
				t.Errorf("Wire = %s %d, want %s %d", code, status, tc.code, tc.status)
			}
		})
	}
}

// TestSignMatchesSDK checks Sign against the SDK signer for a request whose
// headers both sign, and that Verify accepts what Sign makes.
func TestSignMatchesSDK(t *testing.T) {
	body := `{"a":1}`
	mk := func() *http.Request {
		r, _ := http.NewRequest("POST", "http://localhost:8080"+arnPath+"?x=a%20b&a=1", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		return r
	}
	sdk := mk()
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, sdk, sha256Hex([]byte(body)), "bedrock", testRegion, testNow); err != nil {
		t.Fatal(err)
	}
	ours := mk()
	if err := Sign(ours, testKeyID, testSecret, testRegion, "bedrock", testNow, sha256Hex([]byte(body)),
		[]string{"host", "content-length", "content-type", "x-amz-date"}); err != nil {
		t.Fatal(err)
	}
	if got, want := ours.Header.Get(HeaderAuthorization), sdk.Header.Get(HeaderAuthorization); got != want {
		t.Errorf("Sign:\n got %s\nwant %s", got, want)
	}
	if _, _, err := testVerifier().VerifyRequest(roundTrip(t, ours), 1<<20); err != nil {
		t.Errorf("Verify of Sign's request: %v", err)
	}
}

func TestVerifyNilLookup(t *testing.T) {
	r := sdkRequest{method: "GET", url: "http://localhost/x", service: "bedrock"}.sign(t)
	v := testVerifier()
	v.Lookup = nil
	if _, err := v.Verify(r, EmptyPayloadHash); KindOf(err) != KindInternal {
		t.Fatalf("Verify with nil Lookup: %v", err)
	}
}

func BenchmarkVerifyRequest(b *testing.B) {
	body := strings.Repeat(`{"prompt":"hello"}`, 50)
	req, _ := http.NewRequest("POST", "http://localhost:8080"+arnPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex([]byte(body)), "bedrock", testRegion, testNow); err != nil {
		b.Fatal(err)
	}
	v := testVerifier()
	for b.Loop() {
		req.Body = io.NopCloser(strings.NewReader(body))
		if _, _, err := v.VerifyRequest(req, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCanonicalQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "b=a%2Fb&b=a-b&a=%E2%82%AC&empty=&flag", "x=a+b&x=a%20b", "%zz", "a=%", "&&=&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := canonicalQuery(raw)
		if err != nil {
			if KindOf(err) != KindMalformed {
				t.Fatalf("error of kind %v", KindOf(err))
			}
			return
		}
		// Canonical form is a fixed point, and holds only unreserved
		// characters, '%' escapes, '=' and '&'.
		again, err := canonicalQuery(q)
		if err != nil || again != q {
			t.Fatalf("canonicalQuery(%q) = %q, but again gives %q, %v", raw, q, again, err)
		}
		for i := 0; i < len(q); i++ {
			if c := q[i]; !unreserved(c) && c != '%' && c != '=' && c != '&' {
				t.Fatalf("canonical query %q has %q", q, c)
			}
		}
	})
}

// FuzzHeaderValues checks that headerValues looks a name up under exactly
// the key http.CanonicalHeaderKey gives.
func FuzzHeaderValues(f *testing.F) {
	for _, s := range []string{"host", "content-type", "x-amz-date", "amz-sdk-invocation-id", ":authority", "X-AMZ-DATE",
		"a--b", "-x", "x-", "with space", "ü-x", "x_y", "!#$%&'*+-.^_`|~", strings.Repeat("a", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if name == "" {
			return
		}
		want := http.CanonicalHeaderKey(name)
		if got := headerValues(http.Header{want: {"v"}}, name); len(got) != 1 {
			t.Fatalf("headerValues(%q) misses key %q", name, want)
		}
		if name != want {
			if got := headerValues(http.Header{name: {"v"}}, name); got != nil {
				t.Fatalf("headerValues(%q) finds non-canonical key, want key %q", name, want)
			}
		}
	})
}

// FuzzEscapedPath checks escapedPath against url.URL.EscapedPath, both for
// URLs as a server parses them and for arbitrary Path and RawPath pairs.
func FuzzEscapedPath(f *testing.F) {
	for _, s := range []string{arnPath, "/", "", "/a b", "/%41", "/%zz", "/a%2", "/a%2Fb", "/a/b%2fc", "/a+b", "/%2B",
		"/model/meta.llama3-8b-instruct-v1%3A0/invoke", "/x:y", "/%E2%82%AC", "*", "/a%20b?x"} {
		f.Add(s, "")
		f.Add(s, s)
	}
	f.Add("/model/arn:aws:bedrock:us-east-1:123456789012:imported-model/abc/invoke", arnPath)
	f.Add("/a/b", "/a%2Fb")
	f.Add("/a", "/%61")
	f.Add("/ab", "/a")
	f.Add("/a", "/ab")
	f.Fuzz(func(t *testing.T, path, raw string) {
		u := &url.URL{Path: path, RawPath: raw}
		if got, want := escapedPath(u), u.EscapedPath(); got != want {
			t.Fatalf("escapedPath(Path %q, RawPath %q) = %q, want %q", path, raw, got, want)
		}
		if u, err := url.ParseRequestURI(path); err == nil {
			if got, want := escapedPath(u), u.EscapedPath(); got != want {
				t.Fatalf("escapedPath(%q) = %q, want %q", path, got, want)
			}
		}
	})
}

// FuzzHMACSum checks hmacSum against crypto/hmac.
func FuzzHMACSum(f *testing.F) {
	f.Add([]byte("key"), []byte(""))
	f.Add([]byte(testSecret), []byte("AWS4-HMAC-SHA256\n20261121T120000Z\n20261121/us-east-1/bedrock/aws4_request\n"+EmptyPayloadHash))
	f.Add(bytes.Repeat([]byte{0xff}, 32), bytes.Repeat([]byte("m"), 1000))
	f.Fuzz(func(t *testing.T, k, msg []byte) {
		var key [32]byte
		copy(key[:], k)
		buf := append(make([]byte, sha256.BlockSize), msg...)
		got := hmacSum(&key, buf)
		if want := hmacSHA256(key[:], msg); !bytes.Equal(got[:], want) {
			t.Fatalf("hmacSum = %x, want %x", got, want)
		}
		if !bytes.Equal(buf[sha256.BlockSize:], msg) {
			t.Fatal("hmacSum changed the message")
		}
		if !bytes.Equal(buf[:sha256.BlockSize], make([]byte, sha256.BlockSize)) {
			t.Fatal("hmacSum left key material in its scratch space")
		}
	})
}

// oneByteReader returns its data a byte at a time.
type oneByteReader struct{ s string }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.s == "" {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0], r.s = r.s[0], r.s[1:]
	return 1, nil
}

// TestReadBody checks readBody against the io.ReadAll it replaces,
// including bodies whose declared length is wrong.
func TestReadBody(t *testing.T) {
	tests := []struct {
		name string
		body string
		size int64
		max  int64
	}{
		{"empty", "", 0, 100},
		{"exact", "hello", 5, 100},
		{"unknown-length", "hello", -1, 100},
		{"declared-short", "hello world", 5, 100},
		{"declared-long", "hi", 5, 100},
		{"over-limit", strings.Repeat("x", 200), 200, 100},
		{"over-limit-declared-short", strings.Repeat("x", 200), 10, 100},
		{"at-limit", strings.Repeat("x", 100), 100, 100},
		{"large", strings.Repeat("x", smallBody+10), smallBody + 10, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := io.ReadAll(io.LimitReader(strings.NewReader(tc.body), tc.max+1))
			for _, r := range []io.Reader{strings.NewReader(tc.body), &oneByteReader{tc.body}} {
				got, err := readBody(r, tc.size, tc.max)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("readBody(%T) = %d bytes, %v; want %d bytes", r, len(got), err, len(want))
				}
			}
		})
	}
	errRead := errors.New("boom")
	if _, err := readBody(io.MultiReader(strings.NewReader("ab"), iotest.ErrReader(errRead)), 5, 100); !errors.Is(err, errRead) {
		t.Fatalf("readBody error = %v, want %v", err, errRead)
	}
}

// TestVerifyConcurrent verifies good and bad requests from many goroutines
// at once, for the race detector and to check that pooled buffers do not
// leak between requests.
func TestVerifyConcurrent(t *testing.T) {
	type job struct {
		r    *http.Request
		body string
		kind Kind
	}
	var jobs []job
	for i := range 8 {
		body := fmt.Sprintf(`{"prompt":"%s"}`, strings.Repeat("x", i*100))
		jobs = append(jobs,
			job{r: sdkRequest{method: "POST", url: "http://localhost" + arnPath, body: body, service: "bedrock",
				headers: map[string]string{"Content-Type": "application/json", "X-Pad": strings.Repeat("p", i*300)}}.sign(t), body: body},
			job{r: sdkRequest{method: "POST", url: "http://localhost/x?a=" + fmt.Sprint(i), body: body, service: "bedrock",
				secret: "wrongwrongwrongwrongwrongwrongwrongwrong"}.sign(t), body: body, kind: KindBadSignature},
			job{r: sdkRequest{method: "GET", url: "http://localhost/imported-models?maxResults=" + fmt.Sprint(i), service: "bedrock"}.sign(t)},
		)
	}
	v := testVerifier()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				j := jobs[(g+i)%len(jobs)]
				r := j.r.Clone(t.Context())
				r.Body = io.NopCloser(strings.NewReader(j.body))
				if _, _, err := v.VerifyRequest(r, 1<<20); KindOf(err) != j.kind {
					t.Errorf("VerifyRequest(%s %s) = %v, want kind %v", r.Method, r.URL, err, j.kind)
					return
				}
			}
		})
	}
	wg.Wait()
}
