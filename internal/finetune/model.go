package finetune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// arch is the architecture a network computes, in the engine's terms.
type arch struct {
	dim, hidden, layers   int
	heads, kvHeads, hd    int
	vocab, maxPos, window int
	eps                   float64
	tied                  bool
	invFreq               []float64 // RoPE inverse frequencies, scaled
}

// tensorInfo is one named parameter tensor's place in the flat buffer.
type tensorInfo struct {
	name  string
	shape []int
	off   int
}

// size returns the number of values of t.
func (t tensorInfo) size() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// layerOffs are the offsets of one block's tensors in the flat buffer.
type layerOffs struct {
	attnNorm, q, k, v, o, mlpNorm, gate, up, down int
}

// layout places every parameter tensor of an architecture in one flat
// buffer, in the order of the Hugging Face checkpoint: embeddings, then the
// blocks, then the final norm and (untied) head. A tied head shares the
// embeddings' offset.
type layout struct {
	arch
	tensors           []tensorInfo
	embed, norm, head int
	blocks            []layerOffs
	size              int
}

func newLayout(a arch) *layout {
	l := &layout{arch: a}
	add := func(name string, shape ...int) int {
		t := tensorInfo{name: name, shape: shape, off: l.size}
		l.tensors = append(l.tensors, t)
		l.size += t.size()
		return t.off
	}
	qd, kvd := a.heads*a.hd, a.kvHeads*a.hd
	l.embed = add("model.embed_tokens.weight", a.vocab, a.dim)
	for i := range a.layers {
		p := fmt.Sprintf("model.layers.%d.", i)
		l.blocks = append(l.blocks, layerOffs{
			attnNorm: add(p+"input_layernorm.weight", a.dim),
			q:        add(p+"self_attn.q_proj.weight", qd, a.dim),
			k:        add(p+"self_attn.k_proj.weight", kvd, a.dim),
			v:        add(p+"self_attn.v_proj.weight", kvd, a.dim),
			o:        add(p+"self_attn.o_proj.weight", a.dim, qd),
			mlpNorm:  add(p+"post_attention_layernorm.weight", a.dim),
			gate:     add(p+"mlp.gate_proj.weight", a.hidden, a.dim),
			up:       add(p+"mlp.up_proj.weight", a.hidden, a.dim),
			down:     add(p+"mlp.down_proj.weight", a.dim, a.hidden),
		})
	}
	l.norm = add("model.norm.weight", a.dim)
	l.head = l.embed
	if !a.tied {
		l.head = add("lm_head.weight", a.vocab, a.dim)
	}
	return l
}

// archFrom translates a validated Hugging Face config, rejecting what the
// trainer does not support.
func archFrom(c *hf.Config) (arch, error) {
	if c.Architecture() == hf.Mixtral || c.NumLocalExperts > 0 {
		return arch{}, errors.New("finetune: mixture-of-experts models are not supported (dense Llama and Mistral only)")
	}
	a := arch{
		dim: c.HiddenSize, hidden: c.IntermediateSize, layers: c.NumHiddenLayers,
		heads: c.NumAttentionHeads, kvHeads: c.NumKeyValueHeads, hd: c.HeadDim,
		vocab: c.VocabSize, maxPos: c.MaxPositionEmbeddings, window: c.SlidingWindow,
		eps: float64(float32(c.RMSNormEps)), tied: c.TieWordEmbeddings,
	}
	switch {
	case a.dim <= 0 || a.hidden <= 0 || a.layers <= 0 || a.heads <= 0 || a.vocab <= 0 || a.maxPos <= 0:
		return arch{}, fmt.Errorf("finetune: config has a non-positive size")
	case a.kvHeads <= 0 || a.heads%a.kvHeads != 0:
		return arch{}, fmt.Errorf("finetune: %d heads are not a multiple of %d key/value heads", a.heads, a.kvHeads)
	case a.hd <= 0 || a.hd%2 != 0:
		return arch{}, fmt.Errorf("finetune: head size %d is not a positive even number", a.hd)
	case a.window < 0:
		return arch{}, errors.New("finetune: negative sliding window")
	}
	f, err := invFreq(c)
	if err != nil {
		return arch{}, err
	}
	a.invFreq = f
	return a, nil
}

// invFreq returns RoPE's inverse frequencies with the config's scaling
// applied, as transformers' rope_init_fn (and the engine) compute them.
func invFreq(c *hf.Config) ([]float64, error) {
	theta := c.RopeTheta
	if theta == 0 {
		theta = 10000
	}
	f := make([]float64, c.HeadDim/2)
	for i := range f {
		f[i] = 1 / math.Pow(theta, float64(2*i)/float64(c.HeadDim))
	}
	s := c.RopeScaling
	if s == nil {
		return f, nil
	}
	switch s.RopeType {
	case "linear":
		if s.Factor <= 0 {
			return nil, errors.New("finetune: linear rope scaling needs a positive factor")
		}
		for i := range f {
			f[i] /= s.Factor
		}
	case "llama3":
		if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositionEmbeddings <= 0 {
			return nil, fmt.Errorf("finetune: invalid llama3 rope scaling %+v", *s)
		}
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWave, highWave := old/s.LowFreqFactor, old/s.HighFreqFactor
		for i, fr := range f {
			wave := 2 * math.Pi / fr
			switch {
			case wave < highWave:
			case wave > lowWave:
				f[i] = fr / s.Factor
			default:
				smooth := (old/wave - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				f[i] = (1-smooth)*fr/s.Factor + smooth*fr
			}
		}
	default:
		return nil, fmt.Errorf("finetune: rope scaling %q is not supported (linear and llama3 are)", s.RopeType)
	}
	return f, nil
}

// Model is a dense Llama/Mistral model's parameters held as float32 for
// training. Its methods are not safe for concurrent use.
type Model struct {
	lay    *layout
	config []byte    // config.json as loaded, written back by Save
	params []float32 // every tensor, at lay's offsets
}

// Limits bound what Load accepts.
type Limits struct {
	MaxParams int64 // most trainable parameters; 0 means no limit
}

// Load reads an HF folder (config.json + *.safetensors, F32/F16/BF16) into
// trainable float32 parameters. It rejects mixture-of-experts models and
// models above lim.MaxParams with a clear error.
func Load(ctx context.Context, dir string, lim Limits) (*Model, error) {
	ck, err := hf.ValidateDir(dir)
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	a, err := archFrom(ck.Config)
	if err != nil {
		return nil, err
	}
	lay := newLayout(a)
	if lim.MaxParams > 0 && int64(lay.size) > lim.MaxParams {
		return nil, fmt.Errorf("finetune: model has %d parameters, more than the limit of %d", lay.size, lim.MaxParams)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("finetune: %w", err)
	}
	m := &Model{lay: lay, config: raw, params: make([]float32, lay.size)}
	files := map[string]*safetensors.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, t := range lay.tensors {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		name := ck.Where[t.name]
		f, ok := files[name]
		if !ok {
			if f, err = safetensors.Open(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("finetune: %w", err)
			}
			files[name] = f
		}
		v, err := f.Float32s(t.name)
		if err != nil {
			return nil, fmt.Errorf("finetune: %w", err)
		}
		if len(v) != t.size() {
			return nil, fmt.Errorf("finetune: tensor %s holds %d values, want %d", t.name, len(v), t.size())
		}
		copy(m.params[t.off:], v)
	}
	return m, nil
}

// Params returns the number of trainable parameters (a tied head counts
// once).
func (m *Model) Params() int64 { return int64(m.lay.size) }
