package dashboard

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"strata/internal/apierr"
	"strata/internal/auth"
	"strata/internal/iam"
	"strata/internal/metrics"
	"strata/internal/router"
	"strata/internal/runtime"
	"strata/internal/server"
)

const (
	account = "111122223333"
	other   = "444455556666"
)

var (
	modelARN = "arn:aws:bedrock:us-east-1:" + account + ":imported-model/abc123"
	otherARN = "arn:aws:bedrock:us-east-1:" + other + ":imported-model/zzz999"
	provARN  = "arn:aws:bedrock:us-east-1:" + account + ":provisioned-model/pt1"
)

var adminPolicy = iam.MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`, false)

func principal(account string, policies ...*iam.Policy) *iam.Principal {
	return &iam.Principal{Account: account, Kind: iam.KindUser, Name: "u", ARN: "arn:aws:iam::" + account + ":user/u", Policies: policies}
}

// fill records known observations through strata's own Metrics.
func fill(m *metrics.Metrics) {
	ctx := context.Background()
	obs := func(model, api string, lat, first time.Duration, in, out int, err error) {
		m.Observe(ctx, &runtime.Invocation{Target: &runtime.Target{ARN: model}, API: api},
			&runtime.Result{Latency: lat, FirstToken: first, InputTokens: in, OutputTokens: out}, err)
	}
	ms := time.Millisecond
	obs(modelARN, "InvokeModel", 2*ms, 1*ms, 5, 10, nil)
	obs(modelARN, "InvokeModel", 4*ms, 3*ms, 5, 20, nil)
	obs(modelARN, "InvokeModel", 20*ms, 0, 7, 0, apierr.New(apierr.Throttling, "slow down"))
	obs(modelARN, "InvokeModel", 200*ms, 0, 0, 0, apierr.New(apierr.Validation, "bad"))
	obs(modelARN, "chat.completions", 30*ms, 0, 1, 1, nil)
	obs(otherARN, "InvokeModel", 5*ms, 0, 100, 100, nil)
	obs("mistral-large", "Converse", 1500*ms, 0, 3, 4, nil)
	m.ModelLoaded(modelARN, 300*ms, nil)
	m.ModelLoaded(modelARN, 0, context.DeadlineExceeded)
	m.ModelEvicted(modelARN)
	m.ModelLoaded(otherARN, 100*ms, nil)
	m.Query(router.Outcome{Tier: "simple", Model: "stories", CostUSD: 0.001, Latency: 10 * ms})
	m.Query(router.Outcome{Tier: "simple", Model: "stories", CostUSD: 0.001, Latency: 40 * ms})
	m.Query(router.Outcome{Tier: "complex", Model: "mistral-large", CostUSD: 0.02, Latency: 2 * time.Second, Escalated: true, Failed: true})
	m.Gauge("strata_provisioned_utilization", "test", []string{"provisioned_model", "model"}, func() []metrics.Sample {
		return []metrics.Sample{{Labels: []string{provARN, modelARN}, Value: 0.5}}
	})
}

func f(v float64) *float64 { return &v }

func TestSummary(t *testing.T) {
	m := metrics.New()
	fill(m)
	h := &Handler{Authn: fixed{principal(account, adminPolicy)}, Authorizer: &iam.Evaluator{}, Gatherer: m.Registry}
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/dashboard/api/summary", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v\n%s", rec.Code, rec.Header(), rec.Body)
	}
	var got Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	got.GeneratedAt = time.Time{}
	want := Summary{
		Account: account,
		Totals:  Totals{Invocations: 6, Errors: 2, Throttles: 1, TokensIn: 21, TokensOut: 35},
		Invocations: []Invocations{
			// Latencies 2, 4, 20, 200 ms: p50 is rank 2 of 4, the top of
			// the (2.5, 5] ms bucket; p95 is rank 3.8, 80% into (100, 250] ms.
			{Model: modelARN, API: "InvokeModel", Invocations: 4, Errors: 2,
				ErrorTypes: map[string]float64{"ThrottlingException": 1, "ValidationException": 1}, Throttles: 1,
				Latency:    Dist{Count: 4, Sum: 0.226, Mean: f(0.0565), P50: f(0.005), P95: f(0.22)},
				FirstToken: Dist{Count: 2, Sum: 0.004, Mean: f(0.002), P50: f(0.001), P95: f(0.0025 + 0.0025*0.9)},
				TokensIn:   17, TokensOut: 30},
			{Model: modelARN, API: "chat.completions", Invocations: 1, ErrorTypes: map[string]float64{},
				Latency:  Dist{Count: 1, Sum: 0.03, Mean: f(0.03), P50: f(0.025 + 0.025*0.5), P95: f(0.025 + 0.025*0.95)},
				TokensIn: 1, TokensOut: 1},
			{Model: "mistral-large", API: "Converse", Invocations: 1, ErrorTypes: map[string]float64{},
				Latency:  Dist{Count: 1, Sum: 1.5, Mean: f(1.5), P50: f(1 + 1.5*0.5), P95: f(1 + 1.5*0.95)},
				TokensIn: 3, TokensOut: 4},
		},
		Models: []Model{{Model: modelARN, Loads: 1, LoadFailures: 1, Evictions: 1,
			LoadTime: Dist{Count: 1, Sum: 0.3, Mean: f(0.3), P50: f(0.25 + 0.25*0.5), P95: f(0.25 + 0.25*0.95)}}},
		Provisioned: []Provisioned{{ProvisionedModel: provARN, Model: modelARN, Utilization: 0.5}},
		Tiers: []Tier{
			{Tier: "complex", Queries: 1, Escalated: 1, Failed: 1, CostUSD: 0.02,
				Latency: Dist{Count: 1, Sum: 2, Mean: f(2), P50: f(1 + 1.5*0.5), P95: f(1 + 1.5*0.95)}},
			{Tier: "simple", Queries: 2, CostUSD: 0.002,
				Latency: Dist{Count: 2, Sum: 0.05, Mean: f(0.025), P50: f(0.01), P95: f(0.025 + 0.025*0.9)}},
		},
	}
	if !approxEqual(reflect.ValueOf(want), reflect.ValueOf(got)) {
		w, _ := json.MarshalIndent(want, "", " ")
		g, _ := json.MarshalIndent(got, "", " ")
		t.Errorf("summary differs\n got %s\nwant %s", g, w)
	}
	if strings.Contains(rec.Body.String(), other) {
		t.Error("another account's model is in the summary")
	}
}

// approxEqual is reflect.DeepEqual with floats compared to 1e-9.
func approxEqual(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Float64:
		return math.Abs(a.Float()-b.Float()) < 1e-9
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return approxEqual(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !approxEqual(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !approxEqual(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			if v := b.MapIndex(k); !v.IsValid() || !approxEqual(a.MapIndex(k), v) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint64:
		return a.Uint() == b.Uint()
	}
	return a.IsZero() && b.IsZero()
}

func TestEmptySummary(t *testing.T) {
	s := summarize(nil, account, time.Unix(0, 0))
	b, _ := json.Marshal(s)
	want := `{"generated_at":"1970-01-01T00:00:00Z","account":"111122223333","totals":{"invocations":0,"errors":0,"throttles":0,"tokens_in":0,"tokens_out":0},"invocations":[],"models":[],"provisioned":[],"tiers":[]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// fixed authenticates every request as one principal.
type fixed struct{ p *iam.Principal }

func (f fixed) Authenticate(*http.Request) (*iam.Principal, []byte, error) { return f.p, nil, nil }

func TestSummaryAuth(t *testing.T) {
	m := metrics.New()
	fill(m)
	readOnly := iam.MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudwatch:GetMetricData",
		"Resource":"arn:aws:cloudwatch::`+account+`:dashboard/strata"}]}`, false)
	denyAll := iam.MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"cloudwatch:*","Resource":"*"}]}`, false)
	bedrockOnly := iam.MustParsePolicy(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}`, false)
	keys := map[string]*iam.Principal{}
	key := func(p *iam.Principal) string {
		k, _ := auth.NewAPIKey()
		keys[k] = p
		return k
	}
	admin, reader := key(principal(account, adminPolicy)), key(principal(account, readOnly))
	denied, noGrant := key(principal(account, adminPolicy, denyAll)), key(principal(account, bedrockOnly))
	unknown, _ := auth.NewAPIKey()
	bearer := server.NewBearer(func(_ context.Context, k string) (*iam.Principal, error) {
		if p, ok := keys[k]; ok {
			return p, nil
		}
		return nil, iam.ErrNoSuchEntity
	}, nil)
	mux := http.NewServeMux()
	(&Handler{Authn: bearer, Authorizer: &iam.Evaluator{}, Gatherer: m.Registry}).Register(mux)
	for _, tc := range []struct {
		name, auth string
		status     int
		typ        string
	}{
		{"no-key-is-401", "", 401, "MissingAuthenticationTokenException"},
		{"unknown-key-is-401", "Bearer " + unknown, 401, "UnrecognizedClientException"},
		{"malformed-key-is-401", "Bearer sk-nope", 401, "UnrecognizedClientException"},
		{"admin-is-200", "Bearer " + admin, 200, ""},
		{"read-only-policy-is-200", "Bearer " + reader, 200, ""},
		{"explicit-deny-is-403", "Bearer " + denied, 403, "AccessDeniedException"},
		{"no-grant-is-403", "Bearer " + noGrant, 403, "AccessDeniedException"},
		{"sigv4-without-verifier-is-401", "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00", 401, "MissingAuthenticationTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/dashboard/api/summary", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				return
			}
			var e struct{ Error, Type string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type != tc.typ || e.Error == "" {
				t.Errorf("error body %s (%v), want type %s", rec.Body, err, tc.typ)
			}
			if strings.Contains(rec.Body.String(), "invocations") {
				t.Error("a refused request got data")
			}
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestPage(t *testing.T) {
	mux := http.NewServeMux()
	(&Handler{}).Register(mux)
	for _, tc := range []struct {
		name, path, ctype, contains string
	}{
		{"page", "/dashboard", "text/html; charset=utf-8", `src="/dashboard/dashboard.js"`},
		{"page-slash", "/dashboard/", "text/html; charset=utf-8", `id="invocations"`},
		{"script", "/dashboard/dashboard.js", "text/javascript; charset=utf-8", "/dashboard/api/summary"},
		{"style", "/dashboard/dashboard.css", "text/css; charset=utf-8", "font-family"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != 200 || rec.Header().Get("Content-Type") != tc.ctype || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Fatalf("%d %q: %.200s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
				t.Error("no Content-Security-Policy")
			}
		})
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/dashboard/nope.js", nil))
	if rec.Code != 404 {
		t.Errorf("missing asset: %d", rec.Code)
	}
}

func TestQuantile(t *testing.T) {
	bs := []bucket{{1, 2}, {2, 6}, {4, 10}}
	for _, tc := range []struct {
		name  string
		q     float64
		bs    []bucket
		total float64
		want  *float64
	}{
		{"median-interpolates", 0.5, bs, 10, f(1.75)},
		{"first-bucket-from-zero", 0.1, bs, 10, f(0.5)},
		{"top", 1, bs, 10, f(4)},
		{"past-last-finite-bucket", 0.99, bs, 20, f(4)},
		{"inf-bucket-ignored", 0.5, append([]bucket{{math.Inf(1), 10}}, bs...), 10, f(1.75)},
		{"unsorted", 0.5, []bucket{{4, 10}, {1, 2}, {2, 6}}, 10, f(1.75)},
		{"empty", 0.5, bs, 0, nil},
		{"no-buckets", 0.5, nil, 3, nil},
		{"q-out-of-range", 1.5, bs, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quantile(tc.q, tc.bs, tc.total)
			if (got == nil) != (tc.want == nil) || got != nil && math.Abs(*got-*tc.want) > 1e-12 {
				t.Errorf("quantile = %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// FuzzQuantile checks that any buckets give no panic and an estimate
// within the finite bounds, monotone in q.
func FuzzQuantile(f *testing.F) {
	f.Add(1.0, 2.0, 2.0, 6.0, 4.0, 10.0, 10.0, 0.5)
	f.Add(-1.0, 0.0, 0.0, 0.0, math.Inf(1), 3.0, 3.0, 0.95)
	f.Fuzz(func(t *testing.T, u1, c1, u2, c2, u3, c3, total, q float64) {
		bs := []bucket{{u1, c1}, {u2, c2}, {u3, c3}}
		lo, hi := quantile(0, bs, total), quantile(q, bs, total)
		if lo == nil || hi == nil {
			return
		}
		if q >= 0 && q <= 1 && !math.IsNaN(*lo) && !math.IsNaN(*hi) && *hi < *lo-1e-9*math.Max(1, math.Abs(*lo)) {
			t.Errorf("q=%v gives %v below q=0's %v", q, *hi, *lo)
		}
	})
}
