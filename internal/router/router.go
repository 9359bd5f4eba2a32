package router

import (
	"fmt"
	"math"
)

// Strategy scores a query and picks a tier index; it is the part of routing
// the configuration chooses. Implementations are safe for concurrent use.
type Strategy interface {
	// Decide returns the chosen tier (0 = cheapest) and the decision's
	// details. It never returns a tier outside [0, n).
	Decide(query string, n int) Decision
}

// Decision is where one query goes and why.
type Decision struct {
	// Tier is the index of the chosen tier, cheapest first; TierName and
	// Model are copied from the configuration. Meaningless when Handoff.
	Tier     int    `json:"tier_index"`
	TierName string `json:"tier"`
	Model    string `json:"model"`
	// Handoff means: answer with a human handoff, call no model.
	Handoff bool `json:"handoff"`
	// Rule names the hard rule that decided, if any ("out_of_scope" when
	// the learned model's out-of-scope probability did).
	Rule string `json:"rule,omitempty"`
	// Strategy is "heuristic", "learned" or "rules".
	Strategy string `json:"strategy"`
	// ComplexityScore is on the guides' 1..10 scale: the heuristic score,
	// or for the learned strategy 1 + 9 × the expected tier / (tiers-1).
	ComplexityScore float64 `json:"complexity_score"`
	// Risk is the learned estimate that a higher tier than the chosen one
	// is needed (0 for the heuristic).
	Risk float64 `json:"risk"`
	// Intent is the learned model's most likely intent.
	Intent string `json:"intent,omitempty"`
	// PromptTooLong is set when the query moved up because it exceeded a
	// tier's MaxPromptTokens.
	PromptTooLong bool `json:"prompt_too_long,omitempty"`
}

// Heuristic is the guides' strategy: [ComplexityScore] and [HeuristicTier].
type Heuristic struct{}

// Decide implements [Strategy].
func (Heuristic) Decide(query string, n int) Decision {
	s := ComplexityScore(query)
	return Decision{Tier: HeuristicTier(s, n), Strategy: "heuristic", ComplexityScore: s}
}

// Learned routes with a trained [Model] by [RiskTier].
type Learned struct {
	Model *Model
	// Bounds per tier boundary; nil means the model's.
	Bounds []float64
	// OOSBound: P(out of scope) at or above it is a handoff; 0 means the
	// model's, negative disables.
	OOSBound float64
}

// Decide implements [Strategy]. The model's tiers are mapped onto n by
// index; a model with more tiers than n is clamped to the top.
func (l Learned) Decide(query string, n int) Decision {
	s := l.Model.Score(query)
	bounds := l.Bounds
	if bounds == nil {
		bounds = l.Model.Bounds
	}
	oos := l.OOSBound
	if oos == 0 {
		oos = l.Model.OOSBound
	}
	d := Decision{Strategy: "learned", Intent: s.Class}
	if oos > 0 && s.OutOfScope >= oos {
		d.Handoff, d.Rule = true, OutOfScope
	}
	t := RiskTier(s.Tier, bounds)
	exp := 0.0
	for i, p := range s.Tier {
		exp += float64(i) * p
		if i > t {
			d.Risk += p
		}
	}
	d.ComplexityScore = 1
	if len(s.Tier) > 1 {
		d.ComplexityScore = math.Round((1+9*exp/float64(len(s.Tier)-1))*100) / 100
	}
	d.Tier = min(t, n-1)
	return d
}

// Router applies the hard rules, then the strategy, then the tiers' prompt
// limits. It is safe for concurrent use.
type Router struct {
	tiers    []Tier
	rules    Rules
	strategy Strategy
}

// New builds a router from a validated configuration. model is the learned
// model (from [DecodeModel] of cfg.ModelFile) and must be non-nil when the
// strategy is "learned"; it is ignored otherwise.
func New(cfg Config, model *Model) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{tiers: cfg.Tiers}
	if cfg.Rules == nil || *cfg.Rules {
		r.rules = DefaultRules()
	}
	switch cfg.Strategy {
	case "learned":
		if model == nil {
			return nil, fmt.Errorf("router: strategy learned needs a model")
		}
		if len(cfg.Bounds) > 0 && len(cfg.Bounds) != len(model.Tiers)-1 {
			return nil, fmt.Errorf("router: %d bounds for a model with %d tiers", len(cfg.Bounds), len(model.Tiers))
		}
		r.strategy = Learned{Model: model, Bounds: cfg.Bounds, OOSBound: cfg.OOSBound}
	default:
		r.strategy = Heuristic{}
	}
	return r, nil
}

// NewWith builds a router from parts: tiers (non-empty), rules (the zero
// value for none) and a strategy.
func NewWith(tiers []Tier, rules Rules, s Strategy) *Router {
	return &Router{tiers: tiers, rules: rules, strategy: s}
}

// Tiers returns the configured tiers, cheapest first. Do not modify.
func (r *Router) Tiers() []Tier { return r.tiers }

// Route decides where query goes. Hard rules come first: a handoff rule
// decides alone; a top-tier rule overrides the strategy (including its
// out-of-scope handoff), which still supplies the complexity score.
func (r *Router) Route(query string) Decision {
	n := len(r.tiers)
	action, rule := r.rules.Match(query)
	var d Decision
	switch action {
	case ActionHandoff:
		d = Decision{Handoff: true, Rule: rule, Strategy: "rules", ComplexityScore: 1}
	case ActionTopTier:
		d = r.strategy.Decide(query, n)
		d.Tier, d.Handoff, d.Rule, d.Strategy, d.Risk = n-1, false, rule, "rules", 0
	default:
		d = r.strategy.Decide(query, n)
	}
	need := EstimateTokens(query)
	for d.Tier < n-1 && r.tiers[d.Tier].MaxPromptTokens > 0 && need > r.tiers[d.Tier].MaxPromptTokens {
		d.Tier++
		d.PromptTooLong = true
	}
	d.TierName, d.Model = r.tiers[d.Tier].Name, r.tiers[d.Tier].Model
	return d
}

// EstimateTokens estimates a text's token count as one per 4 bytes,
// rounded up: good enough for prompt limits and cost estimates before the
// engine reports real counts.
func EstimateTokens(text string) int { return (len(text) + 3) / 4 }
