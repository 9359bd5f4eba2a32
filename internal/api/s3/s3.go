// Package s3 serves the S3 REST API over strata's embedded bucket store
// (package bucket), so the AWS SDKs and CLI upload model folders with only
// the endpoint changed (path-style addressing).
//
// Requests are recognised by their SigV4 credential scope's service "s3"
// (IsS3), not by path, so Wrap puts this API on the same listener as the
// Bedrock, STS and OpenAI APIs without a bucket name ever colliding with
// their routes. Every request is authenticated (header SigV4 or a presigned
// URL, verified by package auth; the body is checked as it streams: its
// SHA-256, aws-chunked chunk and trailer signatures, Content-MD5 and
// x-amz-checksum-*) and every operation asks
// the iam.Authorizer for its S3 action on the bucket or object ARN, with
// the bucket's policy as the resource policy. Errors are S3's <Error>
// documents.
package s3

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/bucket"
	"strata/internal/iam"
)

// Recorder keeps audit events; *audit.Trail is one.
type Recorder interface {
	Append(e audit.Event)
}

// Options configure a Handler.
type Options struct {
	Store      *bucket.Store  // non-nil
	Keys       Keys           // non-nil; *server.SigV4, or *iam.Directory (uncached)
	Authorizer iam.Authorizer // non-nil
	Region     string         // the region clients must sign for
	Audit      Recorder       // or nil
	Logger     *slog.Logger   // nil means discard
	Now        func() time.Time
}

// Handler serves the S3 API.
type Handler struct {
	store    *bucket.Store
	authz    iam.Authorizer
	region   string
	audit    Recorder
	log      *slog.Logger
	now      func() time.Time
	keys     Keys
	verifier *auth.Verifier
}

// New returns the S3 API handler.
func New(o Options) *Handler {
	h := &Handler{store: o.Store, authz: BucketPolicies(o.Authorizer, o.Store), region: o.Region, audit: o.Audit,
		log: o.Logger, now: o.Now, keys: o.Keys}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.verifier = &auth.Verifier{Services: []string{"s3"}, Regions: []string{o.Region}, Now: h.now, Lookup: h.lookupSecret}
	return h
}

// IsS3 reports whether r is signed for service s3: its Authorization
// header's or presigned URL's credential scope names "s3".
func IsS3(r *http.Request) bool {
	if a := r.Header.Get("Authorization"); a != "" {
		_, cred, ok := strings.Cut(a, "Credential=")
		if !ok {
			return false
		}
		cred, _, _ = strings.Cut(cred, ",")
		return scopeService(cred) == "s3"
	}
	if strings.Contains(r.URL.RawQuery, "X-Amz-Credential=") {
		return scopeService(r.URL.Query().Get("X-Amz-Credential")) == "s3"
	}
	return false
}

// scopeService returns the service of "AKID/date/region/service/aws4_request".
// Every Bedrock request passes here, so it does not allocate.
func scopeService(cred string) string {
	cred = strings.TrimSpace(cred)
	var service string
	for i := range 4 {
		j := strings.IndexByte(cred, '/')
		if j < 0 {
			return ""
		}
		if i == 3 {
			service = cred[:j]
		}
		cred = cred[j+1:]
	}
	if strings.IndexByte(cred, '/') >= 0 {
		return ""
	}
	return service
}

// Wrap sends S3-signed requests to s3 and all others to next.
func Wrap(s3, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsS3(r) {
			s3.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// request is one S3 request being served.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	c      *caller
	q      url.Values
	bucket string
	key    string
	op     string // the operation's AWS name
	res    string // resource ARN, for the audit trail
}

type opFunc func(ctx context.Context, rq *request) error

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	id := audit.RequestFrom(r.Context()).ID
	hdr.Set("X-Amz-Request-Id", id)
	hdr.Set("X-Amz-Id-2", id)
	hdr.Set("Date", h.now().UTC().Format(http.TimeFormat))
	rq := &request{w: w, r: r}
	var err error
	rq.q, err = url.ParseQuery(r.URL.RawQuery)
	if err == nil {
		rq.bucket, rq.key, err = splitPath(r.URL.EscapedPath())
	}
	var fn opFunc
	if err == nil {
		fn, rq.op, err = h.route(rq)
	}
	if err == nil {
		rq.c, err = h.authenticate(r)
	}
	if err == nil {
		err = fn(r.Context(), rq)
	}
	if err != nil {
		e := writeError(w, r, h.log, err, rq.bucket, rq.key)
		h.record(rq, e.Code)
		return
	}
	h.record(rq, "ok")
}

// splitPath parses a path-style path into bucket and key: the key is the
// rest of the raw path, percent-decoded once.
func splitPath(raw string) (bucketName, key string, err error) {
	raw = strings.TrimPrefix(raw, "/")
	b, k, _ := strings.Cut(raw, "/")
	if bucketName, err = url.PathUnescape(b); err != nil {
		return "", "", errInvalidArgument("The request path is not validly percent-encoded.")
	}
	if key, err = url.PathUnescape(k); err != nil {
		return "", "", errInvalidArgument("The request path is not validly percent-encoded.")
	}
	return bucketName, key, nil
}

// route picks the operation from the method, bucket, key, subresources
// and x-amz-copy-source. Unknown subresources get NotImplemented, never a
// silent object operation.
func (h *Handler) route(rq *request) (opFunc, string, error) {
	q, m := rq.q, rq.r.Method
	for name := range q {
		switch name {
		case "x-id", "list-type", "prefix", "delimiter", "continuation-token", "max-keys", "start-after", "encoding-type",
			"fetch-owner", "marker", "uploads", "uploadId", "partNumber", "max-parts", "part-number-marker", "key-marker",
			"upload-id-marker", "max-uploads", "delete", "policy", "location",
			"max-buckets", "bucket-region", "response-content-type", "response-content-disposition", "response-content-encoding",
			"response-content-language", "response-cache-control", "response-expires", "versionId":
		default:
			if strings.HasPrefix(name, "X-Amz-") {
				continue // presigned URL parameters
			}
			return nil, "", errNotImplemented("?" + name)
		}
	}
	if v := q.Get("versionId"); v != "" && v != "null" {
		return nil, "", errNotImplemented("object versions")
	}
	if rq.bucket == "" {
		if m == http.MethodGet {
			return h.listBuckets, "ListBuckets", nil
		}
		return nil, "", s3err(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	if rq.key == "" {
		switch {
		case q.Has("policy"):
			switch m {
			case http.MethodPut:
				return h.putBucketPolicy, "PutBucketPolicy", nil
			case http.MethodGet:
				return h.getBucketPolicy, "GetBucketPolicy", nil
			case http.MethodDelete:
				return h.deleteBucketPolicy, "DeleteBucketPolicy", nil
			}
		case q.Has("location"):
			if m == http.MethodGet {
				return h.getBucketLocation, "GetBucketLocation", nil
			}
		case q.Has("delete"):
			if m == http.MethodPost {
				return h.deleteObjects, "DeleteObjects", nil
			}
		case q.Has("uploads"):
			if m == http.MethodGet {
				return h.listMultipartUploads, "ListMultipartUploads", nil
			}
		case m == http.MethodPut:
			return h.createBucket, "CreateBucket", nil
		case m == http.MethodHead:
			return h.headBucket, "HeadBucket", nil
		case m == http.MethodDelete:
			return h.deleteBucket, "DeleteBucket", nil
		case m == http.MethodGet && q.Get("list-type") == "2":
			return h.listObjectsV2, "ListObjectsV2", nil
		case m == http.MethodGet && q.Has("list-type") && q.Get("list-type") != "1":
			return nil, "", errInvalidArgument("Invalid List Type specified in Request")
		case m == http.MethodGet:
			return h.listObjectsV1, "ListObjects", nil
		}
		return nil, "", s3err(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	switch {
	case q.Has("uploads") && m == http.MethodPost:
		return h.createMultipartUpload, "CreateMultipartUpload", nil
	case q.Has("uploadId"):
		switch m {
		case http.MethodPut:
			if rq.r.Header.Get("X-Amz-Copy-Source") != "" {
				return h.uploadPartCopy, "UploadPartCopy", nil
			}
			return h.uploadPart, "UploadPart", nil
		case http.MethodPost:
			return h.completeMultipartUpload, "CompleteMultipartUpload", nil
		case http.MethodDelete:
			return h.abortMultipartUpload, "AbortMultipartUpload", nil
		case http.MethodGet:
			return h.listParts, "ListParts", nil
		}
	case m == http.MethodPut && rq.r.Header.Get("X-Amz-Copy-Source") != "":
		return h.copyObject, "CopyObject", nil
	case m == http.MethodPut:
		return h.putObject, "PutObject", nil
	case m == http.MethodGet:
		return h.getObject, "GetObject", nil
	case m == http.MethodHead:
		return h.getObject, "HeadObject", nil
	case m == http.MethodDelete:
		return h.deleteObject, "DeleteObject", nil
	}
	return nil, "", s3err(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

// authorize asks the Authorizer whether the caller may do action on
// bucketName (key "") or an object, with the bucket's owner and policy.
func (h *Handler) authorize(ctx context.Context, rq *request, action, bucketName, key string, extra map[string][]string) error {
	return h.authz.Authorize(ctx, iam.Request{Principal: rq.c.p, Action: action, Resource: objectARN(bucketName, key),
		Context: extra, Secure: rq.r.TLS != nil})
}

// record appends the operation to the audit trail.
func (h *Handler) record(rq *request, outcome string) {
	if h.audit == nil {
		return
	}
	req := audit.RequestFrom(rq.r.Context())
	e := audit.Event{RequestID: req.ID, SourceIP: req.SourceIP, API: "s3", Operation: rq.op, Outcome: outcome}
	if e.Operation == "" {
		e.Operation = "Unknown"
	}
	if rq.bucket != "" {
		e.Resource = objectARN(rq.bucket, rq.key)
	}
	if rq.c != nil && rq.c.p != nil {
		e.Principal, e.Account = rq.c.p.ARN, rq.c.p.Account
	}
	h.audit.Append(e)
}

// writeXML writes v as an S3 XML document with status 200.
func writeXML(w http.ResponseWriter, v any) error {
	body, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(xml.Header))
	w.Write(body)
	return nil
}

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// xmlTime formats t as S3's XML timestamps.
func xmlTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// decodeXML parses a request's XML document into v.
func decodeXML(data []byte, v any) error {
	d := xml.NewDecoder(strings.NewReader(string(data)))
	if err := d.Decode(v); err != nil {
		return errMalformedXML()
	}
	return nil
}
