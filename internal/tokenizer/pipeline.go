package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites text before pre-tokenization.
// atStart says whether s begins the input (SentencePiece's dummy prefix is
// added only there).
type normalizer interface {
	normalize(s string, atStart bool) string
}

type prependNorm struct{ prefix string }

func (n prependNorm) normalize(s string, _ bool) string {
	if s == "" {
		return s
	}
	return n.prefix + s
}

type replaceNorm struct {
	literal string          // when re is nil
	re      *regexp2.Regexp // pattern
	content string
}

func (n replaceNorm) normalize(s string, _ bool) string {
	if n.re == nil {
		if n.literal == "" {
			return s
		}
		return strings.ReplaceAll(s, n.literal, n.content)
	}
	out, err := n.re.Replace(s, n.content, -1, -1)
	if err != nil { // only a match timeout; none is set
		return s
	}
	return out
}

type formNorm struct{ form norm.Form }

func (n formNorm) normalize(s string, _ bool) string { return n.form.String(s) }

type lowercaseNorm struct{}

func (lowercaseNorm) normalize(s string, _ bool) string { return strings.ToLower(s) }

// spmNorm is SentencePiece's own normalization for models whose rule is
// "identity": optional whitespace clean-up, the dummy prefix, and escaping of
// ASCII spaces as "▁".
type spmNorm struct {
	addDummyPrefix, removeExtraWhitespaces bool
}

func (n spmNorm) normalize(s string, atStart bool) string {
	if n.removeExtraWhitespaces {
		s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
	}
	if s == "" {
		return s
	}
	if n.addDummyPrefix && atStart {
		s = " " + s
	}
	return strings.ReplaceAll(s, " ", "▁")
}

// A preTokenizer splits normalized text into words that BPE encodes
// independently. atStart says whether the first word begins the input.
type preTokenizer interface {
	split(words []string, atStart bool) []string
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

type metaspacePre struct {
	repl       string
	scheme     prependScheme
	splitWords bool
}

func (p metaspacePre) split(words []string, atStart bool) []string {
	out := make([]string, 0, len(words))
	for i, w := range words {
		w = strings.ReplaceAll(w, " ", p.repl)
		if w != "" && !strings.HasPrefix(w, p.repl) &&
			(p.scheme == prependAlways || p.scheme == prependFirst && i == 0 && atStart) {
			w = p.repl + w
		}
		if !p.splitWords {
			out = append(out, w)
			continue
		}
		// Each piece starts at a replacement character (merged with next).
		start := 0
		for j := 1; j < len(w); j++ {
			if strings.HasPrefix(w[j:], p.repl) {
				out = append(out, w[start:j])
				start = j
			}
		}
		if start < len(w) {
			out = append(out, w[start:])
		}
	}
	return out
}

// gpt2Pattern is the ByteLevel pre-tokenizer's built-in split regex.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

type byteLevelPre struct {
	addPrefixSpace bool
	re             *regexp2.Regexp // nil when use_regex is false
}

func (p byteLevelPre) split(words []string, _ bool) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		if p.addPrefixSpace && !strings.HasPrefix(w, " ") {
			w = " " + w
		}
		if p.re == nil {
			out = append(out, toByteLevel(w))
			continue
		}
		for _, s := range regexSegments(p.re, w) {
			out = append(out, toByteLevel(s.text))
		}
	}
	return out
}

type splitBehavior int

const (
	splitIsolated splitBehavior = iota
	splitRemoved
	splitMergedWithPrevious
	splitMergedWithNext
	splitContiguous
)

type splitPre struct {
	re       *regexp2.Regexp
	behavior splitBehavior
	invert   bool
}

type segment struct {
	text  string
	match bool
}

// regexSegments cuts s into the matches of re and the text between them.
func regexSegments(re *regexp2.Regexp, s string) []segment {
	var segs []segment
	runes := []rune(s)
	// byte offset of each rune index
	off := make([]int, len(runes)+1)
	b := 0
	for i, r := range runes {
		off[i] = b
		b += utf8.RuneLen(r) // invalid bytes became U+FFFD in runes
	}
	off[len(runes)] = b
	str := string(runes) // invalid bytes are now U+FFFD, offsets agree
	last := 0
	m, err := re.FindRunesMatch(runes)
	for err == nil && m != nil {
		i, n := m.Index, m.Length
		if n == 0 { // never loop on empty matches
			m, err = re.FindNextMatch(m)
			continue
		}
		if i > last {
			segs = append(segs, segment{text: str[off[last]:off[i]]})
		}
		segs = append(segs, segment{text: str[off[i]:off[i+n]], match: true})
		last = i + n
		m, err = re.FindNextMatch(m)
	}
	if last < len(runes) {
		segs = append(segs, segment{text: str[off[last]:]})
	}
	return segs
}

func (p splitPre) split(words []string, _ bool) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		segs := regexSegments(p.re, w)
		if p.invert {
			for i := range segs {
				segs[i].match = !segs[i].match
			}
		}
		out = applyBehavior(out, segs, p.behavior)
	}
	return out
}

func applyBehavior(out []string, segs []segment, b splitBehavior) []string {
	switch b {
	case splitRemoved:
		for _, s := range segs {
			if !s.match {
				out = append(out, s.text)
			}
		}
	case splitMergedWithPrevious:
		cur := ""
		for _, s := range segs {
			cur += s.text
			if s.match {
				out = append(out, cur)
				cur = ""
			}
		}
		if cur != "" {
			out = append(out, cur)
		}
	case splitMergedWithNext:
		cur := ""
		for _, s := range segs {
			if s.match && cur != "" {
				out = append(out, cur)
				cur = ""
			}
			cur += s.text
		}
		if cur != "" {
			out = append(out, cur)
		}
	case splitContiguous:
		for i := 0; i < len(segs); i++ {
			if segs[i].match && len(out) > 0 && i > 0 && segs[i-1].match {
				out[len(out)-1] += segs[i].text
				continue
			}
			out = append(out, segs[i].text)
		}
	default:
		for _, s := range segs {
			out = append(out, s.text)
		}
	}
	return out
}

type digitsPre struct{ individual bool }

func (p digitsPre) split(words []string, _ bool) []string {
	out := make([]string, 0, len(words))
	for _, w := range words {
		start := 0
		prevDigit := false
		for i, r := range w {
			d := unicode.IsDigit(r)
			cut := i > start && (d != prevDigit || d && p.individual)
			if cut {
				out = append(out, w[start:i])
				start = i
			}
			prevDigit = d
		}
		if start < len(w) {
			out = append(out, w[start:])
		}
	}
	return out
}

// decoder turns one piece into bytes. It covers the decoder chains that the
// supported models use: Replace("▁"→" ") / Metaspace, ByteFallback, Fuse,
// Strip(" ", n, 0), and ByteLevel.
type decoder struct {
	byteLevel    bool
	spaceRepl    string // replaced by " " when not empty
	byteFallback bool
	stripFirst   int // leading spaces removed from the first decoded piece
}

func (d decoder) appendPiece(b []byte, piece string, first bool) []byte {
	if d.byteLevel {
		for _, r := range piece {
			if c, ok := byteLevelInverse[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
		return b
	}
	if d.byteFallback {
		if c, ok := parseByteToken(piece); ok {
			return append(b, c)
		}
	}
	if d.spaceRepl != "" {
		piece = strings.ReplaceAll(piece, d.spaceRepl, " ")
	}
	if first {
		for i := 0; i < d.stripFirst && strings.HasPrefix(piece, " "); i++ {
			piece = piece[1:]
		}
	}
	return append(b, piece...)
}

// parseByteToken parses "<0xNN>".
func parseByteToken(p string) (byte, bool) {
	if len(p) != 6 || p[:3] != "<0x" || p[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(p[3])
	lo, ok2 := hexVal(p[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func byteTokenName(b byte) string { return fmt.Sprintf("<0x%02X>", b) }
