package hf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// IndexFileName is the name of a sharded checkpoint's index.
const IndexFileName = "model.safetensors.index.json"

// Index is a parsed model.safetensors.index.json: which shard file holds
// each tensor.
type Index struct {
	// TotalSize is metadata.total_size, the sum of tensor data bytes.
	TotalSize int64
	// WeightMap maps tensor name to shard file name.
	WeightMap map[string]string
}

// Files returns the distinct shard file names, sorted.
func (ix *Index) Files() []string {
	var files []string
	for _, f := range ix.WeightMap {
		files = append(files, f)
	}
	slices.Sort(files)
	return slices.Compact(files)
}

// ParseIndex reads model.safetensors.index.json (at most MaxConfigSize
// bytes). It requires a non-empty weight_map without duplicate names whose
// values are plain *.safetensors file names in the same folder (no
// directories, no "..", no absolute paths), and a non-negative
// metadata.total_size when present.
func ParseIndex(r io.Reader) (*Index, error) {
	b, err := readBounded(r, IndexFileName)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Metadata *struct {
			TotalSize *json.Number `json:"total_size"`
		} `json:"metadata"`
		WeightMap json.RawMessage `json:"weight_map"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", IndexFileName, err)
	}
	ix := &Index{}
	if raw.Metadata != nil && raw.Metadata.TotalSize != nil {
		n, err := raw.Metadata.TotalSize.Int64()
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: metadata.total_size %q is not a non-negative integer", IndexFileName, raw.Metadata.TotalSize.String())
		}
		ix.TotalSize = n
	}
	if len(raw.WeightMap) == 0 || raw.WeightMap[0] != '{' {
		return nil, fmt.Errorf("%s: weight_map is missing or not an object", IndexFileName)
	}
	if err := checkDuplicateKeys(raw.WeightMap); err != nil {
		return nil, fmt.Errorf("%s: weight_map: %w", IndexFileName, err)
	}
	if err := json.Unmarshal(raw.WeightMap, &ix.WeightMap); err != nil {
		return nil, fmt.Errorf("%s: weight_map must map tensor names to file names: %w", IndexFileName, err)
	}
	if len(ix.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: weight_map is empty", IndexFileName)
	}
	for name, file := range ix.WeightMap {
		if name == "" {
			return nil, fmt.Errorf("%s: weight_map has an empty tensor name", IndexFileName)
		}
		if err := checkShardName(file); err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", IndexFileName, name, err)
		}
	}
	return ix, nil
}

// checkShardName accepts only a plain file name ending in .safetensors.
func checkShardName(file string) error {
	switch {
	case file == "" || file != path.Base(file) || strings.ContainsAny(file, `/\`+"\x00") || file == "." || file == "..":
		return fmt.Errorf("shard %q is not a plain file name in the model folder", file)
	case !strings.HasSuffix(file, ".safetensors"):
		return fmt.Errorf("shard %q is not a .safetensors file", file)
	case strings.HasPrefix(file, "."):
		return errors.New("shard names must not start with a dot")
	}
	return nil
}

// GenerationConfig is a parsed generation_config.json: the model's default
// sampling parameters. Zero values mean "not set".
type GenerationConfig struct {
	BOSTokenID        TokenIDs `json:"bos_token_id,omitempty"`
	EOSTokenID        TokenIDs `json:"eos_token_id,omitempty"`
	PadTokenID        TokenIDs `json:"pad_token_id,omitempty"`
	DoSample          bool     `json:"do_sample,omitempty"`
	Temperature       float64  `json:"temperature,omitempty"`
	TopP              float64  `json:"top_p,omitempty"`
	TopK              int      `json:"top_k,omitempty"`
	MaxNewTokens      int      `json:"max_new_tokens,omitempty"`
	MaxLength         int      `json:"max_length,omitempty"`
	RepetitionPenalty float64  `json:"repetition_penalty,omitempty"`
}

// ParseGenerationConfig reads generation_config.json (at most
// MaxConfigSize bytes) and checks its values are in range.
func ParseGenerationConfig(r io.Reader) (*GenerationConfig, error) {
	b, err := readBounded(r, "generation_config.json")
	if err != nil {
		return nil, err
	}
	var g GenerationConfig
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("generation_config.json: %w", err)
	}
	switch {
	case g.Temperature < 0:
		return nil, fmt.Errorf("generation_config.json: temperature %v is negative", g.Temperature)
	case g.TopP < 0 || g.TopP > 1:
		return nil, fmt.Errorf("generation_config.json: top_p %v is outside [0, 1]", g.TopP)
	case g.TopK < 0:
		return nil, fmt.Errorf("generation_config.json: top_k %d is negative", g.TopK)
	case g.MaxNewTokens < 0 || g.MaxLength < 0:
		return nil, errors.New("generation_config.json: negative max_new_tokens or max_length")
	case g.RepetitionPenalty < 0:
		return nil, fmt.Errorf("generation_config.json: repetition_penalty %v is negative", g.RepetitionPenalty)
	}
	for _, id := range slices.Concat(g.BOSTokenID, g.EOSTokenID, g.PadTokenID) {
		if id < 0 {
			return nil, fmt.Errorf("generation_config.json: negative token id %d", id)
		}
	}
	return &g, nil
}
