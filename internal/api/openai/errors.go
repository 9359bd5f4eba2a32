package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"strata/internal/apierr"
	"strata/internal/auth"
)

// OpenAI's error types.
const (
	typeInvalidRequest = "invalid_request_error"
	typeServer         = "server_error"
	typeRateLimit      = "requests"
)

// Error is an error in OpenAI's wire shape. Handlers return it for
// failures that name a parameter or an OpenAI code; other errors are
// mapped from their apierr kind by WriteError.
type Error struct {
	Status  int
	Type    string
	Code    string // "" is sent as null
	Param   string // "" is sent as null
	Message string
	// RetryAfter, when positive, is sent as Retry-After (seconds) and
	// retry-after-ms, which the openai clients honor.
	RetryAfter int
	Err        error // the cause, for logs; never sent
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("openai %d %s: %s: %v", e.Status, e.Type, e.Message, e.Err)
	}
	return fmt.Sprintf("openai %d %s: %s", e.Status, e.Type, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// invalid returns a 400 invalid_request_error about param.
func invalid(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: typeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// wireError maps err to OpenAI's status, type and code. Authentication
// failures (bearer or SigV4) are 401 invalid_api_key; anything without a
// kind is a 500 whose cause is logged, never sent.
func wireError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if ae, ok := errors.AsType[*auth.Error](err); ok {
		switch ae.Kind {
		case auth.KindTooLarge:
			return &Error{Status: http.StatusRequestEntityTooLarge, Type: typeInvalidRequest, Code: "request_too_large", Message: ae.Message}
		case auth.KindInternal:
			return &Error{Status: http.StatusInternalServerError, Type: typeServer, Message: "The server had an error while processing your request. Sorry about that!", Err: err}
		}
		return &Error{Status: http.StatusUnauthorized, Type: typeInvalidRequest, Code: "invalid_api_key", Message: ae.Message}
	}
	e := apierr.From(err)
	out := &Error{Status: http.StatusInternalServerError, Type: typeServer, Message: e.Message, Err: err}
	switch e.Kind {
	case apierr.Validation, apierr.TooManyTags:
		out.Status, out.Type = http.StatusBadRequest, typeInvalidRequest
	case apierr.NotFound:
		out.Status, out.Type, out.Code = http.StatusNotFound, typeInvalidRequest, "not_found"
	case apierr.Conflict, apierr.ResourceInUse:
		out.Status, out.Type, out.Code = http.StatusConflict, typeInvalidRequest, "conflict"
	case apierr.AccessDenied:
		out.Status, out.Type, out.Code = http.StatusForbidden, typeInvalidRequest, "permission_denied"
	case apierr.Throttling, apierr.ModelNotReady:
		out.Status, out.Type, out.Code, out.RetryAfter = http.StatusTooManyRequests, typeRateLimit, "rate_limit_exceeded", 1
	case apierr.ServiceQuotaExceeded:
		out.Status, out.Type, out.Code = http.StatusTooManyRequests, typeRateLimit, "insufficient_quota"
	case apierr.ServiceUnavailable:
		out.Status, out.Code, out.RetryAfter = http.StatusServiceUnavailable, "service_unavailable", 1
	case apierr.UnrecognizedClient, apierr.InvalidSignature, apierr.MissingAuthentication, apierr.ExpiredToken:
		out.Status, out.Type, out.Code = http.StatusUnauthorized, typeInvalidRequest, "invalid_api_key"
	case apierr.RequestTooLarge:
		out.Status, out.Type, out.Code = http.StatusRequestEntityTooLarge, typeInvalidRequest, "request_too_large"
	case apierr.UnknownOperation:
		out.Status, out.Type, out.Code = http.StatusNotFound, typeInvalidRequest, "unknown_url"
	case apierr.ModelTimeout:
		out.Code = "model_timeout"
	case apierr.ModelError, apierr.ModelStreamError:
		out.Code = "model_error"
	}
	return out
}

// errorBody is {"error":{...}}: code and param are null when empty.
func errorBody(e *Error) []byte {
	var code, param *string
	if e.Code != "" {
		code = &e.Code
	}
	if e.Param != "" {
		param = &e.Param
	}
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": e.Message, "type": e.Type, "param": param, "code": code}})
	return b
}

// WriteError writes err in OpenAI's error shape with OpenAI's status.
// Statuses: 400 invalid_request_error (bad JSON or values), 401
// invalid_api_key, 403 permission_denied, 404 model_not_found (or
// unknown_url), 409, 413 request_too_large, 429 rate_limit_exceeded
// (throttling, or a cold model still loading; with Retry-After), 500
// server_error, 503 service_unavailable.
func WriteError(w http.ResponseWriter, log *slog.Logger, err error) {
	e := wireError(err)
	if e.Status >= 500 && log != nil {
		log.Error("request failed", "status", e.Status, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
		h.Set("Retry-After-Ms", strconv.Itoa(e.RetryAfter*1000))
	}
	body := errorBody(e)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// decode parses a JSON request body into v. Unknown fields are ignored, as
// OpenAI does; the body must be one JSON object.
func decode(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return invalid("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			field := strings.TrimPrefix(te.Field, "sampling.") // the embedded shared parameters
			return invalid(field, "Invalid type for '%s': expected %s, but got %s instead.", field, jsonTypeName(te.Type.Kind().String()), te.Value)
		}
		return invalid("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	if dec.More() {
		return invalid("", "We could not parse the JSON body of your request: it holds more than one JSON value.")
	}
	return nil
}

// jsonTypeName names a Go kind the way OpenAI's messages name JSON types.
func jsonTypeName(kind string) string {
	switch kind {
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "another type"
}
