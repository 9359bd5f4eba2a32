package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/openai/openai-go/v3"
)

// dashboardSummary is the part of GET /dashboard/api/summary the test reads.
type dashboardSummary struct {
	Account     string `json:"account"`
	Invocations []struct {
		Model       string  `json:"model"`
		API         string  `json:"api"`
		Invocations float64 `json:"invocations"`
		Latency     struct {
			Count uint64   `json:"count"`
			Mean  *float64 `json:"mean"`
			P50   *float64 `json:"p50"`
		} `json:"latency"`
		TokensOut float64 `json:"tokens_out"`
	} `json:"invocations"`
}

// TestDashboard makes real invocations, then checks the dashboard in
// Debian's chromium (test/js/dashboard_flow.mjs, playwright-core) shows
// their count and latency, and that its JSON needs an allowed caller.
func TestDashboard(t *testing.T) {
	const chromium = "/usr/bin/chromium"
	jsDir := jsTestDir(t)
	for _, need := range []string{chromium, filepath.Join(jsDir, "node_modules", "playwright-core")} {
		if _, err := os.Stat(need); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing: .ci/run installs chromium and runs npm ci in test/js", need)
			}
			t.Skipf("%s is missing; install Debian's chromium (apt-get install chromium) and run (cd test/js && npm ci)", need)
		}
	}
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	modelARN := importStories(t, s, "dash")
	s.stop()
	// Restart with one /query tier on the model, so the tier table has a row.
	cfg := writeConfig(t, `
router:
  strategy: heuristic
  tiers:
    - {name: simple, model: dash, input_per_1k: 0.0002, output_per_1k: 0.0006}
support: {max_tokens: 16}
`)
	s = startServer(t, dataDir, "--config", cfg)
	key := createAPIKey(t, s)

	// Unauthenticated and unsigned callers get no data.
	resp, err := http.Get(s.endpoint + "/dashboard/api/summary")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error, Type string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || e.Type != "MissingAuthenticationTokenException" || e.Error == "" {
		t.Fatalf("unauthenticated summary: %d %+v", resp.StatusCode, e)
	}

	const n = 3
	c := openaiClient(s, key)
	var clientTotal, clientMax time.Duration
	for range n {
		start := time.Now()
		_, err := c.Completions.New(t.Context(), openai.CompletionNewParams{Model: "dash",
			Prompt:    openai.CompletionNewParamsPromptUnion{OfString: openai.String("Once upon a time")},
			MaxTokens: openai.Int(30), Temperature: openai.Float(0)})
		if err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		clientTotal += d
		clientMax = max(clientMax, d)
	}

	code, q := postQuery(t, s, key, `{"query":"Once upon a time"}`)
	if code != 200 || q.Tier != "simple" || q.CostUSD <= 0 {
		t.Fatalf("query: %d %+v", code, q)
	}

	// The JSON, with the API key and with a SigV4 signature.
	bearer, _ := http.NewRequest("GET", s.endpoint+"/dashboard/api/summary", nil)
	bearer.Header.Set("Authorization", "Bearer "+key)
	sum := getSummary(t, bearer)
	signed, _ := http.NewRequest("GET", s.endpoint+"/dashboard/api/summary", nil)
	akid, secret := s.credentials(t)
	empty := sha256.Sum256(nil)
	signed.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(empty[:]))
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, signed, hex.EncodeToString(empty[:]), "bedrock", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := getSummary(t, signed); got.Account != sum.Account {
		t.Errorf("SigV4 summary is for account %q, the key's for %q", got.Account, sum.Account)
	}
	var mean, p50 float64
	found := false
	for _, r := range sum.Invocations {
		if r.Model == modelARN && r.API == "completions" {
			found = true
			if r.Invocations != n || r.Latency.Count != n || r.Latency.Mean == nil || r.Latency.P50 == nil || r.TokensOut == 0 {
				t.Fatalf("summary row %+v, want %d invocations with latency", r, n)
			}
			mean, p50 = *r.Latency.Mean, *r.Latency.P50
		}
	}
	if !found {
		t.Fatalf("no row for %s completions in %+v", modelARN, sum)
	}
	// Server latency is within what the client saw: the mean exactly (it
	// is sum/count), the median up to its bucket (bounds at most 2.5x apart).
	clientMean := (clientTotal / n).Seconds()
	if mean <= 0 || mean > clientMean || p50 <= 0 || p50 > 2.5*clientMax.Seconds() {
		t.Errorf("summary latency mean %v p50 %v; the client saw mean %v max %v", mean, p50, clientMean, clientMax.Seconds())
	}

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	cmd := exec.CommandContext(t.Context(), "node", "dashboard_flow.mjs", key, modelARN, "completions", shot)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "STRATA_ENDPOINT="+s.endpoint, "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node dashboard_flow.mjs: %v\n%s", err, out)
	}
	var res struct {
		OK    bool `json:"ok"`
		Shown struct {
			Invocations      string `json:"invocations"`
			LatencyMean      string `json:"latency_mean"`
			LatencyP50       string `json:"latency_p50"`
			TokensOut        string `json:"tokens_out"`
			TotalInvocations string `json:"total_invocations"`
			Rate             string `json:"rate"`
			KeyInStorage     bool   `json:"key_in_storage"`
			TierQueries      string `json:"tier_queries"`
			TierCost         string `json:"tier_cost"`
		} `json:"shown"`
	}
	line := out[strings.LastIndexByte(strings.TrimSpace(string(out)), '\n')+1:]
	if err := json.Unmarshal(line, &res); err != nil || !res.OK {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	sh := res.Shown
	t.Logf("the page shows %+v; screenshot %s", sh, shot)
	// The query's own invocation is on its row (API "query").
	// The page shows cost to a millionth of a dollar.
	cost, err := strconv.ParseFloat(strings.TrimPrefix(sh.TierCost, "$"), 64)
	if err != nil || cost-q.CostUSD > 5e-7 || q.CostUSD-cost > 5e-7 {
		t.Errorf("page shows tier cost %q, the query cost %v", sh.TierCost, q.CostUSD)
	}
	if sh.Invocations != strconv.Itoa(n) || sh.TotalInvocations != strconv.Itoa(n+1) || sh.TierQueries != "1" || !sh.KeyInStorage || !strings.HasSuffix(sh.Rate, "/s") {
		t.Errorf("page shows %+v, want %d invocations", sh, n)
	}
	// The page rounds to 0.1 ms (0.01 ms under 10 ms), or to 10 ms from a second.
	for _, c := range []struct {
		name, shown string
		want        float64
	}{{"mean", sh.LatencyMean, mean}, {"p50", sh.LatencyP50, p50}} {
		got, ok := parseSeconds(c.shown)
		if !ok || got-c.want > 0.006 || c.want-got > 0.006 || (c.want < 1 && (got-c.want > 5e-5 || c.want-got > 5e-5)) {
			t.Errorf("page shows latency %s %q, the summary says %v s", c.name, c.shown, c.want)
		}
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Errorf("screenshot: %v", err)
	}
	// A debug knob: keep the screenshot for a person to look at.
	if keep := os.Getenv("STRATA_DASHBOARD_SCREENSHOT"); keep != "" {
		if b, err := os.ReadFile(shot); err == nil {
			os.WriteFile(keep, b, 0o644)
		}
	}
}

func getSummary(t *testing.T, r *http.Request) dashboardSummary {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s dashboardSummary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 || s.Account == "" {
		t.Fatalf("summary: %d %v %+v", resp.StatusCode, err, s)
	}
	return s
}

// parseSeconds reads the page's "12.3 ms" or "1.23 s".
func parseSeconds(s string) (float64, bool) {
	v, unit, ok := strings.Cut(s, " ")
	f, err := strconv.ParseFloat(v, 64)
	if !ok || err != nil {
		return 0, false
	}
	switch unit {
	case "ms":
		return f / 1000, true
	case "s":
		return f, true
	}
	return 0, false
}
