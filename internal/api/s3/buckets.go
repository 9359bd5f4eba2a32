package s3

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"strata/internal/bucket"
)

type owner struct {
	ID          string
	DisplayName string `xml:",omitempty"`
}

type listAllMyBucketsResult struct {
	XMLName xml.Name `xml:"ListAllMyBucketsResult"`
	NS      string   `xml:"xmlns,attr"`
	Owner   owner
	Buckets []bucketEntry `xml:"Buckets>Bucket"`
}

type bucketEntry struct {
	Name         string
	CreationDate string
	BucketRegion string
}

func (h *Handler) listBuckets(ctx context.Context, rq *request) error {
	if err := h.authz.Authorize(ctx, iamRequest(rq, "s3:ListAllMyBuckets", "*")); err != nil {
		return err
	}
	all, err := h.store.Buckets()
	if err != nil {
		return err
	}
	prefix := rq.q.Get("prefix")
	out := listAllMyBucketsResult{NS: s3NS, Owner: owner{ID: rq.c.p.Account}, Buckets: []bucketEntry{}}
	for _, b := range all {
		if b.Owner == rq.c.p.Account && strings.HasPrefix(b.Name, prefix) {
			out.Buckets = append(out.Buckets, bucketEntry{Name: b.Name, CreationDate: xmlTime(b.Created), BucketRegion: h.region})
		}
	}
	return writeXML(rq.w, out)
}

type createBucketConfiguration struct {
	XMLName            xml.Name `xml:"CreateBucketConfiguration"`
	LocationConstraint string
}

func (h *Handler) createBucket(ctx context.Context, rq *request) error {
	if !bucket.ValidBucketName(rq.bucket) {
		return toError(bucket.ErrInvalidBucket, rq.bucket, "")
	}
	if err := h.authorize(ctx, rq, "s3:CreateBucket", rq.bucket, "", nil); err != nil {
		return err
	}
	body, err := readAll(rq.r, rq.c, 64<<10)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var cfg createBucketConfiguration
		if err := decodeXML(body, &cfg); err != nil {
			return err
		}
		if cfg.LocationConstraint != "" && cfg.LocationConstraint != h.region {
			return s3err(400, "InvalidLocationConstraint", "The specified location-constraint is not valid: this server serves "+h.region+".")
		}
	}
	if err := h.store.CreateBucket(rq.bucket, rq.c.p.Account); err != nil {
		if e, ok := errors.AsType[*bucket.ExistsError](err); ok {
			if e.Owner == rq.c.p.Account {
				return s3err(409, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.", field{"BucketName", rq.bucket})
			}
			return s3err(409, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.", field{"BucketName", rq.bucket})
		}
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) headBucket(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:ListBucket", rq.bucket, "", nil); err != nil {
		return err
	}
	if _, err := h.store.Bucket(rq.bucket); err != nil {
		return err
	}
	rq.w.Header().Set("X-Amz-Bucket-Region", h.region)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (h *Handler) deleteBucket(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:DeleteBucket", rq.bucket, "", nil); err != nil {
		return err
	}
	if err := h.store.DeleteBucket(rq.bucket); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

type locationConstraint struct {
	XMLName xml.Name `xml:"LocationConstraint"`
	NS      string   `xml:"xmlns,attr"`
	Value   string   `xml:",chardata"`
}

func (h *Handler) getBucketLocation(ctx context.Context, rq *request) error {
	if err := h.authorize(ctx, rq, "s3:GetBucketLocation", rq.bucket, "", nil); err != nil {
		return err
	}
	if _, err := h.store.Bucket(rq.bucket); err != nil {
		return err
	}
	v := h.region
	if v == "us-east-1" {
		v = ""
	}
	return writeXML(rq.w, locationConstraint{NS: s3NS, Value: v})
}

// listBucketResult is ListObjects' and ListObjectsV2's result; the
// elements of one version only are nil or empty in the other's.
type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	NS                    string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Marker                *string `xml:",omitempty"` // version 1
	NextMarker            string  `xml:",omitempty"` // version 1
	Delimiter             string  `xml:",omitempty"`
	MaxKeys               int
	KeyCount              *int `xml:",omitempty"` // version 2
	IsTruncated           bool
	ContinuationToken     string         `xml:",omitempty"`
	NextContinuationToken string         `xml:",omitempty"`
	StartAfter            string         `xml:",omitempty"`
	EncodingType          string         `xml:",omitempty"`
	Contents              []objectEntry  `xml:"Contents"`
	CommonPrefixes        []commonPrefix `xml:"CommonPrefixes"`
}

type objectEntry struct {
	Key               string
	LastModified      string
	ETag              string
	Size              int64
	StorageClass      string
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
	Owner             *owner `xml:",omitempty"`
}

type commonPrefix struct{ Prefix string }

// listParams are ListObjects' or ListObjectsV2's query parameters, checked.
type listParams struct {
	v1                                                     bool
	prefix, delimiter, marker, token, startAfter, encoding string
	enc                                                    func(string) string // the encoding's encoder
	maxKeys                                                int
	fetchOwner                                             bool
	after                                                  string
	afterPrefix                                            bool
}

// pageSize reads a max-keys, max-uploads or max-parts parameter: 1000 if
// absent, at most 1000.
func pageSize(q url.Values, name string) (int, error) {
	v := q.Get(name)
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalidArgument("Argument " + name + " must be an integer between 0 and 2147483647")
	}
	return min(n, 1000), nil
}

// keyEncoding reads encoding-type: "" or "url", and the function that
// encodes keys and prefixes in the result for it.
func keyEncoding(q url.Values) (string, func(string) string, error) {
	switch v := q.Get("encoding-type"); v {
	case "":
		return "", func(s string) string { return s }, nil
	case "url":
		return v, func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }, nil
	}
	return "", nil, errInvalidArgument("Invalid Encoding Method specified in Request")
}

// parseListParams reads ListObjects' query (v1) or ListObjectsV2's.
func parseListParams(q url.Values, v1 bool) (listParams, error) {
	p := listParams{v1: v1, prefix: q.Get("prefix"), delimiter: q.Get("delimiter")}
	var err error
	if p.maxKeys, err = pageSize(q, "max-keys"); err != nil {
		return p, err
	}
	if p.encoding, p.enc, err = keyEncoding(q); err != nil {
		return p, err
	}
	if v1 {
		// A marker that is a common prefix (a NextMarker) continues after
		// every key under it. Version 1 always names the owner.
		p.marker, p.fetchOwner = q.Get("marker"), true
		p.after, p.afterPrefix = p.marker, bucket.IsCommonPrefix(p.marker, p.prefix, p.delimiter)
		return p, nil
	}
	p.token, p.startAfter, p.fetchOwner = q.Get("continuation-token"), q.Get("start-after"), q.Get("fetch-owner") == "true"
	if p.token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(p.token)
		if err != nil || len(raw) == 0 || raw[0] != 'k' && raw[0] != 'p' {
			return p, errInvalidArgument("The continuation token provided is incorrect")
		}
		p.after, p.afterPrefix = string(raw[1:]), raw[0] == 'p'
	} else {
		p.after = p.startAfter
	}
	return p, nil
}

// continuationToken encodes where the next page starts.
func continuationToken(last string, isPrefix bool) string {
	kind := "k"
	if isPrefix {
		kind = "p"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + last))
}

func (h *Handler) listObjectsV1(ctx context.Context, rq *request) error {
	return h.listObjects(ctx, rq, true)
}

func (h *Handler) listObjectsV2(ctx context.Context, rq *request) error {
	return h.listObjects(ctx, rq, false)
}

// listObjects serves ListObjects (v1) and ListObjectsV2: one listing, with
// markers or continuation tokens.
func (h *Handler) listObjects(ctx context.Context, rq *request, v1 bool) error {
	p, err := parseListParams(rq.q, v1)
	if err != nil {
		return err
	}
	extra := map[string][]string{"s3:prefix": {p.prefix}, "s3:max-keys": {strconv.Itoa(p.maxKeys)}}
	if p.delimiter != "" {
		extra["s3:delimiter"] = []string{p.delimiter}
	}
	if err := h.authorize(ctx, rq, "s3:ListBucket", rq.bucket, "", extra); err != nil {
		return err
	}
	bk, err := h.store.Bucket(rq.bucket)
	if err != nil {
		return err
	}
	enc := p.enc
	out := listBucketResult{NS: s3NS, Name: rq.bucket, Prefix: enc(p.prefix), Delimiter: enc(p.delimiter), MaxKeys: p.maxKeys,
		EncodingType: p.encoding}
	keyCount := 0
	if v1 {
		marker := enc(p.marker)
		out.Marker = &marker
	} else {
		out.ContinuationToken, out.StartAfter, out.KeyCount = p.token, enc(p.startAfter), &keyCount
	}
	if p.maxKeys > 0 {
		res, err := h.store.List(rq.bucket, bucket.ListQuery{Prefix: p.prefix, Delimiter: p.delimiter, After: p.after, AfterPrefix: p.afterPrefix, Max: p.maxKeys})
		if err != nil {
			return err
		}
		for _, o := range res.Objects {
			e := objectEntry{Key: enc(o.Key), LastModified: xmlTime(o.ModTime), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD",
				ChecksumAlgorithm: o.Checksum.Algorithm, ChecksumType: o.Checksum.Type}
			if p.fetchOwner {
				e.Owner = &owner{ID: bk.Owner}
			}
			out.Contents = append(out.Contents, e)
		}
		for _, cp := range res.Prefixes {
			out.CommonPrefixes = append(out.CommonPrefixes, commonPrefix{Prefix: enc(cp)})
		}
		keyCount = len(res.Objects) + len(res.Prefixes)
		if res.Truncated {
			out.IsTruncated = true
			switch {
			case !v1:
				out.NextContinuationToken = continuationToken(res.Last, res.LastPrefix)
			case p.delimiter != "":
				// As S3: without a delimiter the last key is the next marker.
				out.NextMarker = enc(res.Last)
			}
		}
	}
	return writeXML(rq.w, out)
}
