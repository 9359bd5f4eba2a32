package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/bedrock"
	btypes "github.com/aws/aws-sdk-go-v2/service/bedrock/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"

	"strata/internal/modelgen"
)

// s3Client returns an S3 client for the server: path-style, endpoint
// changed, the credentials strata wrote. It uses the SDK's own HTTP client,
// so request bodies stream as they would for a user.
func (s *server) s3Client(t *testing.T, opts ...func(*s3.Options)) *s3.Client {
	cfg := s.awsConfig(t)
	cfg.HTTPClient = nil
	cfg.Logger = logging.Nop{}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) { o.UsePathStyle = true }}, opts...)...)
}

// TestS3UploadAndImport uploads a generated model folder through strata's
// S3 API with aws-sdk-go-v2 (PutObject for the small files, the upload
// manager's multipart upload for the weights), reads it back, and imports
// it with CreateModelImportJob from s3://bucket/prefix/.
func TestS3UploadAndImport(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	c := s.s3Client(t)

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("models")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("models")}); err != nil {
		t.Fatal(err)
	}
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "models" {
		t.Fatalf("ListBuckets = %+v, %v", lb, err)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("models")})
	if _, ok := errors.AsType[*types.BucketAlreadyOwnedByYou](err); !ok {
		t.Errorf("second CreateBucket: %v, want BucketAlreadyOwnedByYou", err)
	}

	// A model whose weights need a multipart upload (> 5 MiB).
	spec := modelgen.TinyMistral()
	spec.Config.VocabSize = 16384
	src := t.TempDir()
	if err := modelgen.Generate(src, spec); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(src)
	up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(src, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		key := "mistral/tiny/" + f.Name()
		if len(data) > 5<<20 {
			out, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String(key), Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("upload manager: %v", err)
			}
			if !strings.HasSuffix(aws.ToString(out.ETag), `-2"`) {
				t.Errorf("multipart ETag %s, want a 2-part ETag", aws.ToString(out.ETag))
			}
			continue
		}
		out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String(key), Body: bytes.NewReader(data),
			ContentType: aws.String("application/json"), Metadata: map[string]string{"source": "modelgen"}})
		if err != nil {
			t.Fatalf("PutObject %s: %v", key, err)
		}
		sum := md5.Sum(data)
		if aws.ToString(out.ETag) != `"`+hex.EncodeToString(sum[:])+`"` || aws.ToString(out.ChecksumCRC32) == "" {
			t.Errorf("PutObject %s: ETag %s, CRC32 %q", key, aws.ToString(out.ETag), aws.ToString(out.ChecksumCRC32))
		}
	}
	// What was uploaded is what is in the bucket folder.
	for _, f := range files {
		want, _ := os.ReadFile(filepath.Join(src, f.Name()))
		got, err := os.ReadFile(filepath.Join(s.dataDir, "buckets", "models", "mistral", "tiny", f.Name()))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s in the bucket folder differs from the upload (%v)", f.Name(), err)
		}
	}

	// List: the prefix as a folder, then page through it.
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("models"), Delimiter: aws.String("/")})
	if err != nil || len(l.CommonPrefixes) != 1 || aws.ToString(l.CommonPrefixes[0].Prefix) != "mistral/" || len(l.Contents) != 0 {
		t.Fatalf("ListObjectsV2 delimiter: %+v, %v", l, err)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("models"), Prefix: aws.String("mistral/tiny/"), MaxKeys: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), "mistral/tiny/"))
		}
	}
	var want []string
	for _, f := range files {
		want = append(want, f.Name())
	}
	if !slices.Equal(keys, want) || pages != (len(want)+1)/2 {
		t.Fatalf("listed %v in %d pages, want %v", keys, pages, want)
	}

	// Get with a range, head.
	cfgData, _ := os.ReadFile(filepath.Join(src, "config.json"))
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("mistral/tiny/config.json"), Range: aws.String("bytes=2-9")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !bytes.Equal(got, cfgData[2:10]) || aws.ToString(g.ContentRange) != "bytes 2-9/"+strconv.Itoa(len(cfgData)) {
		t.Errorf("range get = %q (%s), want %q", got, aws.ToString(g.ContentRange), cfgData[2:10])
	}
	hd, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("models"), Key: aws.String("mistral/tiny/config.json")})
	if err != nil || aws.ToInt64(hd.ContentLength) != int64(len(cfgData)) || aws.ToString(hd.ContentType) != "application/json" || hd.Metadata["source"] != "modelgen" {
		t.Errorf("HeadObject = %+v, %v", hd, err)
	}
	// The whole weights file back through the SDK's downloader (ranged GETs).
	weights, _ := os.ReadFile(filepath.Join(src, "model.safetensors"))
	buf := manager.NewWriteAtBuffer(nil)
	if _, err := manager.NewDownloader(c).Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("mistral/tiny/model.safetensors")}); err != nil || !bytes.Equal(buf.Bytes(), weights) {
		t.Fatalf("download differs (%v)", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("models"), Key: aws.String("mistral/nope")})
	if _, ok := errors.AsType[*types.NotFound](err); !ok {
		t.Errorf("HeadObject of a missing key: %v, want NotFound", err)
	}

	// Import what was uploaded.
	cfg := s.awsConfig(t)
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	bc := bedrock.NewFromConfig(cfg)
	job, err := bc.CreateModelImportJob(ctx, &bedrock.CreateModelImportJobInput{
		JobName: aws.String("s3-upload"), ImportedModelName: aws.String("uploaded"),
		RoleArn:         aws.String("arn:aws:iam::" + aws.ToString(id.Account) + ":role/BedrockModelImportRole"),
		ModelDataSource: &btypes.ModelDataSourceMemberS3DataSource{Value: btypes.S3DataSource{S3Uri: aws.String("s3://models/mistral/tiny/")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if done := waitJob(t, bc, aws.ToString(job.JobArn)); done.Status != btypes.ModelImportJobStatusCompleted {
		t.Fatalf("import: %s %s", done.Status, aws.ToString(done.FailureMessage))
	}

	// Delete: a bucket with objects refuses, then empties and goes.
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("models")})
	if code := apiCode(err); code != "BucketNotEmpty" {
		t.Errorf("DeleteBucket of a full bucket: %v", err)
	}
	for _, k := range keys {
		if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("models"), Key: aws.String("mistral/tiny/" + k)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("models")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "buckets", "models")); !os.IsNotExist(err) {
		t.Errorf("bucket folder still there: %v", err)
	}
}

// TestS3Errors checks that S3 errors arrive in S3's shape through the SDK,
// and that S3 requests are told apart by their signature, not their path.
func TestS3Errors(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	c := s.s3Client(t)
	// A bucket named like a Bedrock route still is a bucket.
	for _, b := range []string{"model", "imported-models"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatalf("CreateBucket %s: %v", b, err)
		}
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String("x/invoke"), Body: strings.NewReader("hi")}); err != nil {
			t.Fatalf("PutObject into %s: %v", b, err)
		}
	}

	id, _ := s.credentials(t)
	bad := s.s3Client(t, func(o *s3.Options) { o.Credentials = credentials.NewStaticCredentialsProvider(id, "wrong-secret", "") })
	_, err := bad.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model"), Key: aws.String("k"), Body: strings.NewReader("x")})
	if code := apiCode(err); code != "SignatureDoesNotMatch" {
		t.Errorf("wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "buckets", "model", "k")); !os.IsNotExist(err) {
		t.Errorf("a rejected upload left a file: %v", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("model"), Key: aws.String("missing")})
	if _, ok := errors.AsType[*types.NoSuchKey](err); !ok {
		t.Errorf("missing key: %v, want NoSuchKey", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nosuchbucket"), Key: aws.String("k")})
	if code := apiCode(err); code != "NoSuchBucket" {
		t.Errorf("missing bucket: %v, want NoSuchBucket", err)
	}
	for _, key := range []string{"a/../b", "a//b", "x/invoke/deeper"} {
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("model"), Key: aws.String(key), Body: strings.NewReader("x")})
		if code := apiCode(err); code != "InvalidArgument" {
			t.Errorf("PutObject %q: %v, want InvalidArgument", key, err)
		}
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("model"), Key: aws.String("x/invoke"), Range: aws.String("bytes=5-")})
	if code := apiCode(err); code != "InvalidRange" {
		t.Errorf("range past the end: %v, want InvalidRange", err)
	}

	// A raw request signed for another day gets S3's XML error.
	req, _ := http.NewRequest(http.MethodGet, s.endpoint+"/", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+id+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
	req.Header.Set("X-Amz-Date", "20260101T000000Z")
	req.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !bytes.Contains(body, []byte("<Code>RequestTimeTooSkewed</Code>")) || resp.Header.Get("Content-Type") != "application/xml" {
		t.Errorf("stale raw request: %d %s", resp.StatusCode, body)
	}
}

func apiCode(err error) string {
	if e, ok := errors.AsType[smithy.APIError](err); ok {
		return e.ErrorCode()
	}
	return ""
}
