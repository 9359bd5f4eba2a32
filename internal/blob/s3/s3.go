// Package s3 is the blob.Store on an S3-compatible bucket (AWS S3,
// versitygw, MinIO, Ceph RGW, ...), so that many replicas share one
// artifact store. Objects live at PREFIX+KEY in one bucket.
//
// Atomicity comes from S3 itself: an object appears only when its
// PutObject or CompleteMultipartUpload succeeds. Objects up to the part
// size go up in one PutObject; larger ones as a multipart upload whose
// parts are sent a few at a time. A Put that fails or is cancelled aborts
// its multipart upload (with a context detached from the cancelled one, so
// the abort is still sent), leaving neither an object nor stored parts.
// Only a process killed mid-upload leaves parts behind; a bucket lifecycle
// rule (AbortIncompleteMultipartUpload) reclaims them.
//
// Once the whole body has been read with ctx still live, the Put commits:
// the final PutObject or CompleteMultipartUpload is no longer cancelled by
// ctx, so a Put never reports failure for an object it made visible.
//
// A reader from Get survives a broken connection: it re-requests the rest
// of the object, pinned to the first response's ETag (get.go).
package s3

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"strata/internal/blob"
)

// API is the part of the S3 API the store uses; *s3.Client from
// aws-sdk-go-v2 satisfies it.
type API interface {
	PutObject(ctx context.Context, in *awss3.PutObjectInput, opts ...func(*awss3.Options)) (*awss3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *awss3.HeadObjectInput, opts ...func(*awss3.Options)) (*awss3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *awss3.DeleteObjectInput, opts ...func(*awss3.Options)) (*awss3.DeleteObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *awss3.ListObjectsV2Input, opts ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error)
	HeadBucket(ctx context.Context, in *awss3.HeadBucketInput, opts ...func(*awss3.Options)) (*awss3.HeadBucketOutput, error)
	CreateMultipartUpload(ctx context.Context, in *awss3.CreateMultipartUploadInput, opts ...func(*awss3.Options)) (*awss3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *awss3.UploadPartInput, opts ...func(*awss3.Options)) (*awss3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *awss3.CompleteMultipartUploadInput, opts ...func(*awss3.Options)) (*awss3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *awss3.AbortMultipartUploadInput, opts ...func(*awss3.Options)) (*awss3.AbortMultipartUploadOutput, error)
}

const (
	// MinPartSize is S3's smallest part other than the last.
	MinPartSize = 5 << 20
	// DefaultPartSize is the part size when Options.PartSize is 0: objects
	// up to 80 GiB (10,000 parts).
	DefaultPartSize = 8 << 20
	// DefaultConcurrency is how many parts one Put sends at once when
	// Options.Concurrency is 0.
	DefaultConcurrency = 4
	// maxParts is S3's limit on parts per upload.
	maxParts = 10000
	// commitTimeout bounds the detached final request of a Put and the
	// abort of a failed one.
	commitTimeout = 5 * time.Minute
)

// Options configure a Store.
type Options struct {
	// Bucket holds the objects; it must exist. Non-empty.
	Bucket string
	// Prefix is prepended to every key ("" for none). A prefix without a
	// trailing "/" gets one: "strata" stores key K at "strata/K".
	Prefix string
	// PartSize is the size of a multipart upload's parts, and the largest
	// object sent in one PutObject; 0 means DefaultPartSize, otherwise at
	// least MinPartSize. A Put buffers up to Concurrency+1 parts.
	PartSize int64
	// Concurrency is how many parts of one Put are in flight; 0 means
	// DefaultConcurrency.
	Concurrency int
	// GetResumes bounds how many times one reader returned by Get
	// re-requests the rest of its object after the connection fails
	// mid-body (see Get); 0 means DefaultGetResumes, a negative number
	// none. Attempts wait 100 ms, then twice as long each time up to 2 s,
	// and stop at once if the Get's context ends.
	GetResumes int
	// Logger reports multipart uploads that could not be aborted and the
	// resumption of broken reads; nil means discard.
	Logger *slog.Logger
}

// Store is a blob.Store on an S3 bucket. Use New.
type Store struct {
	c           API
	bucket      string
	prefix      string
	partSize    int64
	concurrency int
	log         *slog.Logger
	// resumes is Options.GetResumes made concrete (0: never resume).
	resumes int
	// resumeBackoff is the wait before a reader's first resumption.
	resumeBackoff time.Duration
	// testHookBackoff, if set, runs as a reader starts waiting to resume.
	testHookBackoff func()
}

var _ blob.Store = (*Store)(nil)

// New returns a Store over client. It sends no request; Check verifies the
// bucket.
func New(client API, o Options) (*Store, error) {
	if err := ValidBucket(o.Bucket); err != nil {
		return nil, err
	}
	prefix := o.Prefix
	if prefix != "" {
		prefix = strings.TrimSuffix(prefix, "/")
		if err := blob.ValidKey(prefix); err != nil {
			return nil, fmt.Errorf("s3: key prefix %q: %w", o.Prefix, err)
		}
		prefix += "/"
	}
	if o.PartSize == 0 {
		o.PartSize = DefaultPartSize
	}
	if o.PartSize < MinPartSize || o.PartSize > 5<<30 {
		return nil, fmt.Errorf("s3: part size %d is not between %d (5 MiB) and 5 GiB", o.PartSize, MinPartSize)
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case o.GetResumes == 0:
		o.GetResumes = DefaultGetResumes
	case o.GetResumes < 0:
		o.GetResumes = 0
	}
	return &Store{c: client, bucket: o.Bucket, prefix: prefix, partSize: o.PartSize,
		concurrency: o.Concurrency, log: o.Logger, resumes: o.GetResumes, resumeBackoff: defaultResumeBackoff}, nil
}

// ValidBucket checks S3's bucket naming rules: 3 to 63 characters of
// lowercase letters, digits, '-' and '.', starting and ending with a
// letter or digit, no "..", and not shaped like an IP address.
func ValidBucket(b string) error {
	bad := func(why string) error { return fmt.Errorf("s3: bucket name %q %s", b, why) }
	if len(b) < 3 || len(b) > 63 {
		return bad("is not 3 to 63 characters long")
	}
	digitsAndDots := true
	for i := range len(b) {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return bad("may hold only lowercase letters, digits, '-' and '.'")
		}
		if c != '.' && (c < '0' || c > '9') {
			digitsAndDots = false
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return bad("must start and end with a letter or digit")
	}
	if strings.Contains(b, "..") {
		return bad("must not contain \"..\"")
	}
	if digitsAndDots && strings.Count(b, ".") == 3 {
		return bad("must not be an IP address")
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// Check verifies that the bucket exists and the credentials reach it.
func (s *Store) Check(ctx context.Context) error {
	if _, err := s.c.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		if isNotFound(err) {
			return fmt.Errorf("s3: the bucket %s does not exist", s.bucket)
		}
		if ae, ok := errors.AsType[smithy.APIError](err); ok && (ae.ErrorCode() == "Forbidden" || ae.ErrorCode() == "AccessDenied") {
			return fmt.Errorf("s3: access to the bucket %s is denied: check the access key, its secret and the region", s.bucket)
		}
		return fmt.Errorf("s3: checking the bucket %s: %w", s.bucket, err)
	}
	return nil
}

// where names an object in messages.
func (s *Store) where(key string) string { return "s3://" + s.bucket + "/" + s.prefix + key }

// wrap turns a missing object into blob.ErrNotExist and names the object
// in every other error.
func (s *Store) wrap(op, key string, err error) error {
	if isNoSuchKey(err) {
		return fmt.Errorf("%w: %s", blob.ErrNotExist, s.where(key))
	}
	return fmt.Errorf("%s %s: %w", op, s.where(key), err)
}

// isNoSuchKey reports a missing object (not a missing bucket): NoSuchKey,
// or a bodiless 404 from HEAD, which S3 sends for both.
func isNoSuchKey(err error) bool {
	if _, ok := errors.AsType[*types.NoSuchKey](err); ok {
		return true
	}
	if _, ok := errors.AsType[*types.NotFound](err); ok {
		return true
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound"
	}
	return false
}

// isNotFound reports any 404: a missing key or bucket.
func isNotFound(err error) bool {
	if isNoSuchKey(err) {
		return true
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode() == "NoSuchBucket"
	}
	return false
}

// Stat returns the object's size and modification time.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	out, err := s.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil {
		return blob.Info{}, s.wrap("reading the metadata of", key, err)
	}
	return blob.Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object; a missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	_, err := s.c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key)})
	if err != nil && !isNoSuchKey(err) {
		return s.wrap("deleting", key, err)
	}
	return nil
}

// List returns the objects whose keys start with prefix, sorted by key.
// Objects under the store's prefix whose rest is not a valid key (such as
// "folder/" markers made by other tools) are not listed.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	var out []blob.Info
	p := awss3.NewListObjectsV2Paginator(s.c, &awss3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix + prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing s3://%s/%s: %w", s.bucket, s.prefix+prefix, err)
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || blob.ValidKey(key) != nil {
				continue
			}
			out = append(out, blob.Info{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
	return slices.CompactFunc(out, func(a, b blob.Info) bool { return a.Key == b.Key }), nil
}

// readPart fills buf from r, stopping early at EOF; it returns the bytes
// read and io.EOF if r ended. It checks ctx between reads, so a slow or
// endless reader cannot outlive a cancelled Put.
func readPart(ctx context.Context, r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		if err := context.Cause(ctx); err != nil {
			return n, err
		}
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, io.EOF
		}
		if err != nil {
			return n, err
		}
	}
	return n, context.Cause(ctx)
}

// Put stores r under key: in one PutObject if it fits a part, otherwise
// as a multipart upload that is aborted if anything fails.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	first := make([]byte, 0, min(s.partSize, 64<<10))
	// Read the first part, growing the buffer as data arrives so small
	// objects (manifests) do not cost a whole part.
	var rerr error
	for rerr == nil && int64(len(first)) < s.partSize {
		if len(first) == cap(first) {
			first = slices.Grow(first, min(int(s.partSize)-len(first), cap(first)))
		}
		var n int
		n, rerr = readPart(ctx, r, first[len(first):min(cap(first), int(s.partSize))])
		first = first[:len(first)+n]
	}
	if rerr != nil && rerr != io.EOF {
		return 0, fmt.Errorf("putting %s: reading the data: %w", s.where(key), rerr)
	}
	if rerr == io.EOF {
		return s.putOne(ctx, key, first)
	}
	// A full first part: see whether anything follows.
	second := make([]byte, s.partSize)
	n, rerr := readPart(ctx, r, second)
	if rerr != nil && rerr != io.EOF {
		return 0, fmt.Errorf("putting %s: reading the data: %w", s.where(key), rerr)
	}
	if n == 0 {
		return s.putOne(ctx, key, first)
	}
	return s.putMultipart(ctx, key, r, first, second[:n], rerr == io.EOF)
}

// putOne commits a whole object held in memory.
func (s *Store) putOne(ctx context.Context, key string, b []byte) (int64, error) {
	if err := context.Cause(ctx); err != nil {
		return 0, fmt.Errorf("putting %s: %w", s.where(key), err)
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	_, err := s.c.PutObject(cctx, &awss3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))})
	if err != nil {
		return 0, s.wrap("putting", key, err)
	}
	return int64(len(b)), nil
}

// putMultipart uploads first, second and the rest of r as the parts of one
// multipart upload. last says r already ended after second.
func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, first, second []byte, last bool) (int64, error) {
	full := s.prefix + key
	created, err := s.c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(full), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		return 0, s.wrap("starting a multipart upload of", key, err)
	}
	id := created.UploadId
	n, parts, err := s.uploadParts(ctx, full, id, r, first, second, last)
	if err == nil {
		if err = context.Cause(ctx); err != nil { // all read: commit only if still wanted
			err = fmt.Errorf("putting %s: %w", s.where(key), err)
		}
	}
	if err == nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		_, err = s.c.CompleteMultipartUpload(cctx, &awss3.CompleteMultipartUploadInput{
			Bucket: aws.String(s.bucket), Key: aws.String(full), UploadId: id,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		cancel()
		if err != nil {
			err = s.wrap("completing the multipart upload of", key, err)
		}
	}
	if err != nil {
		s.abort(ctx, key, id)
		return 0, err
	}
	return n, nil
}

// abort aborts a multipart upload even when ctx is cancelled.
func (s *Store) abort(ctx context.Context, key string, id *string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	_, err := s.c.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
		Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + key), UploadId: id})
	if err != nil {
		s.log.Error("aborting a failed multipart upload; its parts stay stored until a lifecycle rule removes them",
			"object", s.where(key), "upload_id", aws.ToString(id), "err", err)
	}
}

// uploadParts sends the parts, up to s.concurrency at once, reading the
// next part while others are in flight. It returns the bytes sent and the
// completed parts in order.
func (s *Store) uploadParts(ctx context.Context, full string, id *string, r io.Reader, first, second []byte, last bool) (int64, []types.CompletedPart, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		parts []types.CompletedPart
		wg    sync.WaitGroup
		total int64
	)
	slots := make(chan struct{}, s.concurrency)
	free := make(chan []byte, s.concurrency+1) // buffers of finished parts, to reuse
	send := func(num int32, b []byte) {
		defer func() {
			select {
			case free <- b[:cap(b)]:
			default:
			}
			<-slots
		}()
		out, err := s.c.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String(s.bucket), Key: aws.String(full), UploadId: id, PartNumber: aws.Int32(num),
			Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			cancel(fmt.Errorf("uploading part %d of s3://%s/%s: %w", num, s.bucket, full, err))
			return
		}
		mu.Lock()
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		mu.Unlock()
	}
	next, num := second, int32(1)
	cur := first
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		total += int64(len(cur))
		pn, b := num, cur
		wg.Go(func() { send(pn, b) })
		if next == nil {
			break
		}
		if num++; num > maxParts {
			cancel(fmt.Errorf("putting s3://%s/%s: the object is larger than %d parts of %d bytes", s.bucket, full, maxParts, s.partSize))
			break
		}
		cur = next
		if last {
			next = nil
			continue
		}
		var buf []byte
		select {
		case buf = <-free:
			buf = buf[:s.partSize]
		default:
			buf = make([]byte, s.partSize)
		}
		n, err := readPart(ctx, r, buf)
		switch {
		case err == io.EOF:
			last = true
		case err != nil:
			cancel(fmt.Errorf("putting s3://%s/%s: reading the data: %w", s.bucket, full, err))
		}
		if ctx.Err() != nil {
			break
		}
		if n == 0 {
			next = nil // r ended exactly at a part boundary
		} else {
			next = buf[:n]
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return 0, nil, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return cmp.Compare(*a.PartNumber, *b.PartNumber) })
	return total, parts, nil
}
