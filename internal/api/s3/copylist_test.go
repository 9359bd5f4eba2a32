package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"strata/internal/auth"
)

func TestParseCopyRange(t *testing.T) {
	tests := []struct {
		name, v       string
		size          int64
		start, length int64
		code          string
	}{
		{"whole", "bytes=0-99", 100, 0, 100, ""},
		{"first-byte", "bytes=0-0", 100, 0, 1, ""},
		{"last-byte", "bytes=99-99", 100, 99, 1, ""},
		{"middle", "bytes=10-19", 100, 10, 10, ""},
		{"leading-zeros", "bytes=007-008", 100, 7, 2, ""},
		{"end-at-size", "bytes=0-100", 100, 0, 0, "InvalidRange"},
		{"start-at-size", "bytes=100-100", 100, 0, 0, "InvalidRange"},
		{"empty-source", "bytes=0-0", 0, 0, 0, "InvalidRange"},
		{"open-end", "bytes=0-", 100, 0, 0, "InvalidArgument"},
		{"suffix", "bytes=-10", 100, 0, 0, "InvalidArgument"},
		{"reversed", "bytes=9-2", 100, 0, 0, "InvalidArgument"},
		{"no-unit", "0-2", 100, 0, 0, "InvalidArgument"},
		{"no-dash", "bytes=0", 100, 0, 0, "InvalidArgument"},
		{"words", "bytes=hello-world", 100, 0, 0, "InvalidArgument"},
		{"half-word", "bytes=0-bar", 100, 0, 0, "InvalidArgument"},
		{"two-ranges", "bytes=0-2,3-5", 100, 0, 0, "InvalidArgument"},
		{"spaces", "bytes= 0-2", 100, 0, 0, "InvalidArgument"},
		{"sign", "bytes=+0-2", 100, 0, 0, "InvalidArgument"},
		{"other-unit", "items=0-2", 100, 0, 0, "InvalidArgument"},
		{"overflow", "bytes=0-99999999999999999999", 100, 0, 0, "InvalidArgument"},
		{"empty", "", 100, 0, 0, "InvalidArgument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start, length, err := parseCopyRange(tc.v, tc.size)
			if tc.code == "" {
				if err != nil || start != tc.start || length != tc.length {
					t.Fatalf("parseCopyRange(%q, %d) = %d, %d, %v", tc.v, tc.size, start, length, err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != tc.code {
				t.Fatalf("parseCopyRange(%q, %d) = %v, want %s", tc.v, tc.size, err, tc.code)
			}
			if want := map[string]int{"InvalidRange": 416, "InvalidArgument": 400}[tc.code]; e.Status != want {
				t.Fatalf("status %d, want %d", e.Status, want)
			}
		})
	}
}

func FuzzParseCopyRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=5-", "bytes=-5", "bytes=9-2", "bytes=0-1,2-3", "bytes=99999999999999999999-1", "bytes=0-100"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			size = -(size + 1)
		}
		start, length, err := parseCopyRange(v, size)
		if err != nil {
			mustBeS3Error(t, err)
			return
		}
		// An accepted range lies within the source and has the form asked.
		if start < 0 || length < 1 || start+length > size {
			t.Fatalf("parseCopyRange(%q, %d) = %d+%d", v, size, start, length)
		}
		// Its canonical form parses to the same range.
		canon := "bytes=" + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+length-1, 10)
		if s2, l2, err := parseCopyRange(canon, size); err != nil || s2 != start || l2 != length {
			t.Fatalf("%q parses as %s, which parses as %d+%d, %v", v, canon, s2, l2, err)
		}
		if !strings.HasPrefix(v, "bytes=") || strings.ContainsAny(v, " ,+") {
			t.Fatalf("accepted %q", v)
		}
	})
}

// pattern returns n bytes that differ at every offset a test cares about.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>8 + i>>16)
	}
	return b
}

func crc32b64(b []byte) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b)))
}

// TestUploadPartCopy copies byte ranges of one object into the parts of a
// multipart upload (CRC32, as the SDKs' managers create them), completes
// it, and checks the bytes, the parts' ETags and checksums, the range and
// condition errors, and that failures leave nothing behind.
func TestUploadPartCopy(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	c := f.adminWith(t, "src", "dst")
	const size = 5<<20 + 1000
	data := pattern(size)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("src"), Key: aws.String("w/model.safetensors"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	put(t, c, "src", "empty", "")
	mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("copy"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	copyPart := func(n int32, src, rng string, edit func(*s3.UploadPartCopyInput)) (*s3.UploadPartCopyOutput, error) {
		in := &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("copy"), UploadId: mu.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(src)}
		if rng != "" {
			in.CopySourceRange = aws.String(rng)
		}
		if edit != nil {
			edit(in)
		}
		return c.UploadPartCopy(ctx, in)
	}
	const split = 5 << 20
	ranges := []struct {
		rng        string
		start, end int // inclusive
	}{
		{"bytes=0-" + strconv.Itoa(split-1), 0, split - 1},
		{"bytes=" + strconv.Itoa(split) + "-" + strconv.Itoa(size-1), split, size - 1}, // up to the last byte
	}
	var parts []types.CompletedPart
	for i, r := range ranges {
		out, err := copyPart(int32(i+1), "src/w/model.safetensors", r.rng, nil)
		if err != nil {
			t.Fatalf("UploadPartCopy %s: %v", r.rng, err)
		}
		want := data[r.start : r.end+1]
		sum := md5.Sum(want)
		res := out.CopyPartResult
		if res == nil || aws.ToString(res.ETag) != `"`+hex.EncodeToString(sum[:])+`"` || aws.ToString(res.ChecksumCRC32) != crc32b64(want) {
			t.Fatalf("CopyPartResult %+v, want ETag of the range's MD5 and its CRC32", res)
		}
		if res.LastModified == nil || time.Since(*res.LastModified) > time.Minute {
			t.Errorf("LastModified %v", res.LastModified)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: res.ETag, ChecksumCRC32: res.ChecksumCRC32})
	}

	// Errors: each is S3's, and none leaves a part or a staged file.
	for _, tc := range []struct {
		name, src, rng string
		edit           func(*s3.UploadPartCopyInput)
		code           string
	}{
		{"end-past-last-byte", "src/w/model.safetensors", "bytes=0-" + strconv.Itoa(size), nil, "InvalidRange"},
		{"start-at-size", "src/w/model.safetensors", "bytes=" + strconv.Itoa(size) + "-" + strconv.Itoa(size), nil, "InvalidRange"},
		{"any-range-of-empty", "src/empty", "bytes=0-0", nil, "InvalidRange"},
		{"open-range", "src/w/model.safetensors", "bytes=0-", nil, "InvalidArgument"},
		{"suffix-range", "src/w/model.safetensors", "bytes=-10", nil, "InvalidArgument"},
		{"reversed-range", "src/w/model.safetensors", "bytes=10-2", nil, "InvalidArgument"},
		{"junk-range", "src/w/model.safetensors", "bytes=a-b", nil, "InvalidArgument"},
		{"missing-source", "src/w/nope", "", nil, "NoSuchKey"},
		{"missing-source-bucket", "nosrc/k", "", nil, "NoSuchBucket"},
		{"bad-source", "src", "", nil, "InvalidArgument"},
		{"if-match-fails", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.CopySourceIfMatch = aws.String(`"0000"`) }, "PreconditionFailed"},
		{"if-none-match-matches", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.CopySourceIfNoneMatch = aws.String("*") }, "PreconditionFailed"},
		{"if-unmodified-since-fails", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) {
			in.CopySourceIfUnmodifiedSince = aws.Time(time.Now().Add(-time.Hour))
		}, "PreconditionFailed"},
		{"if-modified-since-fails", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) {
			in.CopySourceIfModifiedSince = aws.Time(time.Now().Add(time.Hour))
		}, "PreconditionFailed"},
		{"part-number-0", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.PartNumber = aws.Int32(0) }, "InvalidArgument"},
		{"part-number-10001", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.PartNumber = aws.Int32(10001) }, "InvalidArgument"},
		{"unknown-upload", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.UploadId = aws.String(strings.Repeat("0", 32)) }, "NoSuchUpload"},
		{"upload-of-another-key", "src/w/model.safetensors", "", func(in *s3.UploadPartCopyInput) { in.Key = aws.String("other") }, "NoSuchUpload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := copyPart(3, tc.src, tc.rng, tc.edit)
			if code(err) != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("dst"), Key: aws.String("copy"), UploadId: mu.UploadId})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[1].Size) != size-split {
		t.Fatalf("ListParts after the failed copies = %+v, %v", lp, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.data, "s3", "tmp")); len(ents) != 0 {
		t.Errorf("staged files left: %v", ents)
	}

	// Conditions that hold, and a copy without a range (the whole object),
	// which replaces part 2 and is then replaced back.
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("w/model.safetensors")})
	if err != nil {
		t.Fatal(err)
	}
	whole, err := copyPart(2, "/src/w%2Fmodel.safetensors", "", func(in *s3.UploadPartCopyInput) {
		in.CopySourceIfMatch = head.ETag
		in.CopySourceIfUnmodifiedSince = aws.Time(time.Now().Add(time.Hour))
	})
	if err != nil || aws.ToString(whole.CopyPartResult.ETag) != aws.ToString(head.ETag) {
		t.Fatalf("whole-object copy: %+v, %v (source ETag %s)", whole, err, aws.ToString(head.ETag))
	}
	if _, err := copyPart(2, "src/w/model.safetensors", ranges[1].rng, nil); err != nil {
		t.Fatal(err)
	}

	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("copy"), UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil || !strings.HasSuffix(aws.ToString(done.ETag), `-2"`) || !strings.HasSuffix(aws.ToString(done.ChecksumCRC32), "-2") {
		t.Fatalf("Complete = %+v, %v", done, err)
	}
	got, err := os.ReadFile(filepath.Join(f.data, "buckets", "dst", "copy"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("completed object differs from the source (%d bytes, %v)", len(got), err)
	}

	// A zero-byte source copies to a zero-byte part.
	mu2, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("zero")})
	if err != nil {
		t.Fatal(err)
	}
	z, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("zero"), UploadId: mu2.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String("src/empty")})
	if err != nil || aws.ToString(z.CopyPartResult.ETag) != `"d41d8cd98f00b204e9800998ecf8427e"` || z.CopyPartResult.ChecksumCRC32 != nil {
		t.Fatalf("copy of an empty object: %+v, %v", z, err)
	}

	// The audit trail names the operation.
	f.mu.Lock()
	found := false
	for _, e := range f.trail {
		found = found || e.Operation == "UploadPartCopy" && e.Outcome == "ok" && e.Resource == "arn:aws:s3:::dst/copy"
	}
	f.mu.Unlock()
	if !found {
		t.Error("no UploadPartCopy in the audit trail")
	}
}

// TestUploadPartCopyAccess: the source read is authorized as CopyObject's
// (s3:GetObject on the source, with its bucket policy) and the write as
// s3:PutObject on the destination.
func TestUploadPartCopyAccess(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	admin := f.adminWith(t, "src", "dst")
	put(t, admin, "src", "open/a", "aaaa")
	put(t, admin, "src", "open/denied", "dddd")
	put(t, admin, "src", "closed/b", "bbbb")
	policy := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::dst/*"},
		{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::src/open/*"}]}`
	c, userARN := f.user(t, f.account, "copier", map[string]string{"copy": policy})
	mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	try := func(src string) error {
		_, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: mu.UploadId,
			PartNumber: aws.Int32(1), CopySource: aws.String(src), CopySourceRange: aws.String("bytes=1-2")})
		return err
	}
	if err := try("src/open/a"); err != nil {
		t.Fatalf("allowed source: %v", err)
	}
	if err := try("src/closed/b"); code(err) != "AccessDenied" {
		t.Errorf("source outside the identity policy: %v", err)
	}
	// A Deny in the source bucket's policy applies.
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"` + userARN + `"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::src/open/denied"}]}`
	if _, err := admin.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("src"), Policy: aws.String(deny)}); err != nil {
		t.Fatal(err)
	}
	if err := try("src/open/denied"); code(err) != "AccessDenied" {
		t.Errorf("source denied by its bucket policy: %v", err)
	}
	// The destination needs s3:PutObject: a reader cannot copy into dst.
	reader, _ := f.user(t, f.account, "reader", map[string]string{"read": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::src/*"}]}`})
	_, err = reader.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: mu.UploadId,
		PartNumber: aws.Int32(2), CopySource: aws.String("src/open/a")})
	if code(err) != "AccessDenied" {
		t.Errorf("copy without s3:PutObject on the destination: %v", err)
	}
	lp, err := admin.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: mu.UploadId})
	if err != nil || len(lp.Parts) != 1 || aws.ToInt64(lp.Parts[0].Size) != 2 {
		t.Fatalf("parts after the denied copies: %+v, %v", lp, err)
	}
}

// do sends r to the fixture's server and returns the status and body.
func (f *fixture) do(t *testing.T, r *http.Request) (int, string) {
	t.Helper()
	resp, err := f.srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawGet sends a GET signed by the admin, for checks of the XML the SDK
// does not show (absent versus empty elements).
func (f *fixture) rawGet(t *testing.T, pathQuery string) (int, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, f.srv.URL+pathQuery, nil)
	r.Header.Set("X-Amz-Content-Sha256", auth.EmptyPayloadHash)
	if err := auth.Sign(r, f.adminID, f.adminSK, "us-east-1", "s3", time.Now(), auth.EmptyPayloadHash, []string{"host", "x-amz-date", "x-amz-content-sha256"}); err != nil {
		t.Fatal(err)
	}
	return f.do(t, r)
}

// adminWith returns the admin's client, having created buckets with it.
func (f *fixture) adminWith(t *testing.T, buckets ...string) *s3.Client {
	t.Helper()
	c := f.client(f.adminID, f.adminSK)
	for _, b := range buckets {
		if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestListObjectsV1 pages with markers (NextMarker only with a delimiter,
// as S3 sends it), groups by delimiter, URL-encodes, and answers with the
// version 1 document.
func TestListObjectsV1(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	c := f.adminWith(t, "list-v1")
	keys := []string{"a b/1", "a b/2", "m/x+y", "m/z/deep", "m/\u00fc", "top", "zed"} // byte order
	for _, k := range keys {
		put(t, c, "list-v1", k, k)
	}
	list := func(in s3.ListObjectsInput) *s3.ListObjectsOutput {
		t.Helper()
		in.Bucket = aws.String("list-v1")
		out, err := c.ListObjects(ctx, &in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Without a delimiter: no NextMarker; the last key is the marker.
	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		if pages > len(keys) {
			t.Fatal("paging does not end")
		}
		out := list(s3.ListObjectsInput{Marker: aws.String(marker), MaxKeys: aws.Int32(2)})
		if aws.ToString(out.Marker) != marker || aws.ToInt32(out.MaxKeys) != 2 || out.NextMarker != nil {
			t.Fatalf("page: Marker %q MaxKeys %d NextMarker %v", aws.ToString(out.Marker), aws.ToInt32(out.MaxKeys), out.NextMarker)
		}
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
			if o.Owner == nil || aws.ToString(o.Owner.ID) != f.account || aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) || o.StorageClass != "STANDARD" {
				t.Errorf("entry %+v", o)
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			break
		}
		if len(out.Contents) != 2 {
			t.Fatalf("truncated page of %d keys", len(out.Contents))
		}
		marker = aws.ToString(out.Contents[len(out.Contents)-1].Key)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("paged %q, want %q", got, keys)
	}

	// With a delimiter, one entry a page, following NextMarker.
	got = nil
	marker = ""
	for pages := 0; ; pages++ {
		if pages > len(keys) {
			t.Fatal("paging does not end")
		}
		out := list(s3.ListObjectsInput{Delimiter: aws.String("/"), Marker: aws.String(marker), MaxKeys: aws.Int32(1)})
		for _, o := range out.Contents {
			got = append(got, aws.ToString(o.Key))
		}
		for _, p := range out.CommonPrefixes {
			got = append(got, aws.ToString(p.Prefix))
		}
		if !aws.ToBool(out.IsTruncated) {
			if out.NextMarker != nil {
				t.Errorf("NextMarker %q on the last page", aws.ToString(out.NextMarker))
			}
			break
		}
		if out.NextMarker == nil || *out.NextMarker != got[len(got)-1] {
			t.Fatalf("NextMarker %v after %q", out.NextMarker, got)
		}
		marker = *out.NextMarker
	}
	if want := []string{"a b/", "m/", "top", "zed"}; !slices.Equal(got, want) {
		t.Fatalf("paged with delimiter %q, want %q", got, want)
	}
	out := list(s3.ListObjectsInput{Prefix: aws.String("m/"), Delimiter: aws.String("/")})
	if len(out.Contents) != 2 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "m/z/" || aws.ToString(out.Prefix) != "m/" {
		t.Fatalf("prefix m/: %+v", out)
	}
	// A marker need not be a key.
	out = list(s3.ListObjectsInput{Marker: aws.String("m/y")})
	if len(out.Contents) != 4 || aws.ToString(out.Contents[0].Key) != "m/z/deep" {
		t.Fatalf("after m/y: %+v", out.Contents)
	}

	// encoding-type=url encodes keys, prefixes and markers; the SDK leaves
	// them encoded.
	out = list(s3.ListObjectsInput{Prefix: aws.String("m/"), Marker: aws.String("m/x+y"), EncodingType: types.EncodingTypeUrl, Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	if out.EncodingType != types.EncodingTypeUrl || aws.ToString(out.Marker) != "m%2Fx%2By" || aws.ToString(out.Prefix) != "m%2F" || aws.ToString(out.Delimiter) != "%2F" ||
		len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "m%2Fz%2F" || aws.ToString(out.NextMarker) != "m%2Fz%2F" {
		t.Fatalf("url encoded: %+v, %+v", out, out.CommonPrefixes)
	}
	// The decoded NextMarker, a common prefix, continues after its keys.
	next, _ := url.QueryUnescape(aws.ToString(out.NextMarker))
	out = list(s3.ListObjectsInput{Prefix: aws.String("m/"), Marker: aws.String(next), EncodingType: types.EncodingTypeUrl, Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "m%2F%C3%BC" || aws.ToBool(out.IsTruncated) || out.NextMarker != nil {
		t.Fatalf("after the prefix marker: %+v, %+v", out, out.Contents)
	}
	if k, err := url.QueryUnescape(aws.ToString(out.Contents[0].Key)); err != nil || k != "m/\u00fc" {
		t.Errorf("decoded key %q, %v", k, err)
	}

	// The version 1 document: Marker always, no KeyCount or V2 elements.
	st, body := f.rawGet(t, "/list-v1?max-keys=1")
	if st != 200 || !strings.Contains(body, "<Marker></Marker>") || strings.Contains(body, "KeyCount") || strings.Contains(body, "NextMarker") ||
		strings.Contains(body, "ContinuationToken") || !strings.Contains(body, "<IsTruncated>true</IsTruncated>") || !strings.Contains(body, `<ListBucketResult xmlns="`+s3NS+`">`) {
		t.Errorf("v1 document: %d %s", st, body)
	}
	// And V2's is as it was: KeyCount, no Marker.
	if st, body := f.rawGet(t, "/list-v1?list-type=2&max-keys=0"); st != 200 || !strings.Contains(body, "<KeyCount>0</KeyCount>") || strings.Contains(body, "Marker") {
		t.Errorf("v2 document: %d %s", st, body)
	}
	for q, want := range map[string]string{"max-keys=-1": "InvalidArgument", "max-keys=x": "InvalidArgument", "encoding-type=base64": "InvalidArgument", "list-type=3": "InvalidArgument"} {
		if st, body := f.rawGet(t, "/list-v1?"+q); st != 400 || !strings.Contains(body, "<Code>"+want+"</Code>") {
			t.Errorf("?%s: %d %s", q, st, body)
		}
	}
	if _, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("nope-bucket")}); code(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: %v", err)
	}
	nobody, _ := f.user(t, f.account, "nobody", nil)
	if _, err := nobody.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list-v1")}); code(err) != "AccessDenied" {
		t.Errorf("ListObjects without s3:ListBucket: %v", err)
	}
}

// TestListMultipartUploads lists open uploads with prefixes, delimiters,
// markers and the SDK's paginator, and authorizes the listing as
// s3:ListBucketMultipartUploads.
func TestListMultipartUploads(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	c := f.adminWith(t, "mpu")
	type up struct{ key, id string }
	var ups []up
	for _, k := range []string{"w/b", "w/a", "x y", "w/a", "w/sub/c"} {
		mu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String(k), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		if err != nil {
			t.Fatal(err)
		}
		ups = append(ups, up{k, aws.ToString(mu.UploadId)})
		time.Sleep(2 * time.Millisecond)
	}
	// An ended upload is not listed.
	gone, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("w/gone")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("mpu"), Key: aws.String("w/gone"), UploadId: gone.UploadId}); err != nil {
		t.Fatal(err)
	}
	// By key, then by creation.
	want := []up{ups[1], ups[3], ups[0], ups[4], ups[2]}
	render := func(us []types.MultipartUpload) []up {
		var out []up
		for _, u := range us {
			out = append(out, up{aws.ToString(u.Key), aws.ToString(u.UploadId)})
		}
		return out
	}
	all, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")})
	if err != nil {
		t.Fatal(err)
	}
	if got := render(all.Uploads); !slices.Equal(got, want) || aws.ToBool(all.IsTruncated) || aws.ToString(all.Bucket) != "mpu" || aws.ToInt32(all.MaxUploads) != 1000 {
		t.Fatalf("uploads %v (truncated %v), want %v", got, aws.ToBool(all.IsTruncated), want)
	}
	_, adminARN := mustPrincipal(t, f)
	for _, u := range all.Uploads {
		if aws.ToString(u.Initiator.ID) != adminARN || aws.ToString(u.Owner.ID) != f.account || u.StorageClass != types.StorageClassStandard ||
			u.Initiated == nil || time.Since(*u.Initiated) > time.Minute || u.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 {
			t.Errorf("upload %+v (initiator %+v, owner %+v)", u, u.Initiator, u.Owner)
		}
	}

	// Delimiter and prefix.
	d, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Delimiter: aws.String("/")})
	if err != nil || len(d.CommonPrefixes) != 1 || aws.ToString(d.CommonPrefixes[0].Prefix) != "w/" || !slices.Equal(render(d.Uploads), []up{ups[2]}) {
		t.Fatalf("delimiter: %+v, %v", d, err)
	}
	d, err = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Prefix: aws.String("w/"), Delimiter: aws.String("/")})
	if err != nil || len(d.CommonPrefixes) != 1 || aws.ToString(d.CommonPrefixes[0].Prefix) != "w/sub/" || !slices.Equal(render(d.Uploads), want[:3]) {
		t.Fatalf("prefix w/: %+v, %v", d, err)
	}

	// Manual paging, one upload a page, with both markers.
	var paged []up
	km, im := "", ""
	for pages := 0; ; pages++ {
		if pages > len(want) {
			t.Fatal("paging does not end")
		}
		p, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), MaxUploads: aws.Int32(1), KeyMarker: aws.String(km), UploadIdMarker: aws.String(im)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(p.KeyMarker) != km || aws.ToString(p.UploadIdMarker) != im {
			t.Fatalf("echoed markers %q/%q, sent %q/%q", aws.ToString(p.KeyMarker), aws.ToString(p.UploadIdMarker), km, im)
		}
		paged = append(paged, render(p.Uploads)...)
		if !aws.ToBool(p.IsTruncated) {
			break
		}
		km, im = aws.ToString(p.NextKeyMarker), aws.ToString(p.NextUploadIdMarker)
		if last := paged[len(paged)-1]; km != last.key || im != last.id {
			t.Fatalf("next markers %q/%q after %v", km, im, last)
		}
	}
	if !slices.Equal(paged, want) {
		t.Fatalf("paged %v, want %v", paged, want)
	}
	// The SDK's paginator, two a page.
	paged = nil
	pg := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")}, func(o *s3.ListMultipartUploadsPaginatorOptions) { o.Limit = 2 })
	pages := 0
	for pg.HasMorePages() {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		paged = append(paged, render(p.Uploads)...)
	}
	if !slices.Equal(paged, want) || pages != 3 {
		t.Fatalf("paginator: %v in %d pages", paged, pages)
	}

	// encoding-type=url.
	e, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu"), Prefix: aws.String("x "), KeyMarker: aws.String("w/sub/c"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(e.Uploads) != 1 || aws.ToString(e.Uploads[0].Key) != "x%20y" || aws.ToString(e.Prefix) != "x%20" || e.EncodingType != types.EncodingTypeUrl ||
		aws.ToString(e.KeyMarker) != "w%2Fsub%2Fc" || aws.ToString(e.NextKeyMarker) != "x%20y" {
		t.Fatalf("url encoded: %+v, %v", e, err)
	}
	// Bad parameters, missing bucket, access.
	for q, want := range map[string]string{"max-uploads=-1": "InvalidArgument", "max-uploads=ten": "InvalidArgument", "encoding-type=xml": "InvalidArgument"} {
		if st, body := f.rawGet(t, "/mpu?uploads&"+q); st != 400 || !strings.Contains(body, "<Code>"+want+"</Code>") {
			t.Errorf("?uploads&%s: %d %s", q, st, body)
		}
	}
	if st, body := f.rawGet(t, "/mpu?uploads&max-uploads=0"); st != 200 || !strings.Contains(body, "<IsTruncated>false</IsTruncated>") || strings.Contains(body, "<Upload>") {
		t.Errorf("max-uploads=0: %d %s", st, body)
	}
	if _, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("nope-bucket")}); code(err) != "NoSuchBucket" {
		t.Errorf("missing bucket: %v", err)
	}
	lister, _ := f.user(t, f.account, "lister", map[string]string{"list": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::mpu"}]}`})
	if _, err := lister.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")}); code(err) != "AccessDenied" {
		t.Errorf("with s3:ListBucket only: %v", err)
	}
	mpuLister, _ := f.user(t, f.account, "mpu-lister", map[string]string{"list": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucketMultipartUploads","Resource":"arn:aws:s3:::mpu"}]}`})
	if l, err := mpuLister.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")}); err != nil || len(l.Uploads) != len(want) {
		t.Errorf("with s3:ListBucketMultipartUploads: %+v, %v", l, err)
	}
	// A bucket policy grants it on the bucket's ARN (not its objects') to
	// another account.
	outsider, outsiderARN := f.user(t, "777788889999", "auditor", map[string]string{"list": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucketMultipartUploads","Resource":"*"}]}`})
	if _, err := outsider.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")}); code(err) != "AccessDenied" {
		t.Errorf("another account without a bucket policy: %v", err)
	}
	grant := func(resource string) error {
		_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("mpu"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
			"Principal":{"AWS":"` + outsiderARN + `"},"Action":"s3:ListBucketMultipartUploads","Resource":"` + resource + `"}]}`)})
		return err
	}
	if err := grant("arn:aws:s3:::mpu/*"); code(err) != "MalformedPolicy" {
		t.Errorf("s3:ListBucketMultipartUploads on object ARNs: %v", err)
	}
	if err := grant("arn:aws:s3:::mpu"); err != nil {
		t.Fatal(err)
	}
	if l, err := outsider.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("mpu")}); err != nil || len(l.Uploads) != len(want) {
		t.Errorf("another account with the bucket policy: %+v, %v", l, err)
	}
}

// mustPrincipal returns the admin's access key's account and ARN.
func mustPrincipal(t *testing.T, f *fixture) (string, string) {
	t.Helper()
	_, p, err := f.dir.LookupAccessKey(t.Context(), f.adminID)
	if err != nil {
		t.Fatal(err)
	}
	return p.Account, p.ARN
}
