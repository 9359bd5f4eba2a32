package llm

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// LoadOptions tune how a model folder is loaded.
type LoadOptions struct {
	Threads int  // kernel goroutines; 0 means GOMAXPROCS
	Int8    bool // quantize the projection matrices to int8 (per-row scales)
}

// configFrom translates a validated Hugging Face config.
func configFrom(c *hf.Config) (Config, error) {
	cfg := Config{
		Dim: c.HiddenSize, Hidden: c.IntermediateSize, Layers: c.NumHiddenLayers,
		Heads: c.NumAttentionHeads, KVHeads: c.NumKeyValueHeads, HeadDim: c.HeadDim,
		Vocab: c.VocabSize, MaxSeq: c.MaxPositionEmbeddings, NormEps: float32(c.RMSNormEps),
		RopeTheta: c.RopeTheta, SlidingWindow: c.SlidingWindow, TiedOutput: c.TieWordEmbeddings,
	}
	if c.Architecture() == hf.Mixtral {
		cfg.Experts, cfg.ExpertsPerTok = c.NumLocalExperts, c.NumExpertsPerTok
	}
	if rs := c.RopeScaling; rs != nil {
		if rs.RopeType != "linear" && rs.RopeType != "llama3" {
			return Config{}, fmt.Errorf("llm: rope scaling %q is not supported (linear and llama3 are)", rs.RopeType)
		}
		cfg.RopeScaling = &RopeScaling{Type: rs.RopeType, Factor: rs.Factor, LowFreqFactor: rs.LowFreqFactor,
			HighFreqFactor: rs.HighFreqFactor, OriginalMaxPositions: rs.OriginalMaxPositionEmbeddings}
	}
	return cfg, cfg.validate()
}

// mapped closes a model's memory-mapped weight files.
type mapped []*safetensors.File

func (m mapped) Close() error {
	var errs []error
	for _, f := range m {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// LoadModel loads the Hugging Face model folder dir (a validated
// config.json and safetensors weights). F32 tensors are used in place from
// the read-only memory mapping, with no copy; F16 and BF16 tensors are
// converted to F32 once at load (a decode step reads every weight, so
// converting in the kernel would cost that conversion on every token).
func LoadModel(dir string, opts LoadOptions) (*Model, error) {
	ck, err := hf.ValidateDir(dir)
	if err != nil {
		return nil, fmt.Errorf("llm: %w", err)
	}
	cfg, err := configFrom(ck.Config)
	if err != nil {
		return nil, err
	}
	files := mapped{}
	byName := map[string]*safetensors.File{}
	for _, name := range ck.Files {
		f, err := safetensors.Open(filepath.Join(dir, name))
		if err != nil {
			files.Close()
			return nil, fmt.Errorf("llm: %w", err)
		}
		files = append(files, f)
		byName[name] = f
	}
	w, err := readWeights(&cfg, func(name string) ([]float32, error) {
		f, ok := byName[ck.Where[name]]
		if !ok {
			return nil, fmt.Errorf("llm: no tensor %q", name)
		}
		return f.Float32s(name)
	})
	if err != nil {
		files.Close()
		return nil, err
	}
	if opts.Int8 {
		w.Quantize()
	}
	m, err := NewModel(cfg, w, opts.Threads, files)
	if err != nil {
		files.Close()
		return nil, err
	}
	return m, nil
}

// readWeights gathers the tensors of cfg's architecture by their Hugging
// Face names.
func readWeights(cfg *Config, get func(string) ([]float32, error)) (*Weights, error) {
	var errs []error
	vec := func(name string) []float32 {
		v, err := get(name)
		errs = append(errs, err)
		return v
	}
	mat := func(name string, rows, cols int) Matrix {
		return Matrix{Rows: rows, Cols: cols, F32: vec(name)}
	}
	qd, kvd := cfg.Heads*cfg.HeadDim, cfg.KVHeads*cfg.HeadDim
	w := &Weights{Embed: mat("model.embed_tokens.weight", cfg.Vocab, cfg.Dim), Norm: vec("model.norm.weight")}
	if cfg.TiedOutput {
		w.Output = w.Embed
	} else {
		w.Output = mat("lm_head.weight", cfg.Vocab, cfg.Dim)
	}
	for l := range cfg.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		ly := Layer{
			AttnNorm: vec(p + "input_layernorm.weight"),
			MLPNorm:  vec(p + "post_attention_layernorm.weight"),
			Q:        mat(p+"self_attn.q_proj.weight", qd, cfg.Dim),
			K:        mat(p+"self_attn.k_proj.weight", kvd, cfg.Dim),
			V:        mat(p+"self_attn.v_proj.weight", kvd, cfg.Dim),
			O:        mat(p+"self_attn.o_proj.weight", cfg.Dim, qd),
		}
		if cfg.Experts == 0 {
			ly.Gate = mat(p+"mlp.gate_proj.weight", cfg.Hidden, cfg.Dim)
			ly.Up = mat(p+"mlp.up_proj.weight", cfg.Hidden, cfg.Dim)
			ly.Down = mat(p+"mlp.down_proj.weight", cfg.Dim, cfg.Hidden)
		} else {
			ly.Router = mat(p+"block_sparse_moe.gate.weight", cfg.Experts, cfg.Dim)
			for e := range cfg.Experts {
				ep := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
				ly.Experts = append(ly.Experts, Expert{
					Gate: mat(ep+"w1.weight", cfg.Hidden, cfg.Dim),
					Down: mat(ep+"w2.weight", cfg.Dim, cfg.Hidden),
					Up:   mat(ep+"w3.weight", cfg.Hidden, cfg.Dim),
				})
			}
		}
		w.Layers = append(w.Layers, ly)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := w.check(cfg); err != nil {
		return nil, err
	}
	return w, nil
}

// architectureName describes cfg for logs.
func (c *Config) architectureName() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dim %d, %d layers, %d/%d heads, vocab %d", c.Dim, c.Layers, c.Heads, c.KVHeads, c.Vocab)
	if c.Experts > 0 {
		fmt.Fprintf(&b, ", %d experts (top %d)", c.Experts, c.ExpertsPerTok)
	}
	if c.SlidingWindow > 0 {
		fmt.Fprintf(&b, ", window %d", c.SlidingWindow)
	}
	return b.String()
}
