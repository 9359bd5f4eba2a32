package convert

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"strata/internal/hf"
	"strata/internal/safetensors"
	"strata/internal/tokenizer"
)

// Llama2CHeader is the 7×int32 header of a llama2.c legacy checkpoint.
type Llama2CHeader struct {
	Dim, HiddenDim, NLayers, NHeads, NKVHeads, VocabSize, SeqLen int
	// Shared is true when the classifier is the token embedding (the file's
	// vocab_size is positive); otherwise wcls follows the other tensors.
	Shared bool
}

// Limits on llama2.c headers, generous for the models that format holds.
const (
	maxL2CDim    = 1 << 16
	maxL2CLayers = 1024
	maxL2CVocab  = 1 << 20
	maxL2CSeq    = hf.MaxContext
)

// ReadLlama2CHeader reads and checks a llama2.c legacy header: every size
// positive and bounded, heads dividing dim into an even head size, KV heads
// dividing heads.
func ReadLlama2CHeader(r io.Reader) (Llama2CHeader, error) {
	var raw [7]int32
	if err := binary.Read(r, binary.LittleEndian, &raw); err != nil {
		return Llama2CHeader{}, fmt.Errorf("reading llama2.c header: %w", err)
	}
	h := Llama2CHeader{Dim: int(raw[0]), HiddenDim: int(raw[1]), NLayers: int(raw[2]), NHeads: int(raw[3]),
		NKVHeads: int(raw[4]), VocabSize: int(raw[5]), SeqLen: int(raw[6]), Shared: raw[5] > 0}
	if h.VocabSize < 0 {
		h.VocabSize = -h.VocabSize
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"dim", h.Dim, maxL2CDim}, {"hidden_dim", h.HiddenDim, maxL2CDim}, {"n_layers", h.NLayers, maxL2CLayers},
		{"n_heads", h.NHeads, maxL2CDim}, {"n_kv_heads", h.NKVHeads, maxL2CDim},
		{"vocab_size", h.VocabSize, maxL2CVocab}, {"seq_len", h.SeqLen, maxL2CSeq},
	} {
		if f.v <= 0 || f.v > f.max {
			return h, fmt.Errorf("llama2.c header: %s = %d is outside 1..%d", f.name, f.v, f.max)
		}
	}
	if h.Dim%h.NHeads != 0 || (h.Dim/h.NHeads)%2 != 0 {
		return h, fmt.Errorf("llama2.c header: n_heads = %d does not split dim = %d into even head sizes", h.NHeads, h.Dim)
	}
	if h.NHeads%h.NKVHeads != 0 {
		return h, fmt.Errorf("llama2.c header: n_kv_heads = %d does not divide n_heads = %d", h.NKVHeads, h.NHeads)
	}
	return h, nil
}

// HeadDim returns dim / n_heads.
func (h Llama2CHeader) HeadDim() int { return h.Dim / h.NHeads }

// FileSize returns the exact size of a checkpoint with this header.
func (h Llama2CHeader) FileSize() int64 {
	d, hid, l, v := int64(h.Dim), int64(h.HiddenDim), int64(h.NLayers), int64(h.VocabSize)
	kv := int64(h.NKVHeads * h.HeadDim())
	floats := v*d + l*(2*d+2*d*d+2*kv*d+3*d*hid) + d + int64(h.SeqLen)*int64(h.HeadDim())
	if !h.Shared {
		floats += v * d
	}
	return 28 + 4*floats
}

// Config returns the Hugging Face LlamaForCausalLM config for the model.
// llama2.c hard-codes rope theta 10000 and rms eps 1e-5; BOS is 1, EOS 2.
func (h Llama2CHeader) Config() *hf.Config {
	return &hf.Config{
		Architectures:         []string{hf.Llama},
		ModelType:             "llama",
		HiddenSize:            h.Dim,
		IntermediateSize:      h.HiddenDim,
		NumHiddenLayers:       h.NLayers,
		NumAttentionHeads:     h.NHeads,
		NumKeyValueHeads:      h.NKVHeads,
		HeadDim:               h.HeadDim(),
		VocabSize:             h.VocabSize,
		MaxPositionEmbeddings: h.SeqLen,
		RMSNormEps:            1e-5,
		RopeTheta:             10000,
		TieWordEmbeddings:     h.Shared,
		TorchDType:            "float32",
		HiddenAct:             "silu",
		BOSTokenID:            hf.TokenIDs{1},
		EOSTokenID:            hf.TokenIDs{2},
	}
}

// Llama2C converts a llama2.c legacy checkpoint and its tokenizer.bin into
// a Hugging Face LlamaForCausalLM folder at outDir (which must not exist or
// be empty): config.json, generation_config.json (BOS 1, EOS 2),
// tokenizer.model (SentencePiece, via tokenizer.FromLlama2C),
// tokenizer_config.json and F32 model.safetensors with q/k rows permuted
// to transformers' layout (the inverse of llama2.c export.py's
// permute_reverse).
func Llama2C(ctx context.Context, checkpoint, tokenizerBin, outDir string, opts Options) error {
	log := opts.logger()
	f, err := os.Open(checkpoint)
	if err != nil {
		return fmt.Errorf("opening checkpoint: %w", err)
	}
	defer f.Close()
	h, err := ReadLlama2CHeader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", checkpoint, err)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat checkpoint: %w", err)
	}
	if want := h.FileSize(); st.Size() != want {
		return fmt.Errorf("%s: file is %d bytes but its header (dim %d, %d layers, vocab %d, shared %v) implies %d",
			checkpoint, st.Size(), h.Dim, h.NLayers, h.VocabSize, h.Shared, want)
	}
	cfg := h.Config()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", checkpoint, err)
	}
	tf, err := os.Open(tokenizerBin)
	if err != nil {
		return fmt.Errorf("opening tokenizer: %w", err)
	}
	defer tf.Close()
	spm, err := tokenizer.FromLlama2C(tf, h.VocabSize)
	if err != nil {
		return fmt.Errorf("%s: %w", tokenizerBin, err)
	}
	if _, err := spm.Tokenizer(); err != nil {
		return fmt.Errorf("%s: %w", tokenizerBin, err)
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

	d, hid, v, hd := int64(h.Dim), int64(h.HiddenDim), int64(h.VocabSize), int64(h.HeadDim())
	kv := int64(h.NKVHeads) * hd
	// Offsets (in floats, after the header) of each section, in file order.
	off := int64(0)
	section := func(n int64) int64 { o := off; off += n; return 28 + 4*o }
	L := int64(h.NLayers)
	tokEmb := section(v * d)
	rmsAtt := section(L * d)
	wq := section(L * d * d)
	wk := section(L * kv * d)
	wv := section(L * kv * d)
	wo := section(L * d * d)
	rmsFFN := section(L * d)
	w1 := section(L * hid * d)
	w2 := section(L * d * hid)
	w3 := section(L * hid * d)
	rmsFinal := section(d)
	section(2 * int64(h.SeqLen) * hd / 2) // freq_cis_real, freq_cis_imag: unused
	wcls := int64(-1)
	if !h.Shared {
		wcls = section(v * d)
	}

	var ts []outTensor
	plain := func(name string, shape []int64, at int64) {
		t := outTensor{spec: safetensors.TensorSpec{Name: name, DType: safetensors.F32, Shape: shape}}
		n := t.size()
		t.write = func(w io.Writer) error {
			_, err := io.Copy(w, io.NewSectionReader(f, at, n))
			return err
		}
		ts = append(ts, t)
	}
	permuted := func(name string, rows, cols, at int64) {
		t := outTensor{spec: safetensors.TensorSpec{Name: name, DType: safetensors.F32, Shape: []int64{rows, cols}}}
		t.write = func(w io.Writer) error { return copyPermuted(w, f, at, rows, 4*cols, hd) }
		ts = append(ts, t)
	}
	plain("model.embed_tokens.weight", []int64{v, d}, tokEmb)
	for l := range L {
		p := fmt.Sprintf("model.layers.%d.", l)
		plain(p+"input_layernorm.weight", []int64{d}, rmsAtt+4*l*d)
		permuted(p+"self_attn.q_proj.weight", d, d, wq+4*l*d*d)
		permuted(p+"self_attn.k_proj.weight", kv, d, wk+4*l*kv*d)
		plain(p+"self_attn.v_proj.weight", []int64{kv, d}, wv+4*l*kv*d)
		plain(p+"self_attn.o_proj.weight", []int64{d, d}, wo+4*l*d*d)
		plain(p+"post_attention_layernorm.weight", []int64{d}, rmsFFN+4*l*d)
		plain(p+"mlp.gate_proj.weight", []int64{hid, d}, w1+4*l*hid*d)
		plain(p+"mlp.down_proj.weight", []int64{d, hid}, w2+4*l*d*hid)
		plain(p+"mlp.up_proj.weight", []int64{hid, d}, w3+4*l*hid*d)
	}
	plain("model.norm.weight", []int64{d}, rmsFinal)
	if !h.Shared {
		plain("lm_head.weight", []int64{v, d}, wcls)
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
	if err := out.writeJSON("generation_config.json", map[string]any{"bos_token_id": 1, "eos_token_id": 2}); err != nil {
		return err
	}
	if err := out.writeJSON("tokenizer_config.json", tokenizerConfig(h.SeqLen, true)); err != nil {
		return err
	}
	tm, err := os.Create(filepath.Join(out.tmp, "tokenizer.model"))
	if err != nil {
		return fmt.Errorf("creating tokenizer.model: %w", err)
	}
	if _, err := spm.WriteTo(tm); err != nil {
		tm.Close()
		return fmt.Errorf("writing tokenizer.model: %w", err)
	}
	if err := tm.Close(); err != nil {
		return fmt.Errorf("writing tokenizer.model: %w", err)
	}
	if err := out.commit(); err != nil {
		return err
	}
	committed = true
	log.Info("converted llama2.c checkpoint", "checkpoint", checkpoint, "out", outDir, "layers", h.NLayers, "dim", h.Dim)
	return nil
}
