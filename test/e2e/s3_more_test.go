package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestS3PartCopyAndListings drives UploadPartCopy, ListObjects (version 1)
// and ListMultipartUploads through aws-sdk-go-v2 against a real server:
// a server-side copy of a multipart object in byte ranges (what
// `aws s3 cp s3://a/big s3://b/big` does), marker paging, and listing and
// paging open uploads.
func TestS3PartCopyAndListings(t *testing.T) {
	s := startServer(t, "")
	ctx := t.Context()
	c := s.s3Client(t)
	for _, b := range []string{"weights", "mirror"} {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("UploadPartCopy", func(t *testing.T) {
		// The source is itself a multipart object (ETag "…-3").
		src := make([]byte, 12<<20+4321)
		for i := range src {
			src[i] = byte(i*13 + i>>10)
		}
		up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
		if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("weights"), Key: aws.String("m/model.safetensors"), Body: bytes.NewReader(src)}); err != nil {
			t.Fatal(err)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("weights"), Key: aws.String("m/model.safetensors")})
		if err != nil || !strings.HasSuffix(aws.ToString(head.ETag), `-3"`) {
			t.Fatalf("source: %+v, %v", head, err)
		}
		mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mirror"), Key: aws.String("m/model.safetensors"),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		const part = 5 << 20
		var parts []types.CompletedPart
		for i, start := 0, 0; start < len(src); i, start = i+1, start+part {
			end := min(start+part, len(src)) - 1
			out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mirror"), Key: aws.String("m/model.safetensors"),
				UploadId: mu.UploadId, PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String("weights/m/model.safetensors"),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", start, end)), CopySourceIfMatch: head.ETag})
			if err != nil {
				t.Fatalf("UploadPartCopy %d-%d: %v", start, end, err)
			}
			sum := md5.Sum(src[start : end+1])
			if r := out.CopyPartResult; aws.ToString(r.ETag) != `"`+hex.EncodeToString(sum[:])+`"` || r.LastModified == nil || aws.ToString(r.ChecksumCRC32) == "" {
				t.Fatalf("CopyPartResult %+v", r)
			}
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag, ChecksumCRC32: out.CopyPartResult.ChecksumCRC32})
		}
		// A range past the end is S3's InvalidRange; a malformed one InvalidArgument.
		for rng, want := range map[string]string{fmt.Sprintf("bytes=0-%d", len(src)): "InvalidRange", "bytes=5-": "InvalidArgument"} {
			_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("mirror"), Key: aws.String("m/model.safetensors"),
				UploadId: mu.UploadId, PartNumber: aws.Int32(9), CopySource: aws.String("weights/m/model.safetensors"), CopySourceRange: aws.String(rng)})
			if code := apiCode(err); code != want {
				t.Errorf("range %s: %v, want %s", rng, err, want)
			}
		}
		done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("mirror"), Key: aws.String("m/model.safetensors"),
			UploadId: mu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err != nil || !strings.HasSuffix(aws.ToString(done.ETag), `-3"`) {
			t.Fatalf("Complete: %+v, %v", done, err)
		}
		g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mirror"), Key: aws.String("m/model.safetensors")})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("the copy differs from the source (%d of %d bytes, %v)", len(got), len(src), err)
		}
	})

	t.Run("ListObjects", func(t *testing.T) {
		var keys []string
		for i := range 7 {
			keys = append(keys, fmt.Sprintf("shards/model-%05d-of-00007.safetensors", i+1))
		}
		keys = append(keys, "shards/config.json", "README.md", "tokenizer/tokenizer.json", "tokenizer/vocab.txt")
		for _, k := range keys {
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("weights"), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
				t.Fatal(err)
			}
		}
		keys = append(keys, "m/model.safetensors")
		slices.Sort(keys)
		// Marker paging without a delimiter: the last key is the next marker.
		var got []string
		var marker *string
		for pages := 1; ; pages++ {
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("weights"), MaxKeys: aws.Int32(3), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			if !aws.ToBool(out.IsTruncated) {
				if want := (len(keys) + 2) / 3; pages != want {
					t.Errorf("%d pages, want %d", pages, want)
				}
				break
			}
			if out.NextMarker != nil || len(out.Contents) == 0 || pages > len(keys) {
				t.Fatalf("page %d: NextMarker %v, %d keys", pages, out.NextMarker, len(out.Contents))
			}
			marker = out.Contents[len(out.Contents)-1].Key
		}
		if !slices.Equal(got, keys) {
			t.Fatalf("listed %q, want %q", got, keys)
		}
		// With a delimiter, following NextMarker two entries at a time.
		got = nil
		marker = nil
		for pages := 1; ; pages++ {
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("weights"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				got = append(got, aws.ToString(o.Key))
			}
			for _, p := range out.CommonPrefixes {
				got = append(got, aws.ToString(p.Prefix))
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			if out.NextMarker == nil || pages > len(keys) {
				t.Fatalf("page %d truncated without NextMarker", pages)
			}
			marker = out.NextMarker
		}
		slices.Sort(got)
		if want := []string{"README.md", "m/", "shards/", "tokenizer/"}; !slices.Equal(got, want) {
			t.Fatalf("with delimiter: %q, want %q", got, want)
		}
	})

	t.Run("ListMultipartUploads", func(t *testing.T) {
		var open []string // key/uploadId
		for _, k := range []string{"b/2", "a/1", "b/2", "c", "a/1/x"} {
			mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mirror"), Key: aws.String(k)})
			if err != nil {
				t.Fatal(err)
			}
			open = append(open, k+"/"+aws.ToString(mu.UploadId))
		}
		render := func(us []types.MultipartUpload) []string {
			var out []string
			for _, u := range us {
				out = append(out, aws.ToString(u.Key)+"/"+aws.ToString(u.UploadId))
			}
			return out
		}
		all, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror")})
		if err != nil {
			t.Fatal(err)
		}
		if got := render(all.Uploads); len(got) != len(open) || !slices.IsSortedFunc(all.Uploads, func(a, b types.MultipartUpload) int {
			return strings.Compare(aws.ToString(a.Key), aws.ToString(b.Key))
		}) {
			t.Fatalf("open uploads %q, want %d by key", got, len(open))
		}
		for _, u := range all.Uploads {
			if u.Initiated == nil || u.Initiator == nil || u.Owner == nil || u.StorageClass != types.StorageClassStandard {
				t.Errorf("upload %+v", u)
			}
		}
		// The SDK's paginator, two a page, gives the same list.
		var paged []string
		p := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror"), MaxUploads: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Uploads) > 2 {
				t.Fatalf("page of %d", len(page.Uploads))
			}
			paged = append(paged, render(page.Uploads)...)
		}
		if !slices.Equal(paged, render(all.Uploads)) {
			t.Fatalf("paged %q, want %q", paged, render(all.Uploads))
		}
		d, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror"), Delimiter: aws.String("/")})
		if err != nil || len(d.Uploads) != 1 || aws.ToString(d.Uploads[0].Key) != "c" || len(d.CommonPrefixes) != 2 {
			t.Fatalf("delimiter: %+v, %v", d, err)
		}
		// Aborted uploads leave the list.
		for _, u := range all.Uploads {
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mirror"), Key: u.Key, UploadId: u.UploadId}); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mirror")}); err != nil || len(l.Uploads) != 0 || aws.ToBool(l.IsTruncated) {
			t.Fatalf("after abort: %+v, %v", l, err)
		}
	})
}
