package eval

import (
	"math"

	"strata/internal/router"
)

// Sweeper is a router under evaluation that has one threshold to sweep.
type Sweeper interface {
	// Name describes the router.
	Name() string
	// Route returns the tier (and whether it is a handoff) for query i at
	// threshold th; NaN means the router's configured setting.
	Route(i int, th float64) (tier int, handoff bool)
	// Thresholds lists the sweep, ordered from most to least expensive.
	Thresholds() []float64
}

// Report is the output of strata router eval.
type Report struct {
	Router string   `json:"router"`
	Tiers  []string `json:"tiers"`
	// Metrics at the router's configured setting.
	Metrics
	// OracleCostRatio is the cost ratio of routing every query to exactly
	// its tier; RandomQuality the quality of routing at random with this
	// router's tier shares.
	OracleCostRatio float64 `json:"oracle_cost_ratio"`
	RandomQuality   float64 `json:"random_quality"`
	// Curve is the cost–quality curve over the sweep; AIQ its area.
	Curve []Point `json:"curve"`
	AIQ   float64 `json:"aiq"`
	// CostForQuality95 and CostForQuality99 are the least cost ratios on
	// the curve's hull reaching 95% and 99% quality (-1 if never).
	CostForQuality95 float64 `json:"cost_for_quality_95"`
	CostForQuality99 float64 `json:"cost_for_quality_99"`
}

// Case is one labelled query: the tier it needs and its cost at each tier.
type Case struct {
	Want int
	Cost []float64
}

// Run evaluates s on cases over the named tiers.
func Run(cases []Case, tiers []string, s Sweeper) Report {
	n := len(tiers)
	items := make([]Item, len(cases))
	route := func(th float64) []Item {
		for i, c := range cases {
			t, h := s.Route(i, th)
			items[i] = Item{Want: c.Want, Got: min(max(t, 0), n-1), Cost: c.Cost, Handoff: h}
		}
		return items
	}
	r := Report{Router: s.Name(), Tiers: tiers, Metrics: Measure(route(math.NaN()), n)}
	var oracle, top float64
	for _, c := range cases {
		oracle += c.Cost[c.Want]
		top += c.Cost[n-1]
	}
	if top > 0 {
		r.OracleCostRatio = oracle / top
	}
	// Random routing with the same tier shares serves a query needing tier
	// w with probability Σ_{t≥w} share[t].
	for _, c := range cases {
		for t := c.Want; t < n; t++ {
			r.RandomQuality += r.TierShare[t]
		}
	}
	if len(cases) > 0 {
		r.RandomQuality /= float64(len(cases))
	}
	for _, th := range s.Thresholds() {
		m := Measure(route(th), n)
		r.Curve = append(r.Curve, Point{Threshold: th, CostRatio: m.CostRatio, Quality: m.Quality})
	}
	r.AIQ = AIQ(r.Curve)
	r.CostForQuality95, r.CostForQuality99 = -1, -1
	if c, ok := QualityAt(r.Curve, 0.95); ok {
		r.CostForQuality95 = c
	}
	if c, ok := QualityAt(r.Curve, 0.99); ok {
		r.CostForQuality99 = c
	}
	return r
}

// Learned sweeps a learned model's bound: at threshold s every tier
// boundary's bound is s; at NaN the configured bounds apply. Hard rules run
// first, as in [router.Router].
type Learned struct {
	Model  *router.Model
	Rules  router.Rules
	Bounds []float64 // nil: the model's
	// OOSBound as in [router.Learned].
	OOSBound float64
	scores   []router.Scores
	rules    []router.Action
}

// NewLearned scores texts once so that the sweep is cheap.
func NewLearned(m *router.Model, rules router.Rules, bounds []float64, oos float64, texts []string) *Learned {
	l := &Learned{Model: m, Rules: rules, Bounds: bounds, OOSBound: oos}
	for _, t := range texts {
		l.scores = append(l.scores, m.Score(t))
		a, _ := rules.Match(t)
		l.rules = append(l.rules, a)
	}
	return l
}

// Name implements [Sweeper].
func (l *Learned) Name() string { return "learned" }

// Thresholds implements [Sweeper]: 0, then 60 log-spaced bounds from 1e-4
// to 1, then above 1 (always the cheapest tier).
func (l *Learned) Thresholds() []float64 {
	ths := []float64{0}
	for i := range 61 {
		ths = append(ths, math.Pow(10, -4+4*float64(i)/60))
	}
	return append(ths, 1.0001)
}

// Route implements [Sweeper].
func (l *Learned) Route(i int, th float64) (int, bool) {
	s := l.scores[i]
	n := len(s.Tier)
	switch l.rules[i] {
	case router.ActionHandoff:
		return n - 1, true
	case router.ActionTopTier:
		return n - 1, false
	}
	bounds := l.Bounds
	if bounds == nil {
		bounds = l.Model.Bounds
	}
	if !math.IsNaN(th) {
		bounds = make([]float64, n-1)
		for t := range bounds {
			bounds[t] = th
		}
	}
	oos := l.OOSBound
	if oos == 0 {
		oos = l.Model.OOSBound
	}
	handoff := oos > 0 && s.OutOfScope >= oos && math.IsNaN(th)
	return router.RiskTier(s.Tier, bounds), handoff
}

// Heuristic sweeps the guides' score thresholds: at threshold θ a score
// below θ is the cheapest tier, below θ+4 the middle one, else the top (the
// guides' setting is θ = 3). Hard rules run first.
type Heuristic struct {
	N      int
	scores []float64
	rules  []router.Action
}

// NewHeuristic scores texts for n tiers.
func NewHeuristic(rules router.Rules, texts []string, n int) *Heuristic {
	h := &Heuristic{N: n}
	for _, t := range texts {
		h.scores = append(h.scores, router.ComplexityScore(t))
		a, _ := rules.Match(t)
		h.rules = append(h.rules, a)
	}
	return h
}

// Name implements [Sweeper].
func (h *Heuristic) Name() string { return "heuristic" }

// Thresholds implements [Sweeper]: θ from 1 to 11 by 0.5 (θ ≤ 1 sends
// everything up, θ > 10 everything to the cheapest).
func (h *Heuristic) Thresholds() []float64 {
	var ths []float64
	for th := 0.5; th <= 11; th += 0.5 {
		ths = append(ths, th)
	}
	return ths
}

// Route implements [Sweeper].
func (h *Heuristic) Route(i int, th float64) (int, bool) {
	switch h.rules[i] {
	case router.ActionHandoff:
		return h.N - 1, true
	case router.ActionTopTier:
		return h.N - 1, false
	}
	s := h.scores[i]
	if math.IsNaN(th) {
		return router.HeuristicTier(s, h.N), false
	}
	switch {
	case s < th:
		return 0, false
	case s < th+(router.StandardBelow-router.SimpleBelow):
		return h.N / 2, false
	}
	return h.N - 1, false
}

// Cases builds evaluation cases from examples: the needed tier from the
// tier map and the cost at each tier from its prices, with the input
// tokens estimated from the text and outputTokens assumed for the answer.
// Examples whose category is not in the map are skipped; their count is
// returned.
func Cases(examples []router.Example, tm router.TierMap, tiers []router.Tier, outputTokens int) (cases []Case, texts []string, skipped int) {
	for _, e := range examples {
		w, ok := tm.Of[e.Category]
		if !ok || w >= len(tiers) {
			skipped++
			continue
		}
		c := Case{Want: w, Cost: make([]float64, len(tiers))}
		in := router.EstimateTokens(e.Text)
		for t, tier := range tiers {
			c.Cost[t] = router.Cost(tier, in, outputTokens, 0)
		}
		cases = append(cases, c)
		texts = append(texts, e.Text)
	}
	return cases, texts, skipped
}
