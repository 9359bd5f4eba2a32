package modelgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"strata/internal/hf"
)

// Llama2CCompatible reports why s cannot be written as a llama2.c
// checkpoint, or nil if it can: run.c implements only a dense Llama with
// head_dim = dim/n_heads, rms eps 1e-5, rope theta 10000, no rope scaling
// and no sliding window shorter than the context.
func (s Spec) Llama2CCompatible() error {
	c := &s.Config
	switch {
	case c.Architecture() == hf.Mixtral:
		return errors.New("llama2.c has no mixture of experts")
	case c.QDim() != c.HiddenSize:
		return fmt.Errorf("llama2.c needs head_dim × heads = dim, got %d × %d ≠ %d", c.HeadDim, c.NumAttentionHeads, c.HiddenSize)
	case c.RMSNormEps != 1e-5:
		return fmt.Errorf("llama2.c hard-codes rms eps 1e-5, model has %v", c.RMSNormEps)
	case c.RopeTheta != 10000:
		return fmt.Errorf("llama2.c hard-codes rope theta 10000, model has %v", c.RopeTheta)
	case c.RopeScaling != nil:
		return errors.New("llama2.c has no rope scaling")
	case c.SlidingWindow > 0 && c.SlidingWindow < c.MaxPositionEmbeddings:
		return errors.New("llama2.c has no sliding window")
	}
	return nil
}

// WriteLlama2C writes s's weights (the same values Generate stores, as
// float32) as a llama2.c legacy (version 0) checkpoint, the format run.c
// reads: seven int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
// vocab_size — negative when the classifier is not shared — and seq_len),
// then float32 tensors tok_embeddings, rms_att[L], wq[L], wk[L], wv[L],
// wo[L], rms_ffn[L], w1[L], w2[L], w3[L], rms_final, freq_cis_real,
// freq_cis_imag and, if untied, wcls. q and k rows are put back into
// Meta's interleaved rotary layout (the inverse of the permutation
// transformers' conversion applies), so run.c computes the same function
// as the Hugging Face model.
func WriteLlama2C(w io.Writer, s Spec) error {
	if err := s.validate(); err != nil {
		return err
	}
	if err := s.Llama2CCompatible(); err != nil {
		return fmt.Errorf("modelgen: %w", err)
	}
	c := &s.Config
	bw := bufio.NewWriterSize(w, 1<<20)
	vocab := int32(c.VocabSize)
	if !c.TieWordEmbeddings {
		vocab = -vocab
	}
	hdr := []int32{int32(c.HiddenSize), int32(c.IntermediateSize), int32(c.NumHiddenLayers),
		int32(c.NumAttentionHeads), int32(c.NumKeyValueHeads), vocab, int32(c.MaxPositionEmbeddings)}
	if err := binary.Write(bw, binary.LittleEndian, hdr); err != nil {
		return fmt.Errorf("modelgen: writing llama2.c header: %w", err)
	}
	shapes := hf.ExpectedTensors(c)
	row := make([]float32, max(c.HiddenSize, c.IntermediateSize))
	buf := make([]byte, 4*len(row))
	put := func(v []float32) error {
		b := buf[:4*len(v)]
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		_, err := bw.Write(b)
		return err
	}
	// tensor writes a whole HF tensor row by row; perm maps an output row
	// to the HF row it comes from.
	tensor := func(name string, perm func(int64) int64) error {
		shape := shapes[name]
		rows, cols := shape[0], int64(1)
		if len(shape) == 2 {
			cols = shape[1]
		} else {
			rows, cols = 1, shape[0]
		}
		for r := range rows {
			src := r
			if perm != nil {
				src = perm(r)
			}
			v := row[:cols]
			s.values(name, shape, src*cols, v)
			if err := put(v); err != nil {
				return fmt.Errorf("modelgen: writing %s: %w", name, err)
			}
		}
		return nil
	}
	hd := int64(c.HeadDim)
	// Meta row h·hd + 2i + j holds HF row h·hd + j·hd/2 + i.
	unpermute := func(r int64) int64 {
		h, rem := r/hd, r%hd
		return h*hd + (rem%2)*(hd/2) + rem/2
	}
	perLayer := func(suffix string, perm func(int64) int64) error {
		for l := range c.NumHiddenLayers {
			if err := tensor(fmt.Sprintf("model.layers.%d.%s", l, suffix), perm); err != nil {
				return err
			}
		}
		return nil
	}
	steps := []func() error{
		func() error { return tensor("model.embed_tokens.weight", nil) },
		func() error { return perLayer("input_layernorm.weight", nil) },
		func() error { return perLayer("self_attn.q_proj.weight", unpermute) },
		func() error { return perLayer("self_attn.k_proj.weight", unpermute) },
		func() error { return perLayer("self_attn.v_proj.weight", nil) },
		func() error { return perLayer("self_attn.o_proj.weight", nil) },
		func() error { return perLayer("post_attention_layernorm.weight", nil) },
		func() error { return perLayer("mlp.gate_proj.weight", nil) },
		func() error { return perLayer("mlp.down_proj.weight", nil) },
		func() error { return perLayer("mlp.up_proj.weight", nil) },
		func() error { return tensor("model.norm.weight", nil) },
		func() error { return writeFreqCis(put, c, math.Cos) },
		func() error { return writeFreqCis(put, c, math.Sin) },
	}
	if !c.TieWordEmbeddings {
		steps = append(steps, func() error { return tensor("lm_head.weight", nil) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("modelgen: writing llama2.c checkpoint: %w", err)
	}
	return nil
}

// writeFreqCis writes llama2.c's precomputed rotary table (cos or sin of
// pos·theta^(-2i/head_dim)), seq_len rows of head_dim/2; run.c skips it.
func writeFreqCis(put func([]float32) error, c *hf.Config, f func(float64) float64) error {
	half := c.HeadDim / 2
	row := make([]float32, half)
	for pos := range c.MaxPositionEmbeddings {
		for i := range half {
			freq := 1 / math.Pow(c.RopeTheta, float64(2*i)/float64(c.HeadDim))
			row[i] = float32(f(float64(pos) * float64(float32(freq))))
		}
		if err := put(row); err != nil {
			return fmt.Errorf("modelgen: writing freq_cis: %w", err)
		}
	}
	return nil
}

// WriteLlama2CTokenizer writes s's generated vocabulary as a llama2.c
// tokenizer.bin: int32 max_token_length, then per token a float32 score,
// an int32 length and the bytes, with "▁" written as a space and BOS/EOS
// as "\n<s>\n" and "\n</s>\n" (as llama2.c's tokenizer.py exports them).
// Scores follow merge rank (higher merges first), as in SentencePiece BPE.
func WriteLlama2CTokenizer(w io.Writer, s Spec) error {
	if err := s.validate(); err != nil {
		return err
	}
	v := s.Vocab()
	toks := make([]string, len(v.Pieces))
	maxLen := 0
	for i, p := range v.Pieces {
		switch i {
		case BOSID:
			p = "\n<s>\n"
		case EOSID:
			p = "\n</s>\n"
		}
		toks[i] = strings.ReplaceAll(p, "▁", " ")
		maxLen = max(maxLen, len(toks[i]))
	}
	bw := bufio.NewWriter(w)
	var b [4]byte
	putU32 := func(x uint32) {
		binary.LittleEndian.PutUint32(b[:], x)
		bw.Write(b[:])
	}
	putU32(uint32(maxLen))
	for i, t := range toks {
		score := float32(0)
		if i >= ByteBase+256 {
			score = -float32(i - (ByteBase + 256))
		}
		putU32(math.Float32bits(score))
		putU32(uint32(len(t)))
		bw.WriteString(t)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("modelgen: writing llama2.c tokenizer: %w", err)
	}
	return nil
}
