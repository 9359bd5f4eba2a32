package guard

import (
	"encoding/base64"
	"encoding/hex"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// DetectEncoded finds card numbers hidden from the plain scan: inside
// base64 or hex tokens (decoded and rescanned) and spelled out in number
// words ("four one one one ..."). Each finding spans the whole token or
// word sequence and has type CREDIT_DEBIT_CARD_NUMBER. Mask and the Guard
// run it alongside Detect; Detect alone does not, to stay fast.
func DetectEncoded(s string) []Finding {
	var out []Finding
	sp := spelled{start: -1, repeat: 1}
	n := len(s)
	prevEnd := 0
	for i := 0; i < n; {
		// Next alphanumeric word, eight bytes at a time.
		for i+8 <= n {
			if m := alnumMask(load8(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < n && !isAlnum(s[i]) {
			i++
		}
		if i >= n {
			break
		}
		e := i + 1
		for e+8 <= n {
			if m := ^alnumMask(load8(s, e)) & msb; m != 0 {
				e += bits.TrailingZeros64(m) >> 3
				break
			}
			e += 8
		}
		for e < n && isAlnum(s[e]) {
			e++
		}
		// Spelled-out digits: the gap since the last word must be plain
		// separators.
		if sp.start >= 0 && !plainGap(s[prevEnd:i]) {
			out = sp.flush(out)
		}
		out = sp.word(out, s, i, e)
		prevEnd = e
		// Base64 or hex: the token may go on over + / - _ and padding.
		t := e
		for t < n && (isB64Char(s[t])) {
			t++
		}
		if t-i >= 16 {
			k := t
			for k < n && k-t < 2 && s[k] == '=' {
				k++
			}
			if f, ok := encodedToken(s[i:k]); ok {
				f.Start, f.End = i, k
				out = append(out, f)
				out = sp.flush(out)
				i, prevEnd = k, k
				continue
			}
		}
		i = e
	}
	out = sp.flush(out)
	return resolve(out)
}

func plainGap(g string) bool {
	for k := 0; k < len(g); k++ {
		switch g[k] {
		case ' ', ',', '-', '.', '\n', '\t', '\r':
		default:
			return false
		}
	}
	return true
}

// spelled collects a run of number words and digits.
type spelled struct {
	digits        []byte
	start, end    int
	words, repeat int
}

func (sp *spelled) flush(out []Finding) []Finding {
	if sp.start >= 0 && sp.words >= 4 && len(sp.digits) >= minPAN {
		for _, f := range Detect(string(sp.digits)) {
			if f.Type == CardNumber {
				out = append(out, Finding{Type: CardNumber, Start: sp.start, End: sp.end, Brand: f.Brand, Last4: f.Last4, Encoded: true})
				break
			}
		}
	}
	sp.digits, sp.start, sp.end, sp.words, sp.repeat = sp.digits[:0], -1, -1, 0, 1
	return out
}

// word adds the word s[i:e] to the run, or ends the run.
func (sp *spelled) word(out []Finding, s string, i, e int) []Finding {
	w := s[i:e]
	if isDigit(w[0]) {
		if !allDigits(w) || len(w) > maxPAN {
			return sp.flush(out)
		}
		if sp.start < 0 {
			sp.start = i
		}
		sp.digits = append(sp.digits, w...)
		sp.end = e
		return out
	}
	v, ok := numberWord(w)
	switch {
	case ok && (sp.start >= 0 || len(w) > 1 && !strings.EqualFold(w, "for")):
		if sp.start < 0 {
			sp.start = i
		}
		for ; sp.repeat > 0; sp.repeat-- {
			sp.digits = append(sp.digits, '0'+v)
		}
		sp.end, sp.words, sp.repeat = e, sp.words+1, 1
	case sp.start >= 0 && (strings.EqualFold(w, "double") || strings.EqualFold(w, "triple")):
		// "double four" is "44": repeat the next digit.
		sp.repeat = 2
		if strings.EqualFold(w, "triple") {
			sp.repeat = 3
		}
	default:
		out = sp.flush(out)
	}
	return out
}

// numberWord returns the digit a number word stands for.
func numberWord(w string) (byte, bool) {
	if len(w) > 6 {
		return 0, false
	}
	var buf [6]byte
	for k := 0; k < len(w); k++ {
		buf[k] = lower(w[k])
	}
	switch string(buf[:len(w)]) {
	case "zero", "oh", "o", "nought":
		return 0, true
	case "one":
		return 1, true
	case "two":
		return 2, true
	case "three":
		return 3, true
	case "four", "for":
		return 4, true
	case "five":
		return 5, true
	case "six":
		return 6, true
	case "seven":
		return 7, true
	case "eight":
		return 8, true
	case "nine", "niner":
		return 9, true
	}
	return 0, false
}

func isB64Char(c byte) bool { return isAlnum(c) || c == '+' || c == '/' || c == '-' || c == '_' }

// encodedToken decodes a base64 or hex token of plausible length and
// reports a card number inside it.
func encodedToken(tok string) (Finding, bool) {
	n := len(strings.TrimRight(tok, "="))
	if n < 16 || n > 4096 {
		return Finding{}, false
	}
	var cands []string
	if n%2 == 0 && isHex(tok) {
		if b, err := hex.DecodeString(tok); err == nil {
			cands = append(cands, string(b))
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(tok); err == nil {
			cands = append(cands, string(b))
			break
		}
	}
	for _, c := range cands {
		if !utf8.ValidString(c) {
			continue
		}
		for _, f := range Detect(c) {
			if f.Type == CardNumber {
				return Finding{Type: CardNumber, Brand: f.Brand, Last4: f.Last4, Encoded: true}, true
			}
		}
		// Encodings nest: base64 of hex, base64 of base64.
		if len(c) >= 16 && len(c) < len(tok) {
			if f, ok := encodedToken(strings.TrimSpace(c)); ok {
				return f, true
			}
		}
	}
	return Finding{}, false
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := hexVal(s[i]); !ok {
			return false
		}
	}
	return true
}
