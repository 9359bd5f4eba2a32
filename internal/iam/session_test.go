package iam_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/auth"
	"strata/internal/iam"
	"strata/internal/store"
	"strata/internal/store/sqlite"
)

// testSealer is AES-GCM under a random key, binding the AAD as the key
// ring does.
type testSealer struct{ aead cipher.AEAD }

func newTestSealer() *testSealer {
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(b)
	return &testSealer{a}
}

func (s *testSealer) Seal(_ context.Context, pt, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, pt, aad), nil
}

func (s *testSealer) Open(_ context.Context, ct, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ct) < n {
		return nil, errors.New("short ciphertext")
	}
	return s.aead.Open(nil, ct[:n], ct[n:], aad)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time            { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration)       { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *clock          { return &clock{t: t} }
func withToken(tok string) context.Context { return auth.WithSecurityToken(context.Background(), tok) }

func newSessionDirectory(t *testing.T) (*iam.Directory, store.Store, *clock) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := iam.NewDirectory(db, newTestSealer())
	c := newClock(time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC))
	d.Now = c.Now
	return d, db, c
}

const (
	acct         = "111122223333"
	other        = "444455556666"
	allowAssume  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::111122223333:role/Reader"}]}`
	denyAssume   = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"*"}]}`
	readerPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::models/*"}]}`
)

func trustOf(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func allowAWS(who string) string {
	return `{"Effect":"Allow","Principal":{"AWS":"` + who + `"},"Action":"sts:AssumeRole"}`
}

func TestAssumeRoleAuthorization(t *testing.T) {
	ctx := t.Context()
	authz := &iam.Evaluator{}
	for _, tc := range []struct {
		name     string
		trust    string
		caller   string // user name; created in acct unless callerAcct is set
		callerAc string
		policy   string // caller's identity policy, "" for none
		extID    string
		wantErr  bool
	}{
		{name: "trust-names-account-and-identity-allows", trust: trustOf(allowAWS("arn:aws:iam::111122223333:root")), policy: allowAssume},
		{name: "trust-names-account-id-and-identity-allows", trust: trustOf(allowAWS(acct)), policy: allowAssume},
		{name: "trust-names-account-no-identity-policy", trust: trustOf(allowAWS("arn:aws:iam::111122223333:root")), wantErr: true},
		{name: "trust-names-user-no-identity-policy", trust: trustOf(allowAWS("arn:aws:iam::111122223333:user/alice")), caller: "alice"},
		{name: "trust-names-other-user", trust: trustOf(allowAWS("arn:aws:iam::111122223333:user/bob")), policy: "", wantErr: true},
		{name: "identity-allows-but-trust-silent", trust: trustOf(`{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole"}`), policy: allowAssume, wantErr: true},
		{name: "explicit-deny-in-identity-wins", trust: trustOf(allowAWS("arn:aws:iam::111122223333:user/alice")), caller: "alice", policy: denyAssume, wantErr: true},
		{name: "explicit-deny-in-trust-wins", trust: trustOf(allowAWS("arn:aws:iam::111122223333:root"),
			`{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}`), caller: "alice", policy: allowAssume, wantErr: true},
		{name: "cross-account-both-allow", trust: trustOf(allowAWS("arn:aws:iam::444455556666:root")), callerAc: other, policy: allowAssume},
		{name: "cross-account-trust-names-user-but-no-identity", trust: trustOf(allowAWS("arn:aws:iam::444455556666:user/alice")), callerAc: other, wantErr: true},
		{name: "cross-account-trust-silent", trust: trustOf(allowAWS("arn:aws:iam::111122223333:root")), callerAc: other, policy: allowAssume, wantErr: true},
		{name: "external-id-required-absent", trust: trustOf(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}}`), callerAc: other, policy: allowAssume, wantErr: true},
		{name: "external-id-required-wrong", trust: trustOf(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}}`), callerAc: other, policy: allowAssume, extID: "ext-999", wantErr: true},
		{name: "external-id-required-given", trust: trustOf(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"ext-123"}}}`), callerAc: other, policy: allowAssume, extID: "ext-123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _, _ := newSessionDirectory(t)
			role, err := d.CreateRole(ctx, acct, "Reader", tc.trust, map[string]string{"read": readerPolicy})
			if err != nil {
				t.Fatal(err)
			}
			name, ca := tc.caller, tc.callerAc
			if name == "" {
				name = "alice"
			}
			if ca == "" {
				ca = acct
			}
			var pols map[string]string
			if tc.policy != "" {
				pols = map[string]string{"p": tc.policy}
			}
			caller, err := d.CreateUser(ctx, ca, name, pols)
			if err != nil {
				t.Fatal(err)
			}
			creds, err := d.AssumeRole(ctx, authz, caller, iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", ExternalID: tc.extID})
			if tc.wantErr {
				if _, ok := errors.AsType[*iam.DeniedError](err); !ok {
					t.Fatalf("AssumeRole = %v, %v; want a DeniedError", creds, err)
				}
				if !strings.Contains(err.Error(), "sts:AssumeRole on resource: "+role.ARN) {
					t.Errorf("denial message %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			if !strings.HasPrefix(creds.AccessKeyID, "ASIA") || len(creds.AccessKeyID) != 20 || creds.SecretAccessKey == "" || len(creds.SessionToken) < 64 {
				t.Errorf("credentials %+v have the wrong shape", creds)
			}
			if want := "arn:aws:sts::111122223333:assumed-role/Reader/s1"; creds.AssumedRoleARN != want {
				t.Errorf("AssumedRoleARN = %s, want %s", creds.AssumedRoleARN, want)
			}
			if want := role.ID + ":s1"; creds.AssumedRoleID != want {
				t.Errorf("AssumedRoleID = %s, want %s", creds.AssumedRoleID, want)
			}
			if want := time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC); !creds.Expiration.Equal(want) {
				t.Errorf("Expiration = %v, want %v (default one hour)", creds.Expiration, want)
			}
		})
	}
}

func TestAssumeRoleUnknownRoleIsDenied(t *testing.T) {
	d, _, _ := newSessionDirectory(t)
	admin, err := d.CreateUser(t.Context(), acct, "admin", map[string]string{"all": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.AssumeRole(t.Context(), &iam.Evaluator{}, admin, iam.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:role/Nope", SessionName: "s1"})
	if _, ok := errors.AsType[*iam.DeniedError](err); !ok {
		t.Fatalf("AssumeRole of an unknown role = %v; want a DeniedError", err)
	}
	if _, err := d.AssumeRole(t.Context(), &iam.Evaluator{}, nil, iam.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:role/Nope", SessionName: "s1"}); err == nil {
		t.Fatal("anonymous AssumeRole succeeded")
	}
}

func TestAssumeRoleInputs(t *testing.T) {
	d, _, _ := newSessionDirectory(t)
	ctx := t.Context()
	role, err := d.CreateRole(ctx, acct, "Reader", trustOf(allowAWS(acct)), nil)
	if err != nil {
		t.Fatal(err)
	}
	root := &iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::111122223333:root", UserID: acct}
	for _, tc := range []struct {
		name string
		in   iam.AssumeRoleInput
		want string // substring of the validation message
	}{
		{"missing-role-arn", iam.AssumeRoleInput{SessionName: "s1"}, "Value null at 'roleArn'"},
		{"short-role-arn", iam.AssumeRoleInput{RoleARN: "arn:aws:iam::1:r", SessionName: "s1"}, "length between 20 and 2048"},
		{"not-an-arn", iam.AssumeRoleInput{RoleARN: "this-is-not-an-arn-at-all", SessionName: "s1"}, "is invalid"},
		{"user-arn", iam.AssumeRoleInput{RoleARN: "arn:aws:iam::111122223333:user/alice", SessionName: "s1"}, "is invalid"},
		{"s3-arn", iam.AssumeRoleInput{RoleARN: "arn:aws:s3:::bucket/role/x/yyyyyy", SessionName: "s1"}, "is invalid"},
		{"missing-session-name", iam.AssumeRoleInput{RoleARN: role.ARN}, "Value null at 'roleSessionName'"},
		{"short-session-name", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s"}, "length between 2 and 64"},
		{"long-session-name", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: strings.Repeat("a", 65)}, "length between 2 and 64"},
		{"session-name-slash", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "a/b"}, "regular expression pattern"},
		{"session-name-space", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "a b"}, "regular expression pattern"},
		{"duration-too-short", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", Duration: 899 * time.Second}, "greater than or equal to 900"},
		{"duration-above-sts-max", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", Duration: 43201 * time.Second}, "less than or equal to 43200"},
		{"duration-above-role-max", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", Duration: 3601 * time.Second}, "MaxSessionDuration"},
		{"external-id-short", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", ExternalID: "x"}, "externalId"},
		{"external-id-bad-char", iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "s1", ExternalID: "a b"}, "externalId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := d.AssumeRole(ctx, &iam.Evaluator{}, root, tc.in)
			e, ok := errors.AsType[*apierr.Error](err)
			if !ok || e.Kind != apierr.Validation || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("AssumeRole = %v; want a validation error containing %q", err, tc.want)
			}
		})
	}
	// Valid edge values pass.
	for _, in := range []iam.AssumeRoleInput{
		{RoleARN: role.ARN, SessionName: "a_b+c=d,e.f@g-h", Duration: 900 * time.Second},
		{RoleARN: role.ARN, SessionName: strings.Repeat("z", 64), Duration: 3600 * time.Second, ExternalID: "arn:aws:x/y-1"},
	} {
		if _, err := d.AssumeRole(ctx, &iam.Evaluator{}, root, in); err != nil {
			t.Errorf("AssumeRole(%+v): %v", in, err)
		}
	}
}

// readerRole creates the role Reader, which its account trusts, and
// returns it with the account's root, who may assume it.
func readerRole(t *testing.T, d *iam.Directory) (*iam.Role, *iam.Principal) {
	t.Helper()
	role, err := d.CreateRole(t.Context(), acct, "Reader", trustOf(allowAWS(acct)), map[string]string{"read": readerPolicy})
	if err != nil {
		t.Fatal(err)
	}
	return role, &iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::111122223333:root", UserID: acct}
}

func TestSessionCredentials(t *testing.T) {
	d, db, clk := newSessionDirectory(t)
	ctx := t.Context()
	role, root := readerRole(t, d)
	creds, err := d.AssumeRole(ctx, &iam.Evaluator{}, root, iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: "job-1", Duration: 900 * time.Second})
	if err != nil {
		t.Fatal(err)
	}

	// At rest: neither the secret nor the token is stored in the clear.
	r, err := db.Get(ctx, store.Key{Kind: "sts-session", ID: creds.AccessKeyID})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{creds.SecretAccessKey, creds.SessionToken} {
		if bytes.Contains(r.Data, []byte(s)) {
			t.Fatal("the session record holds a secret in the clear")
		}
	}
	if strings.Contains(creds.String(), creds.SecretAccessKey) || strings.Contains(creds.String(), creds.SessionToken) {
		t.Fatal("Credentials.String shows a secret")
	}

	secret, p, err := d.LookupAccessKey(withToken(creds.SessionToken), creds.AccessKeyID)
	if err != nil {
		t.Fatalf("LookupAccessKey with the right token: %v", err)
	}
	if secret != creds.SecretAccessKey {
		t.Error("LookupAccessKey returned another secret")
	}
	if p.Kind != iam.KindAssumedRole || p.ARN != creds.AssumedRoleARN || p.RoleARN != role.ARN || p.UserID != creds.AssumedRoleID || p.SessionName != "job-1" {
		t.Errorf("session principal %+v", p)
	}
	// The role's policies apply to the session, and nothing else.
	authz := &iam.Evaluator{Now: clk.Now}
	if err := authz.Authorize(ctx, iam.Request{Principal: p, Action: "s3:GetObject", Resource: "arn:aws:s3:::models/config.json"}); err != nil {
		t.Errorf("role policy not applied: %v", err)
	}
	if err := authz.Authorize(ctx, iam.Request{Principal: p, Action: "bedrock:ListImportedModels", Resource: "*"}); err == nil {
		t.Error("the session may do what its role may not")
	}
	if s, err := d.LookupSession(ctx, creds.AccessKeyID); err != nil || strings.Contains(s.String(), creds.SecretAccessKey) {
		t.Errorf("LookupSession = %v, %v; String must hide the secret", s, err)
	}

	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"no-token", context.Background(), auth.ErrInvalidToken},
		{"empty-token", withToken(""), auth.ErrInvalidToken},
		{"wrong-token", withToken(creds.SessionToken[:len(creds.SessionToken)-2] + "AA"), auth.ErrInvalidToken},
		{"other-session-token", withToken("x" + creds.SessionToken), auth.ErrInvalidToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := d.LookupAccessKey(tc.ctx, creds.AccessKeyID); !errors.Is(err, tc.want) {
				t.Fatalf("LookupAccessKey = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := d.LookupAccessKey(withToken(creds.SessionToken), "ASIAAAAAAAAAAAAAAAAA"); !errors.Is(err, iam.ErrNoSuchEntity) {
		t.Errorf("unknown session key: %v", err)
	}

	// A long-term key with a session token is refused.
	if _, err := d.CreateUser(ctx, acct, "bob", nil); err != nil {
		t.Fatal(err)
	}
	akid, _, err := d.CreateAccessKey(ctx, acct, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.LookupAccessKey(withToken(creds.SessionToken), akid); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("long-term key with a token: %v", err)
	}
	if _, _, err := d.LookupAccessKey(ctx, akid); err != nil {
		t.Errorf("long-term key without a token: %v", err)
	}

	// Expiry, by the injected clock.
	clk.Add(899 * time.Second)
	if _, _, err := d.LookupAccessKey(withToken(creds.SessionToken), creds.AccessKeyID); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	clk.Add(time.Second)
	_, _, err = d.LookupAccessKey(withToken(creds.SessionToken), creds.AccessKeyID)
	if !errors.Is(err, auth.ErrExpiredToken) {
		t.Fatalf("at expiry: %v, want ErrExpiredToken", err)
	}
	if code, _ := auth.KindOf(err).Wire(auth.Query); code != "ExpiredToken" {
		t.Errorf("expired token wire code %s", code)
	}
	// A wrong token on an expired session still says "invalid", not "expired".
	if _, _, err := d.LookupAccessKey(withToken("nope"), creds.AccessKeyID); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("wrong token after expiry: %v", err)
	}
}

func TestRoleChainingAndBootstrapRole(t *testing.T) {
	d, _, _ := newSessionDirectory(t)
	ctx := t.Context()
	b, err := d.Bootstrap(ctx, func(iam.Bootstrap) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	secret, admin, err := d.LookupAccessKey(ctx, b.AccessKeyID)
	if err != nil || secret == "" {
		t.Fatal(err)
	}
	authz := &iam.Evaluator{}
	// The admin's identity policy allows sts:AssumeRole and the import
	// role's trust delegates to the account.
	creds, err := d.AssumeRole(ctx, authz, admin, iam.AssumeRoleInput{RoleARN: b.RoleARN, SessionName: "troubleshoot"})
	if err != nil {
		t.Fatalf("admin assuming %s: %v", b.RoleARN, err)
	}
	_, sess, err := d.LookupAccessKey(withToken(creds.SessionToken), creds.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	// The role session may not assume the role again: its policies don't
	// allow sts:AssumeRole and the trust names only the account.
	if _, err := d.AssumeRole(ctx, authz, sess, iam.AssumeRoleInput{RoleARN: b.RoleARN, SessionName: "again"}); err == nil {
		t.Fatal("a session without sts:AssumeRole in its policies chained into the role")
	}
	// A user without an identity grant may not assume it either.
	bob, err := d.CreateUser(ctx, b.Account, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AssumeRole(ctx, authz, bob, iam.AssumeRoleInput{RoleARN: b.RoleARN, SessionName: "bob"}); err == nil {
		t.Fatal("a user without sts:AssumeRole assumed the import role")
	}
	// Bedrock still may, for the account's jobs only.
	role, err := d.GetRole(ctx, b.RoleARN)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iam.AssumeRoleAsService(ctx, authz, role, "bedrock.amazonaws.com", b.Account, "arn:aws:bedrock:us-east-1:"+b.Account+":model-import-job/x", "j"); err != nil {
		t.Errorf("bedrock assuming the import role: %v", err)
	}
	if _, err := iam.AssumeRoleAsService(ctx, authz, role, "bedrock.amazonaws.com", other, "arn:aws:bedrock:us-east-1:"+other+":model-import-job/x", "j"); err == nil {
		t.Error("bedrock assumed the import role for another account's job")
	}

	// Role chaining: a session that may assume roles gets at most an hour.
	chain, err := d.CreateRole(ctx, b.Account, "Chain", trustOf(allowAWS(b.RoleARN)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AssumeRole(ctx, authz, sess, iam.AssumeRoleInput{RoleARN: chain.ARN, SessionName: "c2", Duration: 2 * time.Hour}); err == nil || !strings.Contains(err.Error(), "role chaining") {
		t.Fatalf("role chaining beyond one hour: %v", err)
	}
	if _, err := d.AssumeRole(ctx, authz, sess, iam.AssumeRoleInput{RoleARN: chain.ARN, SessionName: "c2"}); err != nil {
		t.Fatalf("a trust naming the role lets its sessions assume: %v", err)
	}
}

// TestPurgeSessions: sessions issued longer ago than any session lasts are
// deleted; younger ones stay.
func TestPurgeSessions(t *testing.T) {
	d, db, clk := newSessionDirectory(t)
	ctx := t.Context()
	role, root := readerRole(t, d)
	assume := func(name string) string {
		creds, err := d.AssumeRole(ctx, &iam.Evaluator{}, root, iam.AssumeRoleInput{RoleARN: role.ARN, SessionName: name})
		if err != nil {
			t.Fatal(err)
		}
		return creds.AccessKeyID
	}
	var old []string
	for i := range 3 {
		old = append(old, assume(fmt.Sprintf("old-%d", i)))
	}
	clk.Add(11 * time.Hour)
	young := assume("young")
	if n, err := d.PurgeSessions(ctx); err != nil || n != 0 {
		t.Fatalf("purge before 12 h have passed: %d, %v", n, err)
	}
	clk.Add(2 * time.Hour) // the old ones are 13 h old, past the 12 h any session lasts
	if n, err := d.PurgeSessions(ctx); err != nil || n != 3 {
		t.Fatalf("purge = %d, %v; want the 3 old sessions", n, err)
	}
	for _, id := range old {
		if _, err := db.Get(ctx, store.Key{Kind: "sts-session", ID: id}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old session %s: %v, want it gone", id, err)
		}
	}
	if _, err := d.LookupSession(ctx, young); err != nil {
		t.Errorf("young session: %v", err)
	}
}
