package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"strata/internal/hf"
	"strata/internal/safetensors"
	"strata/internal/tokenizer"
)

// Params is Mistral's params.json.
type Params struct {
	Dim       int     `json:"dim"`
	NLayers   int     `json:"n_layers"`
	HeadDim   int     `json:"head_dim"`
	HiddenDim int     `json:"hidden_dim"`
	NHeads    int     `json:"n_heads"`
	NKVHeads  int     `json:"n_kv_heads"`
	NormEps   float64 `json:"norm_eps"`
	VocabSize int     `json:"vocab_size"`
	RopeTheta float64 `json:"rope_theta"`
	// SlidingWindow is 0 when absent or null.
	SlidingWindow int `json:"sliding_window"`
	// MaxSeqLen is max_seq_len (or max_position_embeddings); 0 if absent.
	MaxSeqLen int `json:"max_seq_len"`
	MoE       *struct {
		NumExperts       int `json:"num_experts"`
		NumExpertsPerTok int `json:"num_experts_per_tok"`
	} `json:"moe,omitempty"`
}

// DefaultMistralContext is the context length given to a converted model
// whose params.json does not state one (transformers' default for Mistral).
const DefaultMistralContext = 32768

// ParseParams reads params.json (at most hf.MaxConfigSize bytes). Unknown
// keys are ignored; known ones must have the right types.
func ParseParams(r io.Reader) (*Params, error) {
	b, err := io.ReadAll(io.LimitReader(r, hf.MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading params.json: %w", err)
	}
	if len(b) > hf.MaxConfigSize {
		return nil, fmt.Errorf("params.json is larger than %d bytes", hf.MaxConfigSize)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("params.json is not a JSON object")
	}
	var p Params
	var extra struct {
		MaxPositionEmbeddings *int `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(b, &extra); err != nil {
		return nil, fmt.Errorf("params.json: %w", err)
	}
	// sliding_window may be null, which the typed decode accepts as 0.
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("params.json: %w", err)
	}
	if p.MaxSeqLen == 0 && extra.MaxPositionEmbeddings != nil {
		p.MaxSeqLen = *extra.MaxPositionEmbeddings
	}
	if p.HeadDim == 0 && p.NHeads > 0 {
		p.HeadDim = p.Dim / p.NHeads
	}
	if p.NKVHeads == 0 {
		p.NKVHeads = p.NHeads
	}
	if p.RopeTheta == 0 {
		p.RopeTheta = 10000
		if p.MoE != nil {
			p.RopeTheta = 1e6
		}
	}
	return &p, nil
}

// Config returns the Hugging Face config for the model: Mixtral when
// params.json has a moe section, else Mistral; dtype names the weights'.
func (p *Params) Config(dtype safetensors.DType) *hf.Config {
	c := &hf.Config{
		Architectures:         []string{hf.Mistral},
		ModelType:             "mistral",
		HiddenSize:            p.Dim,
		IntermediateSize:      p.HiddenDim,
		NumHiddenLayers:       p.NLayers,
		NumAttentionHeads:     p.NHeads,
		NumKeyValueHeads:      p.NKVHeads,
		HeadDim:               p.HeadDim,
		VocabSize:             p.VocabSize,
		MaxPositionEmbeddings: p.MaxSeqLen,
		RMSNormEps:            p.NormEps,
		RopeTheta:             p.RopeTheta,
		SlidingWindow:         p.SlidingWindow,
		TorchDType:            torchDType(dtype),
		HiddenAct:             "silu",
		BOSTokenID:            hf.TokenIDs{1},
		EOSTokenID:            hf.TokenIDs{2},
	}
	if c.MaxPositionEmbeddings == 0 {
		c.MaxPositionEmbeddings = DefaultMistralContext
	}
	if p.MoE != nil {
		c.Architectures = []string{hf.Mixtral}
		c.ModelType = "mixtral"
		c.NumLocalExperts = p.MoE.NumExperts
		c.NumExpertsPerTok = p.MoE.NumExpertsPerTok
	}
	return c
}

var mistralLayer = regexp.MustCompile(`^layers\.([0-9]+)\.(.+)$`)

var mistralLayerNames = map[string]string{
	"attention.wq.weight":          "self_attn.q_proj.weight",
	"attention.wk.weight":          "self_attn.k_proj.weight",
	"attention.wv.weight":          "self_attn.v_proj.weight",
	"attention.wo.weight":          "self_attn.o_proj.weight",
	"attention_norm.weight":        "input_layernorm.weight",
	"ffn_norm.weight":              "post_attention_layernorm.weight",
	"feed_forward.w1.weight":       "mlp.gate_proj.weight",
	"feed_forward.w2.weight":       "mlp.down_proj.weight",
	"feed_forward.w3.weight":       "mlp.up_proj.weight",
	"feed_forward.gate.weight":     "block_sparse_moe.gate.weight",
	"block_sparse_moe.gate.weight": "block_sparse_moe.gate.weight",
}

var mistralExpert = regexp.MustCompile(`^(?:feed_forward|block_sparse_moe)\.experts\.([0-9]+)\.(w[123])\.weight$`)

// mistralName maps a Mistral checkpoint tensor name to its Hugging Face
// name, reporting whether the q/k row permutation applies. Both the
// feed_forward.experts (mistral-inference) and block_sparse_moe spellings
// of MoE layers are accepted.
func mistralName(name string) (hfName string, permute bool, ok bool) {
	switch name {
	case "tok_embeddings.weight":
		return "model.embed_tokens.weight", false, true
	case "norm.weight":
		return "model.norm.weight", false, true
	case "output.weight":
		return "lm_head.weight", false, true
	}
	m := mistralLayer.FindStringSubmatch(name)
	if m == nil {
		return "", false, false
	}
	layer, rest := m[1], m[2]
	if _, err := strconv.Atoi(layer); err != nil || (len(layer) > 1 && layer[0] == '0') {
		return "", false, false
	}
	p := "model.layers." + layer + "."
	if hfRest, ok := mistralLayerNames[rest]; ok {
		return p + hfRest, rest == "attention.wq.weight" || rest == "attention.wk.weight", true
	}
	if e := mistralExpert.FindStringSubmatch(rest); e != nil {
		return p + "block_sparse_moe.experts." + e[1] + "." + e[2] + ".weight", false, true
	}
	return "", false, false
}

// Mistral converts a folder in Mistral's native format (params.json,
// consolidated.safetensors or consolidated-*.safetensors, and
// tokenizer.model or tokenizer.model.v*) into a Hugging Face
// MistralForCausalLM or MixtralForCausalLM folder at outDir (which must not
// exist or be empty). Weights keep their dtype; q/k rows are permuted as
// transformers' convert_mistral_weights_to_hf.py does; every input tensor
// must map to an expected output tensor of the right shape, checked before
// anything is written.
func Mistral(ctx context.Context, inDir, outDir string, opts Options) error {
	log := opts.logger()
	pf, err := os.Open(filepath.Join(inDir, "params.json"))
	if err != nil {
		return fmt.Errorf("opening params.json: %w", err)
	}
	params, err := ParseParams(pf)
	pf.Close()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(inDir, "consolidated*.safetensors"))
	if err != nil {
		return fmt.Errorf("listing weights: %w", err)
	}
	if len(files) == 0 {
		if pth, _ := filepath.Glob(filepath.Join(inDir, "consolidated*.pth")); len(pth) > 0 {
			return fmt.Errorf("%s holds only PyTorch pickle weights (%s); strata reads safetensors only", inDir, filepath.Base(pth[0]))
		}
		return fmt.Errorf("no consolidated*.safetensors in %s", inDir)
	}
	slices.Sort(files)
	var opened []*safetensors.File
	defer func() {
		for _, sf := range opened {
			sf.Close()
		}
	}()
	type source struct {
		file    *safetensors.File
		info    safetensors.TensorInfo
		permute bool
	}
	sources := map[string]source{}
	var dtype safetensors.DType
	for _, path := range files {
		sf, err := safetensors.Open(path)
		if err != nil {
			return err
		}
		opened = append(opened, sf)
		for _, t := range sf.Header.Tensors {
			if t.Name == "rope.freqs" {
				continue // Meta's precomputed rotary table: recomputed at load
			}
			hfName, perm, ok := mistralName(t.Name)
			if !ok {
				return fmt.Errorf("%s: tensor %q is not a Mistral checkpoint tensor", filepath.Base(path), t.Name)
			}
			if _, dup := sources[hfName]; dup {
				return fmt.Errorf("%s: tensor %q appears twice", filepath.Base(path), t.Name)
			}
			switch t.DType {
			case safetensors.F32, safetensors.F16, safetensors.BF16:
			default:
				return fmt.Errorf("%s: tensor %q has dtype %s; want F32, F16 or BF16", filepath.Base(path), t.Name, t.DType)
			}
			if dtype == "" || hfName == "model.embed_tokens.weight" {
				dtype = t.DType
			}
			sources[hfName] = source{file: sf, info: t, permute: perm}
		}
	}
	cfg := params.Config(dtype)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("params.json: %w", err)
	}
	shapes := make(map[string][]int64, len(sources))
	for name, s := range sources {
		shapes[name] = s.info.Shape
	}
	if err := hf.CheckTensors(cfg, shapes); err != nil {
		return fmt.Errorf("%s: %w", inDir, err)
	}

	tokPath, err := findTokenizerModel(inDir)
	if err != nil {
		return err
	}
	tokBytes, err := os.ReadFile(tokPath)
	if err != nil {
		return fmt.Errorf("reading tokenizer: %w", err)
	}
	spm, err := tokenizer.ReadSentencePiece(bytes.NewReader(tokBytes))
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(tokPath), err)
	}
	if len(spm.Pieces) != cfg.VocabSize {
		return fmt.Errorf("%s has %d pieces but params.json says vocab_size %d", filepath.Base(tokPath), len(spm.Pieces), cfg.VocabSize)
	}
	if spm.BOSID >= 0 {
		cfg.BOSTokenID = hf.TokenIDs{int(spm.BOSID)}
	}
	if spm.EOSID >= 0 {
		cfg.EOSTokenID = hf.TokenIDs{int(spm.EOSID)}
	}

	out, err := newFolder(outDir, log)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			out.abort()
		}
	}()
	order := expectedOrder(cfg)
	ts := make([]outTensor, 0, len(order))
	for _, name := range order {
		s, ok := sources[name]
		if !ok {
			continue // CheckTensors allowed it (an optional buffer)
		}
		t := outTensor{spec: safetensors.TensorSpec{Name: name, DType: s.info.DType, Shape: s.info.Shape}}
		_, data, err := s.file.Bytes(s.info.Name)
		if err != nil {
			return err
		}
		if s.permute {
			rows := s.info.Shape[0]
			rowBytes := int64(len(data)) / max(rows, 1)
			t.write = func(w io.Writer) error {
				return copyPermuted(w, bytes.NewReader(data), 0, rows, rowBytes, int64(cfg.HeadDim))
			}
		} else {
			t.write = func(w io.Writer) error { _, err := w.Write(data); return err }
		}
		ts = append(ts, t)
	}
	maxShard := opts.MaxShardBytes
	if maxShard <= 0 {
		maxShard = DefaultMaxShardBytes
	}
	if err := out.writeWeights(ctx, ts, maxShard); err != nil {
		return err
	}
	if err := out.writeJSON("config.json", configJSON(cfg)); err != nil {
		return err
	}
	if err := out.writeJSON("generation_config.json", map[string]any{"bos_token_id": cfg.BOSTokenID[0], "eos_token_id": cfg.EOSTokenID[0]}); err != nil {
		return err
	}
	if err := out.writeJSON("tokenizer_config.json", tokenizerConfig(cfg.MaxPositionEmbeddings, false)); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out.tmp, "tokenizer.model"), tokBytes, 0o644); err != nil {
		return fmt.Errorf("writing tokenizer.model: %w", err)
	}
	if err := out.commit(); err != nil {
		return err
	}
	committed = true
	log.Info("converted Mistral checkpoint", "in", inDir, "out", outDir, "architecture", cfg.Architecture())
	return nil
}

// findTokenizerModel returns tokenizer.model, or the newest
// tokenizer.model.v* in dir.
func findTokenizerModel(dir string) (string, error) {
	p := filepath.Join(dir, "tokenizer.model")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	vs, _ := filepath.Glob(filepath.Join(dir, "tokenizer.model.v*"))
	if len(vs) > 0 {
		slices.Sort(vs)
		return vs[len(vs)-1], nil
	}
	if _, err := os.Stat(filepath.Join(dir, "tekken.json")); err == nil {
		return "", fmt.Errorf("%s has a tekken.json tokenizer, which strata cannot convert yet; it needs tokenizer.model", dir)
	}
	return "", fmt.Errorf("no tokenizer.model in %s", dir)
}

var hfLayer = regexp.MustCompile(`^model\.layers\.([0-9]+)\.`)

// expectedOrder lists the HF tensor names in a natural file order:
// embeddings, layer by layer, final norm, head.
func expectedOrder(cfg *hf.Config) []string {
	want := hf.ExpectedTensors(cfg)
	names := slices.Collect(maps.Keys(want))
	rank := func(n string) (int, int, string) {
		switch n {
		case "model.embed_tokens.weight":
			return 0, 0, n
		case "model.norm.weight":
			return 2, 0, n
		case "lm_head.weight":
			return 3, 0, n
		}
		m := hfLayer.FindStringSubmatch(n)
		l, _ := strconv.Atoi(m[1])
		return 1, l, n
	}
	slices.SortFunc(names, func(a, b string) int {
		ga, la, na := rank(a)
		gb, lb, nb := rank(b)
		if ga != gb {
			return ga - gb
		}
		if la != lb {
			return la - lb
		}
		if na < nb {
			return -1
		}
		if na > nb {
			return 1
		}
		return 0
	})
	return names
}
