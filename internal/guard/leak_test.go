package guard

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
)

// randomPAN makes a Luhn-valid card number with the given prefix and
// length.
func randomPAN(rng *rand.Rand, prefix string, n int) string {
	d := []byte(prefix)
	for len(d) < n-1 {
		d = append(d, byte('0'+rng.IntN(10)))
	}
	for c := byte('0'); c <= '9'; c++ {
		v := make([]byte, n)
		for i := range d {
			v[i] = d[i] - '0'
		}
		v[n-1] = c - '0'
		if luhn(v) {
			return string(append(d, c))
		}
	}
	panic("unreachable")
}

var panSpecs = []struct {
	prefix string
	lens   []int
}{
	{"4", []int{13, 16, 19}}, {"51", []int{16}}, {"55", []int{16}}, {"2221", []int{16}}, {"2720", []int{16}},
	{"34", []int{15}}, {"37", []int{15}}, {"6011", []int{16, 19}}, {"65", []int{16}}, {"3528", []int{16, 19}},
	{"3589", []int{16}}, {"36", []int{14}}, {"300", []int{14, 16}}, {"62", []int{16, 19}}, {"6304", []int{16}},
	{"5018", []int{16, 19}}, {"2200", []int{16}},
}

// digitProjection returns every digit unit of s, in order, as ASCII.
func digitProjection(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		k, v, w := unitAt(s, i)
		if k == uDigit {
			b.WriteByte('0' + v)
		}
		i += max(w, 1)
	}
	return b.String()
}

// TestNoLeakRandomPrompts drives Guard.Input with random support messages
// carrying random valid card numbers of every brand in every shape, and
// checks that no card's digits survive in the cleared text, by a digit
// projection independent of the grouping logic.
func TestNoLeakRandomPrompts(t *testing.T) {
	msgs := chatCorpus(t)
	rng := rand.New(rand.NewPCG(42, 42))
	g := New(Options{})
	ctx := context.Background()
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i := 0; i < n; i++ {
		spec := panSpecs[rng.IntN(len(panSpecs))]
		pan := randomPAN(rng, spec.prefix, spec.lens[rng.IntN(len(spec.lens))])
		sh := shapes[rng.IntN(len(shapes))]
		m := msgs[rng.IntN(len(msgs))]
		words := strings.Fields(m)
		at := rng.IntN(len(words) + 1)
		words = append(words[:at], append([]string{sh.f(pan)}, words[at:]...)...)
		prompt := strings.Join(words, " ")
		txt, _, err := g.Input(ctx, prompt)
		if err != nil {
			t.Fatalf("Input(%q): %v", prompt, err)
		}
		if strings.Contains(digitProjection(txt.String()), pan) {
			t.Fatalf("card %s (%s) leaked: %q -> %q", pan, sh.name, prompt, txt.String())
		}
	}
}
