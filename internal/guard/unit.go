package guard

import (
	"unicode"
	"unicode/utf8"
)

// A unit is the smallest piece of text the card scanner reads: one digit
// (ASCII, any Unicode decimal digit, a circled or super/subscript digit, a
// JSON \uXXXX escape or an HTML numeric entity of one), one separator, one
// invisible filler (a format character, a combining mark, an HTML tag), or
// anything else.
const (
	uOther   = iota
	uDigit   // val holds the digit value
	uSep     // visible separator: space, dash, dot, slash, line break, ...
	uInvis   // invisible filler: zero-width and other Cf, Mn, HTML tags
	uPartial // the text ends inside what might still become a unit
)

// Limits of the unit reader; they bound how far a card number may spread.
const (
	maxTagBytes    = 40 // longest HTML tag read as invisible filler
	maxEntityBytes = 10 // "&#x1D7CE;"
	maxUnitBytes   = 12 // "\ud835\udfce": a JSON surrogate pair
)

// asciiClass classifies bytes below 0x80 for the unit reader and the skip
// loop: 0 other, 1 digit, 2 separator, 3 needs the slow path ('\\', '&', '<').
var asciiClass = func() (t [256]byte) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for _, c := range " -./_\n\r\t" {
		t[c] = 2
	}
	t['\\'], t['&'], t['<'] = 3, 3, 3
	for c := 0x80; c < 0x100; c++ {
		t[c] = 4
	}
	return t
}()

// unitAt reads the unit at s[i]. It returns its kind, the digit value for
// uDigit, and its width in bytes (≥1 unless kind is uPartial at the end).
func unitAt(s string, i int) (kind int, val byte, w int) {
	c := s[i]
	switch asciiClass[c] {
	case 0:
		return uOther, 0, 1
	case 1:
		return uDigit, c - '0', 1
	case 2:
		return uSep, 0, 1
	case 3:
		switch c {
		case '\\':
			return escapeAt(s, i)
		case '&':
			return entityAt(s, i)
		default:
			return tagAt(s, i)
		}
	}
	if !utf8.FullRuneInString(s[i:]) {
		return uPartial, 0, len(s) - i
	}
	r, size := utf8.DecodeRuneInString(s[i:])
	k, v := runeKind(r)
	return k, v, size
}

// runeKind classifies a non-ASCII rune.
func runeKind(r rune) (int, byte) {
	if r < 0x80 {
		switch asciiClass[r] {
		case 1:
			return uDigit, byte(r - '0')
		case 2:
			return uSep, 0
		}
		return uOther, 0
	}
	switch {
	case r == 0xA0, r >= 0x2000 && r <= 0x200A, r == 0x202F, r == 0x205F, r == 0x3000,
		r >= 0x2010 && r <= 0x2015, r == 0x2212, r == 0xFF0D, r == 0xFF0E, r == 0xFF0F,
		r == 0xFF3F, r == 0x2028, r == 0x2029, r == 0x85, r == 0x30FC, r == 0xB7:
		return uSep, 0
	}
	if v, ok := digitValue(r); ok {
		return uDigit, v
	}
	if unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector) {
		return uInvis, 0
	}
	return uOther, 0
}

// digitValue returns the value of a non-ASCII rune that reads as a single
// decimal digit: every Unicode Nd digit (fullwidth, Arabic-Indic,
// Devanagari, mathematical, ...) and the circled, parenthesised, superscript
// and subscript digits that NFKC folds to one.
func digitValue(r rune) (byte, bool) {
	switch {
	case r == 0xB9:
		return 1, true
	case r == 0xB2, r == 0xB3:
		return byte(r-0xB2) + 2, true
	case r == 0x2070:
		return 0, true
	case r >= 0x2074 && r <= 0x2079:
		return byte(r - 0x2070), true
	case r >= 0x2080 && r <= 0x2089:
		return byte(r - 0x2080), true
	case r >= 0x2460 && r <= 0x2468: // ① .. ⑨
		return byte(r-0x2460) + 1, true
	case r >= 0x2474 && r <= 0x247C: // ⑴ .. ⑼
		return byte(r-0x2474) + 1, true
	case r >= 0x2488 && r <= 0x2490: // ⒈ .. ⒐
		return byte(r-0x2488) + 1, true
	case r == 0x24EA, r == 0x24FF, r == 0x1F10B, r == 0x1F10C:
		return 0, true
	case r >= 0x24F5 && r <= 0x24FD:
		return byte(r-0x24F5) + 1, true
	case r >= 0x2776 && r <= 0x277E, r >= 0x2780 && r <= 0x2788, r >= 0x278A && r <= 0x2792:
		return byte((r-0x2776)%10) + 1, true
	case r >= 0x1F101 && r <= 0x1F10A: // 🄁 .. 🄊 digit comma
		return byte(r - 0x1F101), true
	}
	if !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	// Unicode assigns Nd digits in contiguous runs of ten starting at zero,
	// so the value is the offset from the start of the table range mod 10.
	for _, rg := range unicode.Nd.R16 {
		if r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r <= rune(rg.Hi) {
			return byte((r - rune(rg.Lo)) % 10), true
		}
	}
	return 0, false
}

func hexVal(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// escapeAt reads a JSON or JavaScript escape: \uXXXX (with surrogate
// pairs), \n, \r, \t and \/.
func escapeAt(s string, i int) (int, byte, int) {
	if i+1 >= len(s) {
		return uPartial, 0, len(s) - i
	}
	switch s[i+1] {
	case 'n', 'r', 't', '/':
		return uSep, 0, 2
	case 'u':
	default:
		return uOther, 0, 1
	}
	r, n, partial := hex4(s, i+2)
	if partial {
		return uPartial, 0, len(s) - i
	}
	if n < 4 {
		return uOther, 0, 1
	}
	w := 6
	if r >= 0xD800 && r < 0xDC00 { // high surrogate: needs \uDCxx
		if i+6 >= len(s) || (s[i+6] == '\\' && i+7 >= len(s)) {
			return uPartial, 0, len(s) - i
		}
		if s[i+6] != '\\' || s[i+7] != 'u' {
			return uOther, 0, 1
		}
		lo, n2, partial := hex4(s, i+8)
		if partial {
			return uPartial, 0, len(s) - i
		}
		if n2 < 4 || lo < 0xDC00 || lo > 0xDFFF {
			return uOther, 0, 1
		}
		r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
		w = 12
	}
	k, v := runeKind(r)
	if k == uOther {
		return uOther, 0, 1
	}
	return k, v, w
}

// hex4 reads up to four hex digits at s[j:].
func hex4(s string, j int) (r rune, n int, partial bool) {
	for n < 4 {
		if j+n >= len(s) {
			return 0, n, true
		}
		h, ok := hexVal(s[j+n])
		if !ok {
			return 0, n, false
		}
		r = r<<4 | rune(h)
		n++
	}
	return r, n, false
}

// entityAt reads an HTML character reference: &#NNN; &#xHH; or one of the
// named spaces and invisible characters.
func entityAt(s string, i int) (int, byte, int) {
	end := -1
	lim := min(len(s), i+maxEntityBytes)
	for j := i + 1; j < lim; j++ {
		c := s[j]
		if c == ';' {
			end = j
			break
		}
		if !(c == '#' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return uOther, 0, 1
		}
	}
	if end < 0 {
		if lim == len(s) {
			return uPartial, 0, len(s) - i
		}
		return uOther, 0, 1
	}
	body := s[i+1 : end]
	w := end + 1 - i
	if len(body) > 1 && body[0] == '#' {
		var r rune
		digits := body[1:]
		base := rune(10)
		if digits != "" && (digits[0] == 'x' || digits[0] == 'X') {
			base, digits = 16, digits[1:]
		}
		if digits == "" || len(digits) > 7 {
			return uOther, 0, 1
		}
		for k := 0; k < len(digits); k++ {
			h, ok := hexVal(digits[k])
			if !ok || rune(h) >= base {
				return uOther, 0, 1
			}
			r = r*base + rune(h)
		}
		k, v := runeKind(r)
		if k == uOther {
			return uOther, 0, 1
		}
		return k, v, w
	}
	switch body {
	case "nbsp", "ensp", "emsp", "thinsp", "hairsp", "ndash", "mdash", "dash", "hyphen", "period", "sol", "lowbar", "NewLine", "Tab":
		return uSep, 0, w
	case "shy", "zwj", "zwnj", "lrm", "rlm", "NoBreak", "ZeroWidthSpace", "InvisibleTimes", "af":
		return uInvis, 0, w
	}
	return uOther, 0, 1
}

// tagAt reads an HTML tag or comment start like <b>, </span>, <br/> as
// invisible filler.
func tagAt(s string, i int) (int, byte, int) {
	lim := min(len(s), i+maxTagBytes)
	if i+1 >= len(s) {
		return uPartial, 0, len(s) - i
	}
	c := s[i+1]
	if !(c == '/' || c == '!' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return uOther, 0, 1
	}
	for j := i + 1; j < lim; j++ {
		switch s[j] {
		case '>':
			return uInvis, 0, j + 1 - i
		case '<':
			return uOther, 0, 1
		}
	}
	if lim == len(s) {
		return uPartial, 0, len(s) - i
	}
	return uOther, 0, 1
}
