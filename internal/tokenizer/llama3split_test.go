package tokenizer

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dlclark/regexp2"
)

func regexSplit(re *regexp2.Regexp, s string) []string {
	var out []string
	for _, seg := range regexSegments(re, s) {
		out = append(out, seg.text)
	}
	return out
}

// TestLlama3SplitMatchesRegex holds the hand-written splitter equal to the
// regex it replaces.
func TestLlama3SplitMatchesRegex(t *testing.T) {
	re := regexp2.MustCompile(llama3Pattern, regexp2.None)
	texts := []string{"", "Hello world", "I'm  you'RE they'Ve", "x'LL 'd 'q", "a1234567b", "  \n\n  \t x",
		"trailing  ", " \r\n", "¡Hola! ¿Qué?\n\n\n", "日本語のテキスト123", "emoji 😀 👩‍👧 🇫🇷", "\u00a0\u3000x\u2028y",
		"def f(x):\n    return x ** 2  # sq\n", "((()))[[]]", "\t\tfoo", "a\n\nb", "'", "''s", "\x85x", "\xff\xfe ok"}
	g := readGolden(t, "llama3_golden.json")
	for _, c := range g.Cases {
		texts = append(texts, c.Text)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []rune("aZé日 \t\n\r\u00a0'sStTrReEvVmMlLdD1٣½.,!?-_()😀\u200b\u0301")
	for range 2000 {
		var sb strings.Builder
		for range rng.IntN(16) {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		texts = append(texts, sb.String())
	}
	for _, s := range texts {
		want := regexSplit(re, s)
		got := llama3Split(nil, s)
		if !slices.Equal(got, want) {
			t.Fatalf("llama3Split(%q) = %q, regex gives %q", s, got, want)
		}
	}
}

func FuzzLlama3Split(f *testing.F) {
	re := regexp2.MustCompile(llama3Pattern, regexp2.None)
	for _, s := range []string{"Hello world", "I'm  you'RE", "a1234b", " \n\n x", "😀 ok\t\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := regexSplit(re, s)
		got := llama3Split(nil, s)
		if !slices.Equal(got, want) {
			t.Fatalf("llama3Split(%q) = %q, regex gives %q", s, got, want)
		}
	})
}
