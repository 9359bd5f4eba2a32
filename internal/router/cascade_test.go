package router

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptedEngine is a deterministic Answerer: each tier answers with a
// fixed confidence, or fails in a fixed way. It counts its calls.
type scriptedEngine struct {
	mu    sync.Mutex
	calls []string
	// by tier name: confidence is the per-token probability of the
	// answer's tokens; fail is returned instead of an answer; hang makes
	// the tier wait for its context.
	confidence map[string]float64
	fail       map[string]error
	hang       map[string]bool
}

func (e *scriptedEngine) Answer(ctx context.Context, tier Tier, query string) (Answer, error) {
	e.mu.Lock()
	e.calls = append(e.calls, tier.Name)
	e.mu.Unlock()
	if e.hang[tier.Name] {
		<-ctx.Done()
		return Answer{}, fmt.Errorf("engine %s: %w", tier.Model, ctx.Err())
	}
	if err := e.fail[tier.Name]; err != nil {
		return Answer{}, fmt.Errorf("engine %s: %w", tier.Model, err)
	}
	words := strings.Fields(query)
	lp := make([]float64, len(words))
	for i := range lp {
		lp[i] = math.Log(e.confidence[tier.Name])
	}
	return Answer{
		Text:        tier.Name + " says: " + strings.Join(words, " "),
		InputTokens: EstimateTokens(query), OutputTokens: len(words),
		Logprobs: lp, Latency: 10 * time.Millisecond,
	}, nil
}

func TestCascade(t *testing.T) {
	tiers := []Tier{
		{Name: "simple", Model: "m1", InputPer1K: 1, OutputPer1K: 1},
		{Name: "standard", Model: "m2", InputPer1K: 5, OutputPer1K: 5},
		{Name: "complex", Model: "m3", InputPer1K: 30, OutputPer1K: 30, PerHour: 3600, Timeout: 20 * time.Millisecond},
	}
	conf := Confidence{MinMeanLogprob: -0.5, MinTokenLogprob: -1}
	const query = "how do I change my pin" // 6 words, 6 input tokens
	tests := []struct {
		name      string
		engine    *scriptedEngine
		start     int
		wantTier  int
		escalated bool
		outcomes  []string
		wantErr   error
	}{
		{
			name:     "confident-cheap-tier-answers",
			engine:   &scriptedEngine{confidence: map[string]float64{"simple": 0.9}},
			wantTier: 0, outcomes: []string{OutcomeAnswered},
		},
		{
			name:     "low-confidence-escalates",
			engine:   &scriptedEngine{confidence: map[string]float64{"simple": 0.3, "standard": 0.95}},
			wantTier: 1, escalated: true, outcomes: []string{OutcomeLowConfidence, OutcomeAnswered},
		},
		{
			name:     "throttled-falls-back",
			engine:   &scriptedEngine{confidence: map[string]float64{"standard": 0.9}, fail: map[string]error{"simple": ErrThrottled}},
			wantTier: 1, escalated: true, outcomes: []string{OutcomeThrottled, OutcomeAnswered},
		},
		{
			name:     "error-then-low-confidence-then-top-kept",
			engine:   &scriptedEngine{confidence: map[string]float64{"standard": 0.1, "complex": 0.1}, fail: map[string]error{"simple": errors.New("boom")}},
			wantTier: 2, escalated: true, outcomes: []string{OutcomeError, OutcomeLowConfidence, OutcomeAnswered},
		},
		{
			name:   "start-at-top",
			engine: &scriptedEngine{confidence: map[string]float64{"complex": 0.99}},
			start:  2, wantTier: 2, outcomes: []string{OutcomeAnswered},
		},
		{
			name:   "top-times-out-everything-failed",
			engine: &scriptedEngine{fail: map[string]error{"standard": ErrThrottled}, hang: map[string]bool{"complex": true}},
			start:  1, outcomes: []string{OutcomeThrottled, OutcomeTimeout}, wantErr: ErrThrottled,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Cascade(t.Context(), tc.engine, tiers, tc.start, query, conf)
			var got []string
			for _, a := range res.Attempts {
				got = append(got, a.Outcome)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.outcomes) {
				t.Errorf("outcomes = %v, want %v", got, tc.outcomes)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Tier != tc.wantTier || res.Escalated != tc.escalated {
				t.Errorf("tier %d escalated %v, want %d %v", res.Tier, res.Escalated, tc.wantTier, tc.escalated)
			}
			if !strings.HasPrefix(res.Answer.Text, tiers[tc.wantTier].Name+" says") {
				t.Errorf("answer %q not from tier %s", res.Answer.Text, tiers[tc.wantTier].Name)
			}
			// Cost: every answered attempt is paid for, thrown away or not.
			want := 0.0
			for _, a := range res.Attempts {
				if a.Err == nil {
					want += Cost(tiers[a.Tier], 6, 6, 10*time.Millisecond)
				}
			}
			if math.Abs(res.CostUSD-want) > 1e-12 || res.CostUSD <= 0 {
				t.Errorf("cost %v, want %v", res.CostUSD, want)
			}
		})
	}
}

func TestCascadeCallerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	eng := &scriptedEngine{confidence: map[string]float64{"a": 1}}
	_, err := Cascade(ctx, eng, []Tier{{Name: "a", Model: "m"}}, 0, "q", Confidence{})
	if !errors.Is(err, context.Canceled) || len(eng.calls) != 0 {
		t.Fatalf("err %v calls %v, want canceled before any call", err, eng.calls)
	}
	if _, err := Cascade(t.Context(), eng, []Tier{{Name: "a", Model: "m"}}, 3, "q", Confidence{}); err == nil {
		t.Fatal("start out of range accepted")
	}
}

func TestConfidentWithoutLogprobs(t *testing.T) {
	if !confident(nil, Confidence{MinMeanLogprob: -0.1}) {
		t.Error("an answer without logprobs must not be escalated on confidence")
	}
	if confident([]float64{-0.01, -3}, Confidence{MinTokenLogprob: -2}) {
		t.Error("min token threshold ignored")
	}
	if !confident([]float64{-0.01, -3}, Confidence{MinMeanLogprob: -2}) {
		t.Error("mean -1.5 is above -2")
	}
}
