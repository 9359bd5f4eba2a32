// Package bedrock serves the Amazon Bedrock control plane and runtime as
// the AWS SDKs speak them (awsRestJson1): JSON bodies, RFC 3339 times, and
// errors as an HTTP status, an X-Amzn-ErrorType header and {"message"}.
package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"strata/internal/apierr"
	"strata/internal/auth"
	"strata/internal/iam"
)

// Authenticator verifies a request's signature and returns its principal
// and body (read, bounded, and restored on r).
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// status maps error kinds to Bedrock's HTTP statuses.
var status = map[apierr.Kind]int{
	apierr.Internal:              500,
	apierr.Validation:            400,
	apierr.NotFound:              404,
	apierr.Conflict:              400,
	apierr.AccessDenied:          403,
	apierr.Throttling:            429,
	apierr.ServiceQuotaExceeded:  400,
	apierr.ServiceUnavailable:    503,
	apierr.UnrecognizedClient:    403,
	apierr.InvalidSignature:      403,
	apierr.MissingAuthentication: 403,
	apierr.ModelNotReady:         429,
	apierr.ModelTimeout:          408,
	apierr.ModelError:            424,
	apierr.ModelStreamError:      424,
	apierr.TooManyTags:           400,
	apierr.ResourceInUse:         400,
	apierr.RequestTooLarge:       413,
	apierr.ExpiredToken:          403,
	apierr.UnknownOperation:      404,
}

// WriteError writes err in Bedrock's error shape. Authentication failures
// keep the AWS code the auth package chose; anything without a kind is an
// InternalServerException whose cause is logged, never sent.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	code, st, msg := "", 0, ""
	if ae, ok := errors.AsType[*auth.Error](err); ok {
		code, st = ae.Wire(auth.JSON)
		msg = ae.Message
	} else {
		e := apierr.From(err)
		code, st, msg = e.Kind.String(), status[e.Kind], e.Message
		if e.Kind == apierr.Internal && log != nil {
			log.Error("internal error", "err", err)
		}
	}
	w.Header().Set("X-Amzn-ErrorType", code)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	body, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(body)
}

// writeJSON writes v with status st.
func writeJSON(w http.ResponseWriter, st int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st)
	w.Write(body)
}

// decode parses a JSON request body into v, rejecting unknown fields the
// way Bedrock's validation does.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return apierr.New(apierr.Validation, "The request body is not valid JSON (at byte %d)", se.Offset)
		case errors.As(err, &te):
			return apierr.New(apierr.Validation, "Value at '%s' has the wrong type: expected %s", te.Field, te.Type)
		}
		return apierr.New(apierr.Validation, "The request body could not be parsed: %v", err)
	}
	if dec.More() {
		return apierr.New(apierr.Validation, "The request body holds more than one JSON value")
	}
	return nil
}

// handlerFunc is an operation: it gets the authenticated principal and the
// request body, writes a success response, or returns an error.
type handlerFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error

// timestamp formats t as the RFC 3339 string the SDKs parse.
func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339Nano)
	return &s
}

// parseTimeQuery parses an RFC 3339 query parameter, or returns the zero time.
func parseTimeQuery(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, apierr.New(apierr.Validation, "%s %q is not an RFC 3339 date-time", name, v)
	}
	return t, nil
}

func parseIntQuery(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, apierr.New(apierr.Validation, "%s %q is not an integer", name, v)
	}
	return n, nil
}

func sortOrder(r *http.Request) (ascending bool, err error) {
	q := r.URL.Query()
	if sb := q.Get("sortBy"); sb != "" && sb != "CreationTime" {
		return false, apierr.New(apierr.Validation, "sortBy must be CreationTime")
	}
	switch so := q.Get("sortOrder"); so {
	case "", "Descending":
		return false, nil
	case "Ascending":
		return true, nil
	default:
		return false, apierr.New(apierr.Validation, "sortOrder must be Ascending or Descending, not %q", so)
	}
}
