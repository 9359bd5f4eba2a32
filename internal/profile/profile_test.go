package profile

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store/sqlite"
)

const acct = "111122223333"

var root = &iam.Principal{Account: acct, Kind: iam.KindRoot, ARN: "arn:aws:iam::" + acct + ":root"}

const modelARN = "arn:aws:bedrock:us-east-1:" + acct + ":imported-model/aaaaaaaaaaaa"

// oneModel is an in-memory ModelLookup and runtime.Resolver holding one
// imported model.
type oneModel struct{}

func (oneModel) LookupModel(_ context.Context, account, ident string) (*modelimport.Model, error) {
	if account == acct && (ident == modelARN || ident == "aaaaaaaaaaaa") {
		return &modelimport.Model{ARN: modelARN, ID: "aaaaaaaaaaaa", Account: acct}, nil
	}
	return nil, apierr.New(apierr.NotFound, "The imported model %s could not be found.", ident)
}

func (m oneModel) Resolve(ctx context.Context, p *iam.Principal, id string) (*runtime.Target, error) {
	mm, err := m.LookupModel(ctx, p.Account, id)
	if err != nil {
		return nil, err
	}
	return &runtime.Target{ARN: mm.ARN, ModelARN: mm.ARN, Account: acct}, nil
}

func kindOf(err error) apierr.Kind {
	if e, ok := errors.AsType[*apierr.Error](err); ok {
		return e.Kind
	}
	return -1
}

func newService(t *testing.T) *Service {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(Options{Store: db, Models: oneModel{}, Targets: oneModel{}, Authorizer: &iam.Evaluator{}, Region: "us-east-1"})
}

func TestProfiles(t *testing.T) {
	s := newService(t)
	ctx := t.Context()
	pr, err := s.Create(ctx, root, CreateInput{Name: "support bot", Description: "tier 1", CopyFrom: modelARN,
		Tags: []modelimport.Tag{{Key: "costCenter", Value: "cc-42"}}, ClientRequestToken: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if pr.ModelARN != modelARN || pr.Status() != StatusActive || len(pr.ID) != 12 {
		t.Fatalf("%+v", pr)
	}

	t.Run("create-errors", func(t *testing.T) {
		cases := []struct {
			name string
			in   CreateInput
			want apierr.Kind
		}{
			{"no-name", CreateInput{CopyFrom: modelARN}, apierr.Validation},
			{"bad-name", CreateInput{Name: "a/b", CopyFrom: modelARN}, apierr.Validation},
			{"no-source", CreateInput{Name: "x"}, apierr.Validation},
			{"foundation-model", CreateInput{Name: "x", CopyFrom: "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"}, apierr.Validation},
			{"unknown-model", CreateInput{Name: "x", CopyFrom: "arn:aws:bedrock:us-east-1:" + acct + ":imported-model/zzzzzzzzzzzz"}, apierr.NotFound},
			{"duplicate-name", CreateInput{Name: "support bot", CopyFrom: modelARN}, apierr.Conflict},
			{"token-reused", CreateInput{Name: "other", CopyFrom: modelARN, ClientRequestToken: "t1"}, apierr.Conflict},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if _, err := s.Create(ctx, root, tc.in); kindOf(err) != tc.want {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		again, err := s.Create(ctx, root, CreateInput{Name: "support bot", Description: "tier 1", CopyFrom: modelARN, ClientRequestToken: "t1"})
		if err != nil || again.ARN != pr.ARN {
			t.Fatalf("%v %+v", err, again)
		}
	})
	t.Run("copy-from-a-profile", func(t *testing.T) {
		cp, err := s.Create(ctx, root, CreateInput{Name: "copy", CopyFrom: pr.ARN})
		if err != nil || cp.ModelARN != modelARN {
			t.Fatalf("%v %+v", err, cp)
		}
	})
	t.Run("get-by-arn-id-name", func(t *testing.T) {
		for _, id := range []string{pr.ARN, pr.ID, pr.Name} {
			got, err := s.Get(ctx, root, id)
			if err != nil || got.ARN != pr.ARN {
				t.Errorf("%s: %v", id, err)
			}
		}
	})
	t.Run("list-by-type", func(t *testing.T) {
		for _, tc := range []struct {
			typ  string
			want int
		}{{"", 2}, {TypeApplication, 2}, {TypeSystemDefined, 0}} {
			got, _, err := s.List(ctx, root, ListInput{Type: tc.typ})
			if err != nil || len(got) != tc.want {
				t.Errorf("type %q: %v, %d profiles", tc.typ, err, len(got))
			}
		}
		if _, _, err := s.List(ctx, root, ListInput{Type: "OTHER"}); kindOf(err) != apierr.Validation {
			t.Errorf("bad type: %v", err)
		}
	})
	t.Run("resolve-carries-tags", func(t *testing.T) {
		for _, id := range []string{pr.ARN, pr.ID} {
			tg, err := s.Resolve(ctx, root, id)
			if err != nil {
				t.Fatal(err)
			}
			if tg.ARN != pr.ARN || tg.ModelARN != modelARN || tg.Tags["costCenter"] != "cc-42" {
				t.Errorf("%s: target %+v", id, tg)
			}
		}
		for _, id := range []string{modelARN, "support bot", "zzzzzzzzzzzz"} {
			if _, err := s.Resolve(ctx, root, id); kindOf(err) != apierr.NotFound {
				t.Errorf("%s: %v, want NotFound so the chain goes on", id, err)
			}
		}
		other := &iam.Principal{Account: "444455556666"}
		if _, err := s.Resolve(ctx, other, pr.ARN); kindOf(err) != apierr.NotFound {
			t.Errorf("another account: %v", err)
		}
	})
	t.Run("tags", func(t *testing.T) {
		if err := s.UpdateTags(ctx, root, pr.ARN, []modelimport.Tag{{Key: "env", Value: "prod"}}, nil); err != nil {
			t.Fatal(err)
		}
		tg, _ := s.Resolve(ctx, root, pr.ARN)
		if tg.Tags["env"] != "prod" || tg.Tags["costCenter"] != "cc-42" {
			t.Errorf("tags %v", tg.Tags)
		}
		if err := s.UpdateTags(ctx, root, pr.ARN, nil, []string{"costCenter"}); err != nil {
			t.Fatal(err)
		}
		tags, err := s.Tags(ctx, root, pr.ARN)
		if err != nil || len(tags) != 1 {
			t.Errorf("%v %v", err, tags)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, root, pr.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, root, pr.ARN); kindOf(err) != apierr.NotFound {
			t.Fatalf("%v", err)
		}
		if err := s.Delete(ctx, root, pr.ID); kindOf(err) != apierr.NotFound {
			t.Fatalf("second delete: %v", err)
		}
	})
}
