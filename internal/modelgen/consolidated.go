package modelgen

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// ConsolidatedName maps a Hugging Face tensor name of s to the name Mistral's
// own checkpoints (consolidated.safetensors) use for it.
func ConsolidatedName(hfName string) string {
	r := strings.NewReplacer(
		"model.embed_tokens.weight", "tok_embeddings.weight",
		"model.norm.weight", "norm.weight",
		"lm_head.weight", "output.weight",
		"model.layers.", "layers.",
		"self_attn.q_proj", "attention.wq",
		"self_attn.k_proj", "attention.wk",
		"self_attn.v_proj", "attention.wv",
		"self_attn.o_proj", "attention.wo",
		"input_layernorm", "attention_norm",
		"post_attention_layernorm", "ffn_norm",
		"mlp.gate_proj", "feed_forward.w1",
		"mlp.down_proj", "feed_forward.w2",
		"mlp.up_proj", "feed_forward.w3",
		"block_sparse_moe.gate", "feed_forward.gate",
		"block_sparse_moe.experts", "feed_forward.experts",
	)
	return r.Replace(hfName)
}

// WriteConsolidated writes s in Mistral's native layout, as Mistral AI
// publishes models: params.json and consolidated.safetensors with Mistral
// names and q/k rows in Meta's interleaved rotary layout. The caller adds
// tokenizer.model. Converting the result with convert.Mistral gives back
// exactly the weights Generate writes. Tensors are held in memory one at a
// time, so this is for test-sized models.
func WriteConsolidated(dir string, s Spec) error {
	if err := s.validate(); err != nil {
		return err
	}
	c := &s.Config
	if c.TieWordEmbeddings {
		return errors.New("modelgen: Mistral checkpoints have an untied output layer")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	params := map[string]any{
		"dim": c.HiddenSize, "n_layers": c.NumHiddenLayers, "head_dim": c.HeadDim,
		"hidden_dim": c.IntermediateSize, "n_heads": c.NumAttentionHeads, "n_kv_heads": c.NumKeyValueHeads,
		"norm_eps": c.RMSNormEps, "vocab_size": c.VocabSize, "rope_theta": c.RopeTheta,
		"max_seq_len": c.MaxPositionEmbeddings,
	}
	if c.SlidingWindow > 0 {
		params["sliding_window"] = c.SlidingWindow
	}
	if c.Architecture() == hf.Mixtral {
		params["moe"] = map[string]any{"num_experts": c.NumLocalExperts, "num_experts_per_tok": c.NumExpertsPerTok}
	}
	b, err := json.MarshalIndent(params, "", "  ")
	if err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "params.json"), b, 0o644); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	hfTensors := s.Tensors()
	specs := make([]safetensors.TensorSpec, len(hfTensors))
	for i, t := range hfTensors {
		specs[i] = t
		specs[i].Name = ConsolidatedName(t.Name)
	}
	f, err := os.Create(filepath.Join(dir, "consolidated.safetensors"))
	if err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	defer f.Close()
	w, err := safetensors.NewWriter(f, specs, nil)
	if err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	hd := int64(c.HeadDim)
	for i, t := range hfTensors {
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		vals := make([]float32, n)
		s.values(t.Name, t.Shape, 0, vals)
		if strings.HasSuffix(t.Name, "q_proj.weight") || strings.HasSuffix(t.Name, "k_proj.weight") {
			cols := t.Shape[1]
			meta := make([]float32, n)
			for r := range t.Shape[0] {
				h, rem := r/hd, r%hd
				src := h*hd + (rem%2)*(hd/2) + rem/2
				copy(meta[r*cols:(r+1)*cols], vals[src*cols:(src+1)*cols])
			}
			vals = meta
		}
		if err := w.WriteTensor(specs[i].Name, encode(vals, t.DType)); err != nil {
			return fmt.Errorf("modelgen: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	return nil
}

func encode(vals []float32, dt safetensors.DType) []byte {
	out := make([]byte, len(vals)*dt.Size())
	for i, v := range vals {
		switch dt {
		case safetensors.F32:
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
		case safetensors.F16:
			binary.LittleEndian.PutUint16(out[2*i:], safetensors.F32ToF16(v))
		case safetensors.BF16:
			binary.LittleEndian.PutUint16(out[2*i:], safetensors.F32ToBF16(v))
		}
	}
	return out
}
