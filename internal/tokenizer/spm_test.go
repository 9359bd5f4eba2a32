package tokenizer

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type goldenFile struct {
	Cases []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"cases"`
}

func readGolden(t testing.TB, name string) goldenFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Cases) < 50 {
		t.Fatalf("%s: only %d cases", name, len(g.Cases))
	}
	return g
}

// TestSentencePieceGolden compares tokenizer.model encoding with the real
// sentencepiece library (testdata/spm_golden.cjs) on the tricky texts of
// golden_texts.json. For stories260K the model is the one FromLlama2C and
// WriteTo produce, which sentencepiece loaded to make the golden ids.
func TestSentencePieceGolden(t *testing.T) {
	stories := func(t *testing.T) *Tokenizer {
		var buf bytes.Buffer
		if _, err := stories260KModel(t).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		tok, err := LoadSentencePiece(&buf)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	file := func(elem ...string) func(*testing.T) *Tokenizer {
		return func(t *testing.T) *Tokenizer { return loadFile(t, sharedPath(t, elem...)) }
	}
	tests := []struct {
		name   string
		golden string
		load   func(*testing.T) *Tokenizer
	}{
		{"llama2", "spm_llama2_golden.json", file("models", "llama2-tokenizer", "tokenizer.model")},
		{"mistral-v1", "spm_mistral_v1_golden.json", file("models", "mistral-7b-v0.1", "tokenizer.model")},
		{"mistral-v3", "spm_mistral_v3_golden.json", file("models", "mistral-tokenizers", "mistral_instruct_tokenizer_240323.model.v3")},
		{"stories260K-converted", "spm_stories_golden.json", stories},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := readGolden(t, tc.golden)
			tok := tc.load(t)
			for i, c := range g.Cases {
				got := tok.Encode(c.Text, false)
				if !slices.Equal(got, c.IDs) {
					t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
					continue
				}
				if dec := tok.Decode(got); dec != c.Text {
					t.Errorf("case %d: Decode = %q, want %q", i, dec, c.Text)
				}
			}
		})
	}
}

// TestSentencePieceUserDefined: user-defined pieces (Mistral v3's
// [REFERENCE_DOC_n]) are single tokens anywhere in the text, and a leading
// one still gets the dummy prefix. Ids from the real sentencepiece library
// (testdata/spm_golden.cjs on these texts).
func TestSentencePieceUserDefined(t *testing.T) {
	tok := loadFile(t, sharedPath(t, "models", "mistral-tokenizers", "mistral_instruct_tokenizer_240323.model.v3"))
	tests := []struct {
		name, text string
		want       []int
	}{
		{"leading", "[REFERENCE_DOC_1]x", []int{29473, 769, 29512}},
		{"inside", "a[REFERENCE_DOC_1]b", []int{1032, 769, 29494}},
		{"spaced", "a [REFERENCE_DOC_1] b", []int{1032, 29473, 769, 1055}},
		{"alone", "[REFERENCE_DOC_1]", []int{29473, 769}},
		{"space-first", " [REFERENCE_DOC_1]", []int{1027, 769}},
		{"control-is-text", "[INST]x", []int{1501, 17057, 29561, 29512}},
		{"adjacent", "x[REFERENCE_DOC_1][REFERENCE_DOC_2]", []int{2086, 769, 768}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tok.Encode(tc.text, false); !slices.Equal(got, tc.want) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

// TestMistralJSONMatchesSentencePiece: Mistral-7B's tokenizer.json (merges by
// rank, Metaspace) gives the real sentencepiece ids of its tokenizer.model,
// except for text that starts with a space, where Hugging Face's
// prepend_scheme "first" adds no second "▁" (the one documented difference).
func TestMistralJSONMatchesSentencePiece(t *testing.T) {
	g := readGolden(t, "spm_mistral_v1_golden.json")
	tok := loadFile(t, sharedPath(t, "models", "mistral-7b-v0.1", "tokenizer.json"))
	for i, c := range g.Cases {
		got := tok.Encode(c.Text, false)
		want := c.IDs
		if len(c.Text) > 0 && c.Text[0] == ' ' && len(want) > 0 {
			// sentencepiece: "▁" + "▁..." ; tokenizers: "▁..." alone
			if tok.TokenString(want[0]) == "▁" {
				want = want[1:]
			} else {
				continue // the two spaces merged into one piece: compare nothing
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, want)
		}
	}
}
