package sts

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/iam"
	"strata/internal/store/sqlite"
)

type fixedAuthn struct{ p *iam.Principal }

func (f fixedAuthn) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	if f.p == nil {
		return nil, nil, &auth.Error{Kind: auth.KindInvalidToken, Message: "The security token included in the request is invalid."}
	}
	b := make([]byte, 1<<16)
	n, _ := r.Body.Read(b)
	return f.p, b[:n], nil
}

type recorder struct {
	mu sync.Mutex
	ev []audit.Event
}

func (r *recorder) Append(e audit.Event) { r.mu.Lock(); r.ev = append(r.ev, e); r.mu.Unlock() }

type gcmSealer struct{ aead cipher.AEAD }

func (s gcmSealer) Seal(_ context.Context, pt, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, pt, aad), nil
}

func (s gcmSealer) Open(_ context.Context, ct, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ct) < n {
		return nil, errors.New("short")
	}
	return s.aead.Open(nil, ct[:n], ct[n:], aad)
}

const acct = "111122223333"

func newDir(t *testing.T) *iam.Directory {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a, _ := cipher.NewGCM(b)
	return iam.NewDirectory(db, gcmSealer{a})
}

func post(h http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	w.Header().Set("X-Amzn-Requestid", "req-1")
	h.ServeHTTP(w, r)
	return w
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Error   struct {
		Type, Code, Message string
	}
	RequestID string `xml:"RequestId"`
}

type assumeRoleResponse struct {
	XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ AssumeRoleResponse"`
	Result  struct {
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
		AssumedRoleUser struct {
			AssumedRoleID string `xml:"AssumedRoleId"`
			Arn           string
		}
	} `xml:"AssumeRoleResult"`
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

func TestAssumeRole(t *testing.T) {
	ctx := t.Context()
	d := newDir(t)
	role, err := d.CreateRole(ctx, acct, "Reader",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := d.CreateUser(ctx, acct, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := d.CreateUser(ctx, acct, "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	h := &Handler{Authn: fixedAuthn{alice}, Roles: d, Authorizer: &iam.Evaluator{}, Audit: rec}
	form := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {role.ARN}, "RoleSessionName": {"alice-s"}, "DurationSeconds": {"900"}}

	w := post(h, form.Encode())
	if w.Code != 200 {
		t.Fatalf("AssumeRole: %d %s", w.Code, w.Body)
	}
	var out assumeRoleResponse
	if err := xml.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("response %s: %v", w.Body, err)
	}
	c := out.Result.Credentials
	if !strings.HasPrefix(c.AccessKeyID, "ASIA") || c.SecretAccessKey == "" || c.SessionToken == "" || out.RequestID != "req-1" {
		t.Fatalf("response %+v", out)
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil || exp.Location() != time.UTC || time.Until(exp) > 15*time.Minute || time.Until(exp) < 14*time.Minute {
		t.Errorf("Expiration %q: %v", c.Expiration, err)
	}
	if u := out.Result.AssumedRoleUser; u.Arn != "arn:aws:sts::111122223333:assumed-role/Reader/alice-s" || u.AssumedRoleID != role.ID+":alice-s" {
		t.Errorf("AssumedRoleUser %+v", u)
	}
	// The session works, and GetCallerIdentity names it.
	_, sess, err := d.LookupAccessKey(auth.WithSecurityToken(ctx, c.SessionToken), c.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	w = post(&Handler{Authn: fixedAuthn{sess}}, "Action=GetCallerIdentity&Version=2011-06-15")
	if !strings.Contains(w.Body.String(), "<Arn>arn:aws:sts::111122223333:assumed-role/Reader/alice-s</Arn>") ||
		!strings.Contains(w.Body.String(), "<UserId>"+role.ID+":alice-s</UserId>") {
		t.Errorf("GetCallerIdentity as the session: %s", w.Body)
	}

	// Audited, without the secret or the token.
	if len(rec.ev) != 1 || rec.ev[0].Operation != "AssumeRole" || rec.ev[0].Outcome != "ok" || rec.ev[0].Resource != role.ARN ||
		rec.ev[0].Principal != alice.ARN || rec.ev[0].Tags["accessKeyId"] != c.AccessKeyID {
		t.Errorf("audit events %+v", rec.ev)
	}
	for _, e := range rec.ev {
		for _, v := range e.Tags {
			if v == c.SecretAccessKey || v == c.SessionToken {
				t.Fatal("the audit event holds a secret")
			}
		}
	}

	for _, tc := range []struct {
		name   string
		h      *Handler
		body   string
		status int
		code   string
	}{
		{"not-trusted", &Handler{Authn: fixedAuthn{bob}, Roles: d, Authorizer: &iam.Evaluator{}}, form.Encode(), 403, "AccessDenied"},
		{"unknown-role", h, strings.Replace(form.Encode(), "Reader", "Nope", 1), 403, "AccessDenied"},
		{"bad-session-name", h, "Action=AssumeRole&RoleArn=" + url.QueryEscape(role.ARN) + "&RoleSessionName=a%2Fb", 400, "ValidationError"},
		{"missing-session-name", h, "Action=AssumeRole&RoleArn=" + url.QueryEscape(role.ARN), 400, "ValidationError"},
		{"missing-role-arn", h, "Action=AssumeRole&RoleSessionName=abc", 400, "ValidationError"},
		{"bad-role-arn", h, "Action=AssumeRole&RoleSessionName=abc&RoleArn=arn:aws:iam::111122223333:user/alice", 400, "ValidationError"},
		{"duration-not-a-number", h, form.Encode() + "&DurationSeconds=1h", 400, "ValidationError"},
		{"duration-short", h, strings.Replace(form.Encode(), "DurationSeconds=900", "DurationSeconds=899", 1), 400, "ValidationError"},
		{"duration-above-role-max", h, strings.Replace(form.Encode(), "DurationSeconds=900", "DurationSeconds=3601", 1), 400, "ValidationError"},
		{"duration-huge", h, strings.Replace(form.Encode(), "DurationSeconds=900", "DurationSeconds=99999999999999999999", 1), 400, "ValidationError"},
		{"session-policy-refused", h, form.Encode() + "&Policy=%7B%7D", 400, "ValidationError"},
		{"tags-refused", h, form.Encode() + "&Tags.member.1.Key=a&Tags.member.1.Value=b", 400, "ValidationError"},
		{"mfa-refused", h, form.Encode() + "&SerialNumber=x&TokenCode=123456", 400, "ValidationError"},
		{"not-configured", &Handler{Authn: fixedAuthn{alice}}, form.Encode(), 400, "InvalidAction"},
		{"bad-token", &Handler{Authn: fixedAuthn{}}, form.Encode(), 403, "InvalidClientTokenId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := post(tc.h, tc.body)
			var e errorResponse
			if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("%d %s: %v", w.Code, w.Body, err)
			}
			if w.Code != tc.status || e.Error.Code != tc.code || e.Error.Type != "Sender" || e.RequestID != "req-1" {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tc.status, tc.code)
			}
			if strings.Contains(w.Body.String(), "ASIA") {
				t.Errorf("an error response holds a session key: %s", w.Body)
			}
		})
	}
	if n := len(rec.ev); n < 10 || rec.ev[n-1].Outcome != "ValidationError" {
		t.Errorf("failures are not audited: %+v", rec.ev[n-1])
	}
}

// fakeRoles answers every AssumeRole with fixed credentials.
type fakeRoles struct{}

func (fakeRoles) AssumeRole(ctx context.Context, authz iam.Authorizer, caller *iam.Principal, in iam.AssumeRoleInput) (iam.Credentials, error) {
	return iam.Credentials{AccessKeyID: "ASIAEXAMPLE", SecretAccessKey: "s", SessionToken: "t", Expiration: time.Unix(0, 0),
		AssumedRoleID: "AROAX:" + in.SessionName, AssumedRoleARN: "arn:aws:sts::111122223333:assumed-role/R/" + in.SessionName}, nil
}

// FuzzAssumeRole feeds arbitrary bodies to the AssumeRole parameter parser
// and the handler: the parser must accept only well-formed values, and the
// handler must answer 200 or a Sender error in STS's XML shape.
func FuzzAssumeRole(f *testing.F) {
	for _, s := range []string{
		"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FR&RoleSessionName=abc&DurationSeconds=900",
		"Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/R&RoleSessionName=a%2Fb",
		"Action=AssumeRole&RoleArn=x&RoleSessionName=abc&DurationSeconds=-1",
		"Action=AssumeRole&RoleArn=x&RoleSessionName=abc&DurationSeconds=1&DurationSeconds=2",
		"Action=AssumeRole&ExternalId=&RoleArn=arn:aws:iam::111122223333:role/R&RoleSessionName=abc",
		"Action=AssumeRole&Policy=%7B%7D&PolicyArns.member.1.arn=x",
		"Action=AssumeRole&RoleArn=arn:aws:iam::111122223333:role/R&RoleSessionName=%00%ff",
		"%zz",
	} {
		f.Add(s)
	}
	h := &Handler{Authn: fixedAuthn{&iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::111122223333:root"}}, Roles: fakeRoles{}, Authorizer: &iam.Evaluator{}}
	f.Fuzz(func(t *testing.T, body string) {
		if form, err := url.ParseQuery(body); err == nil {
			if in, err := parseAssumeRole(form); err == nil {
				if in.Duration != 0 && (in.Duration < 900*time.Second || in.Duration > 43200*time.Second) {
					t.Fatalf("accepted duration %v", in.Duration)
				}
				if len(form["RoleArn"]) > 1 || len(form["RoleSessionName"]) > 1 || form.Has("Policy") {
					t.Fatalf("accepted %q", body)
				}
			}
		}
		w := post(h, "Action=AssumeRole&"+body)
		if w.Code == 200 {
			var out assumeRoleResponse
			if err := xml.Unmarshal(w.Body.Bytes(), &out); err != nil {
				t.Fatalf("200 with %s: %v", w.Body, err)
			}
			name := strings.TrimPrefix(out.Result.AssumedRoleUser.AssumedRoleID, "AROAX:")
			if iam.ValidateSessionName(name) != nil {
				t.Fatalf("accepted session name %q", name)
			}
			return
		}
		var e errorResponse
		if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || e.Error.Type != "Sender" {
			t.Fatalf("%d %s: %v", w.Code, w.Body, err)
		}
	})
}
