package sts

import (
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/iam"
)

// unsupportedParams are AssumeRole parameters strata does not implement.
// They are refused rather than ignored: a session policy or MFA condition
// would narrow the session, so dropping one silently would grant more than
// the caller asked for.
var unsupportedParams = []string{"Policy", "PolicyArns.", "Tags.", "TransitiveTagKeys.", "SerialNumber", "TokenCode",
	"SourceIdentity", "ProvidedContexts."}

// parseAssumeRole reads an AssumeRole request's parameters from its form
// and checks their shape (iam.ValidateAssumeRole; the directory checks
// again).
func parseAssumeRole(form url.Values) (iam.AssumeRoleInput, error) {
	for name := range form {
		for _, u := range unsupportedParams {
			if name == u || strings.HasSuffix(u, ".") && strings.HasPrefix(name, u) {
				return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "The parameter %s is not supported by this server.", strings.TrimSuffix(u, "."))
			}
		}
	}
	for _, name := range []string{"RoleArn", "RoleSessionName", "DurationSeconds", "ExternalId"} {
		if len(form[name]) > 1 {
			return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "The parameter %s appears more than once.", name)
		}
	}
	in := iam.AssumeRoleInput{RoleARN: form.Get("RoleArn"), SessionName: form.Get("RoleSessionName"), ExternalID: form.Get("ExternalId")}
	if _, ok := form["ExternalId"]; ok && in.ExternalID == "" {
		return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length greater than or equal to 2")
	}
	if v, ok := form["DurationSeconds"]; ok {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if err != nil {
			return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must be an integer")
		}
		if n < 900 {
			return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", n)
		}
		if n > 43200 {
			return iam.AssumeRoleInput{}, apierr.New(apierr.Validation, "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", n)
		}
		in.Duration = time.Duration(n) * time.Second
	}
	if err := iam.ValidateAssumeRole(in); err != nil {
		return iam.AssumeRoleInput{}, err
	}
	return in, nil
}

// assumeRole serves Action=AssumeRole for caller p and audits it.
func (h *Handler) assumeRole(w http.ResponseWriter, r *http.Request, p *iam.Principal, form url.Values) {
	in, err := parseAssumeRole(form)
	var creds iam.Credentials
	if err == nil {
		if h.Roles == nil || h.Authorizer == nil {
			err = &queryError{code: "InvalidAction", status: 400, msg: "The action AssumeRole is not valid for this web service."}
		} else {
			req := audit.RequestFrom(r.Context())
			in.SourceIP, in.Secure = req.SourceIP, r.TLS != nil
			creds, err = h.Roles.AssumeRole(r.Context(), h.Authorizer, p, in)
		}
	}
	h.record(r, p, in.RoleARN, creds, err)
	if err != nil {
		h.writeError(w, err)
		return
	}
	type credentials struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	}
	type assumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	type result struct {
		Credentials     credentials     `xml:"Credentials"`
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	}
	writeXML(w, struct {
		XMLName  xml.Name `xml:"AssumeRoleResponse"`
		Xmlns    string   `xml:"xmlns,attr"`
		Result   result   `xml:"AssumeRoleResult"`
		Metadata struct {
			RequestID string `xml:"RequestId"`
		} `xml:"ResponseMetadata"`
	}{Xmlns: ns, Result: result{
		Credentials: credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey,
			SessionToken: creds.SessionToken, Expiration: creds.Expiration.UTC().Format(time.RFC3339)},
		AssumedRoleUser: assumedRoleUser{AssumedRoleID: creds.AssumedRoleID, Arn: creds.AssumedRoleARN},
	}, Metadata: struct {
		RequestID string `xml:"RequestId"`
	}{w.Header().Get("X-Amzn-Requestid")}})
}

// record audits an AssumeRole call: the caller, the role, and the outcome.
// The new session's access key id is kept in Tags (as CloudTrail keeps
// responseElements.credentials.accessKeyId), never its secret or token.
func (h *Handler) record(r *http.Request, p *iam.Principal, roleARN string, creds iam.Credentials, err error) {
	if h.Audit == nil {
		return
	}
	req := audit.RequestFrom(r.Context())
	e := audit.Event{RequestID: req.ID, SourceIP: req.SourceIP, API: "sts", Operation: "AssumeRole", Resource: roleARN, Outcome: "ok"}
	if len(e.Resource) > 2048 {
		e.Resource = e.Resource[:2048]
	}
	if p != nil {
		e.Principal, e.Account = p.ARN, p.Account
	}
	if err != nil {
		e.Outcome, _, _ = wireError(err)
	} else {
		e.Tags = map[string]string{"accessKeyId": creds.AccessKeyID, "assumedRoleArn": creds.AssumedRoleARN}
	}
	h.Audit.Append(e)
}

var _ Roles = (*iam.Directory)(nil)
