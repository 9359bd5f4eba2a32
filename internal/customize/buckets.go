package customize

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"strata/internal/bucket"
)

// Buckets reads training data from, and writes job outputs to, s3://
// locations: strata's embedded buckets or an S3-compatible server.
type Buckets interface {
	// Get opens bucket/key.
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	// Put writes body to bucket/key.
	Put(ctx context.Context, bucket, key string, body []byte) error
}

// EmbeddedBuckets returns Buckets over strata's own bucket store.
func EmbeddedBuckets(s *bucket.Store) Buckets { return embedded{s} }

type embedded struct{ s *bucket.Store }

func (e embedded) Get(_ context.Context, b, key string) (io.ReadCloser, error) {
	f, _, err := e.s.Open(b, key)
	return f, err
}

func (e embedded) Put(_ context.Context, b, key string, body []byte) error {
	st, err := e.s.Stage()
	if err != nil {
		return err
	}
	if _, err := st.Write(body); err != nil {
		st.Discard()
		return err
	}
	sum := md5.Sum(body)
	_, err = st.Commit(b, key, bucket.Info{ETag: `"` + hex.EncodeToString(sum[:]) + `"`, ContentType: contentType(key)})
	return err
}

// S3Client is the part of the S3 API Buckets use; *s3.Client from
// aws-sdk-go-v2 satisfies it.
type S3Client interface {
	GetObject(ctx context.Context, in *awss3.GetObjectInput, opts ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *awss3.PutObjectInput, opts ...func(*awss3.Options)) (*awss3.PutObjectOutput, error)
}

// S3Buckets returns Buckets on an S3-compatible server.
func S3Buckets(c S3Client) Buckets { return s3Buckets{c} }

type s3Buckets struct{ c S3Client }

func (s s3Buckets) Get(ctx context.Context, b, key string) (io.ReadCloser, error) {
	out, err := s.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

func (s s3Buckets) Put(ctx context.Context, b, key string, body []byte) error {
	_, err := s.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String(contentType(key))})
	return err
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".csv"):
		return "text/csv"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

// location is a parsed s3:// URI: an object (a data file) or a prefix (an
// output folder).
type location struct {
	Bucket, Key string
}

func (l location) String() string { return "s3://" + l.Bucket + "/" + l.Key }

// parseS3URI parses s3://bucket/key. With object set, the key must name an
// object (not be empty or end in "/").
func parseS3URI(s string, object bool) (location, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return location{}, fmt.Errorf("%q is not an s3://bucket/key URI", s)
	}
	if !bucket.ValidBucketName(u.Host) {
		return location{}, fmt.Errorf("%q does not name a valid bucket", s)
	}
	key := strings.TrimPrefix(u.Path, "/")
	if strings.Contains("/"+key+"/", "/../") || strings.Contains("/"+key+"/", "/./") {
		return location{}, fmt.Errorf("%q has a relative path segment", s)
	}
	if object && (key == "" || strings.HasSuffix(key, "/")) {
		return location{}, fmt.Errorf("%q must name a file, not a folder", s)
	}
	if !object && key != "" && !strings.HasSuffix(key, "/") {
		key += "/"
	}
	return location{Bucket: u.Host, Key: key}, nil
}
