package auth

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// invokeModelBody is a typical InvokeModel body, about 100 bytes.
const invokeModelBody = `{"prompt":"Hello, how are you today?","max_tokens":64,"temperature":0.7,"top_p":0.9}`

// invokeModelRequest returns an InvokeModel request shaped as
// aws-sdk-go-v2's bedrockruntime client sends it (headers captured from
// bedrockruntime v1.63.11), with a session token, so eight headers are
// signed and X-Amz-Content-Sha256 is absent: the server hashes the body.
// The request is written to the wire and read back, as a server sees it.
func invokeModelRequest(tb testing.TB) *http.Request {
	tb.Helper()
	req, err := http.NewRequest("POST", "http://127.0.0.1:8080"+arnPath, strings.NewReader(invokeModelBody))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Amz-Sdk-Invocation-Id", "0d624653-610b-4278-a775-720af355382c")
	req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
	req.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 ua/2.1 os/linux lang/go#1.26.8 md/GOOS#linux md/GOARCH#amd64 api/bedrockruntime#1.63.11 m/E,e")
	req.Header.Set(HeaderSecurityToken, "FwoGZXIvYXdzEXAMPLETOKEN")
	creds := aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: "FwoGZXIvYXdzEXAMPLETOKEN"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex([]byte(invokeModelBody)), "bedrock", testRegion, testNow); err != nil {
		tb.Fatal(err)
	}
	r := roundTrip(tb, req)
	if a, err := ParseAuthorization(r.Header.Get(HeaderAuthorization)); err != nil || len(a.SignedHeaders) != 8 {
		tb.Fatalf("signed headers = %v, %v; want 8", a.SignedHeaders, err)
	}
	return r
}

// BenchmarkVerifyRequestInvokeModel verifies the request of
// invokeModelRequest, the hot path of a Bedrock InvokeModel call.
func BenchmarkVerifyRequestInvokeModel(b *testing.B) {
	r := invokeModelRequest(b)
	v := testVerifier()
	body := strings.NewReader(invokeModelBody)
	for b.Loop() {
		body.Reset(invokeModelBody)
		r.Body = io.NopCloser(body)
		if _, _, err := v.VerifyRequest(r, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}
