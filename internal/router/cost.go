package router

import (
	"cmp"
	"slices"
	"time"
)

// Cost is what one answer from tier costs in USD: input and output tokens at
// the tier's per-1K prices, plus, for provisioned capacity, the answer's
// latency as a share of an hour of PerHour, divided by Concurrency.
func Cost(t Tier, inputTokens, outputTokens int, latency time.Duration) float64 {
	c := float64(inputTokens)/1000*t.InputPer1K + float64(outputTokens)/1000*t.OutputPer1K
	if t.PerHour > 0 {
		c += t.PerHour * latency.Hours() / float64(max(t.Concurrency, 1))
	}
	return c
}

// Outcome is the record of one routed request, for storage, metrics and
// cost reports.
type Outcome struct {
	RequestID string    `json:"request_id"`
	Time      time.Time `json:"time"`
	// Tier, Model and Tag of the tier that answered (of the routed tier
	// when nothing answered).
	Tier  string `json:"tier"`
	Model string `json:"model"`
	Tag   string `json:"tag,omitempty"`
	// Strategy and Rule from the [Decision].
	Strategy string `json:"strategy"`
	Rule     string `json:"rule,omitempty"`
	Handoff  bool   `json:"handoff"`
	// Escalated: a higher tier than the routed one answered.
	Escalated bool `json:"escalated"`
	// Attempts is how many tiers were tried.
	Attempts        int           `json:"attempts"`
	InputTokens     int           `json:"input_tokens"`
	OutputTokens    int           `json:"output_tokens"`
	CostUSD         float64       `json:"cost_usd"`
	Latency         time.Duration `json:"latency"`
	ComplexityScore float64       `json:"complexity_score"`
	// Failed is set when no tier answered.
	Failed bool `json:"failed,omitempty"`
}

// NewOutcome builds the record of a request from its decision and cascade
// result (the zero Result for a handoff). Tokens and cost sum every attempt.
func NewOutcome(requestID string, at time.Time, tiers []Tier, d Decision, r Result, failed bool) Outcome {
	o := Outcome{
		RequestID: requestID, Time: at, Strategy: d.Strategy, Rule: d.Rule,
		Handoff: d.Handoff, ComplexityScore: d.ComplexityScore,
		Escalated: r.Escalated, Attempts: len(r.Attempts), CostUSD: r.CostUSD,
		Latency: r.Latency, Failed: failed,
	}
	t := d.Tier
	if !failed && len(r.Attempts) > 0 {
		t = r.Tier
	}
	if d.Handoff {
		o.Tier = "handoff"
	} else if t >= 0 && t < len(tiers) {
		o.Tier, o.Model, o.Tag = tiers[t].Name, tiers[t].Model, tiers[t].Tag
	}
	for _, a := range r.Attempts {
		o.InputTokens += a.InputTokens
		o.OutputTokens += a.OutputTokens
	}
	return o
}

// Line is one row of a cost report.
type Line struct {
	Key          string  `json:"key"`
	Requests     int     `json:"requests"`
	Escalated    int     `json:"escalated"`
	Handoffs     int     `json:"handoffs"`
	Failed       int     `json:"failed"`
	InputTokens  int     `json:"input_tokens"`
	OutputTokens int     `json:"output_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	// MeanLatencySeconds over the requests.
	MeanLatencySeconds float64 `json:"mean_latency_seconds"`
}

func (l *Line) add(o Outcome) {
	l.Requests++
	if o.Escalated {
		l.Escalated++
	}
	if o.Handoff {
		l.Handoffs++
	}
	if o.Failed {
		l.Failed++
	}
	l.InputTokens += o.InputTokens
	l.OutputTokens += o.OutputTokens
	l.CostUSD += o.CostUSD
	// Running mean keeps one pass.
	l.MeanLatencySeconds += (o.Latency.Seconds() - l.MeanLatencySeconds) / float64(l.Requests)
}

// Report totals outcomes overall and by tier, model and tag. Lines are
// sorted by key.
type Report struct {
	Total   Line   `json:"total"`
	ByTier  []Line `json:"by_tier"`
	ByModel []Line `json:"by_model"`
	ByTag   []Line `json:"by_tag"`
}

// Summarize aggregates outcomes into a [Report].
func Summarize(outcomes []Outcome) Report {
	var r Report
	r.Total.Key = "total"
	tier, model, tag := map[string]*Line{}, map[string]*Line{}, map[string]*Line{}
	for _, o := range outcomes {
		r.Total.add(o)
		group(tier, o.Tier).add(o)
		group(model, o.Model).add(o)
		group(tag, o.Tag).add(o)
	}
	r.ByTier, r.ByModel, r.ByTag = lines(tier), lines(model), lines(tag)
	return r
}

func group(m map[string]*Line, key string) *Line {
	l, ok := m[key]
	if !ok {
		l = &Line{Key: key}
		m[key] = l
	}
	return l
}

func lines(m map[string]*Line) []Line {
	out := make([]Line, 0, len(m))
	for _, l := range m {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Line) int { return cmp.Compare(a.Key, b.Key) })
	return out
}
