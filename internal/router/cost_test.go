package router

import (
	"math"
	"testing"
	"time"
)

func TestCost(t *testing.T) {
	tests := []struct {
		name    string
		tier    Tier
		in, out int
		latency time.Duration
		want    float64
	}{
		{"tokens", Tier{InputPer1K: 0.001, OutputPer1K: 0.003}, 2000, 500, time.Second, 0.002 + 0.0015},
		{"provisioned-share", Tier{PerHour: 36}, 0, 0, 10 * time.Second, 0.1},
		{"provisioned-concurrency", Tier{PerHour: 36, Concurrency: 4}, 0, 0, 10 * time.Second, 0.025},
		{"free", Tier{}, 100, 100, time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Cost(tc.tier, tc.in, tc.out, tc.latency); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("Cost = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tiers := []Tier{{Name: "simple", Model: "m1", Tag: "team-a"}, {Name: "complex", Model: "m2", Tag: "team-a"}}
	d := Decision{Tier: 0, Strategy: "learned", ComplexityScore: 2}
	escalated := Result{Tier: 1, Escalated: true, CostUSD: 0.5, Latency: 2 * time.Second, Attempts: []Attempt{
		{Tier: 0, InputTokens: 10, OutputTokens: 5}, {Tier: 1, InputTokens: 10, OutputTokens: 7},
	}}
	plain := Result{Tier: 0, CostUSD: 0.1, Latency: time.Second, Attempts: []Attempt{{Tier: 0, InputTokens: 3, OutputTokens: 4}}}
	now := time.Unix(0, 0)
	outs := []Outcome{
		NewOutcome("r1", now, tiers, d, escalated, false),
		NewOutcome("r2", now, tiers, d, plain, false),
		NewOutcome("r3", now, tiers, Decision{Handoff: true, Strategy: "rules"}, Result{}, false),
	}
	if o := outs[0]; o.Tier != "complex" || o.Model != "m2" || !o.Escalated || o.InputTokens != 20 || o.OutputTokens != 12 || o.Attempts != 2 {
		t.Errorf("escalated outcome = %+v", o)
	}
	r := Summarize(outs)
	if r.Total.Requests != 3 || math.Abs(r.Total.CostUSD-0.6) > 1e-12 || r.Total.Escalated != 1 || r.Total.Handoffs != 1 {
		t.Errorf("total = %+v", r.Total)
	}
	if math.Abs(r.Total.MeanLatencySeconds-1) > 1e-12 {
		t.Errorf("mean latency = %v, want 1", r.Total.MeanLatencySeconds)
	}
	wantTiers := []string{"complex", "handoff", "simple"}
	if len(r.ByTier) != 3 {
		t.Fatalf("by tier = %+v", r.ByTier)
	}
	for i, l := range r.ByTier {
		if l.Key != wantTiers[i] || l.Requests != 1 {
			t.Errorf("by tier %d = %+v, want key %s", i, l, wantTiers[i])
		}
	}
	if len(r.ByTag) != 2 || r.ByTag[1].Key != "team-a" || r.ByTag[1].Requests != 2 {
		t.Errorf("by tag = %+v", r.ByTag)
	}
}
