package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"strata/internal/audit"
	"strata/internal/bucket"
	"strata/internal/iam"
	"strata/internal/kms"
	"strata/internal/store/sqlite"
)

// fixture is the S3 API over a real bucket store, IAM directory (SQLite,
// sealed keys) and policy evaluator, on an httptest server.
type fixture struct {
	srv     *httptest.Server
	store   *bucket.Store
	dir     *iam.Directory
	account string
	adminID string
	adminSK string
	data    string

	ahead atomic.Int64 // the server's clock runs this far ahead (ns)

	mu    sync.Mutex
	modes []string // X-Amz-Content-Sha256 of each request
	trail []audit.Event
}

func (f *fixture) Append(e audit.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trail = append(f.trail, e)
}

func newFixture(t *testing.T, tls bool) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{data: t.TempDir()}
	db, err := sqlite.Open(ctx, filepath.Join(f.data, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kr, err := kms.Open(f.data, "us-east-1", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sysKey, err := kr.DefaultKey(ctx, "000000000000", "strata")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := kr.Sealer(ctx, sysKey.ARN)
	if err != nil {
		t.Fatal(err)
	}
	f.dir = iam.NewDirectory(db, sealer)
	boot, err := f.dir.Bootstrap(ctx, func(iam.Bootstrap) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	f.account, f.adminID, f.adminSK = boot.Account, boot.AccessKeyID, boot.SecretAccessKey
	if f.store, err = bucket.Open(f.data, boot.Account); err != nil {
		t.Fatal(err)
	}
	h := New(Options{Store: f.store, Keys: f.dir, Authorizer: &iam.Evaluator{}, Region: "us-east-1", Audit: f,
		Now: func() time.Time { return time.Now().Add(time.Duration(f.ahead.Load())) }})
	rec := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.modes = append(f.modes, r.Header.Get("X-Amz-Content-Sha256"))
		f.mu.Unlock()
		h.ServeHTTP(w, r)
	})
	if tls {
		f.srv = httptest.NewTLSServer(rec)
	} else {
		f.srv = httptest.NewServer(rec)
	}
	t.Cleanup(f.srv.Close)
	return f
}

// client returns an SDK client configured as config.LoadDefaultConfig
// would (checksums when supported), with only the endpoint changed.
func (f *fixture) client(id, secret string) *s3.Client {
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL), UsePathStyle: true, HTTPClient: f.srv.Client(),
		Credentials:                credentials.NewStaticCredentialsProvider(id, secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
		RetryMaxAttempts:           1, Logger: logging.Nop{},
	})
}

// user creates a user with inline policies and returns its client.
func (f *fixture) user(t *testing.T, account, name string, policies map[string]string) (*s3.Client, string) {
	t.Helper()
	p, err := f.dir.CreateUser(t.Context(), account, name, policies)
	if err != nil {
		t.Fatal(err)
	}
	id, secret, err := f.dir.CreateAccessKey(t.Context(), account, name)
	if err != nil {
		t.Fatal(err)
	}
	return f.client(id, secret), p.ARN
}

func code(err error) string {
	if e, ok := errors.AsType[smithy.APIError](err); ok {
		return e.ErrorCode()
	}
	return ""
}

func put(t *testing.T, c *s3.Client, b, k, body string) {
	t.Helper()
	if _, err := c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("PutObject %s/%s: %v", b, k, err)
	}
}

func get(t *testing.T, c *s3.Client, b, k string) (string, error) {
	t.Helper()
	out, err := c.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(k)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	return string(data), err
}

// TestAccess: users without permission are denied; a bucket policy lets
// another account's user in, and the import job's authorizer sees it too.
func TestAccess(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	admin := f.client(f.adminID, f.adminSK)
	if _, err := admin.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("model-artifacts")}); err != nil {
		t.Fatal(err)
	}
	put(t, admin, "model-artifacts", "mistral/config.json", `{"model_type":"mistral"}`)

	nobody, _ := f.user(t, f.account, "nobody", nil)
	_, err := nobody.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model-artifacts"), Key: aws.String("x"), Body: strings.NewReader("x")})
	if code(err) != "AccessDenied" {
		t.Errorf("PutObject without permission: %v", err)
	}
	if _, err := get(t, nobody, "model-artifacts", "mistral/config.json"); code(err) != "AccessDenied" {
		t.Errorf("GetObject without permission: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.data, "buckets", "model-artifacts", "x")); !os.IsNotExist(err) {
		t.Errorf("a denied upload left a file: %v", err)
	}

	// Seed 004: the hosting account's identity policy allows reading the
	// bucket, but cross-account access also needs the bucket policy.
	const other = "777788889999"
	readPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],
		"Resource":["arn:aws:s3:::model-artifacts","arn:aws:s3:::model-artifacts/*"],
		"Condition":{"StringEquals":{"aws:ResourceAccount":"` + f.account + `"}}}]}`
	reader, readerARN := f.user(t, other, "importer", map[string]string{"read": readPolicy})
	if _, err := get(t, reader, "model-artifacts", "mistral/config.json"); code(err) != "AccessDenied" {
		t.Fatalf("cross-account read without a bucket policy: %v", err)
	}
	lb, err := reader.ListBuckets(ctx, &s3.ListBucketsInput{})
	if code(err) != "AccessDenied" && (err != nil || len(lb.Buckets) != 0) {
		t.Errorf("another account lists our buckets: %+v, %v", lb, err)
	}
	policy := `{"Version":"2012-10-17","Id":"AllowCrossAccountS3Access","Statement":[{"Sid":"cross","Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + other + `:root"},"Action":["s3:ListBucket","s3:GetObject"],
		"Resource":["arn:aws:s3:::model-artifacts","arn:aws:s3:::model-artifacts/*"],
		"Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::` + other + `:user/import*"}}}]}`
	for _, bad := range []string{
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other-bucket/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::model-artifacts"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"arn:aws:s3:::model-artifacts/*"}]}`,
		`not json`,
	} {
		_, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("model-artifacts"), Policy: aws.String(bad)})
		if code(err) != "MalformedPolicy" {
			t.Errorf("PutBucketPolicy(%s): %v, want MalformedPolicy", bad, err)
		}
	}
	if _, err := reader.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("model-artifacts"), Policy: aws.String(policy)}); code(err) != "AccessDenied" {
		t.Errorf("another account sets our bucket policy: %v", err)
	}
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("model-artifacts"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	gp, err := admin.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("model-artifacts")})
	if err != nil || aws.ToString(gp.Policy) != policy {
		t.Fatalf("GetBucketPolicy = %v, %v", gp, err)
	}
	if got, err := get(t, reader, "model-artifacts", "mistral/config.json"); err != nil || got != `{"model_type":"mistral"}` {
		t.Fatalf("cross-account read with the bucket policy: %q, %v", got, err)
	}
	l, err := reader.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("model-artifacts")})
	if err != nil || len(l.Contents) != 1 {
		t.Fatalf("cross-account list: %+v, %v", l, err)
	}
	// The policy grants reading only.
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model-artifacts"), Key: aws.String("y"), Body: strings.NewReader("y")})
	if code(err) != "AccessDenied" {
		t.Errorf("cross-account write: %v", err)
	}
	// The same decision through BucketPolicies, as the import job asks.
	_, p, err := f.dir.LookupAccessKey(ctx, mustKeyID(t, reader))
	if err != nil {
		t.Fatal(err)
	}
	if p.ARN != readerARN {
		t.Fatalf("principal %s, want %s", p.ARN, readerARN)
	}
	authz := BucketPolicies(&iam.Evaluator{}, f.store)
	req := iam.Request{Principal: p, Action: "s3:GetObject", Resource: "arn:aws:s3:::model-artifacts/mistral/config.json", ResourceAccount: f.account}
	if err := authz.Authorize(ctx, req); err != nil {
		t.Errorf("BucketPolicies with the policy: %v", err)
	}
	if _, err := admin.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("model-artifacts")}); err != nil {
		t.Fatal(err)
	}
	if err := authz.Authorize(ctx, req); err == nil {
		t.Error("BucketPolicies allowed after the policy was deleted")
	}
	if _, err := get(t, reader, "model-artifacts", "mistral/config.json"); code(err) != "AccessDenied" {
		t.Errorf("cross-account read after DeleteBucketPolicy: %v", err)
	}
	if _, err := admin.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("model-artifacts")}); code(err) != "NoSuchBucketPolicy" {
		t.Errorf("GetBucketPolicy after delete: %v", err)
	}

	// Every operation is audited with its outcome.
	f.mu.Lock()
	defer f.mu.Unlock()
	var denied, ok bool
	for _, e := range f.trail {
		if e.API != "s3" {
			t.Errorf("event API %q", e.API)
		}
		if e.Operation == "PutObject" && e.Outcome == "AccessDenied" && e.Resource == "arn:aws:s3:::model-artifacts/x" {
			denied = true
		}
		if e.Operation == "PutBucketPolicy" && e.Outcome == "ok" && e.Account == f.account {
			ok = true
		}
	}
	if !denied || !ok {
		t.Errorf("audit trail lacks the denied PutObject (%v) or the PutBucketPolicy (%v): %+v", denied, ok, f.trail)
	}
}

func mustKeyID(t *testing.T, c *s3.Client) string {
	t.Helper()
	cr, err := c.Options().Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cr.AccessKeyID
}

// TestSDKOverTLS: over https the Go SDK streams PutObject and UploadPart
// bodies as STREAMING-UNSIGNED-PAYLOAD-TRAILER aws-chunked bodies with a
// CRC32 trailer; objects must hold the decoded bytes.
func TestSDKOverTLS(t *testing.T) {
	f := newFixture(t, true)
	ctx := t.Context()
	c := f.client(f.adminID, f.adminSK)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shards")}); err != nil {
		t.Fatal(err)
	}
	put(t, c, "shards", "small.json", `{"a":1}`)
	big := make([]byte, 11<<20+123)
	for i := range big {
		big[i] = byte(i * 7 / 3)
	}
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
	out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("shards"), Key: aws.String("model-00001-of-00002.safetensors"), Body: bytes.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(aws.ToString(out.ETag), `-3"`) || aws.ToString(out.ChecksumCRC32) == "" {
		t.Errorf("multipart ETag %s, CRC32 %q", aws.ToString(out.ETag), aws.ToString(out.ChecksumCRC32))
	}
	got, err := os.ReadFile(filepath.Join(f.data, "buckets", "shards", "model-00001-of-00002.safetensors"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("stored object differs from the upload (%d bytes, %v)", len(got), err)
	}
	if s, err := get(t, c, "shards", "small.json"); err != nil || s != `{"a":1}` {
		t.Fatalf("small.json = %q, %v", s, err)
	}
	// The whole-object GET carries the checksum the SDK validates.
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shards"), Key: aws.String("small.json"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(g.Body)
	g.Body.Close()
	if aws.ToString(g.ChecksumCRC32) == "" {
		t.Error("GetObject without the stored CRC32")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	trailer := 0
	for _, m := range f.modes {
		if m == modeUnsignedTrailer {
			trailer++
		}
	}
	if trailer < 4 { // one PutObject, three UploadParts
		t.Errorf("only %d aws-chunked requests among %v: the test no longer covers them", trailer, f.modes)
	}
}

// TestObjectOperations covers CopyObject, DeleteObjects, ListParts,
// AbortMultipartUpload and Complete's part checks through the SDK.
func TestObjectOperations(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	c := f.client(f.adminID, f.adminSK)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt1")}); err != nil {
		t.Fatal(err)
	}
	put(t, c, "bkt1", "src/a.txt", "alpha")
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt1"), Key: aws.String("dst/a copy.txt"), CopySource: aws.String("bkt1/src/a.txt")})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("alpha"))
	if aws.ToString(cp.CopyObjectResult.ETag) != `"`+hex.EncodeToString(sum[:])+`"` {
		t.Errorf("copy ETag %s", aws.ToString(cp.CopyObjectResult.ETag))
	}
	if s, err := get(t, c, "bkt1", "dst/a copy.txt"); err != nil || s != "alpha" {
		t.Fatalf("copied object = %q, %v", s, err)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("bkt1"), Key: aws.String("src/a.txt"), CopySource: aws.String("bkt1/src/a.txt")})
	if code(err) != "InvalidRequest" {
		t.Errorf("copy onto itself: %v", err)
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("bkt1"), Delete: &types.Delete{Objects: []types.ObjectIdentifier{
		{Key: aws.String("src/a.txt")}, {Key: aws.String("never/was")}, {Key: aws.String("a/../b")},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Deleted) != 3 || len(del.Errors) != 0 {
		t.Errorf("DeleteObjects = %+v", del)
	}
	if _, err := os.Stat(filepath.Join(f.data, "buckets", "bkt1", "src")); !os.IsNotExist(err) {
		t.Errorf("empty folder left after the last key under it went: %v", err)
	}

	// Multipart: a too-small non-last part, a wrong ETag, list, abort.
	mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for i, body := range []string{"first", "second"} {
		p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader(body), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != 6 || aws.ToString(lp.Parts[0].ChecksumCRC32) == "" {
		t.Fatalf("ListParts = %+v, %v", lp, err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if code(err) != "EntityTooSmall" {
		t.Errorf("Complete with a 5-byte first part: %v", err)
	}
	bad := []types.CompletedPart{{PartNumber: aws.Int32(2), ETag: aws.String(`"00000000000000000000000000000000"`)}}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: bad}})
	if code(err) != "InvalidPart" {
		t.Errorf("Complete with a wrong ETag: %v", err)
	}
	// Only the last part may be small: complete with part 2 alone.
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts[1:]}})
	if err != nil || !strings.HasSuffix(aws.ToString(done.ETag), `-1"`) || !strings.HasSuffix(aws.ToString(done.ChecksumCRC32), "-1") {
		t.Fatalf("Complete = %+v, %v", done, err)
	}
	if s, err := get(t, c, "bkt1", "mp"); err != nil || s != "second" {
		t.Fatalf("completed object = %q, %v", s, err)
	}
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp"), UploadId: mu.UploadId})
	if _, ok := errors.AsType[*types.NoSuchUpload](err); !ok {
		t.Errorf("abort after complete: %v, want NoSuchUpload", err)
	}
	mu2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp2")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("bkt1"), Key: aws.String("mp2"), UploadId: mu2.UploadId}); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(f.data, "s3", "uploads"))
	if len(ents) != 0 {
		t.Errorf("upload folders left: %v", ents)
	}
}

// TestPresigned: URLs from the SDK's presign client work for GET and PUT
// until they expire, and a changed URL is refused.
func TestPresigned(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	c := f.client(f.adminID, f.adminSK)
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("shared")}); err != nil {
		t.Fatal(err)
	}
	ps := s3.NewPresignClient(c, func(o *s3.PresignOptions) { o.Expires = 10 * time.Minute })
	pu, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("shared"), Key: aws.String("dir/file name.txt")})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, u, body string) (int, string) {
		r, _ := http.NewRequest(method, u, strings.NewReader(body))
		return f.do(t, r)
	}
	if st, b := do(http.MethodPut, pu.URL, "shared text"); st != 200 {
		t.Fatalf("presigned PUT: %d %s", st, b)
	}
	pg, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("shared"), Key: aws.String("dir/file name.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if st, b := do(http.MethodGet, pg.URL, ""); st != 200 || b != "shared text" {
		t.Fatalf("presigned GET: %d %q", st, b)
	}
	if st, b := do(http.MethodGet, strings.Replace(pg.URL, "file%20name", "other", 1), ""); st != 403 || !strings.Contains(b, "SignatureDoesNotMatch") {
		t.Errorf("changed URL: %d %s", st, b)
	}
	f.ahead.Store(int64(11 * time.Minute))
	if st, b := do(http.MethodGet, pg.URL, ""); st != 403 || !strings.Contains(b, "<Code>AccessDenied</Code>") || !strings.Contains(b, "expired") {
		t.Errorf("expired URL: %d %s", st, b)
	}
}
