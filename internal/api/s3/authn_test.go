package s3

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"strata/internal/auth"
)

// TestAuthErrors pins the S3 errors that signature failures get, in both
// the header form (hex, UNSIGNED-PAYLOAD and aws-chunked payloads) and
// presigned URLs.
func TestAuthErrors(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	if _, err := f.client(f.adminID, f.adminSK).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("auth")}); err != nil {
		t.Fatal(err)
	}
	const unknownID = "AKIAUNKNOWNUNKNOWN00"
	// header signs a GET of /auth with X-Amz-Content-Sha256 mode ("" for none).
	header := func(mode, id, secret, region string, when time.Time, signed ...string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/auth?list-type=2", nil)
		if mode != "" {
			r.Header.Set("X-Amz-Content-Sha256", mode)
		}
		signed = append(signed, "host", "x-amz-date")
		if err := auth.Sign(r, id, secret, region, "s3", when, cmpOr(mode, auth.EmptyPayloadHash), signed); err != nil {
			t.Fatal(err)
		}
		return r
	}
	now := time.Now()
	presign := func(region, id string, expires time.Duration, param, value string) *http.Request {
		c := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(f.srv.URL), UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(id, f.adminSK, "")})
		p, err := s3.NewPresignClient(c, func(o *s3.PresignOptions) { o.Expires = expires }).
			PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("auth"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(p.URL)
		if param != "" {
			q := u.Query()
			q.Set(param, value)
			u.RawQuery = q.Encode()
		}
		r, _ := http.NewRequest(http.MethodGet, u.String(), nil)
		return r
	}
	hexMode := auth.EmptyPayloadHash
	tests := []struct {
		name   string
		req    *http.Request
		ahead  time.Duration // the server's clock runs this far ahead
		status int
		code   string
		msg    string // substring of the body, "" for any
	}{
		{"hex-ok", header(hexMode, f.adminID, f.adminSK, "us-east-1", now, "x-amz-content-sha256"), 0, 200, "", ""},
		{"wrong-region", header(hexMode, f.adminID, f.adminSK, "eu-west-1", now, "x-amz-content-sha256"), 0, 400, "AuthorizationHeaderMalformed",
			"<Message>The authorization header is malformed; the region &#39;eu-west-1&#39; is wrong; expecting &#39;us-east-1&#39;</Message><Region>us-east-1</Region>"},
		{"no-content-sha256", header("", f.adminID, f.adminSK, "us-east-1", now), 0, 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"},
		{"sigv4a", header("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", f.adminID, f.adminSK, "us-east-1", now, "x-amz-content-sha256"), 0, 501, "NotImplemented", "SigV4a"},
		{"bad-mode", header("SOMETHING", f.adminID, f.adminSK, "us-east-1", now, "x-amz-content-sha256"), 0, 400, "InvalidArgument", "x-amz-content-sha256 must be"},
		{"wrong-secret", header(hexMode, f.adminID, "wrong", "us-east-1", now, "x-amz-content-sha256"), 0, 403, "SignatureDoesNotMatch", ""},
		{"unknown-key", header(hexMode, unknownID, f.adminSK, "us-east-1", now, "x-amz-content-sha256"), 0, 403, "InvalidAccessKeyId", ""},
		{"skewed", header(hexMode, f.adminID, f.adminSK, "us-east-1", now.Add(-10*time.Minute), "x-amz-content-sha256"), 0, 403, "RequestTimeTooSkewed", ""},
		{"unsigned-wrong-secret", header(modeUnsigned, f.adminID, "wrong", "us-east-1", now, "x-amz-content-sha256"), 0, 403, "SignatureDoesNotMatch", ""},
		{"streaming-wrong-secret", header(modeStreaming, f.adminID, "wrong", "us-east-1", now, "x-amz-content-sha256"), 0, 403, "SignatureDoesNotMatch", ""},
		{"streaming-header-unsigned", header(modeStreaming, f.adminID, f.adminSK, "us-east-1", now), 0, 400, "AuthorizationHeaderMalformed", ""},
		{"streaming-unknown-key", header(modeUnsignedTrailer, unknownID, f.adminSK, "us-east-1", now, "x-amz-content-sha256"), 0, 403, "InvalidAccessKeyId", ""},
		{"streaming-skewed", header(modeStreamingTrailer, f.adminID, f.adminSK, "us-east-1", now.Add(-10*time.Minute), "x-amz-content-sha256"), 0, 403, "RequestTimeTooSkewed", ""},
		{"streaming-wrong-region", header(modeStreaming, f.adminID, f.adminSK, "eu-west-1", now, "x-amz-content-sha256"), 0, 400, "AuthorizationHeaderMalformed", "<Region>us-east-1</Region>"},

		{"presigned-ok", presign("us-east-1", f.adminID, time.Hour, "", ""), 0, 404, "NoSuchKey", ""},
		{"presigned-wrong-region", presign("eu-west-1", f.adminID, time.Hour, "", ""), 0, 400, "AuthorizationQueryParametersError",
			"X-Amz-Credential names region &#39;eu-west-1&#39;; expecting &#39;us-east-1&#39;"},
		{"presigned-expires-zero", presign("us-east-1", f.adminID, time.Hour, "X-Amz-Expires", "0"), 0, 400, "AuthorizationQueryParametersError", "X-Amz-Expires"},
		{"presigned-expires-8-days", presign("us-east-1", f.adminID, time.Hour, "X-Amz-Expires", "691200"), 0, 400, "AuthorizationQueryParametersError", "X-Amz-Expires"},
		{"presigned-date", presign("us-east-1", f.adminID, time.Hour, "X-Amz-Date", "today"), 0, 400, "AuthorizationQueryParametersError", "X-Amz-Date"},
		{"presigned-algorithm", presign("us-east-1", f.adminID, time.Hour, "X-Amz-Algorithm", "AWS4-HMAC-SHA1"), 0, 400, "AuthorizationHeaderMalformed", ""},
		{"presigned-signature", presign("us-east-1", f.adminID, time.Hour, "X-Amz-Signature", strings.Repeat("0", 64)), 0, 403, "SignatureDoesNotMatch", ""},
		{"presigned-unknown-key", presign("us-east-1", unknownID, time.Hour, "", ""), 0, 403, "InvalidAccessKeyId", ""},
		{"presigned-expired", presign("us-east-1", f.adminID, time.Minute, "", ""), 2 * time.Minute, 403, "AccessDenied", "Request has expired"},
		{"presigned-future", presign("us-east-1", f.adminID, time.Hour, "", ""), -10 * time.Minute, 403, "RequestTimeTooSkewed", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.ahead.Store(int64(tc.ahead))
			defer f.ahead.Store(0)
			resp, err := f.srv.Client().Do(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || tc.code != "" && !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") ||
				!strings.Contains(string(body), tc.msg) {
				t.Fatalf("got %d %s\nwant %d %s %q", resp.StatusCode, body, tc.status, tc.code, tc.msg)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
