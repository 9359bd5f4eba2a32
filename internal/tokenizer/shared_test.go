package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sharedDir finds /work/shared (the folder holding DESIGN.md next to the
// repository) by walking up from the test's working directory.
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared")
		if _, err := os.Stat(filepath.Join(cand, "DESIGN.md")); err == nil {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("shared test data (shared/DESIGN.md) not found above the working directory")
		}
		dir = parent
	}
}

func sharedPath(t testing.TB, elem ...string) string {
	return filepath.Join(append([]string{sharedDir(t)}, elem...)...)
}

func loadFile(t testing.TB, path string) *Tokenizer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var tok *Tokenizer
	if strings.HasSuffix(path, ".json") {
		tok, err = LoadJSON(f)
	} else {
		tok, err = LoadSentencePiece(f)
	}
	if err != nil {
		t.Fatalf("loading %s: %v", path, err)
	}
	return tok
}

func loadLlama2C(t testing.TB, path string, vocab int) *Tokenizer {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := FromLlama2C(f, vocab)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := m.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func readIDs(t testing.TB, line string) []int {
	t.Helper()
	ids := []int{}
	for _, f := range strings.Fields(line) {
		id, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad id %q", f)
		}
		ids = append(ids, id)
	}
	return ids
}

func equalIDs(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mistralV1Golden returns the rendered v1 chat (with "▁" for spaces and
// <s>, </s> control tokens) and its token ids from mistral-common.
func mistralV1Golden(t testing.TB) (string, []int) {
	t.Helper()
	dir := sharedPath(t, "models", "mistral-7b-v0.1", "testvectors")
	text, err := os.ReadFile(filepath.Join(dir, "mistral_common_no_tools_text_v1.txt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "mistral_common_no_tools_tokens_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Tokens []int }
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return string(text), v.Tokens
}

// TestMistralV1Vectors encodes the mistral-common v1 rendering chunk by
// chunk the way mistral-common does (each text chunk is one sentencepiece
// encode call with its dummy prefix; <s> and </s> are control ids) with both
// of Mistral-7B's tokenizer files.
func TestMistralV1Vectors(t *testing.T) {
	text, want := mistralV1Golden(t)
	for _, file := range []string{"tokenizer.json", "tokenizer.model"} {
		t.Run(file, func(t *testing.T) {
			tok := loadFile(t, sharedPath(t, "models", "mistral-7b-v0.1", file))
			var got []int
			rest := text
			for rest != "" {
				i := strings.IndexAny(rest, "<")
				if i < 0 {
					i = len(rest)
				}
				if i > 0 {
					chunk := strings.ReplaceAll(rest[:i], "▁", " ")
					got = append(got, tok.Encode(strings.TrimPrefix(chunk, " "), false)...)
					rest = rest[i:]
					continue
				}
				switch {
				case strings.HasPrefix(rest, "<s>"):
					got = append(got, tok.BOS())
					rest = rest[3:]
				case strings.HasPrefix(rest, "</s>"):
					got = append(got, tok.EOS()[0])
					rest = rest[4:]
				default:
					t.Fatalf("unexpected text %q", rest)
				}
			}
			if !equalIDs(got, want) {
				t.Fatalf("ids differ\n got %v\nwant %v", got, want)
			}
		})
	}
}

// llamaSPMCases reads llama.cpp's test vectors for the Llama 2 SPM vocab.
func llamaSPMCases(t testing.TB) ([]string, [][]int) {
	t.Helper()
	dir := sharedPath(t, "models", "llama2-tokenizer")
	inp, err := os.ReadFile(filepath.Join(dir, "ggml-vocab-llama-spm.gguf.inp"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.ReadFile(filepath.Join(dir, "ggml-vocab-llama-spm.gguf.out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%d inputs but %d outputs", len(texts), len(lines))
	}
	ids := make([][]int, len(lines))
	for i, l := range lines {
		ids[i] = readIDs(t, l)
	}
	return texts, ids
}

func TestLlamaSPMVectors(t *testing.T) {
	texts, want := llamaSPMCases(t)
	dir := sharedPath(t, "models", "llama2-tokenizer")
	toks := map[string]*Tokenizer{
		"tokenizer.model": loadFile(t, filepath.Join(dir, "tokenizer.model")),
		"llama2c-bin":     loadLlama2C(t, filepath.Join(dir, "tokenizer.bin"), 32000),
	}
	for name, tok := range toks {
		t.Run(name, func(t *testing.T) {
			for i, text := range texts {
				got := tok.Encode(text, false)
				if !equalIDs(got, want[i]) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, text, got, want[i])
				}
				if dec := tok.Decode(got); dec != text && !strings.HasPrefix(text, " ") {
					t.Errorf("case %d: decode = %q, want %q", i, dec, text)
				}
			}
		})
	}
}
