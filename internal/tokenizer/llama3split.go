package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// llama3Pattern is the Split pre-tokenizer regex of Llama 3's tokenizer.json
// (tiktoken's cl100k-style pattern). Its matches are computed by llama3Split
// without a regex engine; a test and a fuzz test hold the two equal.
const llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`

// llama3Pre is a Split(llama3Pattern, Isolated) pre-tokenizer.
type llama3Pre struct{}

func (llama3Pre) split(words []string, _ bool) []string {
	out := make([]string, 0, len(words)*2)
	for _, w := range words {
		out = llama3Split(out, w)
	}
	return out
}

// isSpace is the regex class \s (regexp2: [\f\n\r\t\v\x85\p{Z}]).
func isSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x85:
		return true
	}
	return unicode.In(r, unicode.Z)
}

func isCRLF(r rune) bool { return r == '\r' || r == '\n' }

// llama3Split appends the pieces of s: the matches of llama3Pattern and, in
// between, anything they skip (nothing, as the pattern matches every rune).
func llama3Split(out []string, s string) []string {
	// Decode once; invalid bytes become U+FFFD as in the regex path.
	rs := []rune(s)
	text := string(rs)
	off := make([]int, len(rs)+1)
	for i, r := range rs {
		off[i+1] = off[i] + utf8.RuneLen(r)
	}
	n := len(rs)
	isL := func(i int) bool { return i < n && unicode.IsLetter(rs[i]) }
	isN := func(i int) bool { return i < n && unicode.IsNumber(rs[i]) }
	isS := func(i int) bool { return i < n && isSpace(rs[i]) }
	// punct is [^\s\p{L}\p{N}]
	isP := func(i int) bool {
		return i < n && !isSpace(rs[i]) && !unicode.IsLetter(rs[i]) && !unicode.IsNumber(rs[i])
	}
	lower := func(i int) rune {
		if i >= n {
			return -1
		}
		r := rs[i]
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	for i := 0; i < n; {
		j := llama3Match(rs, i, n, isL, isN, isS, isP, lower)
		out = append(out, text[off[i]:off[j]])
		i = j
	}
	return out
}

// llama3Match returns the end of the match starting at i (always > i).
func llama3Match(rs []rune, i, n int, isL, isN, isS, isP func(int) bool, lower func(int) rune) int {
	c := rs[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c == '\'' {
		switch a, b := lower(i+1), lower(i+2); {
		case a == 's' || a == 't' || a == 'm' || a == 'd':
			return i + 2
		case a == 'r' && b == 'e', a == 'v' && b == 'e', a == 'l' && b == 'l':
			return i + 3
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isL(i) || !isCRLF(c) && !isN(i) && isL(i+1) {
		j := i + 1
		for isL(j) {
			j++
		}
		return j
	}
	// \p{N}{1,3}
	if isN(i) {
		j := i + 1
		for j < i+3 && isN(j) {
			j++
		}
		return j
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	if isP(i) || c == ' ' && isP(i+1) {
		j := i + 1
		for isP(j) {
			j++
		}
		for j < n && isCRLF(rs[j]) {
			j++
		}
		return j
	}
	// c is whitespace here: the rest of the pattern only matches spaces.
	end := i
	for isS(end) {
		end++
	}
	// \s*[\r\n]+ : up to the last CR/LF in the whitespace run
	for k := end - 1; k >= i; k-- {
		if isCRLF(rs[k]) {
			return k + 1
		}
	}
	// \s+(?!\S) : the whole run at the end of the text, else all but its
	// last space when that leaves at least one
	if end == n || end-i >= 2 {
		if end == n {
			return end
		}
		return end - 1
	}
	// \s+
	return end
}
