package finetune

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"strata/internal/convert"
	"strata/internal/modelgen"
)

// sharedDir finds the shared/ test data beside the repository.
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
			t.Skip("no shared/ test data beside the repository")
		}
		dir = parent
	}
}

// stories260K converts llama2.c's stories260K into a Hugging Face folder.
func stories260K(t testing.TB) string {
	t.Helper()
	src := filepath.Join(sharedDir(t), "models", "stories260K")
	out := filepath.Join(t.TempDir(), "stories260K")
	if err := convert.Llama2C(t.Context(), filepath.Join(src, "stories260K.bin"), filepath.Join(src, "tok512.bin"), out, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	return out
}

// generated writes spec's model folder into a temporary directory.
func generated(t testing.TB, spec modelgen.Spec) string {
	t.Helper()
	dir := t.TempDir()
	if err := modelgen.Generate(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tinyArch is the gradient checks' configuration: dim 16, 2 layers, 4
// heads of 4 over kv key/value heads, MLP 40, vocab 64.
func tinyArch(kv int, tied bool, window int) arch {
	a := arch{dim: 16, hidden: 40, layers: 2, heads: 4, kvHeads: kv, hd: 4, vocab: 64, maxPos: 32,
		eps: 1e-5, tied: tied, window: window}
	for i := range a.hd / 2 {
		a.invFreq = append(a.invFreq, 1/math.Pow(10000, float64(2*i)/float64(a.hd)))
	}
	return a
}

// randomParams returns parameters for l: norm weights near 1, matrices
// uniform in ±0.5/√cols, embeddings in ±1.
func randomParams[T float](l *layout, seed uint64) []T {
	rng := rand.New(rand.NewPCG(seed, 7))
	p := make([]T, l.size)
	for _, t := range l.tensors {
		v := p[t.off : t.off+t.size()]
		switch {
		case len(t.shape) == 1:
			for i := range v {
				v[i] = T(1 + 0.2*(rng.Float64()-0.5))
			}
		case t.off == l.embed:
			for i := range v {
				v[i] = T(2 * (rng.Float64() - 0.5))
			}
		default:
			a := 1 / math.Sqrt(float64(t.shape[1]))
			for i := range v {
				v[i] = T(a * (rng.Float64() - 0.5) * 2)
			}
		}
	}
	return p
}

// randomSeqs returns n sequences of length tokens over vocab; with mask,
// only the second half of each counts, else all.
func randomSeqs(n, length, vocab int, mask bool, seed uint64) []Sequence {
	rng := rand.New(rand.NewPCG(seed, 9))
	seqs := make([]Sequence, n)
	for i := range seqs {
		s := Sequence{Tokens: make([]int, length), Target: make([]bool, length)}
		for j := range s.Tokens {
			s.Tokens[j] = rng.IntN(vocab)
			s.Target[j] = !mask || j >= length/2
		}
		seqs[i] = s
	}
	return seqs
}
