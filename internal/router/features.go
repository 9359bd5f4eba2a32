package router

import (
	"math"
	"slices"
	"unicode"
	"unicode/utf8"
)

// FeatureSpec says how a query becomes a sparse feature vector: word n-grams
// of length 1..WordN and character n-grams of length CharMin..CharMax over the
// normalised text, each hashed (FNV-1a, 64 bit) into one of 1<<HashBits
// buckets. The vector is binary and L2-normalised.
type FeatureSpec struct {
	HashBits int `json:"hash_bits"`
	WordN    int `json:"word_n"`
	CharMin  int `json:"char_min"`
	CharMax  int `json:"char_max"`
}

// DefaultFeatures is the feature spec [Train] uses unless told otherwise.
var DefaultFeatures = FeatureSpec{HashBits: 16, WordN: 2, CharMin: 3, CharMax: 5}

// Limits on a feature spec; a model file outside them is rejected.
const (
	minHashBits = 8
	maxHashBits = 22
	maxWordN    = 4
	maxCharN    = 8
	// maxQueryRunes bounds the text a query contributes to features, so a
	// huge prompt cannot make routing slow.
	maxQueryRunes = 2000
)

func (s FeatureSpec) valid() bool {
	return s.HashBits >= minHashBits && s.HashBits <= maxHashBits &&
		s.WordN >= 0 && s.WordN <= maxWordN &&
		s.CharMin >= 0 && s.CharMax <= maxCharN && s.CharMin <= s.CharMax &&
		(s.WordN > 0 || s.CharMax > 0) && (s.CharMax == 0 || s.CharMin > 0)
}

// feature is one active bucket with its value.
type feature struct {
	idx uint32
	val float32
}

// featurizer turns text into features. It reuses its buffers, so one
// featurizer must not be shared between goroutines.
type featurizer struct {
	spec  FeatureSpec
	norm  []rune
	words []string
	idx   []uint32
	out   []feature
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// normalize lower-cases the text, maps every run of characters that are not
// letters or digits to one space, and frames it with spaces.
func (f *featurizer) normalize(text string) {
	f.norm = append(f.norm[:0], ' ')
	space := true
	n := 0
	for _, r := range text {
		if n >= maxQueryRunes {
			break
		}
		n++
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			f.norm = append(f.norm, unicode.ToLower(r))
			space = false
			continue
		}
		if r == '\'' || r == '\u2019' { // "don't" and "dont" look alike
			continue
		}
		if !space {
			f.norm = append(f.norm, ' ')
			space = true
		}
	}
	if !space {
		f.norm = append(f.norm, ' ')
	}
}

// features returns the deduplicated, L2-normalised features of text. The
// slice is reused by the next call.
func (f *featurizer) features(text string) []feature {
	f.normalize(text)
	mask := uint64(1)<<f.spec.HashBits - 1
	f.idx = f.idx[:0]
	// Word n-grams: hash words incrementally; kind k separates n-gram kinds.
	if f.spec.WordN > 0 {
		var starts []int
		var buf [64]int
		starts = buf[:0]
		for i := 1; i < len(f.norm); i++ {
			if f.norm[i-1] == ' ' && f.norm[i] != ' ' {
				starts = append(starts, i)
			}
		}
		for wi, s := range starts {
			h := uint64(fnvOffset)
			h = mixByte(h, 'w')
			pos := s
			for n := 1; n <= f.spec.WordN && wi+n-1 < len(starts); n++ {
				if n > 1 {
					h = mixRune(h, ' ')
					pos = starts[wi+n-1]
				}
				for ; pos < len(f.norm) && f.norm[pos] != ' '; pos++ {
					h = mixRune(h, f.norm[pos])
				}
				f.idx = append(f.idx, uint32(finalize(h, uint64(n))&mask))
			}
		}
	}
	// Character n-grams over the framed, normalised text.
	for n := f.spec.CharMin; n > 0 && n <= f.spec.CharMax; n++ {
		for i := 0; i+n <= len(f.norm); i++ {
			h := uint64(fnvOffset)
			h = mixByte(h, 'c')
			for _, r := range f.norm[i : i+n] {
				h = mixRune(h, r)
			}
			f.idx = append(f.idx, uint32(finalize(h, uint64(16+n))&mask))
		}
	}
	slices.Sort(f.idx)
	f.idx = slices.Compact(f.idx)
	f.out = f.out[:0]
	if len(f.idx) == 0 {
		return f.out
	}
	v := float32(1 / math.Sqrt(float64(len(f.idx))))
	for _, i := range f.idx {
		f.out = append(f.out, feature{idx: i, val: v})
	}
	return f.out
}

func mixByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func mixRune(h uint64, r rune) uint64 {
	if r < utf8.RuneSelf {
		return mixByte(h, byte(r))
	}
	var b [utf8.UTFMax]byte
	n := utf8.EncodeRune(b[:], r)
	for _, c := range b[:n] {
		h = mixByte(h, c)
	}
	return h
}

// finalize mixes the n-gram kind into the hash and spreads the bits
// (splitmix64 finaliser) so that the low bits used as bucket are uniform.
func finalize(h, kind uint64) uint64 {
	h ^= kind * 0x9e3779b97f4a7c15
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
