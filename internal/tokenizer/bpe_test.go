package tokenizer

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestMergeSmallMatchesHeap holds the two merge loops equal.
func TestMergeSmallMatchesHeap(t *testing.T) {
	tok := loadFile(t, sharedPath(t, "models", "llama2-tokenizer", "tokenizer.model"))
	rng := rand.New(rand.NewPCG(9, 10))
	alphabet := []rune("▁▁▁abcdeilnorst日😀.,0123")
	for range 3000 {
		var w []rune
		for range 1 + rng.IntN(70) {
			w = append(w, alphabet[rng.IntN(len(alphabet))])
		}
		word := string(w)
		small := tok.bpe.encodeWith(nil, word, smallWord)
		heap := tok.bpe.encodeWith(nil, word, 0)
		if !slices.Equal(small, heap) {
			t.Fatalf("%q: mergeSmall %v, mergeAll %v", word, small, heap)
		}
	}
}
