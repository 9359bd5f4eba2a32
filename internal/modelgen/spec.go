// Package modelgen generates random but well-formed Hugging Face model
// folders (config.json, generation_config.json, tokenizer_config.json,
// tokenizer.json and safetensors weights, optionally sharded with an
// index) deterministically from a seed. Tests, the README's demo and the
// benchmarks use it instead of downloading real models.
//
// Weights come from a counter-based PRNG keyed by (seed, tensor name), so
// any element of any tensor can be computed on its own: files stream to
// disk in constant memory at hundreds of MB/s, sharding does not change
// the values, and WriteLlama2C can emit the very same weights in llama2.c's
// checkpoint layout for side-by-side runs with run.c.
package modelgen

import (
	"fmt"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// Spec describes a model to generate.
type Spec struct {
	// Config is the model's configuration, with all sizes resolved (as
	// hf.ParseConfig leaves them). It must pass Validate, and VocabSize
	// must be at least MinVocab for the generated tokenizer.
	Config hf.Config
	// DType is the weights' element type: F32 (default), F16 or BF16.
	DType safetensors.DType
	// Shards is the number of safetensors files; 0 or 1 writes a single
	// model.safetensors, more writes model-0000i-of-0000N.safetensors plus
	// model.safetensors.index.json.
	Shards int
	// Seed selects the weights and the tokenizer's merges.
	Seed uint64
}

func (s Spec) dtype() safetensors.DType {
	if s.DType == "" {
		return safetensors.F32
	}
	return s.DType
}

func (s Spec) validate() error {
	switch s.dtype() {
	case safetensors.F32, safetensors.F16, safetensors.BF16:
	default:
		return fmt.Errorf("modelgen: dtype %s not supported (want F32, F16 or BF16)", s.DType)
	}
	if err := s.Config.Validate(); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	if s.Config.VocabSize < MinVocab {
		return fmt.Errorf("modelgen: vocab_size %d is below the generated tokenizer's minimum of %d", s.Config.VocabSize, MinVocab)
	}
	if s.Shards < 0 {
		return fmt.Errorf("modelgen: negative shard count %d", s.Shards)
	}
	return nil
}

// torchDType is config.json's torch_dtype for a safetensors dtype.
func torchDType(d safetensors.DType) string {
	switch d {
	case safetensors.F16:
		return "float16"
	case safetensors.BF16:
		return "bfloat16"
	}
	return "float32"
}

func baseConfig(arch string) hf.Config {
	mt := map[string]string{hf.Mistral: "mistral", hf.Mixtral: "mixtral", hf.Llama: "llama"}[arch]
	return hf.Config{
		Architectures: []string{arch},
		ModelType:     mt,
		RMSNormEps:    1e-5,
		RopeTheta:     10000,
		HiddenAct:     "silu",
		BOSTokenID:    hf.TokenIDs{1},
		EOSTokenID:    hf.TokenIDs{2},
	}
}

// TinyMistral is a two-layer MistralForCausalLM with grouped-query
// attention (4 heads, 2 KV heads, hidden 64, vocab 512, context 256,
// untied head, F32): about 550 KB, for tests.
func TinyMistral() Spec {
	c := baseConfig(hf.Mistral)
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 64, 128, 2
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 4, 2, 16
	c.VocabSize, c.MaxPositionEmbeddings = 512, 256
	return Spec{Config: c, DType: safetensors.F32, Seed: 1}
}

// TinyMistralSlidingWindow is TinyMistral with an 8-token sliding window,
// so tests with short prompts exercise the window.
func TinyMistralSlidingWindow() Spec {
	s := TinyMistral()
	s.Config.SlidingWindow = 8
	s.Seed = 2
	return s
}

// TinyMixtral is a two-layer MixtralForCausalLM with 4 experts, 2 active
// per token (hidden 64, 4 heads, 2 KV heads, vocab 512, context 256, F32).
func TinyMixtral() Spec {
	c := baseConfig(hf.Mixtral)
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = 64, 96, 2
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 4, 2, 16
	c.VocabSize, c.MaxPositionEmbeddings = 512, 256
	c.NumLocalExperts, c.NumExpertsPerTok = 4, 2
	c.RopeTheta = 1e6
	return Spec{Config: c, DType: safetensors.F32, Seed: 3}
}

func stories(dim, layers, heads, hidden, seq int, seed uint64) Spec {
	c := baseConfig(hf.Llama)
	c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers = dim, hidden, layers
	c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = heads, heads, dim/heads
	c.VocabSize, c.MaxPositionEmbeddings = 32000, seq
	c.TieWordEmbeddings = true
	return Spec{Config: c, DType: safetensors.F32, Seed: seed}
}

// Stories15M has the exact shape of llama2.c's stories15M (LlamaForCausalLM,
// dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, context 256, tied,
// F32) with random weights.
func Stories15M() Spec { return stories(288, 6, 6, 768, 256, 15) }

// Stories110M has the exact shape of llama2.c's stories110M (dim 768, 12
// layers, 12 heads, hidden 2048, vocab 32000, context 1024, tied, F32).
func Stories110M() Spec { return stories(768, 12, 12, 2048, 1024, 110) }

// SizedMistral is a BF16 MistralForCausalLM of about the given number of
// bytes of weights (never less than about 20 MB), sharded into files of
// at most ~256 MiB and at least two, for import benchmarks.
func SizedMistral(bytes int64) Spec {
	c := baseConfig(hf.Mistral)
	c.SlidingWindow = 4096
	c.MaxPositionEmbeddings = 32768
	c.VocabSize = 32000
	c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 1024, 16, 8, 64
	c.IntermediateSize = 3584
	if bytes < 256<<20 {
		c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim = 256, 8, 4, 32
		c.IntermediateSize = 896
	}
	h, kv, inter := int64(c.HiddenSize), int64(c.KVDim()), int64(c.IntermediateSize)
	emb := 2 * int64(c.VocabSize) * h * 2
	perLayer := (2*h*h + 2*kv*h + 3*inter*h + 2*h) * 2
	layers := max((bytes-emb-2*h)/perLayer, 1)
	c.NumHiddenLayers = int(min(layers, 1024))
	shards := int(max(2, (bytes+(256<<20)-1)/(256<<20)))
	return Spec{Config: c, DType: safetensors.BF16, Shards: shards, Seed: 7}
}
