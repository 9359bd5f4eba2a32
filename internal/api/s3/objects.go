package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"strata/internal/bucket"
	"strata/internal/iam"
)

func iamRequest(rq *request, action, resource string) iam.Request {
	return iam.Request{Principal: rq.c.p, Action: action, Resource: resource, Secure: rq.r.TLS != nil}
}

// maxMetadata is S3's bound on user metadata (names plus values).
const maxMetadata = 2 << 10

// userMetadata reads Content-Type and the x-amz-meta-* headers.
func userMetadata(hdr http.Header) (string, map[string]string, error) {
	meta := map[string]string{}
	size := 0
	for name, vs := range hdr {
		lname := strings.ToLower(name)
		if k, ok := strings.CutPrefix(lname, "x-amz-meta-"); ok {
			v := strings.Join(vs, ",")
			meta[k] = v
			size += len(k) + len(v)
		}
	}
	if size > maxMetadata {
		return "", nil, s3err(400, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	if len(meta) == 0 {
		meta = nil
	}
	return hdr.Get("Content-Type"), meta, nil
}

// checkUnsupportedSSE refuses server-side encryption headers: strata
// does not encrypt bucket objects (they are plain files by design).
func checkUnsupportedSSE(hdr http.Header) error {
	for _, name := range []string{"X-Amz-Server-Side-Encryption", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Server-Side-Encryption-Customer-Algorithm"} {
		if hdr.Get(name) != "" {
			return errNotImplemented("server-side encryption of bucket objects (" + strings.ToLower(name) + ")")
		}
	}
	return nil
}

// receive streams r's body into a staging file and checks it; the caller
// commits or discards the staged file.
func (h *Handler) receive(rq *request) (*bucket.Staged, *body, error) {
	if rq.r.ContentLength < 0 && !rq.c.streaming() {
		return nil, nil, s3err(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	}
	b, err := openBody(rq.r, rq.c, maxObjectSize)
	if err != nil {
		return nil, nil, err
	}
	st, err := h.store.Stage()
	if err != nil {
		return nil, nil, err
	}
	if _, err := io.Copy(st.File, b); err != nil {
		st.Discard()
		return nil, nil, err
	}
	if err := b.check(maxObjectSize); err != nil {
		st.Discard()
		return nil, nil, err
	}
	return st, b, nil
}

// beginWrite checks what every write of a new object checks before its
// body is read: the key, the caller's s3:PutObject, the encryption
// headers; it returns the object's content type and user metadata.
func (h *Handler) beginWrite(ctx context.Context, rq *request) (ctype string, meta map[string]string, err error) {
	if err := bucket.CheckKey(rq.key); err != nil {
		return "", nil, err
	}
	if err := h.authorize(ctx, rq, "s3:PutObject", rq.bucket, rq.key, nil); err != nil {
		return "", nil, err
	}
	if err := checkUnsupportedSSE(rq.r.Header); err != nil {
		return "", nil, err
	}
	return userMetadata(rq.r.Header)
}

func (h *Handler) putObject(ctx context.Context, rq *request) error {
	ctype, meta, err := h.beginWrite(ctx, rq)
	if err != nil {
		return err
	}
	if _, err := h.store.Bucket(rq.bucket); err != nil {
		return err // before reading a body that has nowhere to go
	}
	if err := h.checkPutConditions(rq); err != nil {
		return err
	}
	st, b, err := h.receive(rq)
	if err != nil {
		return err
	}
	info, err := st.Commit(rq.bucket, rq.key, bucket.Info{ETag: b.etag(), ContentType: ctype, Meta: meta, Checksum: b.checksum()})
	if err != nil {
		return err
	}
	hdr := rq.w.Header()
	hdr.Set("ETag", info.ETag)
	setChecksumHeaders(hdr, info.Checksum)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// checkPutConditions applies If-None-Match: * and If-Match to a write.
func (h *Handler) checkPutConditions(rq *request) error {
	inm, im := rq.r.Header.Get("If-None-Match"), rq.r.Header.Get("If-Match")
	if inm == "" && im == "" {
		return nil
	}
	info, err := h.store.Stat(rq.bucket, rq.key)
	exists := err == nil
	if err != nil && !errors.Is(err, bucket.ErrNoSuchKey) {
		return err
	}
	if inm != "" {
		if inm != "*" {
			return errNotImplemented("If-None-Match other than * on writes")
		}
		if exists {
			return s3err(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", field{"Condition", "If-None-Match"})
		}
	}
	if im != "" {
		if !exists {
			return errNoSuchKey(rq.key)
		}
		if !etagMatches(im, info.ETag) {
			return s3err(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", field{"Condition", "If-Match"})
		}
	}
	return nil
}

func setChecksumHeaders(hdr http.Header, c bucket.Checksum) {
	if c.Algorithm == "" {
		return
	}
	hdr.Set(checksumAlgs[c.Algorithm].header, c.Value)
	if c.Type != "" {
		hdr.Set("X-Amz-Checksum-Type", c.Type)
	}
}

// etagMatches compares an If-Match / If-None-Match list with an ETag,
// ignoring quotes; "*" matches any.
func etagMatches(list, etag string) bool {
	want := strings.Trim(etag, `"`)
	for v := range strings.SplitSeq(list, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || strings.Trim(v, `"`) == want {
			return true
		}
	}
	return false
}

// getObject serves GetObject and HeadObject.
func (h *Handler) getObject(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:GetObject", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	f, info, err := h.store.Open(rq.bucket, rq.key)
	if errors.Is(err, bucket.ErrNoSuchKey) {
		// Only a caller who may list the bucket learns the key is absent.
		if h.authorize(ctx, rq, "s3:ListBucket", rq.bucket, "", map[string][]string{"s3:prefix": {rq.key}}) != nil {
			return s3err(403, "AccessDenied", "Access Denied")
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if v := rq.q.Get("partNumber"); v != "" && v != "1" {
		return s3err(416, "InvalidPartNumber", "The requested partnumber is not satisfiable")
	}
	hdr := rq.w.Header()
	hdr.Set("ETag", info.ETag)
	hdr.Set("Last-Modified", info.ModTime.Format(http.TimeFormat))
	hdr.Set("Accept-Ranges", "bytes")
	ctype := info.ContentType
	if ctype == "" {
		ctype = "binary/octet-stream"
	}
	hdr.Set("Content-Type", ctype)
	for k, v := range info.Meta {
		hdr["X-Amz-Meta-"+k] = []string{v}
	}
	for _, name := range []string{"content-type", "content-disposition", "content-encoding", "content-language", "cache-control", "expires"} {
		if v := rq.q.Get("response-" + name); v != "" {
			hdr.Set(name, v)
		}
	}
	if status := readConditions(rq.r.Header, info); status != 0 {
		if status == http.StatusNotModified {
			rq.w.WriteHeader(status)
			return nil
		}
		return s3err(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	}
	start, length := int64(0), info.Size
	status := http.StatusOK
	if rg := rq.r.Header.Get("Range"); rg != "" {
		a, b, ok, satisfiable := parseRange(rg, info.Size)
		if ok && !satisfiable {
			hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(info.Size, 10))
			return s3err(416, "InvalidRange", "The requested range is not satisfiable",
				field{"RangeRequested", rg}, field{"ActualObjectSize", strconv.FormatInt(info.Size, 10)})
		}
		if ok {
			start, length, status = a, b-a+1, http.StatusPartialContent
			hdr.Set("Content-Range", "bytes "+strconv.FormatInt(a, 10)+"-"+strconv.FormatInt(b, 10)+"/"+strconv.FormatInt(info.Size, 10))
		}
	}
	if status == http.StatusOK && strings.EqualFold(rq.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		setChecksumHeaders(hdr, info.Checksum)
	}
	if rq.q.Has("partNumber") {
		hdr.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(max(info.Parts, 1)))
	}
	hdr.Set("Content-Length", strconv.FormatInt(length, 10))
	rq.w.WriteHeader(status)
	if rq.r.Method == http.MethodHead {
		return nil
	}
	// Errors after the header cannot be reported; the client sees a short body.
	io.Copy(rq.w, io.NewSectionReader(f, start, length))
	return nil
}

// readConditions evaluates GetObject's conditional headers: 0 to serve,
// 304 or 412.
func readConditions(hdr http.Header, info bucket.Info) int {
	mod := info.ModTime.Truncate(time.Second)
	im, ius := hdr.Get("If-Match"), hdr.Get("If-Unmodified-Since")
	if im != "" {
		if !etagMatches(im, info.ETag) {
			return http.StatusPreconditionFailed
		}
	} else if ius != "" {
		if t, err := http.ParseTime(ius); err == nil && mod.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	inm, ims := hdr.Get("If-None-Match"), hdr.Get("If-Modified-Since")
	if inm != "" {
		if etagMatches(inm, info.ETag) {
			return http.StatusNotModified
		}
	} else if ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !mod.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// parseRange parses a single byte range "bytes=a-b", "bytes=a-" or
// "bytes=-n" against an object of size bytes. ok is false for a header S3
// ignores (malformed or several ranges); satisfiable is false when the
// range starts past the end. The returned bounds are inclusive.
func parseRange(h string, size int64) (start, end int64, ok, satisfiable bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	if a == "" {
		n, okN := decimal(b)
		if !okN {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, true, false
		}
		return max(size-n, 0), size - 1, true, true
	}
	start, okA := decimal(a)
	if !okA {
		return 0, 0, false, false
	}
	end = size - 1
	if b != "" {
		e, okB := decimal(b)
		if !okB || e < start {
			return 0, 0, false, false
		}
		end = min(e, size-1)
	}
	if start >= size {
		return 0, 0, true, false
	}
	return start, end, true, true
}

// decimal parses an unsigned decimal that fits an int64: digits only, no
// sign or space.
func decimal(s string) (int64, bool) {
	if s == "" || len(s) > 19 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseCopyRange parses x-amz-copy-source-range against a copy source of
// size bytes. S3 accepts only "bytes=first-last", both zero-based offsets
// and inclusive: any other form is InvalidArgument (unlike GetObject's
// Range, which ignores what it cannot parse), and a range that does not
// lie within the source is InvalidRange.
func parseCopyRange(v string, size int64) (start, length int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, found := strings.Cut(spec, "-")
	first, okA := decimal(a)
	last, okB := decimal(b)
	if !ok || !found || !okA || !okB || first > last {
		return 0, 0, errInvalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
	}
	if last >= size {
		return 0, 0, s3err(416, "InvalidRange", "The requested range is not satisfiable",
			field{"RangeRequested", v}, field{"ActualObjectSize", strconv.FormatInt(size, 10)})
	}
	return first, last - first + 1, nil
}

func (h *Handler) deleteObject(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:DeleteObject", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	if err := h.store.Delete(rq.bucket, rq.key); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Objects []struct {
		Key       string
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
	Quiet bool
}

type deleteResult struct {
	XMLName xml.Name        `xml:"DeleteResult"`
	NS      string          `xml:"xmlns,attr"`
	Deleted []deletedEntry  `xml:"Deleted"`
	Errors  []deleteFailure `xml:"Error"`
}

type deletedEntry struct{ Key string }

type deleteFailure struct {
	Key, Code, Message string
}

// parseDelete parses a DeleteObjects body.
func parseDelete(data []byte) (deleteRequest, error) {
	var d deleteRequest
	if err := decodeXML(data, &d); err != nil {
		return d, err
	}
	if len(d.Objects) == 0 || len(d.Objects) > 1000 {
		return d, errMalformedXML()
	}
	return d, nil
}

func (h *Handler) deleteObjects(ctx context.Context, rq *request) error {
	hasChecksum := rq.r.Header.Get("Content-MD5") != ""
	for name := range rq.r.Header {
		if _, ok := algForHeader(name); ok {
			hasChecksum = true
		}
	}
	if !hasChecksum {
		return errInvalidRequest("Missing required header for this request: Content-MD5 or x-amz-checksum-*")
	}
	data, err := readAll(rq.r, rq.c, 2<<20)
	if err != nil {
		return err
	}
	d, err := parseDelete(data)
	if err != nil {
		return err
	}
	if _, err := h.store.Bucket(rq.bucket); err != nil {
		return err
	}
	out := deleteResult{NS: s3NS}
	for _, o := range d.Objects {
		fail := func(err error) {
			e := toError(err, rq.bucket, o.Key)
			out.Errors = append(out.Errors, deleteFailure{Key: o.Key, Code: e.Code, Message: e.Message})
		}
		if o.VersionID != "" && o.VersionID != "null" {
			fail(errNotImplemented("object versions"))
			continue
		}
		if err := h.authorize(ctx, rq, "s3:DeleteObject", rq.bucket, o.Key, nil); err != nil {
			fail(err)
			continue
		}
		if err := h.store.Delete(rq.bucket, o.Key); err != nil {
			fail(err)
			continue
		}
		if !d.Quiet {
			out.Deleted = append(out.Deleted, deletedEntry{Key: o.Key})
		}
	}
	return writeXML(rq.w, out)
}

// parseCopySource parses x-amz-copy-source: "[/]bucket/key[?versionId=v]",
// percent-encoded or (as the Go SDK may send it) not.
func parseCopySource(v string) (srcBucket, srcKey string, err error) {
	bad := errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	path, query, _ := strings.Cut(v, "?")
	if query != "" {
		if vid, ok := strings.CutPrefix(query, "versionId="); !ok || vid != "null" && vid != "" {
			return "", "", errNotImplemented("copying object versions")
		}
	}
	if dec, err := url.PathUnescape(path); err == nil {
		path = dec
	}
	path = strings.TrimPrefix(path, "/")
	srcBucket, srcKey, ok := strings.Cut(path, "/")
	if !ok || srcBucket == "" || srcKey == "" {
		return "", "", bad
	}
	return srcBucket, srcKey, nil
}

type copyObjectResult struct {
	XMLName      xml.Name `xml:"CopyObjectResult"`
	NS           string   `xml:"xmlns,attr"`
	ETag         string
	LastModified string
	checksums
	ChecksumType string `xml:",omitempty"`
}

// errCopyTooLarge refuses to copy more than one PUT may write.
var errCopyTooLarge = errInvalidRequest("The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")

// copySource reads x-amz-copy-source and authorizes the copy into rq's
// bucket and key: s3:GetObject on the source and s3:PutObject on the
// destination, each under its own bucket's policy. CopyObject and
// UploadPartCopy both authorize here.
func (h *Handler) copySource(ctx context.Context, rq *request) (srcBucket, srcKey string, err error) {
	srcBucket, srcKey, err = parseCopySource(rq.r.Header.Get("X-Amz-Copy-Source"))
	if err != nil {
		return "", "", err
	}
	if err := h.authorize(ctx, rq, "s3:GetObject", srcBucket, srcKey, nil); err != nil {
		return "", "", err
	}
	if err := h.authorize(ctx, rq, "s3:PutObject", rq.bucket, rq.key, nil); err != nil {
		return "", "", err
	}
	return srcBucket, srcKey, nil
}

// openCopySource reads the copy request's (empty) body, opens the source
// and applies the x-amz-copy-source-if-* conditions to it.
func (h *Handler) openCopySource(rq *request, srcBucket, srcKey string) (*os.File, bucket.Info, error) {
	if _, err := readAll(rq.r, rq.c, 0); err != nil {
		return nil, bucket.Info{}, err
	}
	f, info, err := h.store.Open(srcBucket, srcKey)
	if err != nil {
		return nil, bucket.Info{}, toError(err, srcBucket, srcKey)
	}
	if err := copyConditions(rq.r.Header, info); err != nil {
		f.Close()
		return nil, bucket.Info{}, err
	}
	return f, info, nil
}

// stageCopy copies n bytes of src into a staging file and returns it with
// the bytes' ETag (quoted MD5) and, when alg is set, their base64 checksum.
func (h *Handler) stageCopy(src io.Reader, n int64, alg string) (st *bucket.Staged, etag, sum string, err error) {
	if st, err = h.store.Stage(); err != nil {
		return nil, "", "", err
	}
	md := md5.New()
	w := io.MultiWriter(st.File, md)
	var ck hash.Hash
	if alg != "" {
		ck = checksumAlgs[alg].new()
		w = io.MultiWriter(st.File, md, ck)
	}
	copied, err := io.Copy(w, src)
	if err == nil && copied != n {
		err = fmt.Errorf("copy source changed while being copied: %d of %d bytes", copied, n)
	}
	if err != nil {
		st.Discard()
		return nil, "", "", err
	}
	if ck != nil {
		sum = base64.StdEncoding.EncodeToString(ck.Sum(nil))
	}
	return st, `"` + hex.EncodeToString(md.Sum(nil)) + `"`, sum, nil
}

func (h *Handler) copyObject(ctx context.Context, rq *request) error {
	if err := bucket.CheckKey(rq.key); err != nil {
		return err
	}
	if err := checkUnsupportedSSE(rq.r.Header); err != nil {
		return err
	}
	directive := rq.r.Header.Get("X-Amz-Metadata-Directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return errInvalidArgument("Unknown metadata directive.")
	}
	srcBucket, srcKey, err := h.copySource(ctx, rq)
	if err != nil {
		return err
	}
	if srcBucket == rq.bucket && srcKey == rq.key && directive != "REPLACE" {
		return errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	f, info, err := h.openCopySource(rq, srcBucket, srcKey)
	if err != nil {
		return err
	}
	defer f.Close()
	if info.Size > maxObjectSize {
		return errCopyTooLarge
	}
	dst := bucket.Info{ETag: info.ETag, ContentType: info.ContentType, Meta: info.Meta, Checksum: info.Checksum, Parts: info.Parts}
	if directive == "REPLACE" {
		if dst.ContentType, dst.Meta, err = userMetadata(rq.r.Header); err != nil {
			return err
		}
	}
	st, etag, _, err := h.stageCopy(f, info.Size, "")
	if err != nil {
		return err
	}
	if info.Parts == 0 {
		dst.ETag = etag
	}
	out, err := st.Commit(rq.bucket, rq.key, dst)
	if err != nil {
		return err
	}
	res := copyObjectResult{NS: s3NS, ETag: out.ETag, LastModified: xmlTime(out.ModTime)}
	if out.Checksum.Algorithm != "" && !strings.Contains(out.Checksum.Value, "-") {
		res.set(out.Checksum.Algorithm, out.Checksum.Value)
		res.ChecksumType = out.Checksum.Type
	}
	return writeXML(rq.w, res)
}

// copyConditions applies the x-amz-copy-source-if-* headers.
func copyConditions(hdr http.Header, info bucket.Info) error {
	h := http.Header{}
	for _, n := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if v := hdr.Get("X-Amz-Copy-Source-" + n); v != "" {
			h.Set(n, v)
		}
	}
	if readConditions(h, info) != 0 {
		return s3err(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	}
	return nil
}
