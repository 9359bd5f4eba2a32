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

type listBucketResult struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	NS                    string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Delimiter             string `xml:",omitempty"`
	MaxKeys               int
	KeyCount              int
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

// listParams are ListObjectsV2's query parameters, checked.
type listParams struct {
	prefix, delimiter, token, startAfter, encoding string
	maxKeys                                        int
	fetchOwner                                     bool
	after                                          string
	afterPrefix                                    bool
}

// parseListParams reads ListObjectsV2's query.
func parseListParams(q url.Values) (listParams, error) {
	p := listParams{prefix: q.Get("prefix"), delimiter: q.Get("delimiter"), token: q.Get("continuation-token"),
		startAfter: q.Get("start-after"), encoding: q.Get("encoding-type"), maxKeys: 1000, fetchOwner: q.Get("fetch-owner") == "true"}
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errInvalidArgument("max-keys must be a non-negative integer.")
		}
		p.maxKeys = min(n, 1000)
	}
	if p.encoding != "" && p.encoding != "url" {
		return p, errInvalidArgument("Invalid Encoding Method specified in Request")
	}
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

func (h *Handler) listObjectsV2(ctx context.Context, rq *request) error {
	p, err := parseListParams(rq.q)
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
	enc := func(s string) string { return s }
	if p.encoding == "url" {
		enc = func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	}
	out := listBucketResult{NS: s3NS, Name: rq.bucket, Prefix: enc(p.prefix), Delimiter: enc(p.delimiter), MaxKeys: p.maxKeys,
		ContinuationToken: p.token, StartAfter: enc(p.startAfter), EncodingType: p.encoding}
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
		out.KeyCount = len(res.Objects) + len(res.Prefixes)
		if res.Truncated {
			out.IsTruncated = true
			out.NextContinuationToken = continuationToken(res.Last, res.LastPrefix)
		}
	}
	return writeXML(rq.w, out)
}
