package modelimport

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"strata/internal/modelgen"
)

// genModel writes a valid tiny Mistral folder, sharded when shards > 1.
func genModel(t *testing.T, shards int) string {
	t.Helper()
	dir := t.TempDir()
	spec := modelgen.TinyMistral()
	spec.Shards = shards
	if err := modelgen.Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

func validateDir(t *testing.T, dir string) (*Validated, error) {
	t.Helper()
	src := DirSource("", dir)
	files, err := src.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return Validate(t.Context(), src, files, Limits{})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// maliciousPickle is a protocol-2 pickle that would run os.system when
// unpickled: the validator must refuse it without ever interpreting it.
var maliciousPickle = []byte("\x80\x02cposix\nsystem\nq\x00X\x0b\x00\x00\x00touch /pwndq\x01\x85q\x02Rq\x03.")

// rewriteHeader replaces a safetensors file's JSON header, keeping its data.
func rewriteHeader(t *testing.T, path string, edit func(h map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var h map[string]any
	if err := json.Unmarshal(b[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	edit(h)
	nh, _ := json.Marshal(h)
	for len(nh)%8 != 0 {
		nh = append(nh, ' ')
	}
	var out bytes.Buffer
	binary.Write(&out, binary.LittleEndian, uint64(len(nh)))
	out.Write(nh)
	out.Write(b[8+n:])
	write(t, path, out.Bytes())
}

func firstTensor(h map[string]any) (string, map[string]any) {
	for k, v := range h {
		if k != "__metadata__" {
			return k, v.(map[string]any)
		}
	}
	return "", nil
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		shards  int
		mutate  func(t *testing.T, dir string)
		wantErr string // "" means valid
	}{
		{name: "valid-single-file"},
		{name: "valid-sharded", shards: 3},
		{name: "valid-with-readme", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "README.md"), []byte("# model card"))
		}},
		{name: "pickle-by-name", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "pytorch_model.bin"), maliciousPickle)
		}, wantErr: "pytorch_model.bin is a PyTorch pickle"},
		{name: "pickle-disguised-as-safetensors", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "model.safetensors"), maliciousPickle)
		}, wantErr: "model.safetensors holds pickle data"},
		{name: "zip-pickle-disguised-as-json", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "extra.json"), append([]byte("PK\x03\x04"), make([]byte, 100)...))
		}, wantErr: "extra.json holds a zip archive"},
		{name: "archive-by-name", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "weights.tar.gz"), []byte{0x1f, 0x8b, 0, 0})
		}, wantErr: "weights.tar.gz is an archive"},
		{name: "unknown-file-type", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "run.sh"), []byte("#!/bin/sh"))
		}, wantErr: "unsupported file type"},
		{name: "bad-shape", mutate: func(t *testing.T, dir string) {
			rewriteHeader(t, filepath.Join(dir, "model.safetensors"), func(h map[string]any) {
				tn := h["model.norm.weight"].(map[string]any)
				tn["shape"] = []int{32, 2} // same byte span, wrong shape
			})
		}, wantErr: "model.norm.weight has shape [32 2]"},
		{name: "truncated-shard", shards: 2, mutate: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model-00002-of-00002.safetensors")
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-100)
		}, wantErr: "model-00002-of-00002.safetensors"},
		{name: "overlapping-offsets", mutate: func(t *testing.T, dir string) {
			rewriteHeader(t, filepath.Join(dir, "model.safetensors"), func(h map[string]any) {
				a := h["model.layers.0.input_layernorm.weight"].(map[string]any)
				b := h["model.layers.0.post_attention_layernorm.weight"].(map[string]any)
				b["data_offsets"] = a["data_offsets"]
			})
		}, wantErr: "overlap"},
		{name: "header-length-past-file", mutate: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			b, _ := os.ReadFile(p)
			binary.LittleEndian.PutUint64(b[:8], uint64(len(b))*2)
			write(t, p, b)
		}, wantErr: "model.safetensors"},
		{name: "unknown-dtype", mutate: func(t *testing.T, dir string) {
			rewriteHeader(t, filepath.Join(dir, "model.safetensors"), func(h map[string]any) {
				_, tn := firstTensor(h)
				tn["dtype"] = "F7"
			})
		}, wantErr: "F7"},
		{name: "missing-tokenizer", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "tokenizer.json"))
			os.Remove(filepath.Join(dir, "tokenizer.model"))
		}, wantErr: "no tokenizer"},
		{name: "unsupported-architecture", mutate: func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["architectures"] = []string{"GPT2LMHeadModel"} })
		}, wantErr: "GPT2LMHeadModel"},
		{name: "context-over-128k", mutate: func(t *testing.T, dir string) {
			editConfig(t, dir, func(c map[string]any) { c["max_position_embeddings"] = 262144 })
		}, wantErr: "262144"},
		{name: "missing-config", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "config.json"))
		}, wantErr: "config.json is missing"},
		{name: "config-not-json", mutate: func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "config.json"), []byte("{architectures"))
		}, wantErr: "config.json is not valid JSON"},
		{name: "missing-tensor", mutate: func(t *testing.T, dir string) {
			rewriteHeader(t, filepath.Join(dir, "model.safetensors"), func(h map[string]any) {
				// Rename a tensor: the expected one is missing, an unexpected one appears.
				h["model.layers.0.mlp.extra.weight"] = h["model.layers.0.mlp.up_proj.weight"]
				delete(h, "model.layers.0.mlp.up_proj.weight")
			})
		}, wantErr: "missing tensors: model.layers.0.mlp.up_proj.weight"},
		{name: "index-names-missing-shard", shards: 2, mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, wantErr: "which is not in the source"},
		{name: "shards-without-index", shards: 2, mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors.index.json"))
		}, wantErr: "no model.safetensors.index.json"},
		{name: "no-weights", mutate: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, wantErr: "no .safetensors weights"},
		{name: "subfolder", mutate: func(t *testing.T, dir string) {
			os.Mkdir(filepath.Join(dir, "sub"), 0o755)
			write(t, filepath.Join(dir, "sub", "x.json"), []byte("{}"))
		}, wantErr: "subfolders"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := genModel(t, tc.shards)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			v, err := validateDir(t, dir)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("valid model refused: %v", err)
				}
				if v.Architecture != "MistralForCausalLM" || v.Tokenizer == "" || v.TotalBytes == 0 {
					t.Errorf("Validated = %+v", v)
				}
				return
			}
			if _, ok := errors.AsType[*ValidationError](err); !ok {
				t.Fatalf("err = %v (%T), want a ValidationError containing %q", err, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
	if _, err := os.Stat("/pwnd"); err == nil {
		t.Fatal("the pickle payload ran")
	}
}

func editConfig(t *testing.T, dir string, edit func(c map[string]any)) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(b, &c)
	edit(c)
	nb, _ := json.Marshal(c)
	write(t, p, nb)
}

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want Location
		bad  bool
	}{
		{in: "s3://my-bucket/models/mistral/", want: Location{Scheme: "s3", Bucket: "my-bucket", Prefix: "models/mistral/"}},
		{in: "s3://my-bucket/models/mistral", want: Location{Scheme: "s3", Bucket: "my-bucket", Prefix: "models/mistral/"}},
		{in: "s3://my-bucket", want: Location{Scheme: "s3", Bucket: "my-bucket"}},
		{in: "file:///srv/models/m", want: Location{Scheme: "file", Prefix: "/srv/models/m"}},
		{in: "s3://Bad_Bucket/x", bad: true},
		{in: "s3://bucket/../etc/", bad: true},
		{in: "https://example.com/x", bad: true},
		{in: "file://host/x", bad: true},
		{in: "file:relative", bad: true},
	}
	for _, tc := range tests {
		got, err := ParseURI(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseURI(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("s3://bucket/prefix/")
	f.Add("file:///a/b")
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseURI(s)
		if err == nil && loc.Scheme == "s3" && strings.Contains(loc.Prefix, "..") && strings.Contains("/"+loc.Prefix, "/../") {
			t.Fatalf("relative segment accepted: %q", s)
		}
	})
}
