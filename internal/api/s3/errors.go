package s3

import (
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/bucket"
	"strata/internal/iam"
)

// Error is an S3 error response: the <Error> document's code, message and
// extra elements, and its HTTP status.
type Error struct {
	Code    string
	Message string
	Status  int
	Extra   []field // BucketName, Key, ... in order
	Err     error   // cause, logged and never sent
}

type field struct{ Name, Value string }

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func s3err(status int, code, msg string, extra ...field) *Error {
	return &Error{Code: code, Message: msg, Status: status, Extra: extra}
}

func errNoSuchBucket(b string) *Error {
	return s3err(404, "NoSuchBucket", "The specified bucket does not exist", field{"BucketName", b})
}

func errNoSuchKey(k string) *Error {
	return s3err(404, "NoSuchKey", "The specified key does not exist.", field{"Key", k})
}

func errNoSuchUpload(id string) *Error {
	return s3err(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.", field{"UploadId", id})
}

func errInvalidArgument(msg string) *Error { return s3err(400, "InvalidArgument", msg) }
func errInvalidRequest(msg string) *Error  { return s3err(400, "InvalidRequest", msg) }
func errMalformedXML() *Error {
	return s3err(400, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
}

func errNotImplemented(what string) *Error {
	return s3err(501, "NotImplemented", "A header or query you provided implies functionality that is not implemented: "+what+".")
}

// toError maps any error to the S3 error sent for it.
func toError(err error, bucketName, key string) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if e, ok := errors.AsType[*auth.Error](err); ok {
		code, status := e.Wire(auth.S3)
		return &Error{Code: code, Message: e.Message, Status: status, Err: e.Err}
	}
	if e, ok := errors.AsType[*iam.DeniedError](err); ok {
		return s3err(403, "AccessDenied", e.Error())
	}
	switch {
	case errors.Is(err, bucket.ErrNoSuchBucket):
		return errNoSuchBucket(bucketName)
	case errors.Is(err, bucket.ErrNoSuchKey):
		return errNoSuchKey(key)
	case errors.Is(err, bucket.ErrBucketNotEmpty):
		return s3err(409, "BucketNotEmpty", "The bucket you tried to delete is not empty", field{"BucketName", bucketName})
	case errors.Is(err, bucket.ErrInvalidBucket):
		return s3err(400, "InvalidBucketName", "The specified bucket is not valid.", field{"BucketName", bucketName})
	case errors.Is(err, bucket.ErrKeyTooLong):
		return s3err(400, "KeyTooLongError", "Your key is too long", field{"MaxSizeAllowed", strconv.Itoa(bucket.MaxKeyLength)})
	case errors.Is(err, bucket.ErrKeyUnsafe):
		return s3err(400, "InvalidArgument", "strata stores objects as files: a key must not have empty, \".\" or \"..\" segments, a leading or trailing slash, backslashes or control characters.", field{"Key", key})
	case errors.Is(err, bucket.ErrKeyConflict):
		return s3err(400, "InvalidArgument", "strata stores objects as files: a key cannot name an object and a folder of other objects at once (as \"a/b\" and \"a/b/c\" would).", field{"Key", key})
	}
	return &Error{Code: "InternalError", Message: "We encountered an internal error. Please try again.", Status: 500, Err: err}
}

type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Extra     []xmlField
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
	HostID    string `xml:"HostId"`
}

type xmlField struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

// writeError writes err in S3's shape: an <Error> document, or for HEAD
// only the status (HEAD responses have no body, and the SDKs derive the
// code from the status).
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, bucketName, key string) *Error {
	e := toError(err, bucketName, key)
	if e.Status >= 500 {
		log.Error("s3 request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h := w.Header()
	h.Del("ETag")
	h.Del("Content-Length")
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return e
	}
	id := audit.RequestFrom(r.Context()).ID
	doc := errorDoc{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: id, HostID: id}
	for _, f := range e.Extra {
		doc.Extra = append(doc.Extra, xmlField{XMLName: xml.Name{Local: f.Name}, Value: f.Value})
	}
	body, _ := xml.Marshal(doc)
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(xml.Header)+len(body)))
	w.WriteHeader(e.Status)
	w.Write([]byte(xml.Header))
	w.Write(body)
	return e
}
