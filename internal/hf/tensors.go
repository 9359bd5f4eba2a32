package hf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// ExpectedTensors returns the exact tensor names and shapes ([out, in] for
// weights, as PyTorch stores nn.Linear) a Hugging Face checkpoint of cfg's
// architecture holds. lm_head.weight is absent when the embeddings are
// tied. cfg must have passed Validate.
func ExpectedTensors(cfg *Config) map[string][]int64 {
	h := int64(cfg.HiddenSize)
	inter := int64(cfg.IntermediateSize)
	q := int64(cfg.QDim())
	kv := int64(cfg.KVDim())
	v := int64(cfg.VocabSize)
	m := map[string][]int64{
		"model.embed_tokens.weight": {v, h},
		"model.norm.weight":         {h},
	}
	if !cfg.TieWordEmbeddings {
		m["lm_head.weight"] = []int64{v, h}
	}
	for l := range cfg.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.", l)
		m[p+"input_layernorm.weight"] = []int64{h}
		m[p+"post_attention_layernorm.weight"] = []int64{h}
		m[p+"self_attn.q_proj.weight"] = []int64{q, h}
		m[p+"self_attn.k_proj.weight"] = []int64{kv, h}
		m[p+"self_attn.v_proj.weight"] = []int64{kv, h}
		m[p+"self_attn.o_proj.weight"] = []int64{h, q}
		if cfg.Architecture() == Mixtral {
			m[p+"block_sparse_moe.gate.weight"] = []int64{int64(cfg.NumLocalExperts), h}
			for e := range cfg.NumLocalExperts {
				ep := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
				m[ep+"w1.weight"] = []int64{inter, h}
				m[ep+"w2.weight"] = []int64{h, inter}
				m[ep+"w3.weight"] = []int64{inter, h}
			}
			continue
		}
		m[p+"mlp.gate_proj.weight"] = []int64{inter, h}
		m[p+"mlp.up_proj.weight"] = []int64{inter, h}
		m[p+"mlp.down_proj.weight"] = []int64{h, inter}
	}
	return m
}

var optionalTensor = regexp.MustCompile(`^model\.layers\.[0-9]+\.self_attn\.rotary_emb\.inv_freq$`)

// IsOptionalTensor reports whether name is a buffer some exporters save but
// the model does not need (the rotary inv_freq buffers older transformers
// versions wrote); importers accept and ignore it.
func IsOptionalTensor(name string) bool { return optionalTensor.MatchString(name) }

// CheckTensors compares the tensors found in a checkpoint (name → shape,
// across all shards) with ExpectedTensors(cfg). Extra optional buffers are
// allowed; a tied model may also carry lm_head.weight. The error lists the
// first few missing, unexpected and mis-shaped tensors.
func CheckTensors(cfg *Config, got map[string][]int64) error {
	want := ExpectedTensors(cfg)
	var missing, extra, shape []string
	for name, ws := range want {
		gs, ok := got[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if !slices.Equal(gs, ws) {
			shape = append(shape, fmt.Sprintf("%s has shape %v, config.json implies %v", name, gs, ws))
		}
	}
	for name, gs := range got {
		if _, ok := want[name]; ok || IsOptionalTensor(name) {
			continue
		}
		if name == "lm_head.weight" && cfg.TieWordEmbeddings {
			if ws := want["model.embed_tokens.weight"]; !slices.Equal(gs, ws) {
				shape = append(shape, fmt.Sprintf("lm_head.weight has shape %v, config.json implies %v", gs, ws))
			}
			continue
		}
		extra = append(extra, name)
	}
	if len(missing)+len(extra)+len(shape) == 0 {
		return nil
	}
	var parts []string
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		slices.Sort(names)
		more := ""
		if len(names) > 5 {
			more = fmt.Sprintf(" and %d more", len(names)-5)
			names = names[:5]
		}
		parts = append(parts, fmt.Sprintf("%s: %s%s", what, strings.Join(names, ", "), more))
	}
	list("mismatched shapes", shape)
	list("missing tensors", missing)
	list("unexpected tensors", extra)
	return fmt.Errorf("tensors do not match config.json (%s): %s", cfg.Architecture(), strings.Join(parts, "; "))
}
