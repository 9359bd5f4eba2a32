package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"strata/internal/safetensors"
)

// ReadConfig parses dir/config.json (without validating it).
func ReadConfig(dir string) (*Config, error) {
	f, err := os.Open(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading config.json: %w", err)
	}
	defer f.Close()
	return ParseConfig(f)
}

// Checkpoint is a validated model folder's weights.
type Checkpoint struct {
	Config *Config
	// Files are the safetensors file names (relative to the folder).
	Files []string
	// Headers are the parsed headers by file name.
	Headers map[string]*safetensors.Header
	// Where maps each tensor name to the file holding it.
	Where map[string]string
}

// ValidateDir checks a model folder's config and weights: config.json
// parses and validates; the weights are model.safetensors, or the shards
// model.safetensors.index.json names (which must list exactly the tensors
// the shards hold, each in the file it names, with total_size equal to
// their data bytes), or else every *.safetensors file in the folder; every
// header passes safetensors.ParseHeader; no tensor appears twice; and the
// tensors match ExpectedTensors. It does not look at tokenizer files or
// refuse other files: the import validator does that.
func ValidateDir(dir string) (*Checkpoint, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ck := &Checkpoint{Config: cfg, Headers: map[string]*safetensors.Header{}, Where: map[string]string{}}
	var ix *Index
	switch f, err := os.Open(filepath.Join(dir, IndexFileName)); {
	case err == nil:
		ix, err = ParseIndex(f)
		f.Close()
		if err != nil {
			return nil, err
		}
		ck.Files = ix.Files()
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
			ck.Files = []string{"model.safetensors"}
			break
		}
		matches, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
		if err != nil {
			return nil, fmt.Errorf("listing weights: %w", err)
		}
		for _, m := range matches {
			ck.Files = append(ck.Files, filepath.Base(m))
		}
		if len(ck.Files) == 0 {
			return nil, errors.New("no .safetensors weights in the model folder")
		}
	default:
		return nil, fmt.Errorf("opening %s: %w", IndexFileName, err)
	}
	shapes := map[string][]int64{}
	var total int64
	for _, name := range ck.Files {
		h, err := readHeader(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ck.Headers[name] = h
		for _, t := range h.Tensors {
			if prev, dup := ck.Where[t.Name]; dup {
				return nil, fmt.Errorf("tensor %q is in both %s and %s", t.Name, prev, name)
			}
			ck.Where[t.Name] = name
			shapes[t.Name] = t.Shape
			total += t.Size()
			if ix != nil && ix.WeightMap[t.Name] != name {
				return nil, fmt.Errorf("%s: tensor %q is in %s but the index says %q", IndexFileName, t.Name, name, ix.WeightMap[t.Name])
			}
		}
	}
	if ix != nil {
		for _, name := range slices.Sorted(maps.Keys(ix.WeightMap)) {
			if _, ok := ck.Where[name]; !ok {
				return nil, fmt.Errorf("%s: tensor %q is listed in %s but not stored there", IndexFileName, name, ix.WeightMap[name])
			}
		}
		if ix.TotalSize != 0 && ix.TotalSize != total {
			return nil, fmt.Errorf("%s: metadata.total_size is %d but the shards hold %d bytes of tensors", IndexFileName, ix.TotalSize, total)
		}
	}
	if err := CheckTensors(cfg, shapes); err != nil {
		return nil, err
	}
	for name, h := range ck.Headers {
		for _, t := range h.Tensors {
			if !IsOptionalTensor(t.Name) && !isFloat(t.DType) {
				return nil, fmt.Errorf("%s: tensor %q has dtype %s; weights must be F32, F16 or BF16", name, t.Name, t.DType)
			}
		}
	}
	return ck, nil
}

func isFloat(d safetensors.DType) bool {
	return d == safetensors.F32 || d == safetensors.F16 || d == safetensors.BF16
}

func readHeader(path string) (*safetensors.Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat weights: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", filepath.Base(path))
	}
	h, err := safetensors.ParseHeader(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.TrimPrefix(filepath.Base(path), "/"), err)
	}
	return h, nil
}
