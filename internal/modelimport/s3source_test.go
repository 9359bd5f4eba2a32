package modelimport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	blobs3 "strata/internal/blob/s3"
	"strata/internal/iam"
	"strata/internal/kms"
	"strata/internal/modelgen"
	"strata/internal/store/sqlite"
)

// fakeS3 serves gofakes3 (in-memory) on a loopback listener and returns a
// client for it.
func fakeS3(t *testing.T) *awss3.Client {
	t.Helper()
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(ts.Close)
	c, err := blobs3.NewClient(t.Context(), blobs3.ClientOptions{Endpoint: ts.URL, Region: "us-east-1",
		AccessKeyID: "strata-test-key", SecretAccessKey: "strata-test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createBucket(t *testing.T, c *awss3.Client, bucket string) {
	t.Helper()
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
}

func putObject(t *testing.T, c *awss3.Client, bucket, key string, b []byte) {
	t.Helper()
	if _, err := c.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(b)}); err != nil {
		t.Fatalf("putting %s: %v", key, err)
	}
}

// uploadDir copies every file under dir to bucket/prefix.
func uploadDir(t *testing.T, c *awss3.Client, dir, bucket, prefix string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		putObject(t, c, bucket, prefix+filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestS3SourceList(t *testing.T) {
	c := fakeS3(t)
	createBucket(t, c, "models")
	for _, k := range []string{
		"m/", "m/config.json", "m/b.safetensors", "m/a.safetensors", "m/.gitattributes", "m/sub/", "m/sub/x.json",
		"m/.cache/huggingface/download/a.lock", "m/.git/HEAD", "m/sub/.hidden/y", "mx/outside.json", "other.json",
	} {
		putObject(t, c, "models", k, []byte(k))
	}
	src := S3Source(c, "models", "m/").(*s3Source)
	want := []string{".gitattributes", "a.safetensors", "b.safetensors", "config.json", "sub/x.json"}
	for _, page := range []int32{0, 1, 2, 1000} {
		src.maxKeys = page
		files, err := src.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			if f.Key != "m/"+f.Name || f.Size != int64(len(f.Key)) {
				t.Errorf("page size %d: %+v", page, f)
			}
		}
		if !slices.Equal(names, want) {
			t.Errorf("page size %d: List = %q, want %q", page, names, want)
		}
	}
	if src.Bucket() != "models" {
		t.Errorf("Bucket = %q", src.Bucket())
	}

	missing := S3Source(c, "no-such-bucket", "m/")
	if _, err := missing.List(t.Context()); err == nil || err.Error() != "the bucket no-such-bucket does not exist on the S3 server" {
		t.Errorf("List of a missing bucket = %v", err)
	}
}

// TestS3ObjectReadsLikeAFile reads the same bytes through an S3 object and
// an os.File (the embedded source) and expects the same results.
func TestS3ObjectReadsLikeAFile(t *testing.T) {
	c := fakeS3(t)
	createBucket(t, c, "models")
	dir := t.TempDir()
	content := []byte("0123456789abcdefghij")
	for name, b := range map[string][]byte{"f.bin": content, "empty.bin": nil} {
		putObject(t, c, "models", "p/"+name, b)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sources := map[string]Source{"s3": S3Source(c, "models", "p/"), "dir": DirSource("models", dir)}
	type result struct {
		N   int
		EOF bool
		Err bool
		B   string
	}
	readAt := func(src Source, name string, off int64, n int) result {
		files, err := src.List(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(files, func(f FileInfo) bool { return f.Name == name })
		obj, err := src.Open(t.Context(), files[i])
		if err != nil {
			t.Fatal(err)
		}
		defer obj.Close()
		p := make([]byte, n)
		got, err := obj.ReadAt(p, off)
		return result{N: got, EOF: err == io.EOF, Err: err != nil && err != io.EOF, B: string(p[:got])}
	}
	for _, tc := range []struct {
		name string
		file string
		off  int64
		n    int
	}{
		{"head", "f.bin", 0, 8},
		{"middle", "f.bin", 5, 10},
		{"to-the-end", "f.bin", 10, 10},
		{"past-the-end", "f.bin", 15, 10},
		{"at-the-end", "f.bin", 20, 4},
		{"beyond", "f.bin", 100, 4},
		{"nothing", "f.bin", 3, 0},
		{"empty-file", "empty.bin", 0, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s3r, dirr := readAt(sources["s3"], tc.file, tc.off, tc.n), readAt(sources["dir"], tc.file, tc.off, tc.n)
			if s3r != dirr {
				t.Errorf("S3 ReadAt = %+v, file ReadAt = %+v", s3r, dirr)
			}
		})
	}
	// Read streams the whole object, in small reads too.
	obj, err := sources["s3"].Open(t.Context(), FileInfo{Name: "f.bin", Key: "p/f.bin", Size: int64(len(content))})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.LimitReader(obj, 7))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || string(got)+string(rest) != string(content) {
		t.Errorf("Read = %q + %q, %v", got, rest, err)
	}
	// An object deleted after listing says so, naming it.
	gone := FileInfo{Name: "gone.bin", Key: "p/gone.bin", Size: 4}
	obj, _ = sources["s3"].Open(t.Context(), gone)
	if _, err := obj.ReadAt(make([]byte, 4), 0); err == nil || !strings.Contains(err.Error(), "s3://models/p/gone.bin does not exist") {
		t.Errorf("ReadAt of a missing object = %v", err)
	}
	if _, err := obj.Read(make([]byte, 4)); err == nil || !strings.Contains(err.Error(), "s3://models/p/gone.bin does not exist") {
		t.Errorf("Read of a missing object = %v", err)
	}
}

func FuzzObjectName(f *testing.F) {
	for _, k := range []string{"m/config.json", "m/", "m/.git/HEAD", "m/sub/x", "m//x", "m/../x", "x", "m/.a", "m/a/"} {
		f.Add("m/", k)
	}
	f.Add("", ".cache/a")
	f.Fuzz(func(t *testing.T, prefix, key string) {
		name, ok := objectName(prefix, key)
		if !ok {
			return
		}
		if prefix+name != key || name == "" || strings.HasSuffix(name, "/") {
			t.Fatalf("objectName(%q, %q) = %q", prefix, key, name)
		}
		dirs := strings.Split(name, "/")
		for _, d := range dirs[:len(dirs)-1] {
			if strings.HasPrefix(d, ".") {
				t.Fatalf("objectName(%q, %q) = %q, under a hidden folder", prefix, key, name)
			}
		}
	})
}

// keyRing adapts the local KMS key ring to Keys, as cmd/strata does.
type keyRing struct{ *kms.KeyRing }

func (k keyRing) ResolveKey(ctx context.Context, account, keyID string) (string, error) {
	key, err := k.DefaultKey(ctx, account, "bedrock")
	return key.ARN, err
}

func (k keyRing) DataKey(ctx context.Context, keyARN string, encCtx map[string]string) ([]byte, []byte, error) {
	dk, err := k.GenerateDataKey(ctx, keyARN, encCtx)
	return dk.Plaintext, dk.CiphertextBlob, err
}

func (k keyRing) EncryptStream(w io.Writer, key, aad []byte) (io.WriteCloser, error) {
	return kms.NewWriter(w, key, aad)
}

// s3Harness is a real import service whose sources and artifacts are both
// on an S3 server: SQLite metadata, the local key ring, the IAM evaluator.
type s3Harness struct {
	svc       *Service
	admin     *iam.Principal
	role      string
	s3        *awss3.Client
	artifacts *blobs3.Store
}

func newS3Harness(t *testing.T) *s3Harness {
	t.Helper()
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kr, err := kms.Open(dir, "us-east-1", slog.New(slog.DiscardHandler))
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
	directory := iam.NewDirectory(db, sealer)
	boot, err := directory.Bootstrap(ctx, func(iam.Bootstrap) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := directory.LookupAccessKey(ctx, boot.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	c := fakeS3(t)
	createBucket(t, c, "strata-artifacts")
	artifacts, err := blobs3.New(c, blobs3.Options{Bucket: "strata-artifacts", Prefix: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	svc := New(Options{Store: db, Artifacts: artifacts, Keys: keyRing{kr}, Authorizer: &iam.Evaluator{}, Directory: directory,
		S3: c, BucketOwner: boot.Account, Region: "us-east-1", NodeID: "node-a"})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &s3Harness{svc: svc, admin: admin, role: boot.RoleARN, s3: c, artifacts: artifacts}
}

// importJob creates a job for uri and waits for it to end.
func (h *s3Harness) importJob(t *testing.T, name, uri string) *Job {
	t.Helper()
	j, err := h.svc.CreateJob(t.Context(), h.admin, CreateJobInput{JobName: name, ImportedModelName: name,
		RoleARN: h.role, SourceURI: uri})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		j, err = h.svc.GetJob(t.Context(), h.admin, j.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status != StatusInProgress {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still InProgress", j.ARN)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestImportFromS3 imports a generated model folder from a bucket on an S3
// server through the real runner, into an artifact store on S3.
func TestImportFromS3(t *testing.T) {
	h := newS3Harness(t)
	dir := t.TempDir()
	if err := modelgen.Generate(dir, modelgen.TinyMistral()); err != nil {
		t.Fatal(err)
	}
	createBucket(t, h.s3, "models")
	uploadDir(t, h.s3, dir, "models", "mistral/tiny/")
	// What hub downloads and S3 consoles leave beside a model.
	putObject(t, h.s3, "models", "mistral/tiny/", nil)
	putObject(t, h.s3, "models", "mistral/tiny/.cache/huggingface/download/config.json.lock", []byte("lock"))

	j := h.importJob(t, "tiny-from-s3", "s3://models/mistral/tiny/")
	if j.Status != StatusCompleted {
		t.Fatalf("job %s: %s", j.Status, j.FailureMessage)
	}
	m, err := h.svc.GetModel(t.Context(), h.admin, j.ImportedModelARN)
	if err != nil {
		t.Fatal(err)
	}
	if m.Architecture != "MistralForCausalLM" || m.SourceURI != "s3://models/mistral/tiny/" {
		t.Errorf("model = %+v", m)
	}
	// Every file is in the artifact bucket, and the manifest's hashes are
	// those of the source files.
	entries, _ := os.ReadDir(dir)
	if len(m.Files) != len(entries) {
		t.Errorf("imported %d files, the folder holds %d", len(m.Files), len(entries))
	}
	rc, err := h.artifacts.Get(t.Context(), manifestKey(m))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct{ Files []ManifestFile }
	err = json.NewDecoder(rc).Decode(&manifest)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range manifest.Files {
		b, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: manifest SHA-256 %s differs from the source file's", f.Name, f.SHA256)
		}
		info, err := h.artifacts.Stat(t.Context(), f.BlobKey)
		if err != nil || info.Size <= f.Size {
			t.Errorf("%s: encrypted artifact %+v, %v", f.Name, info, err)
		}
		if _, err := h.s3.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: aws.String("strata-artifacts"),
			Key: aws.String("node-a/" + f.BlobKey)}); err != nil {
			t.Errorf("%s is not in the artifact bucket under the prefix: %v", f.BlobKey, err)
		}
	}
}

func TestImportFromS3Fails(t *testing.T) {
	h := newS3Harness(t)
	createBucket(t, h.s3, "models")
	putObject(t, h.s3, "models", "elsewhere/tokenizer.json", []byte("{}"))
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"missing-bucket", "s3://no-such-bucket/m/", "the source s3://no-such-bucket/m/ cannot be listed: the bucket no-such-bucket does not exist on the S3 server"},
		{"empty-prefix", "s3://models/nothing/here/", "the source s3://models/nothing/here/ holds no files"},
		{"no-model", "s3://models/elsewhere/", "config.json is missing from the source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := h.importJob(t, tc.name, tc.uri)
			if j.Status != StatusFailed || j.FailureMessage != tc.want {
				t.Errorf("job %s: %q, want Failed: %q", j.Status, j.FailureMessage, tc.want)
			}
		})
	}
}
