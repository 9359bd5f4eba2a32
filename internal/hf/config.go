// Package hf reads the Hugging Face model folder format for the causal
// language models strata serves: config.json, generation_config.json and
// model.safetensors.index.json, and knows the exact tensor names and shapes
// each supported architecture (Mistral, Mixtral, Llama) must have.
//
// The files come from outside (a customer's bucket), so every parser is
// bounded in size, strict about types, and fuzzed. ParseConfig fills in the
// defaults transformers applies to absent keys, so callers read resolved
// values; Validate then checks the model is one strata can serve.
package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// MaxConfigSize bounds config.json, generation_config.json and
// model.safetensors.index.json (a 400-layer index is well under 1 MiB).
const MaxConfigSize = 4 << 20

// MaxContext is the longest context strata accepts: Bedrock Custom Model
// Import requires a context length under 128K tokens.
const MaxContext = 131072

// Architecture names, as in config.json's "architectures".
const (
	Mistral = "MistralForCausalLM"
	Mixtral = "MixtralForCausalLM"
	Llama   = "LlamaForCausalLM"
)

// SupportedArchitectures lists the architectures strata can import and serve.
var SupportedArchitectures = []string{Mistral, Mixtral, Llama}

// modelTypes maps each architecture to its config.json model_type.
var modelTypes = map[string]string{Mistral: "mistral", Mixtral: "mixtral", Llama: "llama"}

// RopeScaling is config.json's rope_scaling. RopeType is "linear",
// "dynamic" or "llama3" (read from "rope_type" or the older "type").
type RopeScaling struct {
	RopeType                      string  `json:"rope_type"`
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor,omitempty"`
	HighFreqFactor                float64 `json:"high_freq_factor,omitempty"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings,omitempty"`
}

// TokenIDs is a token id field that config files write as an int, a list
// of ints or null.
type TokenIDs []int

// UnmarshalJSON accepts an int, a list of ints, or null.
func (t *TokenIDs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*t = nil
		return nil
	}
	if len(b) > 0 && b[0] == '[' {
		var ids []int
		if err := json.Unmarshal(b, &ids); err != nil {
			return fmt.Errorf("token ids: %w", err)
		}
		*t = ids
		return nil
	}
	var id int
	if err := json.Unmarshal(b, &id); err != nil {
		return fmt.Errorf("token id must be an integer or a list of integers: %w", err)
	}
	*t = TokenIDs{id}
	return nil
}

// Config is a parsed config.json. After ParseConfig, fields transformers
// defaults when absent hold their resolved values: NumKeyValueHeads
// (= NumAttentionHeads), HeadDim (= HiddenSize/NumAttentionHeads),
// RopeTheta, RMSNormEps, MaxPositionEmbeddings, SlidingWindow and, for
// Mixtral, the expert counts.
type Config struct {
	Architectures         []string     `json:"architectures"`
	ModelType             string       `json:"model_type"`
	HiddenSize            int          `json:"hidden_size"`
	IntermediateSize      int          `json:"intermediate_size"`
	NumHiddenLayers       int          `json:"num_hidden_layers"`
	NumAttentionHeads     int          `json:"num_attention_heads"`
	NumKeyValueHeads      int          `json:"num_key_value_heads"`
	HeadDim               int          `json:"head_dim"`
	VocabSize             int          `json:"vocab_size"`
	MaxPositionEmbeddings int          `json:"max_position_embeddings"`
	RMSNormEps            float64      `json:"rms_norm_eps"`
	RopeTheta             float64      `json:"rope_theta"`
	RopeScaling           *RopeScaling `json:"rope_scaling,omitempty"`
	// SlidingWindow is the attention window in tokens; 0 means none
	// (config.json null).
	SlidingWindow     int      `json:"sliding_window"`
	TieWordEmbeddings bool     `json:"tie_word_embeddings"`
	NumLocalExperts   int      `json:"num_local_experts,omitempty"`
	NumExpertsPerTok  int      `json:"num_experts_per_tok,omitempty"`
	TorchDType        string   `json:"torch_dtype,omitempty"`
	HiddenAct         string   `json:"hidden_act,omitempty"`
	BOSTokenID        TokenIDs `json:"bos_token_id,omitempty"`
	EOSTokenID        TokenIDs `json:"eos_token_id,omitempty"`
	// AttentionBias and MLPBias are Llama's optional projection biases;
	// strata supports neither, so Validate rejects them when true.
	AttentionBias bool `json:"attention_bias,omitempty"`
	MLPBias       bool `json:"mlp_bias,omitempty"`
}

// Architecture returns the single entry of Architectures, or "".
func (c *Config) Architecture() string {
	if len(c.Architectures) != 1 {
		return ""
	}
	return c.Architectures[0]
}

// KVDim returns NumKeyValueHeads × HeadDim, the width of k_proj and v_proj.
func (c *Config) KVDim() int { return c.NumKeyValueHeads * c.HeadDim }

// QDim returns NumAttentionHeads × HeadDim, the width of q_proj.
func (c *Config) QDim() int { return c.NumAttentionHeads * c.HeadDim }

// rawConfig mirrors Config with pointers, to tell absent or null from zero.
type rawConfig struct {
	Architectures         []string        `json:"architectures"`
	ModelType             string          `json:"model_type"`
	HiddenSize            *int            `json:"hidden_size"`
	IntermediateSize      *int            `json:"intermediate_size"`
	NumHiddenLayers       *int            `json:"num_hidden_layers"`
	NumAttentionHeads     *int            `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	VocabSize             *int            `json:"vocab_size"`
	MaxPositionEmbeddings *int            `json:"max_position_embeddings"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	SlidingWindow         json.RawMessage `json:"sliding_window"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	NumLocalExperts       *int            `json:"num_local_experts"`
	NumExpertsPerTok      *int            `json:"num_experts_per_tok"`
	TorchDType            *string         `json:"torch_dtype"`
	HiddenAct             *string         `json:"hidden_act"`
	BOSTokenID            TokenIDs        `json:"bos_token_id"`
	EOSTokenID            TokenIDs        `json:"eos_token_id"`
	AttentionBias         *bool           `json:"attention_bias"`
	MLPBias               *bool           `json:"mlp_bias"`
}

// readBounded reads all of r, failing if it exceeds MaxConfigSize.
func readBounded(r io.Reader, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	if len(b) > MaxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", what, MaxConfigSize)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return b, nil
}

// checkDuplicateKeys rejects a JSON object with a repeated top-level key,
// which encoding/json would otherwise resolve silently to the last value.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		k, _ := tok.(string)
		if seen[k] {
			return fmt.Errorf("duplicate key %q", k)
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return fmt.Errorf("invalid JSON at %q: %w", k, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// ParseConfig reads config.json (at most MaxConfigSize bytes), checks field
// types and resolves defaults the way transformers does for the model type.
// It does not check that the model is servable: call Validate.
func ParseConfig(r io.Reader) (*Config, error) {
	b, err := readBounded(r, "config.json")
	if err != nil {
		return nil, err
	}
	var raw rawConfig
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	c := &Config{
		Architectures: raw.Architectures,
		ModelType:     raw.ModelType,
		BOSTokenID:    raw.BOSTokenID,
		EOSTokenID:    raw.EOSTokenID,
	}
	mt := c.ModelType
	if mt == "" {
		mt = modelTypes[c.Architecture()]
	}
	intOr := func(p *int, def int) int {
		if p != nil {
			return *p
		}
		return def
	}
	// Defaults from transformers' LlamaConfig, MistralConfig, MixtralConfig.
	defMaxPos, defEps, defTheta, defWindow := 2048, 1e-6, 10000.0, 0
	switch mt {
	case "mistral":
		defMaxPos, defWindow = 4096*32, 4096
	case "mixtral":
		defMaxPos, defEps, defTheta = 4096*32, 1e-5, 1e6
	}
	c.HiddenSize = intOr(raw.HiddenSize, 0)
	c.IntermediateSize = intOr(raw.IntermediateSize, 0)
	c.NumHiddenLayers = intOr(raw.NumHiddenLayers, 0)
	c.NumAttentionHeads = intOr(raw.NumAttentionHeads, 0)
	c.NumKeyValueHeads = intOr(raw.NumKeyValueHeads, c.NumAttentionHeads)
	if c.NumAttentionHeads > 0 {
		c.HeadDim = intOr(raw.HeadDim, c.HiddenSize/c.NumAttentionHeads)
	} else {
		c.HeadDim = intOr(raw.HeadDim, 0)
	}
	c.VocabSize = intOr(raw.VocabSize, 0)
	c.MaxPositionEmbeddings = intOr(raw.MaxPositionEmbeddings, defMaxPos)
	c.RMSNormEps = defEps
	if raw.RMSNormEps != nil {
		c.RMSNormEps = *raw.RMSNormEps
	}
	c.RopeTheta = defTheta
	if raw.RopeTheta != nil {
		c.RopeTheta = *raw.RopeTheta
	}
	if raw.TieWordEmbeddings != nil {
		c.TieWordEmbeddings = *raw.TieWordEmbeddings
	}
	if mt == "mixtral" {
		c.NumLocalExperts = intOr(raw.NumLocalExperts, 8)
		c.NumExpertsPerTok = intOr(raw.NumExpertsPerTok, 2)
	} else {
		c.NumLocalExperts = intOr(raw.NumLocalExperts, 0)
		c.NumExpertsPerTok = intOr(raw.NumExpertsPerTok, 0)
	}
	if raw.TorchDType != nil {
		c.TorchDType = *raw.TorchDType
	}
	if raw.HiddenAct != nil {
		c.HiddenAct = *raw.HiddenAct
	}
	c.AttentionBias = raw.AttentionBias != nil && *raw.AttentionBias
	c.MLPBias = raw.MLPBias != nil && *raw.MLPBias
	c.SlidingWindow = defWindow
	if len(raw.SlidingWindow) > 0 {
		if string(raw.SlidingWindow) == "null" {
			c.SlidingWindow = 0
		} else if err := json.Unmarshal(raw.SlidingWindow, &c.SlidingWindow); err != nil {
			return nil, fmt.Errorf("config.json: sliding_window must be an integer or null: %w", err)
		}
	}
	if len(raw.RopeScaling) > 0 && string(raw.RopeScaling) != "null" {
		rs, err := parseRopeScaling(raw.RopeScaling)
		if err != nil {
			return nil, fmt.Errorf("config.json: rope_scaling: %w", err)
		}
		if rs.RopeType != "default" { // "default" means no scaling
			c.RopeScaling = rs
		}
	}
	return c, nil
}

func parseRopeScaling(b json.RawMessage) (*RopeScaling, error) {
	var raw struct {
		RopeType                      string   `json:"rope_type"`
		Type                          string   `json:"type"`
		Factor                        *float64 `json:"factor"`
		LowFreqFactor                 float64  `json:"low_freq_factor"`
		HighFreqFactor                float64  `json:"high_freq_factor"`
		OriginalMaxPositionEmbeddings int      `json:"original_max_position_embeddings"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	rs := &RopeScaling{
		RopeType:                      raw.RopeType,
		LowFreqFactor:                 raw.LowFreqFactor,
		HighFreqFactor:                raw.HighFreqFactor,
		OriginalMaxPositionEmbeddings: raw.OriginalMaxPositionEmbeddings,
	}
	if rs.RopeType == "" {
		rs.RopeType = raw.Type
	}
	if raw.Factor != nil {
		rs.Factor = *raw.Factor
	}
	return rs, nil
}

// Limits on sizes, far above any model Bedrock imports, that keep every
// product of them (tensor sizes) well inside int64.
const (
	maxWidth   = 1 << 17 // hidden, intermediate, head sizes
	maxLayers  = 1024
	maxHeads   = 1024
	maxVocab   = 1 << 22
	maxExperts = 256
)

// Validate checks that the model is one strata can serve: a supported
// architecture with a consistent model_type, positive sizes within limits,
// heads that divide the hidden size, key/value heads that divide the heads,
// a context of at most MaxContext tokens, known rope scaling, and for
// Mixtral a sensible expert configuration. The error says which field is
// wrong and why.
func (c *Config) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	arch := c.Architecture()
	switch {
	case len(c.Architectures) == 0:
		bad("architectures is missing; supported: %s", strings.Join(SupportedArchitectures, ", "))
	case len(c.Architectures) > 1:
		bad("architectures lists %d entries %q; exactly one is supported", len(c.Architectures), c.Architectures)
	case !slices.Contains(SupportedArchitectures, arch):
		bad("architecture %q is not supported; supported: %s", arch, strings.Join(SupportedArchitectures, ", "))
	case c.ModelType != "" && c.ModelType != modelTypes[arch]:
		bad("model_type %q does not match architecture %s (want %q)", c.ModelType, arch, modelTypes[arch])
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"hidden_size", c.HiddenSize, maxWidth},
		{"intermediate_size", c.IntermediateSize, maxWidth},
		{"num_hidden_layers", c.NumHiddenLayers, maxLayers},
		{"num_attention_heads", c.NumAttentionHeads, maxHeads},
		{"num_key_value_heads", c.NumKeyValueHeads, maxHeads},
		{"head_dim", c.HeadDim, maxWidth},
		{"vocab_size", c.VocabSize, maxVocab},
		{"max_position_embeddings", c.MaxPositionEmbeddings, math.MaxInt32},
	} {
		if f.v <= 0 {
			bad("%s must be positive, got %d", f.name, f.v)
		} else if f.v > f.max {
			bad("%s = %d exceeds the limit of %d", f.name, f.v, f.max)
		}
	}
	if c.NumAttentionHeads > 0 && c.HiddenSize > 0 && c.HiddenSize%c.NumAttentionHeads != 0 {
		bad("num_attention_heads = %d does not divide hidden_size = %d", c.NumAttentionHeads, c.HiddenSize)
	}
	if c.NumKeyValueHeads > 0 && c.NumAttentionHeads > 0 && c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		bad("num_key_value_heads = %d does not divide num_attention_heads = %d", c.NumKeyValueHeads, c.NumAttentionHeads)
	}
	if c.HeadDim > 0 && c.HeadDim%2 != 0 {
		bad("head_dim = %d must be even for rotary embeddings", c.HeadDim)
	}
	if c.MaxPositionEmbeddings > MaxContext {
		bad("max_position_embeddings = %d exceeds the context limit of %d tokens (128K)", c.MaxPositionEmbeddings, MaxContext)
	}
	if !(c.RMSNormEps > 0 && c.RMSNormEps < 1) {
		bad("rms_norm_eps must be in (0, 1), got %v", c.RMSNormEps)
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		bad("rope_theta must be positive and finite, got %v", c.RopeTheta)
	}
	if c.SlidingWindow < 0 {
		bad("sliding_window must be positive or null, got %d", c.SlidingWindow)
	}
	if c.AttentionBias || c.MLPBias {
		bad("attention_bias and mlp_bias are not supported")
	}
	if c.HiddenAct != "" && c.HiddenAct != "silu" {
		bad("hidden_act %q is not supported (want silu)", c.HiddenAct)
	}
	switch c.TorchDType {
	case "", "float32", "float16", "bfloat16":
	default:
		bad("torch_dtype %q is not supported (want float32, float16 or bfloat16)", c.TorchDType)
	}
	if rs := c.RopeScaling; rs != nil {
		switch rs.RopeType {
		case "linear", "dynamic":
			if !(rs.Factor >= 1) || math.IsInf(rs.Factor, 0) {
				bad("rope_scaling.factor must be >= 1, got %v", rs.Factor)
			}
		case "llama3":
			if !(rs.Factor >= 1) || math.IsInf(rs.Factor, 0) {
				bad("rope_scaling.factor must be >= 1, got %v", rs.Factor)
			}
			if !(rs.LowFreqFactor > 0 && rs.HighFreqFactor > rs.LowFreqFactor) {
				bad("rope_scaling llama3 needs 0 < low_freq_factor < high_freq_factor, got %v and %v", rs.LowFreqFactor, rs.HighFreqFactor)
			}
			if rs.OriginalMaxPositionEmbeddings <= 0 {
				bad("rope_scaling llama3 needs original_max_position_embeddings > 0")
			}
		default:
			bad("rope_scaling type %q is not supported (want linear, dynamic or llama3)", rs.RopeType)
		}
	}
	for _, id := range slices.Concat(c.BOSTokenID, c.EOSTokenID) {
		if id < 0 || (c.VocabSize > 0 && id >= c.VocabSize) {
			bad("special token id %d is outside the vocabulary of %d", id, c.VocabSize)
		}
	}
	if arch == Mixtral {
		switch {
		case c.NumLocalExperts < 1 || c.NumLocalExperts > maxExperts:
			bad("num_local_experts must be in 1..%d for Mixtral, got %d", maxExperts, c.NumLocalExperts)
		case c.NumExpertsPerTok < 1 || c.NumExpertsPerTok > c.NumLocalExperts:
			bad("num_experts_per_tok must be in 1..num_local_experts (%d), got %d", c.NumLocalExperts, c.NumExpertsPerTok)
		}
	} else if arch != "" && c.NumLocalExperts > 0 {
		bad("num_local_experts = %d but %s has no experts", c.NumLocalExperts, arch)
	}
	if len(errs) > 0 {
		return errors.New("config.json: " + strings.Join(errs, "; "))
	}
	return nil
}
