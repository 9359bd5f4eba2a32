package guard

// Card brands, named as the token and the mask show them.
const (
	BrandVisa       = "VISA"
	BrandMastercard = "MASTERCARD"
	BrandAmex       = "AMEX"
	BrandDiscover   = "DISCOVER"
	BrandJCB        = "JCB"
	BrandDiners     = "DINERS"
	BrandUnionPay   = "UNIONPAY"
	BrandMaestro    = "MAESTRO"
	BrandMir        = "MIR"
	BrandRuPay      = "RUPAY"
	BrandTroy       = "TROY"
)

// PAN length limits: primary account numbers have 13 to 19 digits.
const (
	minPAN = 13
	maxPAN = 19
)

// brandOf returns the brand of the digits d (values 0-9) and whether their
// length fits that brand. Ranges follow the published IIN tables; the more
// specific range wins where they overlap.
func brandOf(d []byte) (string, bool) {
	n := len(d)
	if n < minPAN || n > maxPAN {
		return "", false
	}
	p2 := int(d[0])*10 + int(d[1])
	p3 := p2*10 + int(d[2])
	p4 := p3*10 + int(d[3])
	p6 := p4*100 + int(d[4])*10 + int(d[5])
	switch {
	case d[0] == 4:
		return BrandVisa, n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return BrandMastercard, n == 16
	case p2 == 34 || p2 == 37:
		return BrandAmex, n == 15
	case p4 >= 2200 && p4 <= 2204:
		return BrandMir, n >= 16
	case p4 == 6011, p3 >= 644 && p3 <= 649, p2 == 65, p6 >= 622126 && p6 <= 622925:
		return BrandDiscover, n >= 16
	case p4 >= 3528 && p4 <= 3589:
		return BrandJCB, n >= 16
	case p3 >= 300 && p3 <= 305, p4 == 3095, p2 == 36, p2 == 38, p2 == 39:
		return BrandDiners, n >= 14
	case p2 == 62, p2 == 81:
		return BrandUnionPay, n >= 16
	case p2 == 60, p2 == 82, p3 == 508:
		return BrandRuPay, n == 16
	case p4 == 9792:
		return BrandTroy, n == 16
	case p2 == 50, p2 >= 56 && p2 <= 69:
		return BrandMaestro, true
	}
	return "", false
}

// luhn reports whether the digits d pass the Luhn (mod 10) check.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}
