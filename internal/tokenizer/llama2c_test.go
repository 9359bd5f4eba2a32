package tokenizer

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// runCVocab is a llama2.c tokenizer.bin as run.c holds it.
type runCVocab struct {
	vocab  []string
	scores []float32
}

func readRunCVocab(t testing.TB, path string, n int) runCVocab {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := runCVocab{}
	off := 4
	for range n {
		v.scores = append(v.scores, math.Float32frombits(binary.LittleEndian.Uint32(data[off:])))
		l := int(binary.LittleEndian.Uint32(data[off+4:]))
		v.vocab = append(v.vocab, string(data[off+8:off+8+l]))
		off += 8 + l
	}
	return v
}

// encode transcribes run.c's encode() (karpathy/llama2.c): BOS, a dummy
// prefix " " token, per-codepoint lookup with byte fallback (+3), then the
// greedy loop merging the best-scoring pair (first one wins ties) while the
// merged string is in the vocabulary. It is an independent reference for the
// heap-based BPE.
func (v runCVocab) encode(text string, bos bool) []int {
	lookup := func(s string) int {
		for i, p := range v.vocab {
			if p == s {
				return i
			}
		}
		return -1
	}
	var tokens []int
	if bos {
		tokens = append(tokens, 1)
	}
	if text != "" {
		tokens = append(tokens, lookup(" "))
	}
	for i := 0; i < len(text); {
		_, w := utf8.DecodeRuneInString(text[i:])
		if id := lookup(text[i : i+w]); id >= 0 {
			tokens = append(tokens, id)
		} else {
			for j := i; j < i+w; j++ {
				tokens = append(tokens, int(text[j])+3)
			}
		}
		i += w
	}
	for {
		bestScore := float32(-1e10)
		bestID, bestIdx := -1, -1
		for i := 0; i < len(tokens)-1; i++ {
			id := lookup(v.vocab[tokens[i]] + v.vocab[tokens[i+1]])
			if id != -1 && v.scores[id] > bestScore {
				bestScore, bestID, bestIdx = v.scores[id], id, i
			}
		}
		if bestIdx == -1 {
			break
		}
		tokens[bestIdx] = bestID
		tokens = append(tokens[:bestIdx+1], tokens[bestIdx+2:]...)
	}
	return tokens
}

func TestStories260KTokenizer(t *testing.T) {
	path := sharedPath(t, "models", "stories260K", "tok512.bin")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := FromLlama2C(f, 512)
	if err != nil {
		t.Fatal(err)
	}
	// Round trip through a tokenizer.model file and Load.
	dir := t.TempDir()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, err := ReadSentencePiece(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.Pieces) != 512 || m2.ModelType != ModelBPE || !m2.ByteFallback || m2.BOSID != 1 || m2.EOSID != 2 || m2.PadID != -1 {
		t.Fatalf("read back %d pieces, type %d, fallback %v, bos %d eos %d pad %d",
			len(m2.Pieces), m2.ModelType, m2.ByteFallback, m2.BOSID, m2.EOSID, m2.PadID)
	}
	for i := range m.Pieces {
		if m.Pieces[i] != m2.Pieces[i] {
			t.Fatalf("piece %d: wrote %+v, read %+v", i, m.Pieces[i], m2.Pieces[i])
		}
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.BOS() != 1 || !equalIDs(tok.EOS(), []int{2}) || tok.VocabSize() != 512 || !tok.AddBOS() {
		t.Fatalf("BOS %d EOS %v vocab %d addBOS %v", tok.BOS(), tok.EOS(), tok.VocabSize(), tok.AddBOS())
	}

	// The encoding SOURCE.md records for run.c, and cases worked out by
	// hand with run.c's algorithm: the dummy prefix " " is 410; "é" is a
	// piece (485); "日" is not, so it falls back to its UTF-8 bytes
	// E6 97 A5 -> ids 0xE6+3, 0x97+3, 0xA5+3.
	for _, tc := range []struct {
		name string
		text string
		want []int
	}{
		{"once-upon-a-time", "Once upon a time", []int{1, 403, 407, 261, 378}},
		{"empty", "", []int{1}},
		{"piece", "é", []int{1, 410, 485}},
		{"byte-fallback", "日", []int{1, 410, 233, 154, 168}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tok.Encode(tc.text, true); !equalIDs(got, tc.want) {
				t.Errorf("Encode(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}

	ref := readRunCVocab(t, path, 512)
	texts := []string{
		"Once upon a time, there was a little girl named Lily.",
		"She liked to play outside in the park with her friends!",
		"  two leading spaces and trailing  ", "tabs\tand\nnewlines\n\n",
		"Ünïcödé 日本 😀 mixed", "123 4567 89", "\"Quotes\" and 'apostrophes' don't", "a",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcdefghijklmnopqrstuvwxyz   ,.!?'\"\nÉé日😀0123456789ABCXYZ")
	for range 200 {
		n := rng.IntN(40)
		var sb strings.Builder
		for range n {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, sb.String())
	}
	for _, text := range texts {
		want := ref.encode(text, true)
		got := tok.Encode(text, true)
		if !equalIDs(got, want) {
			t.Errorf("Encode(%q):\n got %v\nwant %v (run.c)", text, got, want)
		}
		if dec := tok.Decode(got); dec != text && !strings.HasPrefix(text, " ") {
			t.Errorf("Decode(Encode(%q)) = %q", text, dec)
		}
	}
}
