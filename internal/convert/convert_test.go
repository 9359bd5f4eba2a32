package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"strata/internal/hf"
	"strata/internal/modelgen"
	"strata/internal/safetensors"
	"strata/internal/tokenizer"
)

// sharedDir walks up from the working directory to the directory holding
// shared/DESIGN.md, skipping the test if there is none.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "shared", "DESIGN.md")); err == nil {
			return filepath.Join(dir, "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared/ directory beside the repository")
		}
		dir = parent
	}
}

// writeLlama2C writes spec as a llama2.c checkpoint and tokenizer.bin.
func writeLlama2C(t *testing.T, dir string, spec modelgen.Spec) (ckpt, tok string) {
	t.Helper()
	var cb, tb bytes.Buffer
	if err := modelgen.WriteLlama2C(&cb, spec); err != nil {
		t.Fatal(err)
	}
	if err := modelgen.WriteLlama2CTokenizer(&tb, spec); err != nil {
		t.Fatal(err)
	}
	ckpt, tok = filepath.Join(dir, "model.bin"), filepath.Join(dir, "tokenizer.bin")
	if err := os.WriteFile(ckpt, cb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok, tb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return ckpt, tok
}

// checkSameWeights checks every tensor of the converted folder equals the
// generated spec's values exactly.
func checkSameWeights(t *testing.T, dir string, spec modelgen.Spec) *hf.Checkpoint {
	t.Helper()
	ck, err := hf.ValidateDir(dir)
	if err != nil {
		t.Fatalf("converted folder invalid: %v", err)
	}
	for _, ts := range spec.Tensors() {
		file, ok := ck.Where[ts.Name]
		if !ok {
			t.Fatalf("tensor %s missing", ts.Name)
		}
		sf, err := safetensors.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := sf.Float32s(ts.Name)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, len(got))
		spec.Values(ts.Name, 0, want)
		equal := slices.Equal(got, want)
		sf.Close()
		if !equal {
			t.Fatalf("tensor %s differs from the generated weights", ts.Name)
		}
	}
	return ck
}

func TestLlama2CRoundTrip(t *testing.T) {
	tied := modelgen.Stories15M()
	tied.Config.VocabSize = 512
	tied.Config.NumHiddenLayers = 2
	untiedGQA := modelgen.TinyMistral()
	untiedGQA.Config.Architectures = []string{hf.Llama}
	untiedGQA.Config.ModelType = "llama"
	for _, tc := range []struct {
		name     string
		spec     modelgen.Spec
		maxShard int64
		files    int
	}{
		{"tied-mha", tied, 0, 1},
		{"untied-gqa", untiedGQA, 0, 1},
		{"untied-gqa-sharded", untiedGQA, 100 << 10, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := t.TempDir()
			ckpt, tok := writeLlama2C(t, src, tc.spec)
			out := filepath.Join(t.TempDir(), "hf")
			if err := Llama2C(t.Context(), ckpt, tok, out, Options{MaxShardBytes: tc.maxShard}); err != nil {
				t.Fatal(err)
			}
			ck := checkSameWeights(t, out, tc.spec)
			if len(ck.Files) != tc.files {
				t.Errorf("files %v, want %d", ck.Files, tc.files)
			}
			c := ck.Config
			if c.Architecture() != hf.Llama || c.TieWordEmbeddings != tc.spec.Config.TieWordEmbeddings || c.RopeTheta != 10000 || c.RMSNormEps != 1e-5 {
				t.Errorf("config %+v", c)
			}
			if _, err := tokenizer.Load(out); err != nil {
				t.Errorf("tokenizer: %v", err)
			}
		})
	}
}

// TestLlama2CShared converts the real llama2.c models in ../shared and
// checks their tokenizers encode as run.c does.
func TestLlama2CShared(t *testing.T) {
	shared := sharedDir(t)
	for _, tc := range []struct {
		name, dir, ckpt string
		layers          int
	}{
		{"stories260K", "stories260K", "stories260K.bin", 5},
		{"aidreams260K", "aidreams260K", "aidreams260K.bin", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(shared, "models", tc.dir)
			out := filepath.Join(t.TempDir(), tc.name)
			if err := Llama2C(t.Context(), filepath.Join(dir, tc.ckpt), filepath.Join(dir, "tok512.bin"), out, Options{}); err != nil {
				t.Fatal(err)
			}
			ck, err := hf.ValidateDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if ck.Config.NumHiddenLayers != tc.layers || !ck.Config.TieWordEmbeddings || ck.Config.VocabSize != 512 {
				t.Errorf("config %+v", ck.Config)
			}
			// q_proj row 1 of layer 0 is checkpoint wq row 2 (head 0, pair 1).
			raw, err := os.ReadFile(filepath.Join(dir, tc.ckpt))
			if err != nil {
				t.Fatal(err)
			}
			h, err := ReadLlama2CHeader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			d := h.Dim
			wq := 28 + 4*(h.VocabSize*d+h.NLayers*d)
			sf, err := safetensors.Open(filepath.Join(out, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer sf.Close()
			_, q, err := sf.Bytes("model.layers.0.self_attn.q_proj.weight")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(q[4*d:8*d], raw[wq+8*d:wq+12*d]) {
				t.Error("q_proj row 1 is not checkpoint wq row 2")
			}
			if !bytes.Equal(q[4*d*(h.HeadDim()/2):4*d*(h.HeadDim()/2+1)], raw[wq+4*d:wq+8*d]) {
				t.Error("q_proj row hd/2 is not checkpoint wq row 1")
			}
			if tc.name == "stories260K" {
				tk, err := tokenizer.Load(out)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := tk.Encode("Once upon a time", true), []int{1, 403, 407, 261, 378}; !slices.Equal(got, want) {
					t.Errorf("Encode = %v, want run.c's %v", got, want)
				}
			}
		})
	}
}

func TestLlama2CRejects(t *testing.T) {
	spec := modelgen.TinyMistral()
	spec.Config.Architectures = []string{hf.Llama}
	spec.Config.ModelType = "llama"
	src := t.TempDir()
	ckpt, tok := writeLlama2C(t, src, spec)
	raw, _ := os.ReadFile(ckpt)
	truncated := filepath.Join(src, "truncated.bin")
	os.WriteFile(truncated, raw[:len(raw)-4], 0o644)
	badHeader := filepath.Join(src, "badheader.bin")
	bh := slices.Clone(raw)
	binary.LittleEndian.PutUint32(bh[12:], 5) // n_heads 5 does not divide dim 64
	os.WriteFile(badHeader, bh, 0o644)
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644)
	for _, tc := range []struct {
		name, ckpt, tok, out, wantErr string
	}{
		{"truncated", truncated, tok, "", "implies"},
		{"bad-header", badHeader, tok, "", "n_heads"},
		{"missing-tokenizer", ckpt, filepath.Join(src, "nope"), "", "opening tokenizer"},
		{"tokenizer-is-checkpoint", ckpt, ckpt, "", ""},
		{"output-not-empty", ckpt, tok, nonEmpty, "not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			out := tc.out
			if out == "" {
				out = filepath.Join(parent, "out")
			}
			err := Llama2C(t.Context(), tc.ckpt, tc.tok, out, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if tc.out == "" {
				if entries, _ := os.ReadDir(parent); len(entries) != 0 {
					t.Errorf("failed conversion left %v behind", entries[0].Name())
				}
			}
		})
	}
}

func TestLlama2CCancel(t *testing.T) {
	spec := modelgen.TinyMistral()
	spec.Config.Architectures = []string{hf.Llama}
	spec.Config.ModelType = "llama"
	ckpt, tok := writeLlama2C(t, t.TempDir(), spec)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	parent := t.TempDir()
	if err := Llama2C(ctx, ckpt, tok, filepath.Join(parent, "out"), Options{}); err == nil {
		t.Fatal("cancelled conversion succeeded")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("cancelled conversion left %s behind", entries[0].Name())
	}
}

// writeConsolidated writes spec in Mistral's native layout with a
// tokenizer.model built from the generated vocabulary.
func writeConsolidated(t *testing.T, dir string, spec modelgen.Spec) {
	t.Helper()
	if err := modelgen.WriteConsolidated(dir, spec); err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	if err := modelgen.WriteLlama2CTokenizer(&tb, spec); err != nil {
		t.Fatal(err)
	}
	spm, err := tokenizer.FromLlama2C(&tb, spec.Config.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spm.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestMistralRoundTrip(t *testing.T) {
	bf16 := modelgen.TinyMixtral()
	bf16.DType = safetensors.BF16
	f16 := modelgen.TinyMistralSlidingWindow()
	f16.DType = safetensors.F16
	for _, tc := range []struct {
		name     string
		spec     modelgen.Spec
		maxShard int64
		files    int
	}{
		{"mistral-f32", modelgen.TinyMistral(), 0, 1},
		{"mistral-window-f16", f16, 0, 1},
		{"mixtral-bf16", bf16, 0, 1},
		{"mixtral-sharded", modelgen.TinyMixtral(), 200 << 10, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			writeConsolidated(t, in, tc.spec)
			out := filepath.Join(t.TempDir(), "hf")
			if err := Mistral(t.Context(), in, out, Options{MaxShardBytes: tc.maxShard}); err != nil {
				t.Fatal(err)
			}
			ck := checkSameWeights(t, out, tc.spec)
			if len(ck.Files) < tc.files {
				t.Errorf("files %v, want %d", ck.Files, tc.files)
			}
			c, want := ck.Config, tc.spec.Config
			if c.Architecture() != want.Architecture() || c.SlidingWindow != want.SlidingWindow || c.NumLocalExperts != want.NumLocalExperts ||
				c.RopeTheta != want.RopeTheta || c.MaxPositionEmbeddings != want.MaxPositionEmbeddings || c.TorchDType != torchDType(tc.spec.DType) {
				t.Errorf("config %+v, want %+v", c, want)
			}
			if _, err := tokenizer.Load(out); err != nil {
				t.Errorf("tokenizer: %v", err)
			}
		})
	}
}

func TestMistralRejects(t *testing.T) {
	spec := modelgen.TinyMistral()
	for _, tc := range []struct {
		name    string
		edit    func(t *testing.T, dir string)
		wantErr string
	}{
		{"no-params", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "params.json")) }, "params.json"},
		{"pickle-only", func(t *testing.T, dir string) {
			os.Rename(filepath.Join(dir, "consolidated.safetensors"), filepath.Join(dir, "consolidated.00.pth"))
		}, "pickle"},
		{"no-tokenizer", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "tokenizer.model")) }, "no tokenizer.model"},
		{"wrong-layers", func(t *testing.T, dir string) { editParams(t, dir, "n_layers", 3) }, "missing tensors: model.layers.2"},
		{"wrong-dim", func(t *testing.T, dir string) { editParams(t, dir, "hidden_dim", 100) }, "mismatched shapes"},
		{"vocab-mismatch", func(t *testing.T, dir string) {
			var tb bytes.Buffer
			small := spec
			small.Config.VocabSize = 600
			modelgen.WriteLlama2CTokenizer(&tb, small)
			spm, _ := tokenizer.FromLlama2C(&tb, 600)
			f, _ := os.Create(filepath.Join(dir, "tokenizer.model"))
			spm.WriteTo(f)
			f.Close()
		}, "600 pieces"},
		{"context-too-long", func(t *testing.T, dir string) { editParams(t, dir, "max_seq_len", 200000) }, "context limit"},
		{"foreign-tensor", func(t *testing.T, dir string) {
			f, _ := os.Create(filepath.Join(dir, "consolidated.safetensors"))
			w, _ := safetensors.NewWriter(f, []safetensors.TensorSpec{{Name: "transformer.h.0.attn", DType: safetensors.F32, Shape: []int64{1}}}, nil)
			w.Write(make([]byte, 4))
			f.Close()
		}, "not a Mistral checkpoint tensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := t.TempDir()
			writeConsolidated(t, in, spec)
			tc.edit(t, in)
			parent := t.TempDir()
			err := Mistral(t.Context(), in, filepath.Join(parent, "out"), Options{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("failed conversion left %s behind", entries[0].Name())
			}
		})
	}
}

func editParams(t *testing.T, dir, key string, v any) {
	t.Helper()
	path := filepath.Join(dir, "params.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = v
	b, _ = json.Marshal(m)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPermuteRows(t *testing.T) {
	// hd = 4: HF rows [0,1,2,3] come from Meta rows [0,2,1,3].
	for r, want := range []int64{0, 2, 1, 3, 4, 6, 5, 7} {
		if got := permuteRows(int64(r), 4); got != want {
			t.Errorf("permuteRows(%d) = %d, want %d", r, got, want)
		}
	}
}

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		name, json, wantErr string
		check               func(t *testing.T, p *Params)
	}{
		{name: "mistral-7b", json: `{"dim":4096,"n_layers":32,"head_dim":128,"hidden_dim":14336,"n_heads":32,"n_kv_heads":8,"norm_eps":1e-05,"sliding_window":4096,"vocab_size":32000}`,
			check: func(t *testing.T, p *Params) {
				c := p.Config(safetensors.BF16)
				if err := c.Validate(); err != nil {
					t.Fatal(err)
				}
				if c.RopeTheta != 10000 || c.MaxPositionEmbeddings != DefaultMistralContext || c.SlidingWindow != 4096 || c.TorchDType != "bfloat16" {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "mixtral", json: `{"dim":4096,"n_layers":32,"head_dim":128,"hidden_dim":14336,"n_heads":32,"n_kv_heads":8,"norm_eps":1e-05,"vocab_size":32000,"moe":{"num_experts_per_tok":2,"num_experts":8}}`,
			check: func(t *testing.T, p *Params) {
				c := p.Config(safetensors.BF16)
				if c.Architecture() != hf.Mixtral || c.NumLocalExperts != 8 || c.RopeTheta != 1e6 {
					t.Errorf("config %+v", c)
				}
			}},
		{name: "null-window", json: `{"dim":64,"n_heads":4,"sliding_window":null}`, check: func(t *testing.T, p *Params) {
			if p.SlidingWindow != 0 || p.HeadDim != 16 || p.NKVHeads != 4 {
				t.Errorf("params %+v", p)
			}
		}},
		{name: "not-object", json: `[]`, wantErr: "not a JSON object"},
		{name: "string-dim", json: `{"dim":"64"}`, wantErr: "params.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseParams(strings.NewReader(tc.json))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
		})
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add([]byte(`{"dim":4096,"n_layers":32,"head_dim":128,"hidden_dim":14336,"n_heads":32,"n_kv_heads":8,"norm_eps":1e-05,"sliding_window":4096,"vocab_size":32000}`))
	f.Add([]byte(`{"dim":64,"n_heads":0,"moe":{"num_experts":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseParams(bytes.NewReader(b))
		if err != nil {
			return
		}
		c := p.Config(safetensors.F32)
		if c.Validate() == nil {
			hf.ExpectedTensors(c)
		}
	})
}

func FuzzReadLlama2CHeader(f *testing.F) {
	for _, h := range [][7]int32{{64, 172, 5, 8, 4, 512, 512}, {288, 768, 6, 6, 6, -32000, 256}, {0, 0, 0, 0, 0, 0, 0}, {64, 1, 1, 3, 1, 1, 1}} {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, h)
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadLlama2CHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		if h.FileSize() <= 28 {
			t.Fatalf("file size %d for %+v", h.FileSize(), h)
		}
		if err := h.Config().Validate(); err != nil && h.SeqLen <= hf.MaxContext && h.VocabSize >= 3 {
			// Every accepted header that fits the context limit must
			// describe a servable model, except special-token ids beyond a
			// tiny vocabulary and widths over hf's limits.
			if !strings.Contains(err.Error(), "outside the vocabulary") && !strings.Contains(err.Error(), "exceeds the limit") {
				t.Fatalf("accepted header %+v gives invalid config: %v", h, err)
			}
		}
	})
}
