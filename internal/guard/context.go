package guard

// Context words for card data that is only recognisable by what precedes it.
var (
	cvvWords = newKeywords("cvv", "cvc", "cvv2", "cvc2", "cid", "csc", "cav2", "cvn",
		"security code", "card code", "card verification", "3-digit code", "three digit code", "digits on the back")
	pinWords = newKeywords("pin", "pin code", "pin number", "pincode")
	expWords = newKeywords("exp", "expiry", "expires", "expiration", "expiring", "valid thru",
		"valid through", "valid until", "good thru", "mm/yy", "mm/yyyy", "exp date")
)

// cardContext finds CVV, PIN and expiry values in a run that holds no card
// number: a 3-4 digit number after a CVV keyword (or just after a card
// number), a 4-6 digit number after "PIN", and MM/YY or MM/YYYY after an
// expiry keyword or a card number.
func (sc *scanner) cardContext(gs []group) {
	for k := 0; k < len(gs); k++ {
		if k+1 < len(gs) && sc.expiry(gs[k], gs[k+1]) {
			k++
			continue
		}
		sc.code(gs[k])
	}
}

// code flags one group as a CVV or PIN by context.
func (sc *scanner) code(g group) {
	s := sc.s
	start := g.start
	nearPAN := sc.lastPAN >= 0 && start >= sc.lastPAN && start-sc.lastPAN <= 48
	n := g.n
	if n < 3 || n > 6 {
		return
	}
	// A decimal amount like 12.99 or $123 is not a code.
	if start > 0 && (s[start-1] == '$' || s[start-1] == '.' || s[start-1] == ',') {
		return
	}
	switch {
	case n <= 4 && sc.keywordBefore(start, 24, cvvWords):
		sc.add(CardCVV, start, g.end)
	case n >= 4 && sc.keywordBefore(start, 20, pinWords):
		sc.add(PIN, start, g.end)
	case n <= 4 && nearPAN:
		sc.add(CardCVV, start, g.end)
	}
}

// expiry flags MM/YY or MM/YYYY (groups m, y) by context.
func (sc *scanner) expiry(m, y group) bool {
	s := sc.s
	if m.n > 2 || (y.n != 2 && y.n != 4) {
		return false
	}
	gap := s[m.end:y.start]
	slash := false
	for k := 0; k < len(gap); k++ {
		switch gap[k] {
		case '/', '-', '.':
			slash = true
		case ' ':
		default:
			if k, _, _ := unitAt(gap, k); k != uInvis && k != uSep {
				return false
			}
		}
	}
	if !slash {
		return false
	}
	mv := num(sc.digits[m.d0 : m.d0+m.n])
	if mv < 1 || mv > 12 {
		return false
	}
	if y.n == 4 {
		d := sc.digits[y.d0:]
		if d[0] != 2 || d[1] != 0 {
			return false
		}
	}
	nearPAN := sc.lastPAN >= 0 && m.start >= sc.lastPAN && m.start-sc.lastPAN <= 48
	if nearPAN || sc.keywordBefore(m.start, 24, expWords) {
		sc.add(CardExpiry, m.start, y.end)
		return true
	}
	return false
}

func (sc *scanner) add(t Entity, start, end int) {
	sc.out = append(sc.out, Finding{Type: t, Start: start, End: end})
}
