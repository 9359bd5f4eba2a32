package bedrock

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/profile"
	"strata/internal/runtime"
	"strata/internal/store/sqlite"
	"strata/internal/throughput"
)

const ptAccount = "111122223333"

// ptRootAuthn authenticates every request as the account's root.
type ptRootAuthn struct{}

func (ptRootAuthn) Authenticate(r *http.Request) (*iam.Principal, []byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	return &iam.Principal{Account: ptAccount, Kind: iam.KindRoot, ARN: "arn:aws:iam::" + ptAccount + ":root"}, body, err
}

// ptModel is an in-memory model lookup and resolver holding one model.
type ptModel struct{}

const ptModelARN = "arn:aws:bedrock:us-east-1:" + ptAccount + ":imported-model/aaaaaaaaaaaa"

func (ptModel) LookupModel(_ context.Context, account, ident string) (*modelimport.Model, error) {
	if account == ptAccount && (ident == ptModelARN || ident == "model-a") {
		return &modelimport.Model{ARN: ptModelARN, ID: "aaaaaaaaaaaa", Name: "model-a", Account: ptAccount}, nil
	}
	return nil, apierr.New(apierr.NotFound, "The imported model %s could not be found.", ident)
}

func (m ptModel) Resolve(ctx context.Context, p *iam.Principal, id string) (*runtime.Target, error) {
	mm, err := m.LookupModel(ctx, p.Account, id)
	if err != nil {
		return nil, err
	}
	return &runtime.Target{ARN: mm.ARN, ModelARN: mm.ARN, Account: mm.Account}, nil
}

func newPTMux(t testing.TB) *http.ServeMux {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pt := throughput.New(throughput.Options{Store: db, Models: ptModel{}, Targets: ptModel{}, Authorizer: &iam.Evaluator{}, Region: "us-east-1"})
	t.Cleanup(pt.Close)
	pr := profile.New(profile.Options{Store: db, Models: ptModel{}, Targets: ptModel{}, Authorizer: &iam.Evaluator{}, Region: "us-east-1"})
	mux := http.NewServeMux()
	(&Handler{Authn: ptRootAuthn{}, Provisioned: pt, Profiles: pr}).Register(mux)
	return mux
}

func ptDo(mux http.Handler, method, path, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w
}

// TestThroughputWire checks status codes and error types of the
// provisioned-throughput and inference-profile operations.
func TestThroughputWire(t *testing.T) {
	mux := newPTMux(t)
	pt := "/provisioned-model-throughput/"
	steps := []struct {
		name, method, path, body string
		status                   int
		errType                  string
		bodyHas                  string
	}{
		{"create-missing-units", "POST", "/provisioned-model-throughput", `{"provisionedModelName":"a","modelId":"model-a"}`, 400, "ValidationException", ""},
		{"create-malformed", "POST", "/provisioned-model-throughput", `{"modelUnits":`, 400, "ValidationException", ""},
		{"create-unknown-field", "POST", "/provisioned-model-throughput", `{"modelUnits":1,"x":1}`, 400, "ValidationException", ""},
		{"create-units-wrong-type", "POST", "/provisioned-model-throughput", `{"modelUnits":"1"}`, 400, "ValidationException", ""},
		{"create-unknown-model", "POST", "/provisioned-model-throughput", `{"modelUnits":1,"provisionedModelName":"a","modelId":"zz"}`, 404, "ResourceNotFoundException", ""},
		{"create", "POST", "/provisioned-model-throughput", `{"modelUnits":1,"provisionedModelName":"pt-a","modelId":"model-a"}`, 201, "", `"provisionedModelArn":"arn:aws:bedrock:us-east-1:111122223333:provisioned-model/`},
		{"get-by-name", "GET", pt + "pt-a", "", 200, "", `"status":"InService"`},
		{"get-unknown", "GET", pt + "nope", "", 404, "ResourceNotFoundException", ""},
		{"list", "GET", "/provisioned-model-throughputs?nameContains=pt&sortBy=CreationTime&sortOrder=Ascending", "", 200, "", `"provisionedModelName":"pt-a"`},
		{"list-bad-status", "GET", "/provisioned-model-throughputs?statusEquals=Asleep", "", 400, "ValidationException", ""},
		{"list-bad-sort", "GET", "/provisioned-model-throughputs?sortOrder=Up", "", 400, "ValidationException", ""},
		{"list-bad-token", "GET", "/provisioned-model-throughputs?nextToken=%21%21", "", 400, "ValidationException", ""},
		{"update-unknown", "PATCH", pt + "nope", `{"desiredProvisionedModelName":"b"}`, 404, "ResourceNotFoundException", ""},
		{"update-rename", "PATCH", pt + "pt-a", `{"desiredProvisionedModelName":"pt-b"}`, 200, "", "{}"},
		{"get-renamed", "GET", pt + "pt-b", "", 200, "", `"provisionedModelName":"pt-b"`},
		{"delete", "DELETE", pt + "pt-b", "", 200, "", "{}"},
		{"delete-again", "DELETE", pt + "pt-b", "", 404, "ResourceNotFoundException", ""},
		{"profile-missing-source", "POST", "/inference-profiles", `{"inferenceProfileName":"p"}`, 400, "ValidationException", ""},
		{"profile-foundation-model", "POST", "/inference-profiles", `{"inferenceProfileName":"p","modelSource":{"copyFrom":"arn:aws:bedrock:us-east-1::foundation-model/x"}}`, 400, "ValidationException", ""},
		{"profile-create", "POST", "/inference-profiles", `{"inferenceProfileName":"p","modelSource":{"copyFrom":"` + ptModelARN + `"},"tags":[{"key":"k","value":"v"}]}`, 201, "", `"status":"ACTIVE"`},
		{"profile-get", "GET", "/inference-profiles/p", "", 200, "", `"type":"APPLICATION"`},
		{"profile-list-bad-type", "GET", "/inference-profiles?type=OTHER", "", 400, "ValidationException", ""},
		{"profile-list-system", "GET", "/inference-profiles?type=SYSTEM_DEFINED", "", 200, "", `{"inferenceProfileSummaries":[]}`},
		{"profile-delete-unknown", "DELETE", "/inference-profiles/nope", "", 404, "ResourceNotFoundException", ""},
		{"tag-unknown-provisioned", "POST", "/tagResource", `{"resourceARN":"arn:aws:bedrock:us-east-1:111122223333:provisioned-model/zzzzzzzzzzzz","tags":[]}`, 404, "ResourceNotFoundException", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			w := ptDo(mux, s.method, s.path, s.body)
			if w.Code != s.status || w.Header().Get("X-Amzn-ErrorType") != s.errType {
				t.Fatalf("got %d %q %s, want %d %q", w.Code, w.Header().Get("X-Amzn-ErrorType"), w.Body, s.status, s.errType)
			}
			if !strings.Contains(w.Body.String(), s.bodyHas) {
				t.Errorf("body %s lacks %s", w.Body, s.bodyHas)
			}
		})
	}
}

func TestThroughputDisabled(t *testing.T) {
	mux := http.NewServeMux()
	(&Handler{Authn: ptRootAuthn{}}).Register(mux)
	for _, path := range []string{"/provisioned-model-throughputs", "/inference-profiles"} {
		if w := ptDo(mux, "GET", path, ""); w.Code != 404 || w.Header().Get("X-Amzn-ErrorType") != "UnknownOperationException" {
			t.Errorf("%s: %d %q", path, w.Code, w.Header().Get("X-Amzn-ErrorType"))
		}
	}
}

// FuzzThroughputBodies checks that no request body makes a create or
// update operation answer a server error.
func FuzzThroughputBodies(f *testing.F) {
	for _, s := range []string{
		`{"modelUnits":1,"provisionedModelName":"a","modelId":"model-a","commitmentDuration":"OneMonth","tags":[{"key":"k","value":"v"}]}`,
		`{"inferenceProfileName":"p","modelSource":{"copyFrom":"` + ptModelARN + `"}}`,
		`{"desiredProvisionedModelName":"b","desiredModelId":"model-a"}`,
		`{"modelUnits":-1}`, `[]`, `null`, `{"modelSource":null}`,
	} {
		f.Add(s)
	}
	mux := newPTMux(f)
	f.Fuzz(func(t *testing.T, body string) {
		for _, r := range []struct{ method, path string }{
			{"POST", "/provisioned-model-throughput"}, {"POST", "/inference-profiles"},
			{"PATCH", "/provisioned-model-throughput/a"},
		} {
			if w := ptDo(mux, r.method, r.path, body); w.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", r.method, r.path, body, w.Code, w.Body)
			}
		}
	})
}
