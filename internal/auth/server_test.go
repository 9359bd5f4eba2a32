package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	"github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/smithy-go"
)

// verifyingServer starts a loopback server that authenticates every request
// with v and answers a few Bedrock control-plane calls. It records the last
// verified credential.
func verifyingServer(t *testing.T, v *Verifier, h2c bool) (*httptest.Server, *Credential) {
	t.Helper()
	var last Credential
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _, err := v.VerifyRequest(r, 1<<20)
		if err != nil {
			e, _ := errors.AsType[*Error](err)
			code, status := e.Wire(JSON)
			w.Header().Set("X-Amzn-ErrorType", code)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
			return
		}
		last = c
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-RequestId", "req-1")
		switch {
		case r.Method == "GET" && r.URL.Path == "/imported-models":
			io.WriteString(w, `{"modelSummaries":[]}`)
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/imported-models/"):
			json.NewEncoder(w).Encode(map[string]string{
				"modelArn":  strings.TrimPrefix(r.URL.Path, "/imported-models/"),
				"modelName": "abc",
			})
		case r.Method == "POST" && r.URL.Path == "/model-import-jobs":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"jobArn":"arn:aws:bedrock:us-east-1:123456789012:model-import-job/j1"}`)
		default:
			w.Header().Set("X-Amzn-ErrorType", "ValidationException")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"unexpected call"}`)
		}
	}))
	if h2c {
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &last
}

func bedrockClient(url, secret, token string) *bedrock.Client {
	return bedrock.New(bedrock.Options{
		Region:           testRegion,
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(testKeyID, secret, token),
		RetryMaxAttempts: 1,
	})
}

// liveVerifier is testVerifier on the real clock: the SDK signs with now.
func liveVerifier() *Verifier {
	v := testVerifier()
	v.Now = nil
	return v
}

func TestBedrockClientAccepted(t *testing.T) {
	srv, last := verifyingServer(t, liveVerifier(), false)
	ctx := t.Context()
	client := bedrockClient(srv.URL, testSecret, "")

	if _, err := client.ListImportedModels(ctx, &bedrock.ListImportedModelsInput{MaxResults: aws.Int32(5), NameContains: aws.String("my model")}); err != nil {
		t.Fatalf("ListImportedModels: %v", err)
	}
	arn := "arn:aws:bedrock:us-east-1:123456789012:imported-model/abc"
	out, err := client.GetImportedModel(ctx, &bedrock.GetImportedModelInput{ModelIdentifier: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetImportedModel: %v", err)
	}
	if aws.ToString(out.ModelArn) != arn {
		t.Errorf("server saw model %q, want %q", aws.ToString(out.ModelArn), arn)
	}
	if last.AccessKeyID != testKeyID || last.Service != "bedrock" {
		t.Errorf("credential = %+v", *last)
	}

	// With a session token the token is signed and passed through.
	tokClient := bedrockClient(srv.URL, testSecret, "session-token-1")
	if _, err := tokClient.ListImportedModels(ctx, &bedrock.ListImportedModelsInput{}); err != nil {
		t.Fatalf("ListImportedModels with token: %v", err)
	}
	if last.SecurityToken != "session-token-1" {
		t.Errorf("SecurityToken = %q", last.SecurityToken)
	}
}

func TestBedrockClientPostBody(t *testing.T) {
	srv, last := verifyingServer(t, liveVerifier(), false)
	client := bedrockClient(srv.URL, testSecret, "")
	_, err := client.CreateModelImportJob(t.Context(), &bedrock.CreateModelImportJobInput{
		JobName:           aws.String("job-1"),
		ImportedModelName: aws.String("model-1"),
		RoleArn:           aws.String("arn:aws:iam::123456789012:role/BedrockModelImportRole"),
		ModelDataSource: &types.ModelDataSourceMemberS3DataSource{
			Value: types.S3DataSource{S3Uri: aws.String("s3://bucket/prefix/")},
		},
	})
	if err != nil {
		t.Fatalf("CreateModelImportJob: %v", err)
	}
	if last.AccessKeyID != testKeyID {
		t.Errorf("credential = %+v", *last)
	}
}

func TestBedrockClientRejected(t *testing.T) {
	srv, _ := verifyingServer(t, liveVerifier(), false)
	tests := []struct {
		name   string
		client *bedrock.Client
		code   string
	}{
		{"wrong-secret", bedrockClient(srv.URL, "wrongwrongwrongwrongwrongwrongwrongwrong", ""), "InvalidSignatureException"},
		{"unknown-key", bedrock.New(bedrock.Options{Region: testRegion, BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider("AKIAUNKNOWNUNKNOWN00", testSecret, "")}), "UnrecognizedClientException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.ListImportedModels(t.Context(), &bedrock.ListImportedModelsInput{})
			apiErr, ok := errors.AsType[smithy.APIError](err)
			if !ok {
				t.Fatalf("error = %v, want an API error", err)
			}
			if apiErr.ErrorCode() != tc.code {
				t.Errorf("code = %s, want %s", apiErr.ErrorCode(), tc.code)
			}
			if strings.Contains(apiErr.ErrorMessage(), testSecret) {
				t.Errorf("message leaks the secret")
			}
		})
	}
}

// TestH2CAuthority sends a request over unencrypted HTTP/2 signed, as the JS
// SDK signs it, with ":authority" in place of "host". The Go SDK cannot
// produce such a request, so the test signs it here, by the published
// algorithm, with the canonical request written out by hand.
func TestH2CAuthority(t *testing.T) {
	var proto int
	v := liveVerifier()
	srv, last := verifyingServer(t, &Verifier{
		Lookup:   v.Lookup,
		Services: v.Services,
	}, true)
	inner := srv.Config.Handler
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto = r.ProtoMajor
		inner.ServeHTTP(w, r)
	})

	body := `{"jobName":"j1"}`
	bodyHash := sha256Hex([]byte(body))
	host := strings.TrimPrefix(srv.URL, "http://")
	now := time.Now().UTC()
	amzDate := now.Format("20060102T150405Z")
	canonical := strings.Join([]string{
		"POST",
		"/model-import-jobs",
		"",
		":authority:" + host,
		"content-type:application/json",
		"x-amz-content-sha256:" + bodyHash,
		"x-amz-date:" + amzDate,
		"x-amz-user-agent:aws-sdk-js/3.1162.0 ua/2.1",
		"",
		":authority;content-type;x-amz-content-sha256;x-amz-date;x-amz-user-agent",
		bodyHash,
	}, "\n")
	scope := amzDate[:8] + "/" + testRegion + "/bedrock/aws4_request"
	crHash := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(crHash[:])
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	k := mac([]byte("AWS4"+testSecret), amzDate[:8])
	k = mac(k, testRegion)
	k = mac(k, "bedrock")
	k = mac(k, "aws4_request")
	sig := hex.EncodeToString(mac(k, toSign))

	send := func(signature string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/model-import-jobs", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Amz-Content-Sha256", bodyHash)
		req.Header.Set("X-Amz-Date", amzDate)
		req.Header.Set("X-Amz-User-Agent", "aws-sdk-js/3.1162.0   ua/2.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKeyID+"/"+scope+
			", SignedHeaders=:authority;content-type;x-amz-content-sha256;x-amz-date;x-amz-user-agent, Signature="+signature)
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		c := &http.Client{Transport: &http.Transport{Protocols: p}}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := send(sig)
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	if proto != 2 {
		t.Fatalf("request used HTTP/%d, want 2", proto)
	}
	if last.AccessKeyID != testKeyID {
		t.Errorf("credential = %+v", *last)
	}

	bad := "0" + sig[1:]
	if sig[0] == '0' {
		bad = "1" + sig[1:]
	}
	resp = send(bad)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Fatalf("tampered signature: status %d type %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
}
