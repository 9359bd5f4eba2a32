package llm

import (
	"errors"
	"fmt"
	"math"
)

// Config is the architecture of a model, in the engine's own terms.
type Config struct {
	Dim           int     // hidden size
	Hidden        int     // MLP intermediate size (per expert for MoE)
	Layers        int     // transformer blocks
	Heads         int     // query heads
	KVHeads       int     // key/value heads (grouped-query attention)
	HeadDim       int     // size of one head; Dim/Heads when the config omits it
	Vocab         int     // vocabulary size
	MaxSeq        int     // context window in tokens
	NormEps       float32 // RMSNorm epsilon
	RopeTheta     float64 // RoPE base; 10000 when zero
	RopeScaling   *RopeScaling
	SlidingWindow int // Mistral's attention window; 0 means none
	Experts       int // experts per MoE block; 0 means a dense MLP
	ExpertsPerTok int // experts each token is routed to (Mixtral: 2)
	TiedOutput    bool
}

// RopeScaling adjusts RoPE frequencies as the model's config says.
type RopeScaling struct {
	Type                 string  // "linear" or "llama3"
	Factor               float64 // divides frequencies (linear: positions)
	LowFreqFactor        float64 // llama3
	HighFreqFactor       float64 // llama3
	OriginalMaxPositions int     // llama3
}

// validate checks that c describes a model the engine can run.
func (c *Config) validate() error {
	switch {
	case c.Dim <= 0 || c.Hidden <= 0 || c.Layers <= 0 || c.Heads <= 0 || c.Vocab <= 0:
		return fmt.Errorf("llm: config has a non-positive size: %+v", *c)
	case c.KVHeads <= 0 || c.Heads%c.KVHeads != 0:
		return fmt.Errorf("llm: %d heads are not a multiple of %d key/value heads", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("llm: head size %d is not a positive even number", c.HeadDim)
	case c.MaxSeq <= 0:
		return errors.New("llm: config has no context length")
	case c.Experts > 0 && (c.ExpertsPerTok <= 0 || c.ExpertsPerTok > c.Experts):
		return fmt.Errorf("llm: %d experts per token of %d experts", c.ExpertsPerTok, c.Experts)
	case c.SlidingWindow < 0:
		return errors.New("llm: negative sliding window")
	}
	if s := c.RopeScaling; s != nil {
		switch s.Type {
		case "linear":
			if s.Factor <= 0 {
				return errors.New("llm: linear rope scaling needs a positive factor")
			}
		case "llama3":
			if s.Factor <= 0 || s.LowFreqFactor <= 0 || s.HighFreqFactor <= s.LowFreqFactor || s.OriginalMaxPositions <= 0 {
				return fmt.Errorf("llm: invalid llama3 rope scaling %+v", *s)
			}
		default:
			return fmt.Errorf("llm: unsupported rope scaling %q", s.Type)
		}
	}
	return nil
}

// invFreq returns RoPE's inverse frequencies, one per pair of a head's
// dimensions, with the config's scaling applied as transformers'
// rope_init_fn does.
func (c *Config) invFreq() []float64 {
	theta := c.RopeTheta
	if theta == 0 {
		theta = 10000
	}
	half := c.HeadDim / 2
	f := make([]float64, half)
	for i := range f {
		f[i] = 1 / math.Pow(theta, float64(2*i)/float64(c.HeadDim))
	}
	s := c.RopeScaling
	if s == nil {
		return f
	}
	switch s.Type {
	case "linear":
		for i := range f {
			f[i] /= s.Factor
		}
	case "llama3":
		old := float64(s.OriginalMaxPositions)
		lowWave := old / s.LowFreqFactor
		highWave := old / s.HighFreqFactor
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
	}
	return f
}
