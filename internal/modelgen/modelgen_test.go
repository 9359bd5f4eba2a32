package modelgen

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"strata/internal/hf"
	"strata/internal/safetensors"
)

func TestGeneratePresetsValidate(t *testing.T) {
	sharded := TinyMistral()
	sharded.Shards = 3
	bf16 := TinyMixtral()
	bf16.DType = safetensors.BF16
	bf16.Shards = 2
	f16 := TinyMistralSlidingWindow()
	f16.DType = safetensors.F16
	tests := []struct {
		name   string
		spec   Spec
		shards int
	}{
		{"tiny-mistral", TinyMistral(), 1},
		{"tiny-mistral-sharded", sharded, 3},
		{"tiny-mixtral-bf16-sharded", bf16, 2},
		{"tiny-sliding-window-f16", f16, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Generate(dir, tc.spec); err != nil {
				t.Fatal(err)
			}
			ck, err := hf.ValidateDir(dir)
			if err != nil {
				t.Fatalf("generated folder invalid: %v", err)
			}
			if len(ck.Files) != tc.shards {
				t.Errorf("files = %v, want %d", ck.Files, tc.shards)
			}
			if ck.Config.SlidingWindow != tc.spec.Config.SlidingWindow {
				t.Errorf("sliding window = %d, want %d", ck.Config.SlidingWindow, tc.spec.Config.SlidingWindow)
			}
			for _, name := range []string{"tokenizer.json", "tokenizer_config.json", "generation_config.json"} {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Error(err)
				}
			}
			// Stored values equal Values, and are finite.
			for _, name := range []string{"model.embed_tokens.weight", "model.layers.0.self_attn.k_proj.weight", "model.norm.weight"} {
				sf, err := safetensors.Open(filepath.Join(dir, ck.Where[name]))
				if err != nil {
					t.Fatal(err)
				}
				got, err := sf.Float32s(name)
				if err != nil {
					t.Fatal(err)
				}
				want := make([]float32, len(got))
				tc.spec.Values(name, 0, want)
				equal := slices.Equal(got, want)
				finite := !slices.ContainsFunc(got, func(v float32) bool {
					return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)
				})
				sf.Close() // got is a view of the mapping: done with it
				if !equal {
					t.Fatalf("%s differs from Values", name)
				}
				if !finite {
					t.Fatalf("%s has non-finite values", name)
				}
			}
		})
	}
}

func TestSizedMistral(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target int64
		shards int
	}{
		{"64MiB", 64 << 20, 2},
		{"1GiB", 1 << 30, 4},
		{"10GiB", 10 << 30, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := SizedMistral(tc.target)
			if err := s.validate(); err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, ts := range s.Tensors() {
				n := int64(ts.DType.Size())
				for _, d := range ts.Shape {
					n *= d
				}
				total += n
			}
			if ratio := float64(total) / float64(tc.target); ratio < 0.85 || ratio > 1.15 {
				t.Errorf("%d bytes of weights for a %d-byte target", total, tc.target)
			}
			if s.Shards != tc.shards {
				t.Errorf("shards = %d, want %d", s.Shards, tc.shards)
			}
		})
	}
}

func TestTinyMistralSize(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, TinyMistral()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 100<<10 || st.Size() > 1<<20 {
		t.Errorf("TinyMistral weights are %d bytes, want a few hundred KB", st.Size())
	}
}

func TestDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	other := TinyMistral()
	other.Seed = 99
	for dir, spec := range map[string]Spec{a: TinyMistral(), b: TinyMistral(), c: other} {
		if err := Generate(dir, spec); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"model.safetensors", "tokenizer.json", "config.json"} {
		x, _ := os.ReadFile(filepath.Join(a, name))
		y, _ := os.ReadFile(filepath.Join(b, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs with the same seed", name)
		}
	}
	x, _ := os.ReadFile(filepath.Join(a, "model.safetensors"))
	z, _ := os.ReadFile(filepath.Join(c, "model.safetensors"))
	if bytes.Equal(x, z) {
		t.Error("different seeds gave identical weights")
	}
}

func TestValuesOffsets(t *testing.T) {
	s := TinyMistral()
	name := "model.layers.0.mlp.up_proj.weight"
	all := make([]float32, 128*64)
	s.Values(name, 0, all)
	for _, tc := range []struct {
		name     string
		off, len int
	}{{"even", 10, 7}, {"odd", 11, 8}, {"odd-single", 3, 1}, {"tail", 128*64 - 3, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			part := make([]float32, tc.len)
			s.Values(name, int64(tc.off), part)
			if !slices.Equal(part, all[tc.off:tc.off+tc.len]) {
				t.Errorf("Values at offset %d = %v, want %v", tc.off, part, all[tc.off:tc.off+tc.len])
			}
		})
	}
	// Roughly uniform in [-1/8, 1/8).
	var sum float64
	for _, v := range all {
		if v < -0.125 || v >= 0.125 {
			t.Fatalf("value %v out of range", v)
		}
		sum += float64(v)
	}
	if mean := sum / float64(len(all)); math.Abs(mean) > 0.005 {
		t.Errorf("mean %v too far from 0", mean)
	}
}

func TestVocab(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
	}{{"tiny", TinyMistral()}, {"stories", Stories15M()}} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.spec.Vocab()
			if len(v.Pieces) != tc.spec.Config.VocabSize {
				t.Fatalf("%d pieces, want %d", len(v.Pieces), tc.spec.Config.VocabSize)
			}
			if v.Pieces[0] != "<unk>" || v.Pieces[1] != "<s>" || v.Pieces[2] != "</s>" || v.Pieces[3] != "<0x00>" || v.Pieces[258] != "<0xFF>" || v.Pieces[259] != "▁" {
				t.Errorf("layout wrong: %q", v.Pieces[:4])
			}
			seen := map[string]bool{}
			for _, p := range v.Pieces {
				if seen[p] {
					t.Fatalf("duplicate piece %q", p)
				}
				seen[p] = true
			}
			merged := len(v.Pieces) - len(v.Merges)
			for i, m := range v.Merges {
				l, r, ok := strings.Cut(m, " ")
				if !ok || !seen[l] || !seen[r] || v.Pieces[merged+i] != l+r {
					t.Fatalf("merge %d %q does not produce piece %q", i, m, v.Pieces[merged+i])
				}
			}
		})
	}
	dir := t.TempDir()
	if err := Generate(dir, TinyMistral()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tj struct {
		Model struct {
			Type         string         `json:"type"`
			ByteFallback bool           `json:"byte_fallback"`
			Vocab        map[string]int `json:"vocab"`
			Merges       []string       `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(b, &tj); err != nil {
		t.Fatal(err)
	}
	if tj.Model.Type != "BPE" || !tj.Model.ByteFallback || len(tj.Model.Vocab) != 512 || tj.Model.Vocab["<0x41>"] != 3+0x41 {
		t.Errorf("tokenizer.json model = %s, byte_fallback %v, %d pieces", tj.Model.Type, tj.Model.ByteFallback, len(tj.Model.Vocab))
	}
}

func TestShardTensors(t *testing.T) {
	ts := TinyMixtral().Tensors()
	for _, n := range []int{1, 2, 5, len(ts), len(ts) + 10} {
		groups := shardTensors(ts, n)
		if want := min(n, len(ts)); len(groups) != want {
			t.Errorf("n=%d: %d groups, want %d", n, len(groups), want)
		}
		var flat []safetensors.TensorSpec
		for _, g := range groups {
			if len(g) == 0 {
				t.Fatalf("n=%d: empty group", n)
			}
			flat = append(flat, g...)
		}
		if len(flat) != len(ts) {
			t.Fatalf("n=%d: %d tensors, want %d", n, len(flat), len(ts))
		}
	}
}

func TestGenerateRejects(t *testing.T) {
	small := TinyMistral()
	small.Config.VocabSize = 300
	badDType := TinyMistral()
	badDType.DType = safetensors.I8
	arch := TinyMistral()
	arch.Config.Architectures = []string{"GPT2LMHeadModel"}
	for _, tc := range []struct {
		name string
		spec Spec
	}{{"small-vocab", small}, {"int8", badDType}, {"bad-arch", arch}} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Generate(t.TempDir(), tc.spec); err == nil {
				t.Error("no error")
			}
		})
	}
}

// BenchmarkGenerateSized measures streaming a sharded BF16 SizedMistral
// model to disk, including its tokenizer and configs:
//
//	go test -run XXX -bench 'GenerateSized/64MiB' ./internal/modelgen
//	go test -run XXX -bench 'GenerateSized/1GiB' -benchtime 1x ./internal/modelgen
func BenchmarkGenerateSized(b *testing.B) {
	for _, size := range []struct {
		name  string
		bytes int64
	}{{"64MiB", 64 << 20}, {"1GiB", 1 << 30}} {
		b.Run(size.name, func(b *testing.B) {
			spec := SizedMistral(size.bytes)
			var bytes int64
			for _, t := range spec.Tensors() {
				n := int64(t.DType.Size())
				for _, d := range t.Shape {
					n *= d
				}
				bytes += n
			}
			b.SetBytes(bytes)
			dir := b.TempDir()
			for b.Loop() {
				if err := Generate(dir, spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWeightsDiscard measures weight generation alone (BF16, to
// io.Discard): go test -bench WeightsDiscard ./internal/modelgen
func BenchmarkWeightsDiscard(b *testing.B) {
	spec := SizedMistral(64 << 20)
	ts := spec.Tensors()
	var bytes int64
	for _, t := range ts {
		n := int64(t.DType.Size())
		for _, d := range t.Shape {
			n *= d
		}
		bytes += n
	}
	b.SetBytes(bytes)
	for b.Loop() {
		if err := spec.writeData(io.Discard, ts); err != nil {
			b.Fatal(err)
		}
	}
}
