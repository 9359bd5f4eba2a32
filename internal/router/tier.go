package router

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"go.yaml.in/yaml/v3"
)

// Tier is one cost tier: a model and what it costs.
type Tier struct {
	// Name of the tier, e.g. "simple". Required, unique.
	Name string `yaml:"name"`
	// Model is what answers: an imported model ARN or name, a provisioned
	// model ARN, an inference profile ARN or a remote engine name. Opaque
	// to the router; the runtime resolves it. Required.
	Model string `yaml:"model"`
	// InputPer1K and OutputPer1K are prices in USD per 1,000 input and
	// output tokens (on-demand). Default 0.
	InputPer1K  float64 `yaml:"input_per_1k"`
	OutputPer1K float64 `yaml:"output_per_1k"`
	// PerHour is the price in USD of one hour of provisioned capacity; a
	// request is charged its latency's share of an hour divided by
	// Concurrency. Default 0 (on-demand only).
	PerHour float64 `yaml:"per_hour"`
	// Concurrency is how many requests the provisioned capacity serves at
	// once. Default 1.
	Concurrency int `yaml:"concurrency"`
	// LatencyObjective is the latency the tier should meet (reported, not
	// enforced). Default 0 (none).
	LatencyObjective time.Duration `yaml:"latency_objective"`
	// Timeout bounds one answer from the tier in a cascade; on expiry the
	// cascade moves to the next tier. Default 0 (the caller's deadline).
	Timeout time.Duration `yaml:"timeout"`
	// MaxPromptTokens is the largest prompt the tier takes; a longer one
	// is routed to the first tier above that takes it. Default 0 (no limit).
	MaxPromptTokens int `yaml:"max_prompt_tokens"`
	// Tag is a free label (e.g. an inference profile's cost-allocation
	// tag) that cost reports group by. Default "".
	Tag string `yaml:"tag"`
}

// Config chooses the tiers and the strategy.
type Config struct {
	// Tiers, cheapest first. Default [DefaultTiers].
	Tiers []Tier `yaml:"tiers"`
	// Strategy is "heuristic" or "learned". Default "heuristic".
	Strategy string `yaml:"strategy"`
	// ModelFile is the learned router's model (from strata router train).
	// Required when Strategy is "learned".
	ModelFile string `yaml:"model_file"`
	// Bounds override the model's risk bounds, one per tier boundary (see
	// [RiskTier]). Default: the bounds chosen at training time.
	Bounds []float64 `yaml:"bounds"`
	// OOSBound overrides the model's out-of-scope handoff bound. Default:
	// the model's (chosen at training time); negative disables the
	// out-of-scope handoff.
	OOSBound float64 `yaml:"oos_bound"`
	// Rules enables the built-in hard rules (fraud, dispute, stolen card,
	// chargeback to the top tier; requests for a person to handoff).
	// Default true.
	Rules *bool `yaml:"rules"`
	// Cascade thresholds; see [Confidence]. Default: no escalation on
	// confidence, only on errors.
	Cascade Confidence `yaml:"cascade"`
}

// Confidence holds the cascade's thresholds on an answer's token
// log-probabilities: an answer whose mean is below MinMeanLogprob or whose
// minimum is below MinTokenLogprob is escalated. 0 disables a threshold.
type Confidence struct {
	MinMeanLogprob  float64 `yaml:"min_mean_logprob"`
	MinTokenLogprob float64 `yaml:"min_token_logprob"`
}

// Default laptop tiers: three tiers that may all point at the same local
// model, priced in the ratio 1 : 5 : 30 (input and output alike).
const DefaultLocalModel = "local"

// DefaultTiers returns the laptop defaults: simple, standard and complex,
// all on [DefaultLocalModel], with prices per 1K tokens of 0.0002/0.0006,
// 0.001/0.003 and 0.006/0.018 USD (ratio 1 : 5 : 30), latency objectives of
// 1, 3 and 10 s and maximum prompts of 2K, 8K and 32K tokens.
func DefaultTiers() []Tier {
	return []Tier{
		{Name: "simple", Model: DefaultLocalModel, InputPer1K: 0.0002, OutputPer1K: 0.0006, LatencyObjective: time.Second, MaxPromptTokens: 2048},
		{Name: "standard", Model: DefaultLocalModel, InputPer1K: 0.001, OutputPer1K: 0.003, LatencyObjective: 3 * time.Second, MaxPromptTokens: 8192},
		{Name: "complex", Model: DefaultLocalModel, InputPer1K: 0.006, OutputPer1K: 0.018, LatencyObjective: 10 * time.Second, MaxPromptTokens: 32768},
	}
}

// DefaultConfig returns the defaults: [DefaultTiers], heuristic strategy,
// rules on.
func DefaultConfig() Config {
	on := true
	return Config{Tiers: DefaultTiers(), Strategy: "heuristic", Rules: &on}
}

// ParseConfig reads YAML over [DefaultConfig], rejecting unknown fields, and
// validates it. An empty document gives the defaults.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parsing router config: %w", err)
	}
	if len(cfg.Tiers) == 0 {
		cfg.Tiers = DefaultTiers()
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	if len(c.Tiers) == 0 || len(c.Tiers) > maxTiers {
		return fmt.Errorf("router config: %d tiers, want 1..%d", len(c.Tiers), maxTiers)
	}
	seen := map[string]bool{}
	for i, t := range c.Tiers {
		switch {
		case t.Name == "":
			return fmt.Errorf("router config: tier %d has no name", i)
		case seen[t.Name]:
			return fmt.Errorf("router config: tier %q listed twice", t.Name)
		case t.Model == "":
			return fmt.Errorf("router config: tier %q has no model", t.Name)
		case t.InputPer1K < 0 || t.OutputPer1K < 0 || t.PerHour < 0:
			return fmt.Errorf("router config: tier %q has a negative price", t.Name)
		case t.Concurrency < 0 || t.MaxPromptTokens < 0 || t.Timeout < 0 || t.LatencyObjective < 0:
			return fmt.Errorf("router config: tier %q has a negative limit", t.Name)
		}
		seen[t.Name] = true
	}
	switch c.Strategy {
	case "heuristic":
	case "learned":
		if c.ModelFile == "" {
			return errors.New("router config: strategy learned needs model_file")
		}
	default:
		return fmt.Errorf("router config: unknown strategy %q (want heuristic or learned)", c.Strategy)
	}
	for _, b := range c.Bounds {
		if b < 0 || b > 1 {
			return fmt.Errorf("router config: bound %v outside [0, 1]", b)
		}
	}
	if c.OOSBound > 1 {
		return fmt.Errorf("router config: oos_bound %v above 1", c.OOSBound)
	}
	if c.Cascade.MinMeanLogprob > 0 || c.Cascade.MinTokenLogprob > 0 {
		return errors.New("router config: cascade log-probability thresholds must be <= 0")
	}
	return nil
}
