// Package attack scores text as a prompt attack (jailbreak or prompt
// injection) for the guardrail's PROMPT_ATTACK content filter: a few
// high-precision heuristics plus a logistic-regression classifier over
// hashed word and character n-grams, trained on ../shared/data (see
// cmd/train) and embedded as weights.bin.
package attack

import (
	"cmp"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

//go:generate go run ./cmd/train -data ../../../../shared/data -out weights.bin

// Dims is the number of hashed feature buckets.
const Dims = 1 << 18

// maxFeatureChars bounds the text the classifier reads: long prompts are
// scored on their first and last maxFeatureChars/2 runes.
const maxFeatureChars = 6000

//go:embed weights.bin
var weightsBin []byte

// Model is a trained logistic regression over hashed features.
type Model struct {
	W    []float32 // Dims weights
	Bias float32
}

var (
	loadOnce sync.Once
	embedded *Model
	loadErr  error
)

// Embedded returns the model shipped in weights.bin.
func Embedded() (*Model, error) {
	loadOnce.Do(func() { embedded, loadErr = Decode(weightsBin) })
	return embedded, loadErr
}

// Encode serialises m: "ATK1", bias, then Dims weights as int16 scaled by
// a float32 factor.
func (m *Model) Encode() []byte {
	maxAbs := float32(1e-9)
	for _, w := range m.W {
		maxAbs = max(maxAbs, float32(math.Abs(float64(w))))
	}
	scale := maxAbs / 32767
	out := make([]byte, 0, 12+2*len(m.W))
	out = append(out, "ATK1"...)
	out = binary.LittleEndian.AppendUint32(out, math.Float32bits(m.Bias))
	out = binary.LittleEndian.AppendUint32(out, math.Float32bits(scale))
	for _, w := range m.W {
		out = binary.LittleEndian.AppendUint16(out, uint16(int16(math.Round(float64(w/scale)))))
	}
	return out
}

// Decode parses Encode's output.
func Decode(b []byte) (*Model, error) {
	if len(b) != 12+2*Dims || string(b[:4]) != "ATK1" {
		return nil, fmt.Errorf("attack: bad weights file (%d bytes)", len(b))
	}
	m := &Model{W: make([]float32, Dims)}
	m.Bias = math.Float32frombits(binary.LittleEndian.Uint32(b[4:]))
	scale := math.Float32frombits(binary.LittleEndian.Uint32(b[8:]))
	for i := range m.W {
		m.W[i] = float32(int16(binary.LittleEndian.Uint16(b[12+2*i:]))) * scale
	}
	return m, nil
}

// Feature is one hashed feature with its value.
type Feature struct {
	Index uint32
	Value float32
}

// normalize lower-cases, drops invisible characters and folds white space.
func normalize(s string) string {
	if utf8.RuneCountInString(s) > maxFeatureChars {
		r := []rune(s)
		s = string(r[:maxFeatureChars/2]) + " " + string(r[len(r)-maxFeatureChars/2:])
	}
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Cf, r):
			continue
		case unicode.IsSpace(r):
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		b.WriteRune(unicode.ToLower(r))
		space = false
	}
	return b.String()
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashStr(seed uint64, s string) uint64 {
	h := uint64(fnvOffset) ^ seed
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// Features returns the hashed, sublinear, L2-normalised features of text:
// word unigrams and bigrams and character 3- to 5-grams.
func Features(text string) []Feature {
	s := normalize(text)
	counts := make(map[uint32]float32, len(s))
	words := strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		counts[uint32(hashStr(1, w)%Dims)]++
		if i+1 < len(words) {
			counts[uint32(hashStr(hashStr(2, w), words[i+1])%Dims)]++
		}
	}
	padded := " " + s + " "
	for n := 3; n <= 5; n++ {
		seed := uint64(10 + n)
		for i := 0; i+n <= len(padded); i++ {
			counts[uint32(hashStr(seed, padded[i:i+n])%Dims)] += 0.5
		}
	}
	fs := make([]Feature, 0, len(counts))
	for k, v := range counts {
		fs = append(fs, Feature{k, float32(1 + math.Log(float64(v)+1))})
	}
	// Map order is random; sort so sums (and so training) are reproducible.
	slices.SortFunc(fs, func(a, b Feature) int { return cmp.Compare(a.Index, b.Index) })
	norm := 0.0
	for _, f := range fs {
		norm += float64(f.Value * f.Value)
	}
	inv := float32(1 / math.Sqrt(norm+1e-12))
	for i := range fs {
		fs[i].Value *= inv
	}
	return fs
}

// Prob returns the model's probability that text is an attack.
func (m *Model) Prob(fs []Feature) float64 {
	z := float64(m.Bias)
	for _, f := range fs {
		z += float64(m.W[f.Index] * f.Value)
	}
	return 1 / (1 + math.Exp(-z))
}

// heuristics are high-precision patterns of attack technique (instruction
// override, persona jailbreaks, system-prompt extraction, fake turns,
// requests to collect card data). Each hit lifts the score to at least
// heuristicScore.
var heuristics = []*regexp.Regexp{
	regexp.MustCompile(`\b(ignore|disregard|forget|override|bypass)\b[^.!?\n]{0,40}\b(previous|prior|above|earlier|all|your|the|any)\b[^.!?\n]{0,20}\b(instructions?|prompts?|rules|guidelines|directives|restrictions|polic(y|ies))\b`),
	regexp.MustCompile(`\b(you are|you're|act as|pretend to be|roleplay as)\b[^.!?\n]{0,30}\b(dan|stan|dude|aim|jailbroken|unfiltered|uncensored|evil|developer mode)\b`),
	regexp.MustCompile(`\b(developer|god|jailbreak|dan|sudo|unrestricted|debug) mode\b`),
	regexp.MustCompile(`\b(reveal|print|show|repeat|output|leak|tell me)\b[^.!?\n]{0,30}\b(system prompt|initial prompt|hidden prompt|your instructions|the instructions above|everything above)\b`),
	regexp.MustCompile(`\bdo anything now\b|\bno (ethical|moral) (guidelines|restrictions|constraints)\b|\bwithout any (restrictions|filters|censorship)\b`),
	regexp.MustCompile(`(^|\n)\s*(system|assistant)\s*:|</?(system|assistant|im_start|im_end)>|\[/?inst\]|<\|im_start\|>`),
	regexp.MustCompile(`\b(ask|collect|get|request)\b[^.!?\n]{0,30}\b(the user|customers?|them)\b[^.!?\n]{0,30}\b(cvv|cvc|full card number|card number|pin)\b`),
}

const heuristicScore = 0.95

// heuristicNeeds lists, for each heuristic, literals of which the text
// must hold at least one for the expression to match: a cheap filter that
// spares most texts the regular expressions.
var heuristicNeeds = [][]string{
	{"ignore", "disregard", "forget", "override", "bypass"},
	{"you are", "you're", "act as", "pretend to be", "roleplay as"},
	{" mode"},
	{"reveal", "print", "show", "repeat", "output", "leak", "tell me"},
	{"do anything now", "ethical", "moral", "without any"},
	{"system", "assistant", "inst]", "im_start", "im_end"},
	{"cvv", "cvc", "card number", "pin"},
}

// Heuristic reports whether text trips one of the attack heuristics.
func Heuristic(text string) bool {
	s := strings.ToLower(text)
	for i, re := range heuristics {
		if !containsAny(s, heuristicNeeds[i]) {
			continue
		}
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// Score returns the probability that text is a prompt attack, from the
// embedded model and the heuristics. If the weights fail to load it
// returns 1 (fail closed: the filter blocks).
func Score(text string) float64 {
	m, err := Embedded()
	if err != nil {
		return 1
	}
	p := m.Prob(Features(text))
	if Heuristic(text) {
		p = max(p, heuristicScore)
	}
	return p
}
