package router_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"strata/internal/router"
)

// echoEngine answers every query by echoing it; the simple tier is
// throttled, to show the fallback.
type echoEngine struct{}

func (echoEngine) Answer(ctx context.Context, tier router.Tier, query string) (router.Answer, error) {
	if tier.Name == "simple" {
		return router.Answer{}, fmt.Errorf("engine %s: %w", tier.Model, router.ErrThrottled)
	}
	return router.Answer{Text: "re: " + strings.ToLower(query), InputTokens: 1000, OutputTokens: 1000, Logprobs: []float64{-0.1}, Latency: time.Second}, nil
}

// The wiring of POST /query: route, answer through the cascade, record.
func Example() {
	cfg, err := router.ParseConfig([]byte("strategy: heuristic\ncascade: {min_mean_logprob: -1}\n"))
	if err != nil {
		panic(err)
	}
	r, err := router.New(cfg, nil) // a learned strategy takes router.LoadModel(cfg.ModelFile)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for _, q := range []string{"What is my balance", "Someone made a fraudulent payment", "Let me speak to a real person"} {
		d := r.Route(q)
		if d.Handoff {
			o := router.NewOutcome("req", time.Time{}, r.Tiers(), d, router.Result{}, false)
			fmt.Printf("%q -> %s (rule %s)\n", q, o.Tier, d.Rule)
			continue
		}
		res, err := router.Cascade(ctx, echoEngine{}, r.Tiers(), d.Tier, q, cfg.Cascade)
		o := router.NewOutcome("req", time.Time{}, r.Tiers(), d, res, err != nil)
		fmt.Printf("%q -> routed %s, answered by %s, escalated %v, cost $%.4f, score %v\n", q, d.TierName, o.Tier, o.Escalated, o.CostUSD, o.ComplexityScore)
	}
	// Output:
	// "What is my balance" -> routed simple, answered by standard, escalated true, cost $0.0040, score 1
	// "Someone made a fraudulent payment" -> routed complex, answered by complex, escalated false, cost $0.0240, score 1
	// "Let me speak to a real person" -> handoff (rule ask_for_person)
}
