// Package sts serves the AWS Security Token Service's query-protocol API:
// GetCallerIdentity and AssumeRole, so `aws sts get-caller-identity`,
// `aws sts assume-role` and the SDKs' sts clients work against strata.
package sts

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/iam"
)

// Authenticator verifies a request and returns its principal and body.
type Authenticator interface {
	Authenticate(r *http.Request) (*iam.Principal, []byte, error)
}

// Roles makes role sessions; *iam.Directory is one.
type Roles interface {
	AssumeRole(ctx context.Context, authz iam.Authorizer, caller *iam.Principal, in iam.AssumeRoleInput) (iam.Credentials, error)
}

// Recorder is the audit trail.
type Recorder interface {
	Append(e audit.Event)
}

// Handler serves STS at POST /.
type Handler struct {
	Authn      Authenticator  // non-nil
	Roles      Roles          // or nil: AssumeRole is refused
	Authorizer iam.Authorizer // non-nil with Roles
	Audit      Recorder       // or nil
	Logger     *slog.Logger   // nil means discard
}

const ns = "https://sts.amazonaws.com/doc/2011-06-15/"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, body, err := h.Authn.Authenticate(r)
	if err != nil {
		h.writeError(w, err)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		h.writeError(w, apierr.New(apierr.Validation, "the request body is not a form"))
		return
	}
	switch form.Get("Action") {
	case "GetCallerIdentity":
		type result struct {
			UserID  string `xml:"UserId"`
			Account string `xml:"Account"`
			Arn     string `xml:"Arn"`
		}
		writeXML(w, struct {
			XMLName  xml.Name `xml:"GetCallerIdentityResponse"`
			Xmlns    string   `xml:"xmlns,attr"`
			Result   result   `xml:"GetCallerIdentityResult"`
			Metadata struct {
				RequestID string `xml:"RequestId"`
			} `xml:"ResponseMetadata"`
		}{Xmlns: ns, Result: result{p.UserID, p.Account, p.ARN}})
	case "AssumeRole":
		h.assumeRole(w, r, p, form)
	case "":
		h.writeError(w, apierr.New(apierr.Validation, "missing Action"))
	default:
		h.writeError(w, &queryError{code: "InvalidAction", status: 400, msg: "The action " + form.Get("Action") + " is not valid for this web service."})
	}
}

type queryError struct {
	code   string
	status int
	msg    string
}

func (e *queryError) Error() string { return e.code + ": " + e.msg }

func (h *Handler) writeError(w http.ResponseWriter, err error) {
	code, st, msg := wireError(err)
	if code == "InternalFailure" && h.Logger != nil {
		h.Logger.Error("internal error", "err", err)
	}
	typ := "Sender"
	if st >= 500 {
		typ = "Receiver"
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(st)
	writeXMLBody(w, struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Xmlns   string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{Xmlns: ns, Error: struct{ Type, Code, Message string }{typ, code, msg}, RequestID: w.Header().Get("X-Amzn-Requestid")})
}

// wireError returns the Query-protocol code, status and message for err.
func wireError(err error) (code string, status int, msg string) {
	code, st, msg := "InternalFailure", 500, "An internal error occurred."
	if qe, ok := errors.AsType[*queryError](err); ok {
		code, st, msg = qe.code, qe.status, qe.msg
	} else if ae, ok := errors.AsType[*auth.Error](err); ok {
		code, st = ae.Wire(auth.Query)
		msg = ae.Message
	} else if e := apierr.From(err); e.Kind == apierr.Validation {
		code, st, msg = "ValidationError", 400, e.Message
	} else if de, ok := errors.AsType[*iam.DeniedError](err); ok {
		code, st, msg = "AccessDenied", 403, de.Error()
	} else if e.Kind == apierr.AccessDenied {
		code, st, msg = "AccessDenied", 403, e.Message
	}
	return code, st, msg
}

func writeXML(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	writeXMLBody(w, v)
}

func writeXMLBody(w http.ResponseWriter, v any) {
	b, _ := xml.Marshal(v)
	w.Write([]byte(xml.Header))
	w.Write(b)
}
