package guard

import (
	"math/bits"
	"strings"
)

// Context words for the number-shaped PII types.
var (
	ssnWords      = newKeywords("ssn", "social security", "social sec")
	itinWords     = newKeywords("itin", "taxpayer identification")
	sinWords      = newKeywords("sin", "social insurance")
	phoneWords    = newKeywords("phone", "call", "tel", "mobile", "cell", "fax", "whatsapp", "text me", "reach me", "contact number")
	accountWords  = newKeywords("account", "acct", "a/c", "checking", "savings", "acc no", "acc #", "acc:")
	routingWords  = newKeywords("routing", "aba", "rtn", "transit number", "sort code")
	nhsWords      = newKeywords("nhs")
	utrWords      = newKeywords("utr", "unique taxpayer", "tax reference")
	healthWords   = newKeywords("health card", "health number", "ohip", "health insurance number", "carte santé")
	passportWords = newKeywords("passport")
	driverWords   = newKeywords("driver", "driving licen", "dl#", "dl no", "license number", "licence number")
	plateWords    = newKeywords("plate", "registration number", "reg number", "license tag")
	ageWords      = newKeywords("age", "aged", "age:")
	swiftWords    = newKeywords("swift", "bic", "bank identifier")
	awsWords      = newKeywords("aws", "secret access key", "secret_access_key", "secretaccesskey")
)

// piiRun classifies a run of digits that is not card data as one of the
// number-shaped PII types.
func (sc *scanner) piiRun() {
	gs := sc.groups
	s := sc.s
	start, end := gs[0].start, gs[len(gs)-1].end
	total := len(sc.digits)
	d := sc.digits
	plain := end-start == total // one ASCII group
	sizes := make([]int, 0, 4)
	if len(gs) <= 4 {
		for _, g := range gs {
			sizes = append(sizes, g.n)
		}
	}
	gapIs := func(c byte) bool {
		for k := 1; k < len(gs); k++ {
			if gs[k].start-gs[k-1].end != 1 || s[gs[k-1].end] != c {
				return false
			}
		}
		return true
	}
	kw := func(words *keywords) bool { return sc.keywordBefore(start, 40, words) }
	switch {
	case len(gs) == 4 && gapIs('.') && end-start <= 15:
		for _, g := range gs {
			if g.n > 3 || g.end-g.start != g.n || num(d[g.d0:g.d0+g.n]) > 255 {
				return
			}
		}
		if end < len(s) && (s[end] == '.' && end+1 < len(s) && isDigit(s[end+1])) {
			return
		}
		sc.add(IPAddress, start, end)
		return
	case total == 9 && (eqSizes(sizes, 3, 2, 4) && (gapIs('-') || gapIs(' ')) || plain && (kw(ssnWords) || kw(itinWords))):
		area, grp, ser := num(d[0:3]), num(d[3:5]), num(d[5:9])
		if d[0] == 9 {
			if (grp >= 50 && grp <= 65) || (grp >= 70 && grp <= 88) || (grp >= 90 && grp <= 92) || grp >= 94 {
				sc.add(ITIN, start, end)
			}
			return
		}
		if area == 0 || area == 666 || grp == 0 || ser == 0 {
			return
		}
		if kw(sinWords) && luhn(d) {
			sc.add(CASIN, start, end)
			return
		}
		if kw(routingWords) && aba(d) {
			sc.add(RoutingNum, start, end)
			return
		}
		if kw(accountWords) {
			sc.add(BankAccount, start, end)
			return
		}
		sc.add(SSN, start, end)
		return
	case total == 9 && (eqSizes(sizes, 3, 3, 3) || plain) && kw(sinWords) && luhn(d):
		sc.add(CASIN, start, end)
		return
	case total == 9 && plain && kw(routingWords) && aba(d):
		sc.add(RoutingNum, start, end)
		return
	case total == 10 && kw(nhsWords) && nhs(d):
		sc.add(UKNHS, start, end)
		return
	case total == 10 && plain && kw(utrWords):
		sc.add(UKUTR, start, end)
		return
	case total == 10 && kw(healthWords):
		sc.add(CAHealth, start, end)
		return
	case total >= 6 && total <= 9 && plain && kw(passportWords):
		sc.add(Passport, start, end)
		return
	case total >= 5 && total <= 15 && kw(driverWords):
		sc.add(DriverID, start, end)
		return
	case total >= 6 && total <= 17 && kw(accountWords):
		sc.add(BankAccount, start, end)
		return
	}
	// Phone numbers.
	if total >= 7 && total <= 15 {
		ps := start
		if ps > 0 && s[ps-1] == '+' {
			sc.add(Phone, ps-1, end)
			return
		}
		// "(415) 555-0132" and "+1 (415) 555-0132": the area code in
		// parentheses ends the run before the rest.
		if eqSizes(sizes, 3, 4) && (gapIs('-') || gapIs(' ') || gapIs('.')) {
			p := start
			for p > 0 && s[p-1] == ' ' {
				p--
			}
			if p >= 5 && s[p-1] == ')' && isDigit(s[p-2]) && isDigit(s[p-3]) && isDigit(s[p-4]) && s[p-5] == '(' {
				ps = p - 5
				q := ps
				for q > 0 && s[q-1] == ' ' {
					q--
				}
				if q >= 2 && s[q-1] == '1' && s[q-2] == '+' {
					ps = q - 2
				}
				sc.add(Phone, ps, end)
				return
			}
		}
		if len(gs) > 1 && (eqSizes(sizes, 3, 3, 4) || eqSizes(sizes, 1, 3, 3, 4)) || kw(phoneWords) {
			sc.add(Phone, start, end)
			return
		}
	}
	// Age: "34 years old", "34-year-old", "age 34".
	if total <= 3 && plain && num(d) <= 130 {
		rest := s[end:min(len(s), end+12)]
		// Every suffix starts with ' ' or '-': test that before the six
		// comparisons.
		if rest != "" && (rest[0] == ' ' || rest[0] == '-') && (hasPrefixFold(rest, " years old") || hasPrefixFold(rest, "-year-old") || hasPrefixFold(rest, " year old") ||
			hasPrefixFold(rest, " yrs old") || hasPrefixFold(rest, " y/o") || hasPrefixFold(rest, " yo ")) || sc.keywordBefore(start, 8, ageWords) {
			sc.add(Age, start, end)
			return
		}
	}
	// Street address: "221 Baker Street", "1600 Pennsylvania Ave NW, Washington, DC 20500".
	if total <= 5 && plain {
		if e := streetAt(s, end); e > 0 {
			sc.add(Address, start, e)
		}
	}
}

func eqSizes(got []int, want ...int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func num(d []byte) int {
	v := 0
	for _, x := range d {
		v = v*10 + int(x)
	}
	return v
}

// aba reports whether 9 digits pass the ABA routing number checksum.
func aba(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	sum := 3*(int(d[0])+int(d[3])+int(d[6])) + 7*(int(d[1])+int(d[4])+int(d[7])) + int(d[2]) + int(d[5]) + int(d[8])
	return sum%10 == 0
}

// nhs reports whether 10 digits pass the NHS number mod-11 check.
func nhs(d []byte) bool {
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(d[i]) * (10 - i)
	}
	c := 11 - sum%11
	if c == 11 {
		c = 0
	}
	return c != 10 && c == int(d[9])
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

var streetSuffixes = []string{"street", "st", "avenue", "ave", "road", "rd", "boulevard", "blvd", "lane", "ln",
	"drive", "dr", "court", "ct", "way", "place", "pl", "terrace", "circle", "highway", "hwy", "parkway", "pkwy", "square", "sq", "close", "crescent"}

// streetAt reads " Name [Name...] Suffix[, City][, ST 12345]" at s[i:] and
// returns the end of the address, or -1.
func streetAt(s string, i int) int {
	if i >= len(s) || s[i] != ' ' {
		return -1
	}
	p := i
	for words := 0; words < 5; words++ {
		if p >= len(s) || s[p] != ' ' {
			return -1
		}
		p++
		q := p
		for q < len(s) && isAlpha(s[q]) {
			q++
		}
		if q == p || !isUpper(s[p]) && words == 0 {
			return -1
		}
		w := strings.ToLower(s[p:q])
		if words > 0 && containsStr(streetSuffixes, w) {
			if q < len(s) && s[q] == '.' {
				q++
			}
			return addressTail(s, q)
		}
		p = q
	}
	return -1
}

// addressTail extends an address over ", City" and ", ST 12345".
func addressTail(s string, e int) int {
	p := e
	if p+2 < len(s) && s[p] == ',' && s[p+1] == ' ' && isUpper(s[p+2]) {
		q := p + 2
		for q < len(s) && (isAlpha(s[q]) || s[q] == ' ' && q+1 < len(s) && isUpper(s[q+1])) {
			q++
		}
		e = q
		if q+4 < len(s) && s[q] == ',' && s[q+1] == ' ' && isUpper(s[q+2]) && isUpper(s[q+3]) {
			r := q + 4
			if r+6 <= len(s) && s[r] == ' ' && allDigits(s[r+1:r+6]) {
				r += 6
			}
			e = r
		}
	}
	return e
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func containsStr(list []string, w string) bool {
	for _, x := range list {
		if x == w {
			return true
		}
	}
	return false
}

// ibanLen holds the IBAN length of each country that issues them.
var ibanLen = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
	"BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
	"ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
	"HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
	"MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
	"RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
	"TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// ibanAt reads an IBAN starting at s[p] (letters and digits, optionally in
// space-separated groups) and checks its length and mod-97 checksum. more
// reports that the text ended before the IBAN could be decided.
func ibanAt(s string, p int, final bool) (end int, ok, more bool) {
	want, known := ibanLen[s[p:p+2]]
	if !known {
		return 0, false, false
	}
	var buf [34]byte
	n := 0
	q := p
	for q < len(s) && n < want {
		c := s[q]
		switch {
		case isUpper(c) || isDigit(c):
			buf[n] = c
			n++
			q++
		case c == ' ' && q+1 < len(s) && (isUpper(s[q+1]) || isDigit(s[q+1])):
			q++
		default:
			return 0, false, false
		}
	}
	if n < want {
		return 0, false, !final && q >= len(s)-1
	}
	if q < len(s) && isAlnum(s[q]) {
		return 0, false, false
	}
	// Move the first four characters to the end, letters to numbers, mod 97.
	rem := 0
	for k := 0; k < want; k++ {
		c := buf[(k+4)%want]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	return q, rem == 1, false
}

// words runs the letter-triggered detectors: e-mail, URLs, IBAN, SWIFT,
// AWS keys, UK NINO, VIN, MAC addresses and the values that follow a
// keyword (password, username, name, passport, licence plate, driver ID).
func (sc *scanner) words() {
	s := sc.s
	n := len(s)
	resume := 0 // a detector consumed text up to here
	var prev uint64
	i := 0
	at := nextAt(s, 0) // the next '@' at or after i, or n
	// Find the word starts (an ASCII letter or digit after a byte that is
	// not one and before one that is: one-letter words start no detector)
	// from SWAR masks and visit only those. Sixty-four bytes make one mask
	// of one bit per byte (gathered from the byte flags by a multiply), so
	// one loop, with one mispredicted exit, visits their word starts in
	// order. The rare '@'s come from strings.IndexByte.
	for ; i+67 <= n; i += 64 { // +3: the filter below reads b[j:j+4]
		b := s[i : i+67]
		a := gather8(alnumMask(load8(b, 0))) | gather8(alnumMask(load8(b, 8)))<<8 |
			gather8(alnumMask(load8(b, 16)))<<16 | gather8(alnumMask(load8(b, 24)))<<24 |
			gather8(alnumMask(load8(b, 32)))<<32 | gather8(alnumMask(load8(b, 40)))<<40 |
			gather8(alnumMask(load8(b, 48)))<<48 | gather8(alnumMask(load8(b, 56)))<<56
		m := a &^ (a<<1 | prev>>63) & (a>>1 | uint64(alnumBit[b[64]])<<63)
		prev = a
		for at < i+64 {
			m |= 1 << (at - i)
			at = nextAt(s, at+1)
		}
		if r := resume - i; r > 0 {
			m &= ^uint64(0) << min(r, 64)
		}
		for m != 0 {
			j := bits.TrailingZeros64(m) & 63
			m &= m - 1
			// Most word starts can start no detector: wordStart returns -1
			// unless the first two bytes are upper-case letters or digits,
			// the third is ':' or '-', or the first four begin a keyword.
			// The tests almost always fail, so their branches are
			// predicted; the keyword test compares case-folded bytes (a
			// superset: keyword decides).
			w := b[j : j+4]
			if firstT[w[0]]&secondT[w[1]]|thirdT[w[2]] == 0 {
				if f := load4(w) | foldBits; keyFold[keySlot(f)] != f && !isTitle3(f) {
					continue
				}
			}
			if w[0] == '@' {
				sc.email(i + j)
				continue
			}
			if e := sc.wordStart(i + j); e > 0 {
				resume = e
				m &= ^uint64(0) << min(e-i, 64)
			}
		}
	}
	for ; i < n; i++ {
		if i < resume {
			continue
		}
		if s[i] == '@' {
			sc.email(i)
		} else if isAlnum(s[i]) && (i == 0 || !isAlnum(s[i-1])) {
			if e := sc.wordStart(i); e > 0 {
				resume = e
			}
		}
	}
}

// nextAt returns the offset of the first '@' in s at or after i, or
// len(s).
func nextAt(s string, i int) int {
	if k := strings.IndexByte(s[i:], '@'); k >= 0 {
		return i + k
	}
	return len(s)
}

// gather8 packs the top bits of the eight bytes of m (all other bits
// clear) into the low eight bits, byte k to bit k.
func gather8(m uint64) uint64 {
	return (m >> 7) * 0x0102040810204080 >> 56
}

// wordStart runs the word detectors on the word starting at s[i] if a
// cheap look at its first bytes says one could match. It returns the end
// of what a detector consumed beyond the word, or -1.
func (sc *scanner) wordStart(i int) int {
	s := sc.s
	n := len(s)
	if i+1 >= n || !alnumT[s[i+1]] || i > 0 && (s[i-1] == '_' || s[i-1] == '.') {
		return -1 // one-letter words start no detector
	}
	c0, c1 := s[i], s[i+1]
	if keyPair[c0]>>(lowerT[c1]-'a')&1 == 0 && !(isUpper(c0) && isUpper(c1)) &&
		!(i+2 < n && (s[i+2] == ':' || s[i+2] == '-')) &&
		!(upperDigitT[c0] && upperDigitT[c1] && i+17 <= n && alnumT[s[i+16]] && (i+17 == n || !alnumT[s[i+17]])) {
		return -1
	}
	if !(upperDigitT[c0] && upperDigitT[c1]) && !(i+2 < n && (s[i+2] == ':' || s[i+2] == '-')) {
		// Only a keyword can start here: wordAt's other detectors need a
		// ':' or '-' third byte or a word of upper-case letters and
		// digits. Try it before finding the end of the word.
		if i+4 > n || keyPair[c0]>>(lowerT[c1]-'a')&1 == 0 {
			return -1
		}
		k := sc.keyword(i, keyOf(s[i:]))
		if k <= 0 {
			return -1
		}
		e := i + 2
		for e < n && alnumT[s[e]] {
			e++
		}
		if k > e {
			return k
		}
		return -1
	}
	e := i + 2
	for e < n && alnumT[s[e]] {
		e++
	}
	if next := sc.wordAt(i, e); next > e {
		return next
	}
	return -1
}

// Tables of the word-start filter in words: firstT[c0]&secondT[c1] is
// non-zero when c0 c1 are upper-case letters or digits or c0 is '@';
// thirdT[c2] when c2 is ':' or '-'. alnumBit is 1 for ASCII letters and
// digits.
var firstT, secondT, thirdT, alnumBit = func() (t1, t2, t3, an [256]uint8) {
	for c := 0; c < 256; c++ {
		t2[c] = 2
		if isUpper(byte(c)) || isDigit(byte(c)) {
			t1[c], t2[c] = 1, 3
		}
		if isAlnum(byte(c)) {
			an[c] = 1
		}
	}
	t1['@'] = 2
	t3[':'], t3['-'] = 1, 1
	return
}()

// Byte tables for the word pass.
var (
	alnumT, upperDigitT [256]bool
	lowerT              [256]byte
	// keyPair has bit c1-'a' of entry c0 set when the word start c0 c1
	// (either case) may begin a keyword that keyword handles.
	keyPair [256]uint32
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnumT[c] = isAlnum(b)
		upperDigitT[c] = isUpper(b) || isDigit(b)
		lowerT[c] = lower(b)
	}
	for _, p := range []string{"ht", "ww", "ft", "pa", "pw", "us", "lo", "na", "mr", "ms", "dr", "mi", "li", "pl", "re", "se", "aw"} {
		keyPair[p[0]] |= 1 << (p[1] - 'a')
		keyPair[p[0]-32] |= 1 << (p[1] - 'a')
	}
}

// wordAt runs the word detectors on the word s[i:e]; it returns where
// scanning continues (> e when a detector consumed more).
func (sc *scanner) wordAt(i, e int) int {
	s := sc.s
	wl := e - i
	c := s[i]
	if i+2 < len(s) && (s[i+2] == ':' || s[i+2] == '-') && wl == 2 {
		if m := macAt(s, i); m > 0 {
			sc.add(MACAddress, i, m)
			return m
		}
	}
	if wl == 17 {
		if v := vinAt(s, i); v > 0 {
			sc.add(VIN, i, v)
			return v
		}
	}
	if isDigit(c) {
		return e
	}
	if isUpper(c) && wl >= 2 && isUpper(s[i+1]) {
		if u := sc.upperWord(i, wl); u > 0 {
			return u
		}
	}
	if wl >= 2 && i+4 <= len(s) && keyPair[c]>>(lowerT[s[i+1]]-'a')&1 != 0 {
		if k := sc.keyword(i, keyOf(s[i:])); k > 0 {
			return k
		}
	}
	return e
}

// upperWord tries the detectors that start with two upper-case letters.
func (sc *scanner) upperWord(i, wl int) int {
	s := sc.s
	if i+4 <= len(s) && isDigit(s[i+2]) && isDigit(s[i+3]) {
		if e, ok, _ := ibanAt(s, i, true); ok {
			sc.add(IBAN, i, e)
			return e
		}
	}
	if wl == 2 || wl == 8 || wl == 9 {
		if e := ninoAt(s, i); e > 0 {
			sc.add(UKNINO, i, e)
			return e
		}
	}
	if wl != 20 && wl != 8 && wl != 11 {
		return -1
	}
	// AWS access key IDs: AKIA/ASIA/AIDA/AROA... + 16 upper-case or digits.
	if i+20 <= len(s) && s[i] == 'A' && (s[i+1] == 'K' || s[i+1] == 'S' || s[i+1] == 'I' || s[i+1] == 'R') && s[i+3] == 'A' {
		k := i + 4
		for k < len(s) && k < i+20 && (isUpper(s[k]) || isDigit(s[k])) {
			k++
		}
		if k == i+20 && (k == len(s) || !isAlnum(s[k])) {
			sc.add(AWSAccessKey, i, k)
			return k
		}
	}
	// SWIFT/BIC: 4 bank letters, 2 country letters, 2 location, [3 branch].
	k := i
	for k < len(s) && (isUpper(s[k]) || isDigit(s[k])) && k-i <= 11 {
		k++
	}
	if (k-i == 8 || k-i == 11) && (k == len(s) || !isAlnum(s[k])) {
		w := s[i:k]
		ok := true
		for j := 0; j < 6; j++ {
			ok = ok && isUpper(w[j])
		}
		if _, country := ibanLenOrISO(w[4:6]); ok && country && sc.keywordBefore(i, 40, swiftWords) {
			sc.add(SwiftCode, i, k)
			return k
		}
	}
	return -1
}

// ibanLenOrISO reports whether cc is a country code we know (IBAN
// countries plus the large non-IBAN economies).
func ibanLenOrISO(cc string) (int, bool) {
	if n, ok := ibanLen[cc]; ok {
		return n, true
	}
	switch cc {
	case "US", "CA", "AU", "NZ", "JP", "CN", "HK", "SG", "IN", "MX", "KR", "ZA", "AR", "CL", "CO", "ID", "MY", "TH", "PH", "VN", "NG", "KE":
		return 0, true
	}
	return 0, false
}

// ninoAt reads a UK National Insurance number: AB 12 34 56 C.
func ninoAt(s string, i int) int {
	if i+9 > len(s) {
		return -1
	}
	a, b := s[i], s[i+1]
	if strings.IndexByte("DFIQUV", a) >= 0 || strings.IndexByte("DFIOQUV", b) >= 0 {
		return -1
	}
	switch s[i : i+2] {
	case "BG", "GB", "NK", "KN", "TN", "NT", "ZZ":
		return -1
	}
	p := i + 2
	digits := 0
	for p < len(s) && digits < 6 {
		if isDigit(s[p]) {
			digits++
			p++
		} else if s[p] == ' ' && digits%2 == 0 && p+1 < len(s) && isDigit(s[p+1]) {
			p++
		} else {
			return -1
		}
	}
	if digits < 6 {
		return -1
	}
	if p < len(s) && s[p] == ' ' {
		p++
	}
	if p >= len(s) || s[p] < 'A' || s[p] > 'D' {
		return -1
	}
	p++
	if p < len(s) && isAlnum(s[p]) {
		return -1
	}
	return p
}

// vinAt reads a 17-character vehicle identification number with a valid
// check digit (position 9, as North American VINs carry).
func vinAt(s string, i int) int {
	if i+17 > len(s) || i+17 < len(s) && isAlnum(s[i+17]) {
		return -1
	}
	weights := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	sum, letters, digits := 0, 0, 0
	for k := 0; k < 17; k++ {
		c := s[i+k]
		var v int
		switch {
		case isDigit(c):
			v = int(c - '0')
			digits++
		case isUpper(c) && vinValue[c-'A'] > 0:
			v = int(vinValue[c-'A'])
			letters++
		default:
			return -1
		}
		sum += v * weights[k]
	}
	if letters == 0 || digits < 4 {
		return -1
	}
	check := sum % 11
	c9 := s[i+8]
	if check == 10 && c9 != 'X' || check < 10 && c9 != byte('0'+check) {
		return -1
	}
	return i + 17
}

// vinValue transliterates VIN letters (I, O and Q are not allowed).
var vinValue = [26]byte{1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 0, 7, 0, 9, 2, 3, 4, 5, 6, 7, 8, 9}

// macAt reads a MAC address: six hex pairs joined by ':' or '-'.
func macAt(s string, i int) int {
	if i+17 > len(s) {
		return -1
	}
	sep := s[i+2]
	for k := 0; k < 6; k++ {
		p := i + 3*k
		if _, ok := hexVal(s[p]); !ok {
			return -1
		}
		if _, ok := hexVal(s[p+1]); !ok {
			return -1
		}
		if k < 5 && s[p+2] != sep {
			return -1
		}
	}
	if i+17 < len(s) && (isAlnum(s[i+17]) || s[i+17] == sep) {
		return -1
	}
	return i + 17
}

// email reads the address around the '@' at s[at].
func (sc *scanner) email(at int) {
	s := sc.s
	lo := at
	for lo > 0 && lo > at-64 {
		c := s[lo-1]
		if isAlnum(c) || strings.IndexByte("._%+-'", c) >= 0 {
			lo--
			continue
		}
		break
	}
	for lo < at && (s[lo] == '.' || s[lo] == '\'') {
		lo++
	}
	if lo == at {
		return
	}
	hi := at + 1
	dot := -1
	for hi < len(s) && hi-at < 255 {
		c := s[hi]
		if isAlnum(c) || c == '-' {
			hi++
			continue
		}
		if c == '.' && hi+1 < len(s) && isAlnum(s[hi+1]) {
			dot = hi
			hi++
			continue
		}
		break
	}
	if dot < 0 || hi-dot-1 < 2 {
		return
	}
	for k := dot + 1; k < hi; k++ {
		if !isAlpha(s[k]) {
			return
		}
	}
	sc.add(Email, lo, hi)
}

// Actions of the keyword detectors, chosen by the first four bytes of a word.
const (
	keyNone uint8 = iota
	keyURL
	keyPassword
	keyUser
	keyName
	keyTitle
	keyPlate
	keyAWS
)

// keyStarts maps the first four bytes (lower-cased) of a word to the
// keyword detector that handles it.
var keyStarts = []struct {
	key string
	act uint8
}{
	{"http", keyURL}, {"www.", keyURL}, {"ftp:", keyURL},
	{"pass", keyPassword}, {"pwd:", keyPassword}, {"pwd ", keyPassword}, {"pwd=", keyPassword},
	{"user", keyUser}, {"logi", keyUser},
	{"name", keyName},
	{"mrs.", keyTitle}, {"mrs ", keyTitle}, {"miss", keyTitle},
	{"lice", keyPlate}, {"plat", keyPlate}, {"regi", keyPlate},
	{"secr", keyAWS}, {"aws_", keyAWS},
}

// keyFold, keyExact and keyAct are a perfect hash table of keyStarts: the
// slot keySlot(k|foldBits) of a key k (as keyOf reads it) holds k|foldBits
// in keyFold, k in keyExact and its action in keyAct. keyFold rejects most word starts with one
// lookup and one predictable comparison: a byte ORed with 0x20 is the
// same for both cases of a letter, so every word that starts with a key
// passes it (and a few others, which keyAction then rejects).
var (
	keyFold  [32]uint32
	keyExact [32]uint32
	keyAct   [32]uint8
)

const (
	foldBits = 0x20202020
	keyMul   = 0x9E377BE9 // gives every key of keyStarts its own slot
)

func init() {
	for _, ks := range keyStarts {
		k := keyOf(ks.key)
		h := keySlot(k | foldBits)
		if keyAct[h] != keyNone {
			panic("guard: two keyStarts share a slot; choose another keyMul")
		}
		keyFold[h], keyExact[h], keyAct[h] = k|foldBits, k, ks.act
	}
}

// keySlot hashes a case-folded key to its slot of the key table.
func keySlot(f uint32) uint32 { return f * keyMul >> 27 }

// load4 reads the first four bytes of w as a little-endian word.
func load4(w string) uint32 {
	w = w[:4]
	return uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16 | uint32(w[3])<<24
}

// keyOf reads the first four bytes of w as a little-endian word with ASCII
// letters lower-cased, as lowerT does byte by byte.
func keyOf(w string) uint32 {
	x := load4(w)
	y := x &^ 0x80808080
	upper := (y + 0x3F3F3F3F) &^ (y + 0x25252525) &^ x & 0x80808080 // 'A'..'Z'
	return x | upper>>2
}

// keyAction returns the keyword detector for a word whose first four bytes
// read as key (keyOf), or keyNone.
func keyAction(key uint32) uint8 {
	if h := keySlot(key | foldBits); keyExact[h] == key {
		return keyAct[h]
	}
	if isTitle3(key) {
		return keyTitle
	}
	return keyNone
}

// isTitle3 says whether the first three bytes of a key (keyOf, or keyOf
// ORed with foldBits: ' ' and '.' are unchanged by it) are "mr", "ms" or
// "dr" followed by a space or a period: the two-letter titles, whose
// fourth byte is the name's. titleSlots is their perfect hash table.
func isTitle3(key uint32) bool {
	k := key & 0xFFFFFF
	return titleSlots[k*titleMul>>29] == k
}

const titleMul = 0x9E3779B7 // gives every title its own slot

var titleSlots = func() (t [8]uint32) {
	for _, w := range []string{"mr ", "ms ", "dr ", "mr.", "ms.", "dr."} {
		k := uint32(w[0]) | uint32(w[1])<<8 | uint32(w[2])<<16
		h := k * titleMul >> 29
		if t[h] != 0 {
			panic("guard: two titles share a slot; choose another titleMul")
		}
		t[h] = k
	}
	return t
}()

// keyword runs the keyword detector for the word start at s[i] whose first
// four bytes read as key (keyOf).
func (sc *scanner) keyword(i int, key uint32) int {
	s := sc.s
	switch keyAction(key) {
	case keyURL:
		return sc.url(i)
	case keyPassword:
		w := wordAt(s, i)
		switch strings.ToLower(w) {
		case "password", "passwd", "passcode", "passphrase", "pwd", "pass":
			return sc.valueAfter(i+len(w), Password, false, 64)
		case "passport":
			return sc.valueAfter(i+len(w), Passport, true, 12)
		}
	case keyUser:
		w := strings.ToLower(wordAt(s, i))
		switch w {
		case "username", "userid", "login", "user":
			e := i + len(w)
			if w == "user" {
				rest := s[e:]
				switch {
				case hasPrefixFold(rest, " name"):
					e += 5
				case hasPrefixFold(rest, " id"):
					e += 3
				case hasPrefixFold(rest, "_name"):
					e += 5
				case len(rest) > 0 && rest[0] == ':':
				default:
					return -1
				}
			}
			return sc.valueAfter(e, Username, false, 64)
		}
	case keyName:
		if strings.ToLower(wordAt(s, i)) == "name" {
			return sc.nameAfter(i + 4)
		}
	case keyTitle:
		w := wordAt(s, i)
		switch w {
		case "Mr", "Mrs", "Ms", "Dr", "Miss":
			p := i + len(w)
			if p < len(s) && s[p] == '.' {
				p++
			}
			return sc.capitalized(p, Name)
		}
	case keyPlate:
		if sc.keywordBefore(min(len(s), i+24), 24, plateWords) {
			w := wordAt(s, i)
			return sc.valueAfter(i+len(w), LicensePlate, true, 10)
		}
	case keyAWS:
		if sc.keywordBefore(min(len(s), i+40), 60, awsWords) {
			return sc.awsSecret(i)
		}
	}
	return -1
}

// wordAt returns the run of letters at s[i:].
func wordAt(s string, i int) string {
	j := i
	for j < len(s) && isAlpha(s[j]) {
		j++
	}
	return s[i:j]
}

// valueAfter records the token that follows a keyword ("password: x",
// "username is x") as t. needDigit requires a digit in it.
func (sc *scanner) valueAfter(p int, t Entity, needDigit bool, maxLen int) int {
	s := sc.s
	q := skipFiller(s, p)
	if q == p && !(q < len(s) && (s[q] == ':' || s[q] == '=')) {
		return -1
	}
	e := q
	digit := false
	for e < len(s) && e-q < maxLen && s[e] > ' ' && s[e] != '"' && s[e] != '\'' && s[e] != ',' && s[e] != ';' && s[e] != '<' {
		digit = digit || isDigit(s[e])
		e++
	}
	for e > q && (s[e-1] == '.' || s[e-1] == ')') {
		e--
	}
	if e == q || needDigit && !digit {
		return -1
	}
	sc.add(t, q, e)
	return e
}

// skipFiller skips separators and filler words between a keyword and its
// value: ":", "=", quotes, "is", "number", "no", "#".
func skipFiller(s string, p int) int {
	for p < len(s) {
		switch {
		case s[p] == ' ' || s[p] == ':' || s[p] == '=' || s[p] == '"' || s[p] == '\'' || s[p] == '#' || s[p] == '\t':
			p++
		case hasPrefixFold(s[p:], "is ") || hasPrefixFold(s[p:], "id "):
			p += 3
		case hasPrefixFold(s[p:], "number "):
			p += 7
		case hasPrefixFold(s[p:], "no. "):
			p += 4
		case hasPrefixFold(s[p:], "was "):
			p += 4
		default:
			return p
		}
	}
	return p
}

// nameAfter reads "name is X Y" / "name: X Y".
func (sc *scanner) nameAfter(p int) int {
	s := sc.s
	q := skipFiller(s, p)
	if q == p {
		return -1
	}
	return sc.capitalized(q, Name)
}

// capitalized records 1-3 capitalised words at s[p:] (after spaces) as t.
func (sc *scanner) capitalized(p int, t Entity) int {
	s := sc.s
	for p < len(s) && s[p] == ' ' {
		p++
	}
	start, e := p, -1
	for words := 0; words < 3; words++ {
		if p >= len(s) || !isUpper(s[p]) {
			break
		}
		q := p + 1
		for q < len(s) && (isLower(s[q]) || s[q] == '\'' || s[q] == '-') {
			q++
		}
		if q-p < 2 {
			break
		}
		e = q
		if q+1 < len(s) && s[q] == ' ' && isUpper(s[q+1]) {
			p = q + 1
			continue
		}
		break
	}
	if e < 0 {
		return -1
	}
	sc.add(t, start, e)
	return e
}

// url reads a URL starting at s[i] up to white space or a delimiter.
func (sc *scanner) url(i int) int {
	s := sc.s
	rest := s[i:]
	if !(hasPrefixFold(rest, "http://") || hasPrefixFold(rest, "https://") || hasPrefixFold(rest, "www.") || hasPrefixFold(rest, "ftp://")) {
		return -1
	}
	e := i
	for e < len(s) && s[e] > ' ' && s[e] != '"' && s[e] != '\'' && s[e] != '<' && s[e] != '>' && s[e] != ')' {
		e++
	}
	for e > i && strings.IndexByte(".,;:!?", s[e-1]) >= 0 {
		e--
	}
	sc.add(URL, i, e)
	return e
}

// awsSecret reads a 40-character AWS secret access key after its keyword.
func (sc *scanner) awsSecret(i int) int {
	s := sc.s
	lim := min(len(s), i+64)
	for p := i; p+40 <= len(s) && p < lim; p++ {
		if p > 0 && isB64(s[p-1]) {
			continue
		}
		k := p
		for k < len(s) && isB64(s[k]) && k-p <= 40 {
			k++
		}
		if k-p == 40 {
			sc.add(AWSSecretKey, p, k)
			return k
		}
	}
	return -1
}

func isB64(c byte) bool { return isAlnum(c) || c == '/' || c == '+' }
