package modelimport

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

// Limits bound what an import accepts. The defaults are Bedrock's.
type Limits struct {
	MaxTotalBytes int64 // default 200 GB
	MaxContext    int   // default 131072 (under 128K tokens)
	MaxJSONBytes  int64 // per JSON file; default 64 MiB (tokenizer.json can be large)
}

func (l Limits) withDefaults() Limits {
	if l.MaxTotalBytes == 0 {
		l.MaxTotalBytes = 200_000_000_000
	}
	if l.MaxContext == 0 {
		l.MaxContext = 131072
	}
	if l.MaxJSONBytes == 0 {
		l.MaxJSONBytes = 64 << 20
	}
	return l
}

// ValidationError is an import that fails validation. Its message says
// what is wrong and where, and becomes the job's failureMessage.
type ValidationError struct{ Msg string }

func (e *ValidationError) Error() string { return e.Msg }

func invalidf(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// Validated is what validation learned about a model folder.
type Validated struct {
	Config       *hf.Config
	Architecture string
	Files        []FileInfo // the files to import
	TotalBytes   int64
	Tokenizer    string // "tokenizer.json" or "tokenizer.model"
	Instruct     bool   // a chat template is present
}

// refusedExt are extensions of weight formats that execute code when
// loaded (pickle) and of archives; they are refused by name.
var refusedExt = map[string]string{
	".bin": "a PyTorch pickle", ".pt": "a PyTorch pickle", ".pth": "a PyTorch pickle", ".pkl": "a pickle",
	".pickle": "a pickle", ".ckpt": "a checkpoint pickle", ".joblib": "a pickle", ".npy": "a NumPy array",
	".npz": "an archive", ".h5": "a Keras file", ".msgpack": "a Flax file", ".gguf": "a GGUF file", ".onnx": "an ONNX file",
	".zip": "an archive", ".tar": "an archive", ".gz": "an archive", ".tgz": "an archive", ".bz2": "an archive",
	".xz": "an archive", ".7z": "an archive", ".rar": "an archive", ".zst": "an archive",
}

// allowedExt are the file types a Hugging Face folder may hold.
var allowedExt = map[string]bool{".json": true, ".safetensors": true, ".model": true, ".txt": true, ".md": true, ".jinja": true}

// sniff names the dangerous content a file starts with, or "".
func sniff(head []byte) string {
	switch {
	case len(head) >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5:
		return "pickle data"
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return "a zip archive (PyTorch's zip-pickle format)"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "gzip data"
	case bytes.HasPrefix(head, []byte("BZh")):
		return "bzip2 data"
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return "xz data"
	case bytes.HasPrefix(head, []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}):
		return "a 7z archive"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd data"
	case bytes.HasPrefix(head, []byte("GGUF")):
		return "a GGUF file"
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return "a tar archive"
	}
	return ""
}

// Validate checks a model folder: supported architecture, a sane
// config.json, a tokenizer, safetensors weights only (pickles and archives
// refused by name and by content, never opened as code), every safetensors
// header parsed with bounds, tensor names and shapes against config.json
// and the shard index, and size and context limits.
func Validate(ctx context.Context, src Source, files []FileInfo, limits Limits) (*Validated, error) {
	limits = limits.withDefaults()
	v := &Validated{}
	byName := map[string]FileInfo{}
	var shards []FileInfo
	for _, f := range files {
		name := f.Name
		base := path.Base(name)
		ext := strings.ToLower(path.Ext(base))
		if what, ok := refusedExt[ext]; ok {
			return nil, invalidf("%s is %s: only .safetensors weights are imported (pickle files can run code when loaded)", name, what)
		}
		if !allowedExt[ext] {
			return nil, invalidf("%s: unsupported file type %q (a model folder holds config.json, tokenizer files and .safetensors weights)", name, ext)
		}
		if strings.Contains(name, "/") {
			// Only top-level files are part of a Hugging Face folder.
			return nil, invalidf("%s: files in subfolders are not supported; put the model files at the top of the source prefix", name)
		}
		head, err := readHead(ctx, src, f, 512)
		if err != nil {
			return nil, invalidf("%s: cannot be read: %v", name, err)
		}
		// A safetensors file opens with its header length and then '{';
		// those eight bytes may look like anything, so sniff only files that
		// are not shaped like safetensors.
		looksSafetensors := ext == ".safetensors" && len(head) > 8 && head[8] == '{'
		if what := sniff(head); what != "" && !looksSafetensors {
			return nil, invalidf("%s holds %s, not %s: refused without opening it", name, what, describeExt(ext))
		}
		if v.TotalBytes += f.Size; v.TotalBytes > limits.MaxTotalBytes {
			return nil, invalidf("the model is larger than the %d-byte limit", limits.MaxTotalBytes)
		}
		byName[name] = f
		if ext == ".safetensors" {
			shards = append(shards, f)
		}
	}
	v.Files = files

	cfgFile, ok := byName["config.json"]
	if !ok {
		return nil, invalidf("config.json is missing from the source")
	}
	cfgBytes, err := readJSON(ctx, src, cfgFile, limits)
	if err != nil {
		return nil, err
	}
	cfg, err := hf.ParseConfig(bytes.NewReader(cfgBytes))
	if err != nil {
		return nil, invalidf("config.json: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, invalidf("config.json: %v", err)
	}
	if cfg.MaxPositionEmbeddings > limits.MaxContext {
		return nil, invalidf("config.json: max_position_embeddings %d exceeds the context limit of %d tokens", cfg.MaxPositionEmbeddings, limits.MaxContext)
	}
	v.Config, v.Architecture = cfg, cfg.Architecture()

	switch {
	case byName["tokenizer.json"] != FileInfo{}:
		v.Tokenizer = "tokenizer.json"
		if _, err := readJSON(ctx, src, byName["tokenizer.json"], limits); err != nil {
			return nil, err
		}
	case byName["tokenizer.model"] != FileInfo{}:
		v.Tokenizer = "tokenizer.model"
	default:
		return nil, invalidf("no tokenizer: the source needs tokenizer.json or tokenizer.model")
	}
	if tc, ok := byName["tokenizer_config.json"]; ok {
		b, err := readJSON(ctx, src, tc, limits)
		if err != nil {
			return nil, err
		}
		var t struct {
			ChatTemplate json.RawMessage `json:"chat_template"`
		}
		if json.Unmarshal(b, &t) == nil && len(t.ChatTemplate) > 0 && string(t.ChatTemplate) != "null" {
			v.Instruct = true
		}
	}
	for _, name := range []string{"generation_config.json", "special_tokens_map.json", hf.IndexFileName} {
		if f, ok := byName[name]; ok {
			if _, err := readJSON(ctx, src, f, limits); err != nil {
				return nil, err
			}
		}
	}

	if len(shards) == 0 {
		return nil, invalidf("no .safetensors weights in the source")
	}
	got := map[string][]int64{}
	where := map[string]string{}
	for _, f := range shards {
		obj, err := src.Open(ctx, f)
		if err != nil {
			return nil, invalidf("%s: cannot be opened: %v", f.Name, err)
		}
		h, err := safetensors.ParseHeader(obj, f.Size)
		obj.Close()
		if err != nil {
			return nil, invalidf("%s: %v", f.Name, err)
		}
		for _, t := range h.Tensors {
			if prev, dup := where[t.Name]; dup {
				return nil, invalidf("tensor %s appears in both %s and %s", t.Name, prev, f.Name)
			}
			got[t.Name] = t.Shape
			where[t.Name] = f.Name
		}
	}
	if f, ok := byName[hf.IndexFileName]; ok {
		b, _ := readJSON(ctx, src, f, limits)
		ix, err := hf.ParseIndex(bytes.NewReader(b))
		if err != nil {
			return nil, invalidf("%s: %v", hf.IndexFileName, err)
		}
		for _, file := range ix.Files() {
			if _, ok := byName[file]; !ok {
				return nil, invalidf("%s names shard %s, which is not in the source", hf.IndexFileName, file)
			}
		}
		for name, file := range ix.WeightMap {
			if where[name] == "" {
				return nil, invalidf("%s maps tensor %s to %s, but no shard holds it", hf.IndexFileName, name, file)
			}
			if where[name] != file {
				return nil, invalidf("%s maps tensor %s to %s, but it is in %s", hf.IndexFileName, name, file, where[name])
			}
		}
		for name, file := range where {
			if _, ok := ix.WeightMap[name]; !ok && !hf.IsOptionalTensor(name) {
				return nil, invalidf("tensor %s in %s is missing from %s", name, file, hf.IndexFileName)
			}
		}
	} else if len(shards) > 1 {
		return nil, invalidf("%d .safetensors shards but no %s", len(shards), hf.IndexFileName)
	}
	if err := hf.CheckTensors(cfg, got); err != nil {
		return nil, invalidf("%v", err)
	}
	return v, nil
}

func describeExt(ext string) string {
	switch ext {
	case ".safetensors":
		return "safetensors"
	case ".json":
		return "JSON"
	case ".model":
		return "a SentencePiece model"
	}
	return "text"
}

func readHead(ctx context.Context, src Source, f FileInfo, n int) ([]byte, error) {
	obj, err := src.Open(ctx, f)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	buf := make([]byte, min(int64(n), f.Size))
	if _, err := obj.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

func readJSON(ctx context.Context, src Source, f FileInfo, limits Limits) ([]byte, error) {
	if f.Size > limits.MaxJSONBytes {
		return nil, invalidf("%s is larger than the %d-byte limit for JSON files", f.Name, limits.MaxJSONBytes)
	}
	obj, err := src.Open(ctx, f)
	if err != nil {
		return nil, invalidf("%s: cannot be opened: %v", f.Name, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, limits.MaxJSONBytes+1))
	if err != nil {
		return nil, invalidf("%s: cannot be read: %v", f.Name, err)
	}
	if !json.Valid(b) {
		return nil, invalidf("%s is not valid JSON", f.Name)
	}
	return b, nil
}
