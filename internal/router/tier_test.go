package router

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "empty-gives-defaults", yaml: "", check: func(t *testing.T, c Config) {
			if c.Strategy != "heuristic" || len(c.Tiers) != 3 || c.Rules == nil || !*c.Rules {
				t.Errorf("defaults = %+v", c)
			}
			in := []float64{c.Tiers[0].InputPer1K, c.Tiers[1].InputPer1K, c.Tiers[2].InputPer1K}
			if r1, r2 := in[1]/in[0], in[2]/in[0]; r1 < 4.999 || r1 > 5.001 || r2 < 29.999 || r2 > 30.001 {
				t.Errorf("default price ratio 1:%v:%v, want 1:5:30", r1, r2)
			}
		}},
		{name: "learned-two-tiers", yaml: `
strategy: learned
model_file: /tmp/router.model
bounds: [0.05]
rules: false
cascade: {min_mean_logprob: -0.7, min_token_logprob: -4}
tiers:
  - {name: small, model: arn:aws:bedrock:us-east-1:123456789012:imported-model/abc, input_per_1k: 0.0002, output_per_1k: 0.0006, latency_objective: 2s, max_prompt_tokens: 4096}
  - {name: big, model: vllm-fleet, per_hour: 20, concurrency: 8, timeout: 30s, tag: support}
`, check: func(t *testing.T, c Config) {
			if c.Strategy != "learned" || len(c.Tiers) != 2 || *c.Rules || c.Tiers[0].LatencyObjective != 2*time.Second ||
				c.Tiers[1].Timeout != 30*time.Second || c.Tiers[1].Concurrency != 8 || c.Cascade.MinTokenLogprob != -4 {
				t.Errorf("parsed = %+v", c)
			}
		}},
		{name: "unknown-field", yaml: "strategy: heuristic\nbogus: 1\n", wantErr: "bogus"},
		{name: "unknown-strategy", yaml: "strategy: magic\n", wantErr: "unknown strategy"},
		{name: "learned-without-model", yaml: "strategy: learned\n", wantErr: "model_file"},
		{name: "duplicate-tier", yaml: "tiers: [{name: a, model: m}, {name: a, model: m}]\n", wantErr: "twice"},
		{name: "tier-without-model", yaml: "tiers: [{name: a}]\n", wantErr: "no model"},
		{name: "negative-price", yaml: "tiers: [{name: a, model: m, input_per_1k: -1}]\n", wantErr: "negative price"},
		{name: "bound-out-of-range", yaml: "bounds: [1.5]\n", wantErr: "bound"},
		{name: "positive-logprob-threshold", yaml: "cascade: {min_mean_logprob: 0.5}\n", wantErr: "<= 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestRouterRoute(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Tiers[0].MaxPromptTokens = 10
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		query    string
		tier     string
		handoff  bool
		rule     string
		strategy string
		tooLong  bool
	}{
		{name: "simple", query: "What is my balance", tier: "simple", strategy: "heuristic"},
		{name: "fraud-to-top", query: "Someone made a fraudulent payment", tier: "complex", rule: "fraud", strategy: "rules"},
		{name: "person-handoff", query: "I want to speak to a human", tier: "simple", handoff: true, rule: "ask_for_person", strategy: "rules"},
		{name: "too-long-moves-up", query: strings.Repeat("balance ", 10), tier: "standard", strategy: "heuristic", tooLong: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := r.Route(tc.query)
			if d.TierName != tc.tier || d.Handoff != tc.handoff || d.Rule != tc.rule || d.Strategy != tc.strategy || d.PromptTooLong != tc.tooLong || d.Model != DefaultLocalModel {
				t.Errorf("Route(%q) = %+v", tc.query, d)
			}
		})
	}
	if _, err := New(Config{Tiers: DefaultTiers(), Strategy: "learned", ModelFile: "x"}, nil); err == nil {
		t.Error("learned without a model accepted")
	}
}

func TestRiskTier(t *testing.T) {
	tests := []struct {
		name   string
		p      []float64
		bounds []float64
		want   int
	}{
		{"confident-low", []float64{0.9, 0.08, 0.02}, []float64{0.5, 0.05}, 0},
		{"top-risk-blocks-low", []float64{0.6, 0.0, 0.4}, []float64{0.5, 0.05}, 2},
		{"middle", []float64{0.2, 0.78, 0.02}, []float64{0.5, 0.05}, 1},
		{"top", []float64{0.1, 0.1, 0.8}, []float64{0.5, 0.05}, 2},
		{"zero-bound-always-top", []float64{1, 0, 0}, []float64{0, 0}, 2},
		{"missing-bounds-top", []float64{1, 0, 0}, nil, 2},
		{"one-tier", []float64{1}, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RiskTier(tc.p, tc.bounds); got != tc.want {
				t.Errorf("RiskTier(%v, %v) = %d, want %d", tc.p, tc.bounds, got, tc.want)
			}
		})
	}
}
