package s3

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"strata/internal/bucket"
)

// Multipart limits, as S3 enforces them.
const (
	maxPartNumber = 10000
	minPartSize   = 5 << 20
)

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

func (h *Handler) createMultipartUpload(ctx context.Context, rq *request) error {
	ctype, meta, err := h.beginWrite(ctx, rq)
	if err != nil {
		return err
	}
	ck := bucket.Checksum{Algorithm: strings.ToUpper(rq.r.Header.Get("X-Amz-Checksum-Algorithm")), Type: strings.ToUpper(rq.r.Header.Get("X-Amz-Checksum-Type"))}
	if ck.Algorithm != "" {
		if _, ok := checksumAlgs[ck.Algorithm]; !ok {
			return errInvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
		}
		if ck.Type == "" {
			ck.Type = "COMPOSITE"
			if ck.Algorithm == "CRC64NVME" {
				ck.Type = "FULL_OBJECT"
			}
		}
		switch {
		case ck.Type != "COMPOSITE" && ck.Type != "FULL_OBJECT":
			return errInvalidRequest("Value for x-amz-checksum-type header is invalid.")
		case ck.Type == "COMPOSITE" && ck.Algorithm == "CRC64NVME", ck.Type == "FULL_OBJECT" && strings.HasPrefix(ck.Algorithm, "SHA"):
			return errInvalidRequest("The " + ck.Type + " checksum type cannot be used with the " + ck.Algorithm + " checksum algorithm.")
		}
	} else if ck.Type != "" {
		return errInvalidRequest("The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.")
	}
	if _, err := readAll(rq.r, rq.c, 0); err != nil {
		return err
	}
	u, err := h.store.CreateUpload(bucket.Upload{Bucket: rq.bucket, Key: rq.key, Initiator: rq.c.p.ARN, ContentType: ctype, Meta: meta, Checksum: ck})
	if err != nil {
		return err
	}
	if ck.Algorithm != "" {
		rq.w.Header().Set("X-Amz-Checksum-Algorithm", ck.Algorithm)
		rq.w.Header().Set("X-Amz-Checksum-Type", ck.Type)
	}
	return writeXML(rq.w, initiateResult{NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: u.ID})
}

// upload returns the request's multipart upload.
func (h *Handler) upload(rq *request) (bucket.Upload, error) {
	id := rq.q.Get("uploadId")
	u, err := h.store.Upload(rq.bucket, rq.key, id)
	if errors.Is(err, bucket.ErrNoSuchUpload) {
		return u, errNoSuchUpload(id)
	}
	return u, err
}

// partNumber reads UploadPart's and UploadPartCopy's partNumber.
func partNumber(q url.Values) (int, error) {
	n, err := strconv.Atoi(q.Get("partNumber"))
	if err != nil || n < 1 || n > maxPartNumber {
		return 0, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

func (h *Handler) uploadPart(ctx context.Context, rq *request) error {
	n, err := partNumber(rq.q)
	if err != nil {
		return err
	}
	if err := h.authorize(ctx, rq, "s3:PutObject", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	u, err := h.upload(rq)
	if err != nil {
		return err
	}
	st, b, err := h.receive(rq)
	if err != nil {
		return err
	}
	p, err := h.store.PutPart(u, st, bucket.Part{Number: n, ETag: b.etag(), Checksum: b.checksum()})
	if errors.Is(err, bucket.ErrNoSuchUpload) {
		return errNoSuchUpload(u.ID)
	}
	if err != nil {
		return err
	}
	rq.w.Header().Set("ETag", p.ETag)
	if p.Checksum.Algorithm != "" {
		rq.w.Header().Set(checksumAlgs[p.Checksum.Algorithm].header, p.Checksum.Value)
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

type copyPartResult struct {
	XMLName      xml.Name `xml:"CopyPartResult"`
	NS           string   `xml:"xmlns,attr"`
	ETag         string
	LastModified string
	checksums
}

// uploadPartCopy copies a source object, or the byte range
// x-amz-copy-source-range names, into a part. The source is authorized,
// opened and checked as CopyObject's; the part is staged and renamed in
// like an uploaded one, with the upload's checksum algorithm computed.
func (h *Handler) uploadPartCopy(ctx context.Context, rq *request) error {
	n, err := partNumber(rq.q)
	if err != nil {
		return err
	}
	srcBucket, srcKey, err := h.copySource(ctx, rq)
	if err != nil {
		return err
	}
	u, err := h.upload(rq)
	if err != nil {
		return err
	}
	f, info, err := h.openCopySource(rq, srcBucket, srcKey)
	if err != nil {
		return err
	}
	defer f.Close()
	start, length := int64(0), info.Size
	if v := rq.r.Header.Get("X-Amz-Copy-Source-Range"); v != "" {
		if start, length, err = parseCopyRange(v, info.Size); err != nil {
			return err
		}
	}
	if length > maxObjectSize {
		return errCopyTooLarge
	}
	alg := u.Checksum.Algorithm
	st, etag, sum, err := h.stageCopy(io.NewSectionReader(f, start, length), length, alg)
	if err != nil {
		return err
	}
	part := bucket.Part{Number: n, ETag: etag}
	if alg != "" {
		part.Checksum = bucket.Checksum{Algorithm: alg, Value: sum, Type: "FULL_OBJECT"}
	}
	p, err := h.store.PutPart(u, st, part)
	if errors.Is(err, bucket.ErrNoSuchUpload) {
		return errNoSuchUpload(u.ID)
	}
	if err != nil {
		return err
	}
	res := copyPartResult{NS: s3NS, ETag: p.ETag, LastModified: xmlTime(p.Modified)}
	res.set(p.Checksum.Algorithm, p.Checksum.Value)
	return writeXML(rq.w, res)
}

// completeRequest is CompleteMultipartUpload's body.
type completeRequest struct {
	XMLName xml.Name       `xml:"CompleteMultipartUpload"`
	Parts   []completePart `xml:"Part"`
}

type completePart struct {
	PartNumber int
	ETag       string
	checksums
}

// parseComplete parses a CompleteMultipartUpload body.
func parseComplete(data []byte) (completeRequest, error) {
	var c completeRequest
	if err := decodeXML(data, &c); err != nil {
		return c, err
	}
	if len(c.Parts) == 0 || len(c.Parts) > maxPartNumber {
		return c, errMalformedXML()
	}
	for i, p := range c.Parts {
		if p.PartNumber < 1 || p.PartNumber > maxPartNumber {
			return c, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
		}
		if i > 0 && p.PartNumber <= c.Parts[i-1].PartNumber {
			return c, s3err(400, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
	}
	return c, nil
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	checksums
	ChecksumType string `xml:",omitempty"`
}

func (h *Handler) completeMultipartUpload(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:PutObject", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	u, err := h.upload(rq)
	if err != nil {
		return err
	}
	data, err := readAll(rq.r, rq.c, 4<<20)
	if err != nil {
		return err
	}
	req, err := parseComplete(data)
	if err != nil {
		return err
	}
	if err := h.checkPutConditions(rq); err != nil {
		return err
	}
	stored, err := h.store.Parts(u)
	if err != nil {
		return errNoSuchUpload(u.ID)
	}
	byNum := map[int]bucket.Part{}
	for _, p := range stored {
		byNum[p.Number] = p
	}
	alg := u.Checksum.Algorithm
	md5s := md5.New()
	var composite hash.Hash
	if alg != "" && u.Checksum.Type == "COMPOSITE" {
		composite = checksumAlgs[alg].new()
	}
	nums := make([]int, len(req.Parts))
	for i, cp := range req.Parts {
		p, ok := byNum[cp.PartNumber]
		invalid := s3err(400, "InvalidPart", "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
			field{"UploadId", u.ID}, field{"PartNumber", strconv.Itoa(cp.PartNumber)}, field{"ETag", cp.ETag})
		if !ok || strings.Trim(cp.ETag, `" `) != strings.Trim(p.ETag, `"`) {
			return invalid
		}
		if v := cp.checksum(p.Checksum.Algorithm); v != "" && v != p.Checksum.Value {
			return invalid
		}
		if i < len(req.Parts)-1 && p.Size < minPartSize {
			return s3err(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.",
				field{"ProposedSize", strconv.FormatInt(p.Size, 10)}, field{"MinSizeAllowed", strconv.Itoa(minPartSize)},
				field{"PartNumber", strconv.Itoa(cp.PartNumber)}, field{"ETag", cp.ETag})
		}
		raw, _ := hex.DecodeString(strings.Trim(p.ETag, `"`))
		md5s.Write(raw)
		if composite != nil {
			if p.Checksum.Algorithm != alg {
				composite = nil // a part came without it: no object checksum
			} else {
				d, _ := base64.StdEncoding.DecodeString(p.Checksum.Value)
				composite.Write(d)
			}
		}
		nums[i] = cp.PartNumber
	}
	info := bucket.Info{ETag: `"` + hex.EncodeToString(md5s.Sum(nil)) + "-" + strconv.Itoa(len(nums)) + `"`,
		ContentType: u.ContentType, Meta: u.Meta, Parts: len(nums)}
	var full hash.Hash
	switch {
	case composite != nil:
		info.Checksum = bucket.Checksum{Algorithm: alg, Type: "COMPOSITE",
			Value: base64.StdEncoding.EncodeToString(composite.Sum(nil)) + "-" + strconv.Itoa(len(nums))}
	case alg != "" && u.Checksum.Type == "FULL_OBJECT":
		full = checksumAlgs[alg].new()
		info.Checksum = bucket.Checksum{Algorithm: alg, Type: "FULL_OBJECT"}
	}
	out, err := h.store.CompleteUpload(u, nums, info, full)
	if errors.Is(err, bucket.ErrNoSuchUpload) {
		return errNoSuchUpload(u.ID)
	}
	if err != nil {
		return err
	}
	res := completeResult{NS: s3NS, Location: "/" + rq.bucket + "/" + rq.key, Bucket: rq.bucket, Key: rq.key, ETag: out.ETag}
	if c := out.Checksum; c.Algorithm != "" {
		res.set(c.Algorithm, c.Value)
		res.ChecksumType = c.Type
	}
	return writeXML(rq.w, res)
}

func (h *Handler) abortMultipartUpload(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:AbortMultipartUpload", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	u, err := h.upload(rq)
	if err != nil {
		return err
	}
	if err := h.store.AbortUpload(u); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	NS                   string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	Parts                []partEntry `xml:"Part"`
	Initiator            initiator
	Owner                owner
	StorageClass         string
	ChecksumAlgorithm    string `xml:",omitempty"`
	ChecksumType         string `xml:",omitempty"`
}

type initiator struct {
	ID          string
	DisplayName string
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	checksums
}

func (h *Handler) listParts(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:ListMultipartUploadParts", rq.bucket, rq.key, nil); err != nil {
		return err
	}
	maxParts, err := pageSize(rq.q, "max-parts")
	if err != nil {
		return err
	}
	marker := 0
	if v := rq.q.Get("part-number-marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errInvalidArgument("part-number-marker must be a non-negative integer.")
		}
		marker = n
	}
	u, err := h.upload(rq)
	if err != nil {
		return err
	}
	parts, err := h.store.Parts(u)
	if err != nil {
		return errNoSuchUpload(u.ID)
	}
	bk, err := h.store.Bucket(rq.bucket)
	if err != nil {
		return err
	}
	out := listPartsResult{NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: u.ID, PartNumberMarker: marker, MaxParts: maxParts,
		Initiator: initiator{ID: u.Initiator, DisplayName: u.Initiator}, Owner: owner{ID: bk.Owner}, StorageClass: "STANDARD",
		ChecksumAlgorithm: u.Checksum.Algorithm, ChecksumType: u.Checksum.Type}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == maxParts {
			out.IsTruncated = true
			break
		}
		e := partEntry{PartNumber: p.Number, LastModified: xmlTime(p.Modified), ETag: p.ETag, Size: p.Size}
		e.set(p.Checksum.Algorithm, p.Checksum.Value)
		out.Parts = append(out.Parts, e)
		out.NextPartNumberMarker = p.Number
	}
	return writeXML(rq.w, out)
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	NS                 string   `xml:"xmlns,attr"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Delimiter          string `xml:",omitempty"`
	Prefix             string
	MaxUploads         int
	IsTruncated        bool
	Uploads            []uploadEntry  `xml:"Upload"`
	CommonPrefixes     []commonPrefix `xml:"CommonPrefixes"`
	EncodingType       string         `xml:",omitempty"`
}

type uploadEntry struct {
	Key               string
	UploadID          string `xml:"UploadId"`
	Initiator         initiator
	Owner             owner
	StorageClass      string
	Initiated         string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

func (h *Handler) listMultipartUploads(ctx context.Context, rq *request) error {
	q := bucket.UploadQuery{Prefix: rq.q.Get("prefix"), Delimiter: rq.q.Get("delimiter"),
		KeyMarker: rq.q.Get("key-marker"), UploadIDMarker: rq.q.Get("upload-id-marker")}
	var err error
	if q.Max, err = pageSize(rq.q, "max-uploads"); err != nil {
		return err
	}
	encoding, enc, err := keyEncoding(rq.q)
	if err != nil {
		return err
	}
	if err := h.authorize(ctx, rq, "s3:ListBucketMultipartUploads", rq.bucket, "", nil); err != nil {
		return err
	}
	bk, err := h.store.Bucket(rq.bucket)
	if err != nil {
		return err
	}
	out := listUploadsResult{NS: s3NS, Bucket: rq.bucket, KeyMarker: enc(q.KeyMarker), UploadIDMarker: q.UploadIDMarker,
		Delimiter: enc(q.Delimiter), Prefix: enc(q.Prefix), MaxUploads: q.Max, EncodingType: encoding}
	if q.Max == 0 {
		return writeXML(rq.w, out)
	}
	res, err := h.store.ListUploads(rq.bucket, q)
	if err != nil {
		return err
	}
	for _, u := range res.Uploads {
		out.Uploads = append(out.Uploads, uploadEntry{Key: enc(u.Key), UploadID: u.ID, Initiator: initiator{ID: u.Initiator, DisplayName: u.Initiator},
			Owner: owner{ID: bk.Owner}, StorageClass: "STANDARD", Initiated: xmlTime(u.Initiated),
			ChecksumAlgorithm: u.Checksum.Algorithm, ChecksumType: u.Checksum.Type})
	}
	for _, cp := range res.Prefixes {
		out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
	}
	out.IsTruncated, out.NextKeyMarker, out.NextUploadIDMarker = res.Truncated, enc(res.NextKeyMarker), res.NextUploadIDMarker
	return writeXML(rq.w, out)
}
