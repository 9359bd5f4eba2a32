package modelgen

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// Generate writes the model folder for spec into dir (created if needed):
// config.json, generation_config.json, tokenizer_config.json,
// tokenizer.json and the weights, streamed tensor by tensor so memory use
// does not grow with the model's size.
func Generate(dir string, spec Spec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	cfg := spec.Config
	cfg.TorchDType = torchDType(spec.dtype())
	if err := writeJSON(filepath.Join(dir, "config.json"), configJSON(&cfg)); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "generation_config.json"), map[string]any{
		"_from_model_config": true, "bos_token_id": BOSID, "eos_token_id": EOSID,
	}); err != nil {
		return err
	}
	tj, err := tokenizerJSON(spec.Vocab())
	if err != nil {
		return fmt.Errorf("modelgen: tokenizer.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), tj, 0o644); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	tc, err := tokenizerConfigJSON(cfg.MaxPositionEmbeddings)
	if err != nil {
		return fmt.Errorf("modelgen: tokenizer_config.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tc, 0o644); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	return spec.writeWeights(dir)
}

// configJSON renders c as transformers writes config.json.
func configJSON(c *hf.Config) map[string]any {
	m := map[string]any{
		"architectures":           c.Architectures,
		"model_type":              c.ModelType,
		"hidden_size":             c.HiddenSize,
		"intermediate_size":       c.IntermediateSize,
		"num_hidden_layers":       c.NumHiddenLayers,
		"num_attention_heads":     c.NumAttentionHeads,
		"num_key_value_heads":     c.NumKeyValueHeads,
		"head_dim":                c.HeadDim,
		"vocab_size":              c.VocabSize,
		"max_position_embeddings": c.MaxPositionEmbeddings,
		"rms_norm_eps":            c.RMSNormEps,
		"rope_theta":              c.RopeTheta,
		"tie_word_embeddings":     c.TieWordEmbeddings,
		"hidden_act":              "silu",
		"torch_dtype":             c.TorchDType,
		"bos_token_id":            tokenIDValue(c.BOSTokenID),
		"eos_token_id":            tokenIDValue(c.EOSTokenID),
		"use_cache":               true,
		"initializer_range":       0.02,
		"attention_dropout":       0.0,
	}
	if c.SlidingWindow > 0 {
		m["sliding_window"] = c.SlidingWindow
	} else {
		m["sliding_window"] = nil
	}
	if c.RopeScaling != nil {
		m["rope_scaling"] = c.RopeScaling
	} else {
		m["rope_scaling"] = nil
	}
	if c.Architecture() == hf.Mixtral {
		m["num_local_experts"] = c.NumLocalExperts
		m["num_experts_per_tok"] = c.NumExpertsPerTok
		m["router_aux_loss_coef"] = 0.02
	}
	return m
}

func tokenIDValue(ids hf.TokenIDs) any {
	switch len(ids) {
	case 0:
		return nil
	case 1:
		return ids[0]
	}
	return []int(ids)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("modelgen: encoding %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	return nil
}

// ShardNames returns the weight file names Generate writes for n shards.
func ShardNames(n int) []string {
	if n <= 1 {
		return []string{"model.safetensors"}
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
	}
	return names
}

func (s Spec) writeWeights(dir string) error {
	groups := shardTensors(s.Tensors(), s.Shards)
	names := ShardNames(len(groups))
	weightMap := map[string]string{}
	var total int64
	for i, g := range groups {
		n, err := s.writeShard(filepath.Join(dir, names[i]), g)
		if err != nil {
			return err
		}
		total += n
		for _, t := range g {
			weightMap[t.Name] = names[i]
		}
	}
	if len(groups) == 1 {
		return nil
	}
	return writeJSON(filepath.Join(dir, hf.IndexFileName), map[string]any{
		"metadata":   map[string]any{"total_size": total},
		"weight_map": weightMap,
	})
}

// writeShard writes one safetensors file and returns its data size.
func (s Spec) writeShard(path string, ts []safetensors.TensorSpec) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("modelgen: %w", err)
	}
	defer f.Close()
	w, err := safetensors.NewWriter(f, ts, map[string]string{"format": "pt"})
	if err != nil {
		return 0, fmt.Errorf("modelgen: %s: %w", filepath.Base(path), err)
	}
	if err := s.writeData(w, ts); err != nil {
		return 0, fmt.Errorf("modelgen: %s: %w", filepath.Base(path), err)
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("modelgen: %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("modelgen: %w", err)
	}
	var n int64
	for _, t := range w.Tensors() {
		n += t.Size()
	}
	return n, nil
}
