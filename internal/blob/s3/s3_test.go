package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"strata/internal/blob"
	"strata/internal/blob/blobtest"
)

// server is an S3-compatible server on loopback with a client for it.
type server struct {
	name     string
	endpoint string
	client   *awss3.Client
	seq      atomic.Int64
}

// newBucket creates a fresh bucket.
func (sv *server) newBucket(t *testing.T) string {
	t.Helper()
	b := fmt.Sprintf("strata-test-%d", sv.seq.Add(1))
	if _, err := sv.client.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatalf("creating bucket %s on %s: %v", b, sv.name, err)
	}
	return b
}

func (sv *server) newStore(t *testing.T, o Options) *Store {
	t.Helper()
	if o.Bucket == "" {
		o.Bucket = sv.newBucket(t)
	}
	s, err := New(sv.client, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func newClient(t testing.TB, endpoint string) *awss3.Client {
	t.Helper()
	c, err := NewClient(context.Background(), ClientOptions{Endpoint: endpoint, Region: "us-east-1",
		AccessKeyID: "strata-test-key", SecretAccessKey: "strata-test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gofakes3Server serves gofakes3 with its in-memory backend on a loopback
// listener for the test.
func gofakes3Server(t *testing.T) *server {
	t.Helper()
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(ts.Close)
	return &server{name: "gofakes3", endpoint: ts.URL, client: newClient(t, ts.URL)}
}

// versitygwServer starts versitygw's posix backend in a temporary folder,
// or skips the test when the binary is not installed.
func versitygwServer(t *testing.T) *server {
	t.Helper()
	bin := os.Getenv("STRATA_VERSITYGW")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("versitygw"); err != nil {
			t.Skip("versitygw not found: set STRATA_VERSITYGW or put it on PATH (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0; .ci/run does this)")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	cmd := exec.Command(bin, "--access", "strata-test-key", "--secret", "strata-test-secret",
		"--port", addr, "--quiet", "posix", t.TempDir())
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	sv := &server{name: "versitygw", endpoint: "http://" + addr, client: newClient(t, "http://"+addr)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := sv.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
		cancel()
		if err == nil {
			return sv
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not come up on %s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestConformanceGofakes3(t *testing.T) {
	sv := gofakes3Server(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return sv.newStore(t, Options{}) })
	t.Run("prefix", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return sv.newStore(t, Options{Prefix: "replicas/strata"}) })
	})
	t.Run("behaviour", func(t *testing.T) { testBehaviour(t, sv) })
}

// TestConformanceVersitygw runs the suite against a real S3 server
// (versitygw over a posix folder) when one is installed.
func TestConformanceVersitygw(t *testing.T) {
	sv := versitygwServer(t)
	blobtest.Run(t, func(t *testing.T) blob.Store { return sv.newStore(t, Options{}) }, blobtest.KeepSharedParent())
	t.Run("prefix", func(t *testing.T) {
		blobtest.Run(t, func(t *testing.T) blob.Store { return sv.newStore(t, Options{Prefix: "replicas/strata/"}) },
			blobtest.KeepSharedParent())
	})
	t.Run("behaviour", func(t *testing.T) { testBehaviour(t, sv) })
}

// testBehaviour checks what the conformance suite cannot see: multipart
// uploads, their cleanup, the prefix, errors, and reads that resume
// through a proxy that breaks connections.
func testBehaviour(t *testing.T, sv *server) {
	tests := []struct {
		name string
		fn   func(t *testing.T, sv *server)
	}{
		{"multipart-sizes", testMultipartSizes},
		{"cancelled-multipart-put-leaves-no-upload", testCancelledMultipart},
		{"failed-multipart-put-leaves-no-upload", testFailedMultipart},
		{"prefix-layout", testPrefixLayout},
		{"missing-bucket", testMissingBucket},
		{"wrong-secret", testWrongSecret},
		{"get-resumes-after-cuts", testResume},
		{"get-resume-object-changed", testResumeChanged},
		{"get-resume-cancelled-in-backoff", testResumeCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, sv) })
	}
}

// pattern returns n bytes that differ at every offset modulo 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// onlyReader hides bytes.Reader's other methods, as a pipe would.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// countingAPI counts the multipart calls a Store makes on a real client.
type countingAPI struct {
	API
	creates, parts atomic.Int32
}

func (c *countingAPI) CreateMultipartUpload(ctx context.Context, in *awss3.CreateMultipartUploadInput, opts ...func(*awss3.Options)) (*awss3.CreateMultipartUploadOutput, error) {
	c.creates.Add(1)
	return c.API.CreateMultipartUpload(ctx, in, opts...)
}

func (c *countingAPI) UploadPart(ctx context.Context, in *awss3.UploadPartInput, opts ...func(*awss3.Options)) (*awss3.UploadPartOutput, error) {
	c.parts.Add(1)
	return c.API.UploadPart(ctx, in, opts...)
}

func testMultipartSizes(t *testing.T, sv *server) {
	bucket := sv.newBucket(t)
	for _, tc := range []struct {
		name  string
		size  int
		parts int32 // 0: one PutObject
	}{
		{"empty", 0, 0},
		{"one-part-exactly", MinPartSize, 0},
		{"one-byte-over", MinPartSize + 1, 2},
		{"two-parts-exactly", 2 * MinPartSize, 2},
		{"four-and-a-bit-parts", 4*MinPartSize + 12345, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &countingAPI{API: sv.client}
			s, err := New(api, Options{Bucket: bucket, PartSize: MinPartSize, Concurrency: 2})
			if err != nil {
				t.Fatal(err)
			}
			want := pattern(tc.size)
			n, err := s.Put(t.Context(), tc.name, onlyReader{bytes.NewReader(want)})
			if err != nil || n != int64(tc.size) {
				t.Fatalf("Put = %d, %v; want %d", n, err, tc.size)
			}
			if got := api.parts.Load(); got != tc.parts || api.creates.Load() != min(tc.parts, 1) {
				t.Errorf("sent %d parts in %d multipart uploads, want %d parts", got, api.creates.Load(), tc.parts)
			}
			rc, err := s.Get(t.Context(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, want))
			}
		})
	}
	assertNoUploads(t, sv, bucket)
}

func assertNoUploads(t *testing.T, sv *server, bucket string) {
	t.Helper()
	out, err := sv.client.ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if _, ok := errors.AsType[*types.NoSuchUpload](err); ok && sv.name == "gofakes3" {
		return // gofakes3's answer for a bucket that holds no uploads
	}
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	for _, u := range out.Uploads {
		t.Errorf("multipart upload left open: key %s, id %s", aws.ToString(u.Key), aws.ToString(u.UploadId))
	}
}

// streamReader yields n pattern bytes, then calls at (once) and continues
// with err (or endless bytes if err is nil).
type streamReader struct {
	n   int
	at  func()
	err error
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		if r.at != nil {
			r.at()
			r.at = nil
		}
		if r.err != nil {
			return 0, r.err
		}
		return len(p), nil
	}
	m := min(len(p), r.n, 32<<10)
	r.n -= m
	return m, nil
}

func testCancelledMultipart(t *testing.T, sv *server) {
	s := sv.newStore(t, Options{PartSize: MinPartSize})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Three whole parts go out (the upload exists), then the caller gives up.
	_, err := s.Put(ctx, "big/cancelled", &streamReader{n: 3*MinPartSize + 100, at: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put error = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(t.Context(), "big/cancelled"); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("cancelled Put left an object: %v", err)
	}
	assertNoUploads(t, sv, s.bucket)
}

func testFailedMultipart(t *testing.T, sv *server) {
	s := sv.newStore(t, Options{PartSize: MinPartSize})
	want := pattern(100)
	if _, err := s.Put(t.Context(), "big/failed", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("source broke")
	_, err := s.Put(t.Context(), "big/failed", &streamReader{n: 2*MinPartSize + 100, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put error = %v, want the reader's", err)
	}
	rc, err := s.Get(t.Context(), "big/failed")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, want) {
		t.Errorf("failed Put replaced the old object with %d bytes", len(got))
	}
	assertNoUploads(t, sv, s.bucket)
}

func testPrefixLayout(t *testing.T, sv *server) {
	bucket := sv.newBucket(t)
	s := sv.newStore(t, Options{Bucket: bucket, Prefix: "node"})
	if _, err := s.Put(t.Context(), "a/b", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// Objects outside the prefix, and a folder marker inside it, are not
	// the store's.
	for _, k := range []string{"other/a/b", "nodes/a/b", "node/dir/"} {
		if _, err := sv.client.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
			Body: strings.NewReader("")}); err != nil {
			t.Fatalf("putting %s: %v", k, err)
		}
	}
	if _, err := sv.client.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("node/a/b")}); err != nil {
		t.Errorf("the object is not at node/a/b: %v", err)
	}
	list, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Key != "a/b" || list[0].Size != 1 {
		t.Errorf("List = %+v, want only a/b", list)
	}
}

func testMissingBucket(t *testing.T, sv *server) {
	s, err := New(sv.client, Options{Bucket: "no-such-bucket-here"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "no-such-bucket-here does not exist") {
		t.Errorf("Check = %v", err)
	}
	_, err = s.Get(t.Context(), "k")
	if err == nil || errors.Is(err, blob.ErrNotExist) || !strings.Contains(err.Error(), "s3://no-such-bucket-here/k") {
		t.Errorf("Get in a missing bucket = %v; want an error naming it, not ErrNotExist", err)
	}
	if _, err := s.Put(t.Context(), "k", strings.NewReader("x")); err == nil || !strings.Contains(err.Error(), "no-such-bucket-here") {
		t.Errorf("Put in a missing bucket = %v", err)
	}
}

func testWrongSecret(t *testing.T, sv *server) {
	if sv.name == "gofakes3" {
		t.Skip("gofakes3 does not check signatures")
	}
	bucket := sv.newBucket(t)
	c, err := NewClient(t.Context(), ClientOptions{Endpoint: sv.endpoint, Region: "us-east-1",
		AccessKeyID: "strata-test-key", SecretAccessKey: "not-the-secret"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c, Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Check(t.Context())
	if err == nil || !strings.Contains(err.Error(), "access to the bucket "+bucket+" is denied") || strings.Contains(err.Error(), "not-the-secret") {
		t.Errorf("Check with a wrong secret = %v", err)
	}
}

func TestOptions(t *testing.T) {
	c := &awss3.Client{}
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"plain", Options{Bucket: "artifacts"}, true},
		{"prefix", Options{Bucket: "artifacts", Prefix: "a/b/"}, true},
		{"no-bucket", Options{}, false},
		{"bad-bucket", Options{Bucket: "Artifacts"}, false},
		{"bad-prefix", Options{Bucket: "artifacts", Prefix: "a//b"}, false},
		{"dotdot-prefix", Options{Bucket: "artifacts", Prefix: "../x"}, false},
		{"small-parts", Options{Bucket: "artifacts", PartSize: 1 << 20}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(c, tc.o); (err == nil) != tc.ok {
				t.Errorf("New(%+v) error = %v, want ok %v", tc.o, err, tc.ok)
			}
		})
	}
}

func TestValidBucket(t *testing.T) {
	for _, b := range []string{"abc", "strata-artifacts", "a.b-c", "1bucket", strings.Repeat("a", 63)} {
		if err := ValidBucket(b); err != nil {
			t.Errorf("ValidBucket(%q) = %v", b, err)
		}
	}
	for _, b := range []string{"", "ab", strings.Repeat("a", 64), "Upper", "under_score", "-lead", "trail-",
		".dot", "a..b", "192.168.1.1", "sp ace", "a/b"} {
		if err := ValidBucket(b); err == nil {
			t.Errorf("ValidBucket(%q) accepted", b)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	for _, e := range []string{"http://127.0.0.1:9000", "https://s3.us-east-1.amazonaws.com", "http://minio:9000/"} {
		if err := CheckEndpoint(e); err != nil {
			t.Errorf("CheckEndpoint(%q) = %v", e, err)
		}
	}
	for _, e := range []string{"", "127.0.0.1:9000", "ftp://host", "http://", "http://key:secret@host:9000",
		"http://host/bucket", "http://host?x=1", "http://host#f", "s3://bucket"} {
		err := CheckEndpoint(e)
		if err == nil {
			t.Errorf("CheckEndpoint(%q) accepted", e)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("CheckEndpoint(%q) = %v repeats the credentials", e, err)
		}
	}
}

// FuzzCheckEndpoint: an accepted endpoint is an http(s) base URL without
// credentials, and no message repeats the input's user information.
func FuzzCheckEndpoint(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:9000", "https://s3.amazonaws.com/", "http://k:s@h", "http://h/p?q#f", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckEndpoint(s)
		if err != nil {
			return
		}
		req, rerr := http.NewRequest("GET", s, nil)
		if rerr != nil {
			t.Fatalf("accepted %q, which net/http rejects: %v", s, rerr)
		}
		if req.URL.User != nil || req.URL.Host == "" || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
			t.Fatalf("accepted %q: %+v", s, req.URL)
		}
	})
}
