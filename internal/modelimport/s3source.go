package modelimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3Client is the part of the S3 API an S3 source uses; *s3.Client from
// aws-sdk-go-v2 satisfies it.
type S3Client interface {
	ListObjectsV2(ctx context.Context, in *awss3.ListObjectsV2Input, opts ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
}

// s3Source reads a model folder from a bucket on an S3-compatible server.
type s3Source struct {
	c      S3Client
	bucket string
	prefix string // "" or ending in "/"
	// maxKeys is the listing page size; 0 leaves it to the server (1000).
	maxKeys int32
}

// S3Source returns a Source over the objects under prefix ("" or ending in
// "/", as ParseURI returns it) in bucket. It lists and reads them as a
// folder on disk is read: folder markers (keys ending in "/") and objects
// under hidden folders (.git/, .cache/) are skipped, names are relative to
// the prefix and sorted, and at most maxFiles are accepted.
func S3Source(c S3Client, bucket, prefix string) Source {
	return &s3Source{c: c, bucket: bucket, prefix: prefix}
}

func (s *s3Source) Bucket() string { return s.bucket }

// objectName maps a listed key to its file name under prefix. ok is false
// for keys a folder import skips: the prefix itself, folder markers and
// objects under hidden folders.
func objectName(prefix, key string) (name string, ok bool) {
	name, found := strings.CutPrefix(key, prefix)
	if !found || name == "" || strings.HasSuffix(name, "/") {
		return "", false
	}
	dirs := strings.Split(name, "/")
	for _, d := range dirs[:len(dirs)-1] {
		if strings.HasPrefix(d, ".") {
			return "", false
		}
	}
	return name, true
}

func (s *s3Source) List(ctx context.Context) ([]FileInfo, error) {
	var out []FileInfo
	in := &awss3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)}
	if s.maxKeys > 0 {
		in.MaxKeys = aws.Int32(s.maxKeys)
	}
	p := awss3.NewListObjectsV2Paginator(s.c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.describe("listing", s.prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			name, ok := objectName(s.prefix, key)
			if !ok {
				continue
			}
			if len(out) >= maxFiles {
				return nil, fmt.Errorf("the source holds more than %d files", maxFiles)
			}
			out = append(out, FileInfo{Name: name, Key: key, Size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// describe words an S3 error with the operation and the object or prefix
// it concerned: short for the common cases, the server's code and message
// otherwise. SDK errors carry no credentials.
func (s *s3Source) describe(op, key string, err error) error {
	where := "s3://" + s.bucket + "/" + key
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		switch ae.ErrorCode() {
		case "NoSuchBucket":
			return fmt.Errorf("the bucket %s does not exist on the S3 server", s.bucket)
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s does not exist (was it deleted during the import?)", where)
		case "AccessDenied", "Forbidden":
			return fmt.Errorf("%s %s: the S3 server denied access with strata's S3 credentials", op, where)
		}
		return fmt.Errorf("%s %s: %s: %s", op, where, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("%s %s: %w", op, where, err)
}

func (s *s3Source) Open(ctx context.Context, f FileInfo) (Object, error) {
	if !strings.HasPrefix(f.Key, s.prefix) {
		return nil, errors.New("file outside the source prefix")
	}
	return &s3Object{ctx: ctx, src: s, key: f.Key, size: f.Size}, nil
}

// s3Object is one object of an s3Source. ReadAt fetches each range with
// its own ranged GetObject; Read streams the object with one GetObject,
// opened on the first Read. It keeps the ctx of Open because io.ReaderAt
// and io.Reader take none; it lives only until Close.
type s3Object struct {
	ctx  context.Context
	src  *s3Source
	key  string
	size int64 // as listed
	body io.ReadCloser
	read int64 // bytes returned by Read
}

func (o *s3Object) get(rng string) (io.ReadCloser, error) {
	in := &awss3.GetObjectInput{Bucket: aws.String(o.src.bucket), Key: aws.String(o.key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := o.src.c.GetObject(o.ctx, in)
	if err != nil {
		return nil, o.src.describe("reading", o.key, err)
	}
	return out.Body, nil
}

// ReadAt reads len(p) bytes at off, or up to the listed size with io.EOF.
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("reading s3://%s/%s: negative offset", o.src.bucket, o.key)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if off >= o.size {
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), o.size-off))
	body, err := o.get("bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+int64(want)-1, 10))
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, p[:want])
	if err != nil {
		return n, fmt.Errorf("reading s3://%s/%s at %d: %w (did the object change during the import?)", o.src.bucket, o.key, off, err)
	}
	if want < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read streams the object from the start.
func (o *s3Object) Read(p []byte) (int, error) {
	if o.body == nil {
		if o.read > 0 {
			return 0, fmt.Errorf("reading s3://%s/%s: read after Close", o.src.bucket, o.key)
		}
		body, err := o.get("")
		if err != nil {
			return 0, err
		}
		o.body = body
	}
	n, err := o.body.Read(p)
	o.read += int64(n)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading s3://%s/%s at %d: %w", o.src.bucket, o.key, o.read, err)
	}
	return n, err
}

func (o *s3Object) Close() error {
	if o.body == nil {
		return nil
	}
	err := o.body.Close()
	o.body = nil
	return err
}
