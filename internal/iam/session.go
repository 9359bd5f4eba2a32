package iam

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/auth"
	"strata/internal/store"
)

// kindSession is the store kind of an STS session made by AssumeRole.
const kindSession = "sts-session"

// Session durations, as STS bounds DurationSeconds.
const (
	MinSessionDuration     = 900 * time.Second
	DefaultSessionDuration = time.Hour
	// ChainedSessionDuration caps a session made by a role session
	// (role chaining).
	ChainedSessionDuration = time.Hour
)

// sessionDoc is what the store keeps of a session: the secret sealed with
// the key ring, and only the SHA-256 of the session token.
type sessionDoc struct {
	Account      string    `json:"account"` // the role's
	RoleID       string    `json:"roleId"`
	RoleName     string    `json:"roleName"`
	SessionName  string    `json:"sessionName"`
	SealedSecret []byte    `json:"sealedSecret"`
	TokenHash    []byte    `json:"tokenHash"`
	Issued       time.Time `json:"issued"`
	Expires      time.Time `json:"expires"`
	SourceARN    string    `json:"sourceArn"` // who assumed the role, for the record
}

// AssumeRoleInput is an sts:AssumeRole request.
type AssumeRoleInput struct {
	RoleARN     string
	SessionName string
	Duration    time.Duration // 0 means DefaultSessionDuration
	ExternalID  string        // "" for none
	SourceIP    string        // aws:SourceIp; "" leaves it out
	Secure      bool          // aws:SecureTransport
}

// Credentials are a new session's temporary credentials. SecretAccessKey
// and SessionToken are shown only here.
type Credentials struct {
	AccessKeyID     string // ASIA…
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
	AssumedRoleID   string // AROA…:session
	AssumedRoleARN  string // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
}

// String hides the secrets, so Credentials are safe to print.
func (c Credentials) String() string {
	return "Credentials{" + c.AccessKeyID + " " + c.AssumedRoleARN + " until " + c.Expiration.Format(time.RFC3339) + "}"
}

// Session is a stored STS session, as LookupSession returns it.
type Session struct {
	AccessKeyID string
	Principal   *Principal // the role, as this session
	Expires     time.Time
	secret      string
	tokenHash   []byte
}

// Secret returns the session's secret access key.
func (s *Session) Secret() string { return s.secret }

// String hides the secret, so a Session is safe to print.
func (s *Session) String() string {
	return "Session{" + s.AccessKeyID + " " + s.Principal.ARN + " until " + s.Expires.Format(time.RFC3339) + "}"
}

// Check verifies, in constant time, that token is the session's token,
// then that the session has not expired at now. It returns
// auth.ErrInvalidToken for a missing or wrong token and
// auth.ErrExpiredToken after expiry.
func (s *Session) Check(token string, now time.Time) error {
	if token == "" {
		return auth.ErrInvalidToken
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], s.tokenHash) != 1 {
		return auth.ErrInvalidToken
	}
	if !now.Before(s.Expires) {
		return auth.ErrExpiredToken
	}
	return nil
}

// maxSessionLifetime is the longest an STS session lasts: AssumeRole's
// DurationSeconds is at most 43200.
const maxSessionLifetime = 43200 * time.Second

// PurgeSessions deletes the sessions issued longer ago than any session
// lasts, so that expired ones do not pile up in the store, and returns how
// many it deleted. (A session that expired sooner stays until then; it is
// refused all the same, by Session.Check.) Every replica may run it: a
// session another replica deleted first is passed over.
func (d *Directory) PurgeSessions(ctx context.Context) (int, error) {
	before := d.now().Add(-maxSessionLifetime - time.Minute)
	n, token := 0, ""
	for {
		recs, next, err := d.st.List(ctx, store.Query{Kind: kindSession, CreatedBefore: before, Ascending: true, Limit: 500, PageToken: token})
		if err != nil {
			return n, fmt.Errorf("iam: listing sessions to purge: %w", err)
		}
		for _, r := range recs {
			err := d.st.Delete(ctx, r.Key(), 0)
			switch {
			case err == nil:
				n++
			case errors.Is(err, store.ErrNotFound):
			default:
				return n, fmt.Errorf("iam: purging session %s: %w", r.ID, err)
			}
		}
		if next == "" {
			return n, nil
		}
		token = next
	}
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// ValidateSessionName checks an STS role session name: 2 to 64 characters
// from [\w+=,.@-].
func ValidateSessionName(s string) error {
	if len(s) < 2 || len(s) > 64 {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64", clip(s))
	}
	if !validChars(s, "_+=,.@-") {
		return apierr.New(apierr.Validation, `1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`, clip(s))
	}
	return nil
}

// validExternalID checks an ExternalId: 2 to 1224 characters from
// [\w+=,.@:\/-].
func validateExternalID(s string) error {
	if len(s) < 2 || len(s) > 1224 {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must have length between 2 and 1224")
	}
	if !validChars(s, "_+=,.@:/-") {
		return apierr.New(apierr.Validation, `1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@:\/-]*`)
	}
	return nil
}

func validChars(s, extra string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(extra, c) >= 0) {
			return false
		}
	}
	return true
}

// clip bounds a value echoed in an error message.
func clip(s string) string {
	if len(s) > 128 {
		return s[:128] + "…"
	}
	return s
}

// ValidateAssumeRole checks in's shape, as STS does before anything else.
func ValidateAssumeRole(in AssumeRoleInput) error {
	if in.RoleARN == "" {
		return apierr.New(apierr.Validation, "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if len(in.RoleARN) < 20 || len(in.RoleARN) > 2048 {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048")
	}
	a, err := arn.Parse(in.RoleARN)
	if typ, name := a.ResourceType(); err != nil || a.Service != "iam" || a.Region != "" || !arn.IsAccountID(a.Account) || typ != "role" || name == "" {
		return apierr.New(apierr.Validation, "%s is invalid", clip(in.RoleARN))
	}
	if in.SessionName == "" {
		return apierr.New(apierr.Validation, "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	}
	if err := ValidateSessionName(in.SessionName); err != nil {
		return err
	}
	if in.Duration != 0 && in.Duration < MinSessionDuration {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", int64(in.Duration/time.Second))
	}
	if in.Duration > 43200*time.Second {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200", int64(in.Duration/time.Second))
	}
	if in.ExternalID != "" {
		if err := validateExternalID(in.ExternalID); err != nil {
			return err
		}
	}
	return nil
}

// AssumeRole makes a session of a role for caller, as sts:AssumeRole does,
// after asking authz. The role's trust policy must allow caller
// (ResourcePolicyRequired), and the Evaluator adds AWS's rules: an explicit
// Deny in the caller's policies or the trust policy wins; a same-account
// trust statement naming the caller itself (user ARN, role ARN of a
// session, or the session ARN) suffices; one naming only the account
// needs an identity Allow of sts:AssumeRole on the role too (the account
// root has it implicitly); a cross-account caller needs both. An unknown
// role is denied with the same message as a refused one. Sessions made by
// a session (role chaining) last at most ChainedSessionDuration.
func (d *Directory) AssumeRole(ctx context.Context, authz Authorizer, caller *Principal, in AssumeRoleInput) (Credentials, error) {
	if err := ValidateAssumeRole(in); err != nil {
		return Credentials{}, err
	}
	if caller == nil {
		return Credentials{}, &DeniedError{Principal: "anonymous", Action: "sts:AssumeRole", Resource: in.RoleARN,
			Reason: "because the request was not authenticated"}
	}
	denied := func() error {
		return &DeniedError{Principal: caller.ARN, Action: "sts:AssumeRole", Resource: in.RoleARN,
			Reason: "because no resource-based policy allows the sts:AssumeRole action"}
	}
	role, err := d.GetRole(ctx, in.RoleARN)
	if errors.Is(err, ErrNoSuchEntity) {
		return Credentials{}, denied()
	}
	if err != nil {
		return Credentials{}, err
	}
	keys := map[string][]string{"sts:rolesessionname": {in.SessionName}}
	if in.ExternalID != "" {
		keys["sts:externalid"] = []string{in.ExternalID}
	}
	if in.SourceIP != "" {
		keys["aws:sourceip"] = []string{in.SourceIP}
	}
	err = authz.Authorize(ctx, Request{
		Principal: caller, Action: "sts:AssumeRole", Resource: role.ARN, ResourceAccount: role.Account,
		ResourcePolicy: role.TrustPolicy, ResourcePolicyRequired: true, Context: keys, Secure: in.Secure,
	})
	if err != nil {
		return Credentials{}, err
	}
	dur := in.Duration
	if dur == 0 {
		dur = DefaultSessionDuration
	}
	if caller.Kind == KindAssumedRole && dur > ChainedSessionDuration {
		return Credentials{}, apierr.New(apierr.Validation, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if dur > role.MaxSessionDuration {
		return Credentials{}, apierr.New(apierr.Validation, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}

	akid, secret := auth.NewTemporaryAccessKey()
	var tb [64]byte
	rand.Read(tb[:])
	token := base64.StdEncoding.EncodeToString(tb[:])
	th := sha256.Sum256([]byte(token))
	if d.sealer == nil {
		return Credentials{}, errors.New("iam: no sealer for session secrets")
	}
	sealed, err := d.sealer.Seal(ctx, []byte(secret), []byte(kindSession+":"+akid))
	if err != nil {
		return Credentials{}, fmt.Errorf("sealing session secret: %w", err)
	}
	now := d.now().UTC().Truncate(time.Second)
	doc := sessionDoc{Account: role.Account, RoleID: role.ID, RoleName: role.Name, SessionName: in.SessionName,
		SealedSecret: sealed, TokenHash: th[:], Issued: now, Expires: now.Add(dur), SourceARN: caller.ARN}
	data, _ := json.Marshal(doc)
	// Sessions are looked up by access key id alone, so they live under
	// account "", as access keys do.
	// Created is the issue time, which PurgeSessions goes by.
	if _, err := d.st.Create(ctx, store.Record{Kind: kindSession, ID: akid, Status: "Active", Created: now, Data: data}); err != nil {
		return Credentials{}, fmt.Errorf("storing session: %w", err)
	}
	p := sessionPrincipal(role, in.SessionName, now)
	return Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token, Expiration: doc.Expires,
		AssumedRoleID: p.UserID, AssumedRoleARN: p.ARN}, nil
}

// sessionPrincipal is a session of role: its policies and tags apply, and
// it is named arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func sessionPrincipal(role *Role, session string, issued time.Time) *Principal {
	return &Principal{
		Account: role.Account, Kind: KindAssumedRole, Name: role.Name, SessionName: session,
		ARN:     arn.ARN{Partition: "aws", Service: "sts", Account: role.Account, Resource: "assumed-role/" + role.Name + "/" + session}.String(),
		RoleARN: role.ARN, UserID: role.ID + ":" + session, Policies: role.Policies, Tags: role.Tags, TokenIssued: issued,
	}
}

// LookupSession returns the session of a temporary (ASIA) access key,
// with the role's current policies. It fails with ErrNoSuchEntity for an
// unknown key, or when the role was deleted or recreated since. It does
// not check the token or expiry: call Session.Check.
func (d *Directory) LookupSession(ctx context.Context, id string) (*Session, error) {
	if !auth.IsTemporaryKey(id) {
		return nil, ErrNoSuchEntity
	}
	r, err := d.st.Get(ctx, store.Key{Kind: kindSession, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchEntity
	}
	if err != nil {
		return nil, err
	}
	var doc sessionDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return nil, fmt.Errorf("reading session: %w", err)
	}
	if r.Status != "Active" {
		return nil, ErrNoSuchEntity
	}
	rr, err := d.st.GetByName(ctx, kindRole, doc.Account, doc.RoleName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchEntity
	}
	if err != nil {
		return nil, err
	}
	if rr.ID != doc.RoleID {
		return nil, ErrNoSuchEntity // the role was deleted and recreated
	}
	role, err := roleFrom(rr)
	if err != nil {
		return nil, err
	}
	if d.sealer == nil {
		return nil, errors.New("iam: no sealer for session secrets")
	}
	secret, err := d.sealer.Open(ctx, doc.SealedSecret, []byte(kindSession+":"+id))
	if err != nil {
		return nil, fmt.Errorf("unsealing session secret: %w", err)
	}
	return &Session{AccessKeyID: id, Principal: sessionPrincipal(role, doc.SessionName, doc.Issued),
		Expires: doc.Expires, secret: string(secret), tokenHash: doc.TokenHash}, nil
}
