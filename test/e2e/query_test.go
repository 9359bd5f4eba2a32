package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"strata/internal/engine/upstream/upstreamtest"
	"strata/internal/modelgen"
)

type queryResponse struct {
	Query           string  `json:"query"`
	Response        string  `json:"response"`
	ModelUsed       string  `json:"model_used"`
	LatencySeconds  float64 `json:"latency_seconds"`
	ComplexityScore float64 `json:"complexity_score"`
	Tier            string  `json:"tier"`
	CostUSD         float64 `json:"cost_usd"`
	Escalated       bool    `json:"escalated"`
	RequestID       string  `json:"request_id"`
	Rule            string  `json:"rule"`
	Error           string  `json:"error"`
}

func postQuery(t *testing.T, s *server, key, body string) (int, queryResponse) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.endpoint+"/query", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out queryResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("/query answered %s: %s", resp.Status, b)
	}
	return resp.StatusCode, out
}

// TestQueryTiers runs POST /query against three tiers: two imported models
// served by the built-in engine (stories260K, a real small model, and a
// random TinyMistral whose answers are never confident) and a loopback
// remote engine on top. It checks the guides' response fields, routing to
// the cheap tier, the dispute rule, escalation on low confidence, fallback
// when a tier is throttled, and the cost in the records.
func TestQueryTiers(t *testing.T) {
	top := upstreamtest.NewOpenAIServer(upstreamtest.OpenAIOptions{Model: "top", Reply: []string{"I", " can", " help", " with", " that."}})
	t.Cleanup(top.Close)
	dataDir := t.TempDir()
	s := startServer(t, dataDir)
	cheapARN := importStories(t, s, "cheap")
	mid := importGenerated(t, s, "mid", modelgen.TinyMistral())
	s.stop()

	// Restart with the tiers and a one-request-per-minute quota on the cheap
	// model, so its second query is throttled.
	cheapID := cheapARN[strings.LastIndex(cheapARN, "/")+1:]
	cfg := writeConfig(t, fmt.Sprintf(`
runtime: {cold_start_wait: 60s}
quotas:
  overrides: [{model: %q, requests_per_minute: 1}]
engines:
  - {name: top, type: openai, url: %q, model: top, estimate_tokens: true, probe_interval: 0s, retries: 0}
router:
  strategy: heuristic
  tiers:
    - {name: simple, model: cheap, input_per_1k: 0.0002, output_per_1k: 0.0006}
    - {name: standard, model: mid, input_per_1k: 0.001, output_per_1k: 0.003}
    - {name: complex, model: top, input_per_1k: 0.006, output_per_1k: 0.018}
  cascade: {min_mean_logprob: -4.5}
support: {max_tokens: 24}
`, cheapID, top.BaseURL()))
	s = startServer(t, dataDir, "--config", cfg)
	_ = mid
	key := createAPIKey(t, s)

	code, bad := postQuery(t, s, key, `{"query":"  "}`)
	if code != 400 || bad.Error == "" {
		t.Errorf("empty query: %d %+v", code, bad)
	}
	if code, _ := postQuery(t, s, key, `{}`); code != 400 {
		t.Errorf("missing query: %d", code)
	}

	// A simple query: the cheap tier answers, confidently.
	code, simple := postQuery(t, s, key, `{"query":"Once upon a time"}`)
	if code != 200 || simple.Tier != "simple" || simple.ModelUsed != "cheap" || simple.Escalated || simple.Response == "" {
		t.Fatalf("simple query: %d %+v", code, simple)
	}
	if simple.Query != "Once upon a time" || simple.RequestID == "" || simple.CostUSD <= 0 || simple.LatencySeconds <= 0 || simple.ComplexityScore <= 0 {
		t.Errorf("simple query fields: %+v", simple)
	}

	// A dispute goes straight to the top tier.
	code, dispute := postQuery(t, s, key, `{"query":"I want to dispute a charge on my card 4111 1111 1111 1111"}`)
	if code != 200 || dispute.Tier != "complex" || dispute.ModelUsed != "top" || dispute.Escalated || dispute.Rule == "" {
		t.Errorf("dispute: %d %+v", code, dispute)
	}
	if strings.Contains(dispute.Query, "4111 1111 1111 1111") {
		t.Errorf("the response echoes the card number: %q", dispute.Query)
	}

	// A standard query: the random model's answer is unsure, so the top
	// tier answers instead.
	code, unsure := postQuery(t, s, key, `{"query":"What is the difference between a debit card and a credit card for online payments?"}`)
	if code != 200 || unsure.Tier != "complex" || !unsure.Escalated {
		t.Errorf("low-confidence answer not escalated: %d %+v", code, unsure)
	}

	// The cheap tier's quota is spent: its next query falls back upwards.
	code, throttled := postQuery(t, s, key, `{"query":"Once upon a time"}`)
	if code != 200 || throttled.Tier == "simple" || !throttled.Escalated {
		t.Errorf("throttled tier did not fall back: %d %+v", code, throttled)
	}

	// The cost is recorded: strata report cost reads the audit trail.
	time.Sleep(300 * time.Millisecond) // the trail flushes every 100 ms
	out := strataCLI(t, "report", "cost", "--data-dir", dataDir, "--format", "json")
	var rep struct {
		Total struct {
			Requests, Escalated int
			CostUSD             float64 `json:"cost_usd"`
		} `json:"total"`
		ByTier []struct {
			Key      string  `json:"key"`
			Requests int     `json:"requests"`
			CostUSD  float64 `json:"cost_usd"`
		} `json:"by_tier"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	tiers := map[string]int{}
	var sum float64
	for _, l := range rep.ByTier {
		tiers[l.Key] = l.Requests
		if l.Key != "(direct)" {
			sum += l.CostUSD
		}
	}
	want := simple.CostUSD + dispute.CostUSD + unsure.CostUSD + throttled.CostUSD
	if tiers["simple"] != 1 || tiers["complex"] != 3 || !near(sum, want) {
		t.Errorf("report by tier %v, cost %.8f, want %.8f:\n%s", tiers, sum, want, out)
	}
	// Every operation is in the hash-chained trail, and the chain holds.
	if out := strataCLI(t, "audit", "verify", "--data-dir", dataDir); !strings.HasPrefix(out, "audit trail intact") {
		t.Errorf("audit verify: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dataDir, "metadata.db")); bytes.Contains(b, []byte("4111111111111111")) {
		t.Error("the card number is in the stored records")
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}
