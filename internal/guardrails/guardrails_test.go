package guardrails

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"

	"strata/internal/apierr"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/store/sqlite"
)

const acct = "111122223333"

var root = &iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::" + acct + ":root", UserID: acct}

func kindOf(err error) apierr.Kind {
	if e, ok := errors.AsType[*apierr.Error](err); ok {
		return e.Kind
	}
	return -1
}

func newService(t testing.TB) *Service {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(Options{Store: db, Authorizer: &iam.Evaluator{}, Region: "us-east-1"})
}

func policy(name string) guard.Guardrail {
	return guard.Guardrail{
		Name: name, BlockedInputMessaging: "no", BlockedOutputsMessaging: "no!",
		SensitiveInformationPolicyConfig: &guard.SensitiveInformationPolicyConfig{PiiEntitiesConfig: []guard.PiiEntityConfig{
			{Type: "CREDIT_DEBIT_CARD_NUMBER", Action: "BLOCK"}, {Type: "EMAIL", Action: "ANONYMIZE"}}},
	}
}

func TestCreateValidation(t *testing.T) {
	s := newService(t)
	cases := []struct {
		name  string
		edit  func(g *guard.Guardrail)
		token string
		tags  []modelimport.Tag
		want  apierr.Kind
	}{
		{name: "no-name", edit: func(g *guard.Guardrail) { g.Name = "" }, want: apierr.Validation},
		{name: "bad-name", edit: func(g *guard.Guardrail) { g.Name = "has space" }, want: apierr.Validation},
		{name: "no-blocked-input-message", edit: func(g *guard.Guardrail) { g.BlockedInputMessaging = "" }, want: apierr.Validation},
		{name: "no-policy", edit: func(g *guard.Guardrail) { g.SensitiveInformationPolicyConfig = nil }, want: apierr.Validation},
		{name: "bad-pii-type", edit: func(g *guard.Guardrail) { g.SensitiveInformationPolicyConfig.PiiEntitiesConfig[0].Type = "X" }, want: apierr.Validation},
		{name: "bad-regex", edit: func(g *guard.Guardrail) {
			g.SensitiveInformationPolicyConfig.RegexesConfig = []guard.RegexConfig{{Name: "r", Pattern: "(", Action: "BLOCK"}}
		}, want: apierr.Validation},
		{name: "bad-token", token: "-x", want: apierr.Validation},
		{name: "duplicate-tag", tags: []modelimport.Tag{{Key: "a"}, {Key: "a"}}, want: apierr.Validation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := policy("g-" + tc.name)
			if tc.edit != nil {
				tc.edit(&p)
			}
			_, err := s.Create(t.Context(), root, CreateInput{Policy: p, ClientRequestToken: tc.token, Tags: tc.tags})
			if kindOf(err) != tc.want {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	g, err := s.Create(ctx, root, CreateInput{Policy: policy("bot"), ClientRequestToken: "tok-1", Tags: []modelimport.Tag{{Key: "team", Value: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != Draft || g.ARN != "arn:aws:bedrock:us-east-1:"+acct+":guardrail/"+g.ID || len(g.ID) != 12 {
		t.Fatalf("created %+v", g)
	}
	again, err := s.Create(ctx, root, CreateInput{Policy: policy("bot"), ClientRequestToken: "tok-1"})
	if err != nil || again.ID != g.ID {
		t.Errorf("idempotent create: %v %v", again, err)
	}
	if _, err := s.Create(ctx, root, CreateInput{Policy: policy("other"), ClientRequestToken: "tok-1"}); kindOf(err) != apierr.Conflict {
		t.Errorf("token reuse for another request: %v", err)
	}
	if _, err := s.Create(ctx, root, CreateInput{Policy: policy("bot")}); kindOf(err) != apierr.Conflict {
		t.Errorf("duplicate name: %v", err)
	}
	for _, ident := range []string{g.ID, g.ARN, "bot"} {
		if got, err := s.Get(ctx, root, ident, ""); err != nil || got.ID != g.ID {
			t.Errorf("Get(%q) = %v, %v", ident, got, err)
		}
	}

	v1, err := s.CreateVersion(ctx, root, g.ID, "first", "")
	if err != nil || v1.Version != "1" {
		t.Fatalf("version 1: %v %v", v1, err)
	}
	p2 := policy("bot")
	p2.BlockedInputMessaging = "changed"
	if _, err := s.Update(ctx, root, g.ID, p2); err != nil {
		t.Fatal(err)
	}
	v2, err := s.CreateVersion(ctx, root, g.ID, "", "vtok")
	if err != nil || v2.Version != "2" {
		t.Fatalf("version 2: %v %v", v2, err)
	}
	if v, _ := s.CreateVersion(ctx, root, g.ID, "", "vtok"); v == nil || v.Version != "2" {
		t.Errorf("idempotent version: %v", v)
	}
	pol, _, err := s.Resolve(ctx, root, g.ARN, "1")
	if err != nil || pol.BlockedInputMessaging != "no" {
		t.Errorf("version 1 changed: %v %v", pol, err)
	}
	pol, _, _ = s.Resolve(ctx, root, g.ID, "DRAFT")
	if pol.BlockedInputMessaging != "changed" {
		t.Errorf("draft %q", pol.BlockedInputMessaging)
	}
	if _, _, err := s.Resolve(ctx, root, g.ID, ""); kindOf(err) != apierr.Validation {
		t.Errorf("no version: %v", err)
	}
	if _, _, err := s.Resolve(ctx, root, g.ID, "9"); kindOf(err) != apierr.NotFound {
		t.Errorf("unknown version: %v", err)
	}
	if _, _, err := s.Resolve(ctx, root, g.ID, "v1"); kindOf(err) != apierr.Validation {
		t.Errorf("malformed version: %v", err)
	}

	list, next, err := s.List(ctx, root, ListInput{Identifier: g.ID, MaxResults: 2})
	if err != nil || len(list) != 2 || list[0].Version != Draft || list[1].Version != "1" || next == "" {
		t.Fatalf("versions page 1: %v %q %v", list, next, err)
	}
	list, next, err = s.List(ctx, root, ListInput{Identifier: g.ID, NextToken: next})
	if err != nil || len(list) != 1 || list[0].Version != "2" || next != "" {
		t.Errorf("versions page 2: %v %q %v", list, next, err)
	}

	// Numbers are not reused after a version is deleted.
	if err := s.Delete(ctx, root, g.ID, "2"); err != nil {
		t.Fatal(err)
	}
	if v3, err := s.CreateVersion(ctx, root, g.ID, "", ""); err != nil || v3.Version != "3" {
		t.Errorf("after delete: %v %v", v3, err)
	}
	if err := s.Delete(ctx, root, g.ID, "DRAFT"); kindOf(err) != apierr.Validation {
		t.Errorf("delete DRAFT alone: %v", err)
	}

	if err := s.UpdateTags(ctx, root, g.ARN, []modelimport.Tag{{Key: "env", Value: "prod"}}, nil); err != nil {
		t.Fatal(err)
	}
	if tags, _ := s.Tags(ctx, root, g.ARN); len(tags) != 2 {
		t.Errorf("tags %v", tags)
	}

	if err := s.Delete(ctx, root, g.ID, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, root, g.ID, "1"); kindOf(err) != apierr.NotFound {
		t.Errorf("after delete: %v", err)
	}
	if all, _, _ := s.List(ctx, root, ListInput{}); len(all) != 0 {
		t.Errorf("list after delete: %v", all)
	}
	// The name is free again, with no versions left over.
	g2, err := s.Create(ctx, root, CreateInput{Policy: policy("bot")})
	if err != nil {
		t.Fatal(err)
	}
	if vs, _, _ := s.List(ctx, root, ListInput{Identifier: g2.ID}); len(vs) != 1 {
		t.Errorf("new guardrail has %d entries", len(vs))
	}
}

func TestVersionQuota(t *testing.T) {
	s := newService(t)
	g, err := s.Create(t.Context(), root, CreateInput{Policy: policy("q")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxVersions {
		v, err := s.CreateVersion(t.Context(), root, g.ID, "", "")
		if err != nil || v.Version != strconv.Itoa(i+1) {
			t.Fatalf("version %d: %v %v", i+1, v, err)
		}
	}
	if _, err := s.CreateVersion(t.Context(), root, g.ID, "", ""); kindOf(err) != apierr.ServiceQuotaExceeded {
		t.Errorf("over quota: %v", err)
	}
}

func TestAuthorization(t *testing.T) {
	s := newService(t)
	g, err := s.Create(t.Context(), root, CreateInput{Policy: policy("authz")})
	if err != nil {
		t.Fatal(err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["bedrock:GetGuardrail"],"Resource":"*"}]}`
	pol, err := iam.ParsePolicy([]byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	user := &iam.Principal{Account: acct, Kind: iam.KindUser, Name: "u", ARN: "arn:aws:iam::" + acct + ":user/u", Policies: []*iam.Policy{pol}}
	if _, err := s.Get(t.Context(), user, g.ID, ""); err != nil {
		t.Errorf("allowed Get: %v", err)
	}
	if _, _, err := s.Resolve(t.Context(), user, g.ID, "DRAFT"); kindOf(err) != apierr.AccessDenied {
		t.Errorf("ApplyGuardrail without bedrock:ApplyGuardrail: %v", err)
	}
	if err := s.Delete(t.Context(), user, g.ID, ""); kindOf(err) != apierr.AccessDenied {
		t.Errorf("Delete: %v", err)
	}
	other := &iam.Principal{Account: "999988887777", Kind: iam.KindRoot, ARN: "arn:aws:iam::999988887777:root"}
	if _, err := s.Get(t.Context(), other, g.ARN, ""); kindOf(err) != apierr.NotFound {
		t.Errorf("another account's guardrail: %v", err)
	}
}
