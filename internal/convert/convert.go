// Package convert turns other checkpoint formats into Hugging Face model
// folders strata imports and serves, in Go, without Python:
//
//   - Llama2C: a llama2.c legacy (version 0) checkpoint and its
//     tokenizer.bin → a LlamaForCausalLM folder;
//   - Mistral: Mistral AI's native folder (params.json,
//     consolidated*.safetensors, tokenizer.model) → a MistralForCausalLM
//     or MixtralForCausalLM folder, the step Mistral's guides do with
//     transformers' convert_mistral_weights_to_hf.py.
//
// Both permute the q and k projection rows from Meta's interleaved rotary
// layout to the rotate_half layout transformers expects, stream tensor by
// tensor (memory does not grow with the model), write into a temporary
// folder beside the output and rename it into place only when complete,
// and check the result with hf.ValidateDir before finishing.
package convert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// DefaultMaxShardBytes is the default shard size limit, as transformers'
// save_pretrained uses (5 GB).
const DefaultMaxShardBytes = 5_000_000_000

// Options tunes a conversion. The zero value is ready to use.
type Options struct {
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// MaxShardBytes caps each output safetensors file's tensor data;
	// 0 means DefaultMaxShardBytes. A single tensor larger than the cap
	// gets a shard of its own.
	MaxShardBytes int64
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// outTensor is one tensor of the output and how to produce its bytes.
type outTensor struct {
	spec  safetensors.TensorSpec
	write func(w io.Writer) error
}

func (t outTensor) size() int64 {
	n := int64(t.spec.DType.Size())
	for _, d := range t.spec.Shape {
		n *= d
	}
	return n
}

// permuteRows returns the source row of output row r when converting a
// q/k projection from Meta's interleaved layout (head h, pair i, half j at
// row h·hd + 2i + j) to transformers' rotate_half layout (row
// h·hd + j·hd/2 + i), as permute() in transformers' conversion scripts.
func permuteRows(r, headDim int64) int64 {
	h, rem := r/headDim, r%headDim
	half := headDim / 2
	j, i := rem/half, rem%half
	return h*headDim + 2*i + j
}

// copyPermuted streams a [rows, rowBytes] matrix from src to w with rows
// permuted for rotary head layout.
func copyPermuted(w io.Writer, src io.ReaderAt, base, rows, rowBytes, headDim int64) error {
	if rows%headDim != 0 || headDim%2 != 0 {
		return fmt.Errorf("cannot permute %d rows into heads of %d", rows, headDim)
	}
	buf := make([]byte, rowBytes)
	for r := range rows {
		off := base + permuteRows(r, headDim)*rowBytes
		if _, err := src.ReadAt(buf, off); err != nil {
			return fmt.Errorf("reading row at offset %d: %w", off, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// shard splits tensors, in order, into groups of at most max bytes.
func shard(ts []outTensor, max int64) [][]outTensor {
	var groups [][]outTensor
	var cur []outTensor
	var acc int64
	for _, t := range ts {
		if len(cur) > 0 && acc+t.size() > max {
			groups = append(groups, cur)
			cur, acc = nil, 0
		}
		cur = append(cur, t)
		acc += t.size()
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// folder writes a converted model into a temporary directory beside out
// and renames it into place on commit.
type folder struct {
	out, tmp string
	log      *slog.Logger
}

func newFolder(out string, log *slog.Logger) (*folder, error) {
	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("output folder %s exists and is not empty", out)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("checking output folder: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating output parent: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".converting-")
	if err != nil {
		return nil, fmt.Errorf("creating temporary folder: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("creating temporary folder: %w", err)
	}
	return &folder{out: out, tmp: tmp, log: log}, nil
}

// abort removes the temporary folder.
func (f *folder) abort() { os.RemoveAll(f.tmp) }

// commit validates the folder and renames it to its final name.
func (f *folder) commit() error {
	if _, err := hf.ValidateDir(f.tmp); err != nil {
		return fmt.Errorf("converted folder fails validation: %w", err)
	}
	if err := os.Remove(f.out); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replacing empty output folder: %w", err)
	}
	if err := os.Rename(f.tmp, f.out); err != nil {
		return fmt.Errorf("moving converted folder into place: %w", err)
	}
	return nil
}

func (f *folder) writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(f.tmp, name), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// writeWeights writes the tensors as model.safetensors, or as shards with
// an index when they exceed maxShard bytes.
func (f *folder) writeWeights(ctx context.Context, ts []outTensor, maxShard int64) error {
	groups := shard(ts, maxShard)
	names := []string{"model.safetensors"}
	if len(groups) > 1 {
		names = make([]string, len(groups))
		for i := range groups {
			names[i] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		}
	}
	weightMap := map[string]string{}
	var total int64
	for gi, g := range groups {
		if err := f.writeShard(ctx, names[gi], g); err != nil {
			return err
		}
		for _, t := range g {
			weightMap[t.spec.Name] = names[gi]
			total += t.size()
		}
	}
	if len(groups) == 1 {
		return nil
	}
	return f.writeJSON(hf.IndexFileName, map[string]any{
		"metadata":   map[string]any{"total_size": total},
		"weight_map": weightMap,
	})
}

func (f *folder) writeShard(ctx context.Context, name string, ts []outTensor) error {
	file, err := os.Create(filepath.Join(f.tmp, name))
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	defer file.Close()
	specs := make([]safetensors.TensorSpec, len(ts))
	for i, t := range ts {
		specs[i] = t.spec
	}
	w, err := safetensors.NewWriter(file, specs, map[string]string{"format": "pt"})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for _, t := range ts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := t.write(w); err != nil {
			return fmt.Errorf("writing tensor %s: %w", t.spec.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := file.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	f.log.Info("wrote shard", "file", name, "tensors", len(ts))
	return nil
}

// configJSON renders an hf.Config as transformers writes config.json.
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
		"bos_token_id":            c.BOSTokenID[0],
		"eos_token_id":            c.EOSTokenID[0],
		"use_cache":               true,
		"attention_dropout":       0.0,
		"rope_scaling":            nil,
	}
	if c.SlidingWindow > 0 {
		m["sliding_window"] = c.SlidingWindow
	} else {
		m["sliding_window"] = nil
	}
	if c.Architecture() == hf.Mixtral {
		m["num_local_experts"] = c.NumLocalExperts
		m["num_experts_per_tok"] = c.NumExpertsPerTok
	}
	return m
}

// tokenizerConfig is tokenizer_config.json for a SentencePiece Llama-style
// tokenizer with <s>/</s>/<unk>.
func tokenizerConfig(maxLen int, legacy bool) map[string]any {
	special := func(s string) map[string]any {
		return map[string]any{"content": s, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": true}
	}
	return map[string]any{
		"add_bos_token":                 true,
		"add_eos_token":                 false,
		"added_tokens_decoder":          map[string]any{"0": special("<unk>"), "1": special("<s>"), "2": special("</s>")},
		"bos_token":                     "<s>",
		"eos_token":                     "</s>",
		"unk_token":                     "<unk>",
		"pad_token":                     nil,
		"clean_up_tokenization_spaces":  false,
		"legacy":                        legacy,
		"model_max_length":              maxLen,
		"spaces_between_special_tokens": false,
		"tokenizer_class":               "LlamaTokenizer",
	}
}

func torchDType(d safetensors.DType) string {
	switch d {
	case safetensors.F16:
		return "float16"
	case safetensors.BF16:
		return "bfloat16"
	}
	return "float32"
}
