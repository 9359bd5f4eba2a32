package guard

import (
	"math/bits"
	"sync"
)

// Gap limits: between two digit groups of one card number the scanner
// accepts at most maxVisSep visible separators (so "4111 - 1111" and a
// "\r\n" line break join, but separate numbers in prose do not) and at most
// maxGapBytes bytes of separators and invisible filler (tags, zero-width
// characters).
const (
	maxVisSep   = 3
	maxGapBytes = 48
)

// MaxHoldback is the most bytes a Stream ever holds back: the longest text
// that can still turn into (part of) a card number once more text arrives,
// i.e. up to 19 digit units of maxUnitBytes each, joined by 18 gaps of
// maxGapBytes, the last of which may end in an unfinished HTML tag
// (maxTagBytes): 19*12 + 18*48 + 40 = 1132 bytes. Everything before it is
// released at once.
const MaxHoldback = maxPAN*maxUnitBytes + (maxPAN-1)*maxGapBytes + maxTagBytes

// startClass marks bytes that may begin a digit unit.
var startClass = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		k := asciiClass[c]
		t[c] = k == 1 || k == 3 || k == 4
	}
	t['<'] = false // a tag is never a digit
	return t
}()

// group is one run of consecutive digit units.
type group struct {
	start, end int // byte offsets of the first digit unit and after the last
	d0, n      int // the group's digits are digits[d0 : d0+n]
	// extra counts digits of this group that a Stream already released
	// (only for a group continued across chunks; it is then over-long).
	extra int
}

// scanner holds the reusable state of one scan over s.
type scanner struct {
	s      string
	final  bool // the text is complete (false while streaming)
	pii    bool // also find the non-card PII types
	digits []byte
	groups []group
	out    []Finding
	hold   int // streaming: first byte that must wait for more text, or -1
	// carry is the digit count of a group a Stream released part of; the
	// scan from its start continues that group.
	carry int
	// tailDigits reports (streaming) that the text ended inside a digit
	// group whose digits were all released: its digit count.
	tailDigits int
	// skipTo is the end of the last track data found: scanning resumes
	// there.
	skipTo int
	// lastPAN is the end of the last card number found, for CVV and expiry
	// that follow it; -1 when none.
	lastPAN int
}

var scannerPool = sync.Pool{New: func() any {
	return &scanner{digits: make([]byte, 0, 64), groups: make([]group, 0, 16)}
}}

func getScanner(s string, final, pii bool) *scanner {
	sc := scannerPool.Get().(*scanner)
	sc.s, sc.final, sc.pii = s, final, pii
	sc.out, sc.hold, sc.lastPAN, sc.carry, sc.tailDigits, sc.skipTo = nil, -1, -1, 0, 0, 0
	return sc
}

func (sc *scanner) release() {
	sc.s, sc.out = "", nil
	scannerPool.Put(sc)
}

// run scans s from byte from to the end for card data (and PII when
// sc.pii). In streaming mode it stops at the first byte that needs more
// text and records it in sc.hold.
func (sc *scanner) run(from int) {
	s := sc.s
	n := len(s)
	i := from
	for i < n {
		// Skip bytes that cannot start a digit unit, most of any text,
		// thirty-two and then eight at a time.
		for i+32 <= n {
			b := s[i : i+32]
			m0, m1 := candMask(load8(b, 0)), candMask(load8(b, 8))
			m2, m3 := candMask(load8(b, 16)), candMask(load8(b, 24))
			if m0|m1|m2|m3 == 0 {
				i += 32
				continue
			}
			switch {
			case m0 != 0:
				i += bits.TrailingZeros64(m0) >> 3
			case m1 != 0:
				i += 8 + bits.TrailingZeros64(m1)>>3
			case m2 != 0:
				i += 16 + bits.TrailingZeros64(m2)>>3
			default:
				i += 24 + bits.TrailingZeros64(m3)>>3
			}
			break
		}
		for i+8 <= n {
			if m := candMask(load8(s, i)); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < n && !startClass[s[i]] {
			i++
		}
		if i >= n {
			break
		}
		k, _, w := unitAt(s, i)
		switch k {
		case uDigit:
			next, open, lastOpen := sc.parseRun(i)
			if i == from && sc.carry > 0 {
				sc.groups[0].extra = sc.carry
			}
			if h := sc.evalRun(open && !sc.final, lastOpen); h >= 0 {
				sc.hold = h
				return
			}
			// Skip the rest of a track found after the card number.
			i = max(next, sc.skipTo)
			continue
		case uPartial:
			if !sc.final {
				sc.hold = i
				return
			}
			w = 1
		}
		if w < 1 {
			w = 1
		}
		i += w
	}
}

// parseRun reads the digit groups starting at s[i] into sc.groups. It
// returns the offset after the last group, whether the text ended inside the
// run (open), and whether it ended inside the last group's digits.
func (sc *scanner) parseRun(i int) (next int, open, lastOpen bool) {
	s := sc.s
	n := len(s)
	sc.groups = sc.groups[:0]
	sc.digits = sc.digits[:0]
	for {
		g := group{start: i, d0: len(sc.digits)}
		j := i
		for j < n {
			k, v, w := unitAt(s, j)
			if k != uDigit {
				if k == uPartial {
					open, lastOpen = true, true
				}
				break
			}
			sc.digits = append(sc.digits, v)
			j += w
		}
		if j >= n {
			open, lastOpen = true, true
		}
		g.end, g.n = j, len(sc.digits)-g.d0
		sc.groups = append(sc.groups, g)
		if open {
			return j, true, true
		}
		// The gap to the next group.
		vis := 0
		for j < n && j-g.end <= maxGapBytes {
			k, _, w := unitAt(s, j)
			if k == uSep {
				vis++
			} else if k == uPartial {
				return g.end, true, false
			} else if k != uInvis {
				break
			}
			if vis > maxVisSep {
				break
			}
			j += w
		}
		if j >= n && vis <= maxVisSep && j-g.end <= maxGapBytes {
			return g.end, true, false
		}
		if j < n && vis <= maxVisSep && j-g.end <= maxGapBytes && j > g.end {
			if k, _, _ := unitAt(s, j); k == uDigit {
				i = j
				continue
			}
		}
		return g.end, false, false
	}
}

// evalRun finds the card numbers and card context values in the parsed run.
// Card numbers are chosen greedily: at each group start, the longest window
// of whole groups with 13-19 digits that is a card number. When the run is
// open (streaming, text ended inside it) evalRun stops at the first group
// whose decision could still change and returns its offset; else -1.
func (sc *scanner) evalRun(open, lastOpen bool) (hold int) {
	gs := sc.groups
	found, lastEnd := false, 0
	if open && lastOpen {
		// If every group gets decided, the text ends inside the last one:
		// tell the stream how many of its digits it releases.
		last := gs[len(gs)-1]
		defer func() {
			if hold < 0 {
				sc.tailDigits = last.n + last.extra
			}
		}()
	}
	for a := 0; a < len(gs); {
		if open {
			// The decision at a is final once no future digit can create or
			// change a window starting at a: when the digits from a already
			// exceed 19 (text ended inside a group) or reach 19 (text ended
			// in a gap, so a new group adds at least one more).
			sum := 0
			for b := a; b < len(gs) && sum <= maxPAN; b++ {
				sum += gs[b].n + gs[b].extra
			}
			if lastOpen && sum <= maxPAN || !lastOpen && sum < maxPAN {
				return gs[a].start
			}
		}
		best, bestEnd, bestTotal := -1, 0, 0
		var bestBrand string
		total := 0
		for b := a; b < len(gs); b++ {
			total += gs[b].n + gs[b].extra
			if total > maxPAN {
				break
			}
			if total < minPAN {
				continue
			}
			brand, ok, more := sc.window(a, b, total)
			if more && !sc.final {
				return gs[a].start
			}
			if ok {
				best, bestEnd, bestTotal, bestBrand = b, gs[b].end, total, brand
			}
		}
		if best < 0 {
			a++
			continue
		}
		d := sc.digits[gs[a].d0 : gs[a].d0+bestTotal]
		f := Finding{Type: CardNumber, Start: gs[a].start, End: bestEnd, Brand: bestBrand,
			Last4: string([]byte{'0' + d[len(d)-4], '0' + d[len(d)-3], '0' + d[len(d)-2], '0' + d[len(d)-1]})}
		if a == best {
			var more bool
			f.Start, f.End, f.Track, more = sc.track(f.Start, f.End)
			if more && !sc.final {
				return gs[a].start
			}
		}
		sc.out = append(sc.out, f)
		sc.lastPAN = f.End
		found = true
		lastEnd = best + 1
		a = best + 1
		if f.Track {
			// A track is one group: the run ends at the card number.
			sc.skipTo = f.End
			return -1
		}
	}
	if !found {
		sc.cardContext(gs)
		if sc.pii {
			sc.piiRun()
		}
	} else if lastEnd < len(gs) {
		sc.cardContext(gs[lastEnd:])
	}
	return -1
}

// window decides whether groups a..b (total digits) are a card number. more
// reports that the decision needs text beyond the end of s.
func (sc *scanner) window(a, b, total int) (brand string, ok, more bool) {
	gs := sc.groups
	d := sc.digits[gs[a].d0 : gs[a].d0+total]
	brand, lenOK := brandOf(d)
	if !lenOK {
		return "", false, false
	}
	start := gs[a].start
	if !luhn(d) {
		// Some UnionPay cards do not use the Luhn check: accept them with a
		// card keyword nearby.
		if brand != BrandUnionPay || !sc.keywordBefore(start, 64, unionPayWords) {
			return "", false, false
		}
	}
	if (total == 15 || total == 16) && sc.keywordBefore(start, 24, imeiKeys) {
		return "", false, false
	}
	if sc.uuidTail(a, b) {
		return "", false, false
	}
	inIBAN, more := sc.insideIBAN(start, gs[b].end)
	if more {
		return "", false, true
	}
	if inIBAN {
		return "", false, false
	}
	return brand, true, false
}

var (
	unionPayWords = newKeywords("card", "unionpay", "union pay", "银联", "卡", "cup")
	imeiWords     = []string{"imei", "imeisv", "meid", "serial no"}
	imeiKeys      = newKeywords(imeiWords...)
)

// uuidTail reports whether groups a, b are the last two fields of a UUID
// (8-4-4-4-12 hex digits): only its all-digit tail can look like a card.
func (sc *scanner) uuidTail(a, b int) bool {
	gs := sc.groups
	if b != a+1 || gs[a].n != 4 || gs[b].n != 12 || gs[a].end-gs[a].start != 4 ||
		gs[b].end-gs[b].start != 12 || gs[b].start != gs[a].end+1 || sc.s[gs[a].end] != '-' {
		return false
	}
	st := gs[a].start
	if st < 19 {
		return false
	}
	p := sc.s[st-19 : st]
	for k := 0; k < 19; k++ {
		if k == 8 || k == 13 || k == 18 {
			if p[k] != '-' {
				return false
			}
		} else if _, ok := hexVal(p[k]); !ok {
			return false
		}
	}
	return true
}

// insideIBAN reports whether [start, end) lies inside an IBAN whose mod-97
// checksum is valid.
func (sc *scanner) insideIBAN(start, end int) (in, more bool) {
	s := sc.s
	// Walk back over IBAN characters (upper-case letters, digits, single
	// spaces) to at most 42 bytes.
	lo := start
	for lo > 0 && start-lo < 42 {
		c := s[lo-1]
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' && lo >= 2 && s[lo-2] != ' ' {
			lo--
			continue
		}
		break
	}
	for p := lo; p+4 <= start; p++ {
		if !isUpper(s[p]) || !isUpper(s[p+1]) || !isDigit(s[p+2]) || !isDigit(s[p+3]) {
			continue
		}
		if p > 0 && isAlnum(s[p-1]) {
			continue
		}
		e, ok, m := ibanAt(s, p, sc.final)
		if m {
			return false, true
		}
		if ok && e >= end {
			return true, false
		}
	}
	return false, false
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// track widens a card number found at [start, end) to the rest of the
// magnetic stripe track when it sits in one: track 1 "%B<PAN>^NAME^YYMM...?"
// and track 2 ";<PAN>=YYMM...?" (the sentinels are optional). The span
// starts at the PAN (the sentinels before it are not sensitive), so a
// stream never needs text it already released.
func (sc *scanner) track(start, end int) (int, int, bool, bool) {
	s := sc.s
	if end >= len(s) {
		return start, end, false, !sc.final
	}
	switch s[end] {
	case '^':
		if start == 0 || (s[start-1] != 'B' && s[start-1] != 'b') {
			return start, end, false, false
		}
		st := start
		e := end + 1
		for e < len(s) && e-st < 79 && s[e] != '?' && s[e] != '\n' {
			e++
		}
		if e >= len(s) && !sc.final {
			return start, end, false, true
		}
		if e < len(s) && s[e] == '?' {
			e++
		}
		return st, e, true, false
	case '=':
		e := end + 1
		for e < len(s) && e-end < 40 && isDigit(s[e]) {
			e++
		}
		if e >= len(s) && !sc.final {
			return start, end, false, true
		}
		if e-end-1 < 4 {
			return start, end, false, false
		}
		if e < len(s) && s[e] == '?' {
			e++
		}
		return start, e, true, false
	}
	return start, end, false, false
}

// keywords is a list of lower-case context words with a table of the
// bytes they can start at, so a search skips most bytes with one lookup.
type keywords struct {
	words []string
	first [256]bool // bytes that may begin a match of some word
	// pairs has bit pairHash(kw[0], kw[1]) set for each word kw.
	pairs [1024 / 64]uint64
}

// pairHash hashes the first two (lower-cased) bytes of a word to 0..1023.
func pairHash(c0, c1 byte) uint {
	return (uint(c0)*37 ^ uint(c1)) & 1023
}

func newKeywords(words ...string) *keywords {
	k := &keywords{words: words}
	for _, w := range words {
		if len(w) < 2 {
			panic("guard: keyword shorter than two bytes: " + w)
		}
		c := w[0]
		k.first[c] = true
		if isLower(c) {
			k.first[c-32] = true
		}
		h := pairHash(w[0], w[1])
		k.pairs[h>>6] |= 1 << (h & 63)
	}
	return k
}

// in reports whether w contains one of the words, with the rules of
// keywordIn.
func (k *keywords) in(w string) bool {
	for i := 0; i+1 < len(w); i++ {
		if !k.first[w[i]] {
			continue
		}
		h := pairHash(lowerT[w[i]], lowerT[w[i+1]])
		if k.pairs[h>>6]>>(h&63)&1 == 0 {
			continue
		}
		if k.at(w, i) {
			return true
		}
	}
	return false
}

// at reports whether one of the words matches w at i.
func (k *keywords) at(w string, i int) bool {
	c := lower(w[i])
	for _, kw := range k.words {
		if kw[0] != c || len(kw) > len(w)-i {
			continue
		}
		j := 1
		for j < len(kw) && lower(w[i+j]) == kw[j] {
			j++
		}
		if j < len(kw) {
			continue
		}
		if len(kw) <= 3 && (i > 0 && isAlpha(w[i-1]) || i+j < len(w) && isAlpha(w[i+j])) {
			continue
		}
		return true
	}
	return false
}

// keywordBefore reports whether one of the lower-case words occurs in the
// dist bytes before pos (ASCII case-insensitive).
func (sc *scanner) keywordBefore(pos, dist int, words *keywords) bool {
	return words.in(sc.s[max(0, pos-dist):pos])
}

// keywordIn reports whether w contains one of the lower-case words,
// ignoring ASCII case. Words of three letters or fewer must stand alone.
func keywordIn(w string, words []string) bool {
	for _, kw := range words {
		if len(kw) > len(w) {
			continue
		}
		for i := 0; i+len(kw) <= len(w); i++ {
			if lower(w[i]) != kw[0] {
				continue
			}
			j := 1
			for j < len(kw) && lower(w[i+j]) == kw[j] {
				j++
			}
			if j < len(kw) {
				continue
			}
			if len(kw) <= 3 && (i > 0 && isAlpha(w[i-1]) || i+j < len(w) && isAlpha(w[i+j])) {
				continue
			}
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// load8 reads s[i:i+8] as a little-endian word.
// Slicing first leaves one bounds check for the eight bytes ("_ = s[i+7]"
// does not: the compiler cannot rule out that i+7 overflows, so it keeps
// a check per byte), and the compiler merges the byte loads into one.
//
// Callers that read a block at constant offsets slice the block first (b :=
// s[i:i+32]; load8(b, 8)) so that no check is left at all.
func load8(s string, i int) uint64 {
	b := s[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// SWAR byte tests: each returns a word with the top bit of every byte of x
// that passes set, exactly (no false positives). They work on the low
// seven bits of each byte (so sums cannot carry into the next byte) and
// then drop bytes >= 0x80.

// digitMask marks the bytes '0'..'9'.
func digitMask(x uint64) uint64 {
	y := x &^ msb
	return (y + 0x50*lsb) &^ (y + 0x46*lsb) &^ x & msb
}

// alnumMask marks ASCII letters and digits. Setting bit 0x20 maps the
// upper-case letters onto the lower-case ones and no other byte into
// 'a'..'z', so one range test finds both cases.
func alnumMask(x uint64) uint64 {
	y := x &^ msb
	d := (y + 0x50*lsb) &^ (y + 0x46*lsb)
	f := y | 0x20*lsb
	l := (f + 0x1F*lsb) &^ (f + 0x05*lsb)
	return (d | l) &^ x & msb
}

// candMask flags the bytes that may start a digit unit: digits, '\\',
// '&' and bytes >= 0x80. For speed it skips the exact forms: sums may carry
// out of a byte >= 0x80 and the zero-byte test may flag bytes above a true
// match, but only above the lowest flagged byte, so the lowest flag is
// always right (the caller jumps to it and re-checks byte by byte).
func candMask(x uint64) uint64 {
	digit := (x + 0x50*lsb) &^ (x + 0x46*lsb)
	bs := x ^ ('\\' * lsb)
	amp := x ^ ('&' * lsb)
	return (digit | (bs-lsb)&^bs | (amp-lsb)&^amp | x) & msb
}
