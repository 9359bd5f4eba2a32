package guard

import (
	"fmt"
	"strings"
	"testing"
)

// testPANs are processors' published test card numbers, one or more per
// brand and length.
var testPANs = []struct {
	brand string
	pan   string
}{
	{BrandVisa, "4111111111111111"},
	{BrandVisa, "4242424242424242"},
	{BrandVisa, "4012888888881881"},
	{BrandVisa, "4222222222222"},       // 13 digits
	{BrandVisa, "4111141011111111116"}, // 19 digits (PAYONE)
	{BrandMastercard, "5555555555554444"},
	{BrandMastercard, "5105105105105100"},
	{BrandMastercard, "2223003122003222"}, // 2-series
	{BrandMastercard, "2221000000000009"},
	{BrandAmex, "378282246310005"},
	{BrandAmex, "371449635398431"},
	{BrandDiscover, "6011111111111117"},
	{BrandDiscover, "6011000990139424"},
	{BrandDiscover, "6445644564456445"},
	{BrandJCB, "3530111333300000"},
	{BrandJCB, "3566002020360505"},
	{BrandDiners, "30569309025904"},
	{BrandDiners, "38520000023237"},
	{BrandDiners, "36227206271667"},
	{BrandUnionPay, "6200000000000005"},
	{BrandUnionPay, "6205500000000000004"}, // 19 digits
	{BrandMaestro, "6304000000000000"},
	{BrandMaestro, "6759649826438453"},
	{BrandMaestro, "5018000000000009"},
	{BrandMir, "2200000000000004"},
}

// group splits a PAN in the usual print groups: 4-6-5 for 15 digits, 4-6-4
// for 14, else fours.
func groups(pan string) []string {
	var sizes []int
	switch len(pan) {
	case 15:
		sizes = []int{4, 6, 5}
	case 14:
		sizes = []int{4, 6, 4}
	default:
		for n := len(pan); n > 0; n -= 4 {
			sizes = append(sizes, min(4, n))
		}
	}
	var out []string
	p := 0
	for _, n := range sizes {
		out = append(out, pan[p:p+n])
		p += n
	}
	return out
}

func mapDigits(s string, zero rune) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(zero + r - '0')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// shapes writes a PAN in every way the detector must see through.
var shapes = []struct {
	name string
	f    func(pan string) string
}{
	{"plain", func(p string) string { return p }},
	{"spaces", func(p string) string { return strings.Join(groups(p), " ") }},
	{"dashes", func(p string) string { return strings.Join(groups(p), "-") }},
	{"dots", func(p string) string { return strings.Join(groups(p), ".") }},
	{"mixed", func(p string) string {
		g := groups(p)
		seps := []string{" ", "-", ".", " - ", "/"}
		var b strings.Builder
		for i, x := range g {
			if i > 0 {
				b.WriteString(seps[i%len(seps)])
			}
			b.WriteString(x)
		}
		return b.String()
	}},
	{"line-break", func(p string) string {
		g := groups(p)
		h := len(g) / 2
		return strings.Join(g[:h], " ") + "\n" + strings.Join(g[h:], " ")
	}},
	{"crlf", func(p string) string {
		g := groups(p)
		return strings.Join(g[:1], "") + "\r\n" + strings.Join(g[1:], " ")
	}},
	{"nbsp", func(p string) string { return strings.Join(groups(p), "\u00a0") }},
	{"thin-space-en-dash", func(p string) string { return strings.Join(groups(p), "\u2009\u2013\u2009") }},
	{"zero-width", func(p string) string { return strings.Join(groups(p), "\u200b") }},
	{"soft-hyphen-each-digit", func(p string) string { return strings.Join(strings.Split(p, ""), "\u00ad") }},
	{"spaced-digits", func(p string) string { return strings.Join(strings.Split(p, ""), " ") }},
	{"fullwidth", func(p string) string { return mapDigits(strings.Join(groups(p), "\u3000"), '０') }},
	{"arabic-indic", func(p string) string { return mapDigits(p, '٠') }},
	{"devanagari", func(p string) string { return mapDigits(strings.Join(groups(p), " "), '०') }},
	{"math-bold", func(p string) string { return mapDigits(p, '𝟎') }},
	{"json-string", func(p string) string { return `{"card":"` + p + `","name":"x"}` }},
	{"json-number", func(p string) string { return `{"card":` + p + `}` }},
	{"json-escapes", func(p string) string {
		var b strings.Builder
		for _, c := range p {
			fmt.Fprintf(&b, `\u%04x`, c)
		}
		return `{"n":"` + b.String() + `"}`
	}},
	{"json-newline-escape", func(p string) string {
		g := groups(p)
		return `{"t":"` + strings.Join(g[:2], " ") + `\n` + strings.Join(g[2:], " ") + `"}`
	}},
	{"html-tags", func(p string) string { return "<td>" + strings.Join(groups(p), "</span><span>") + "</td>" }},
	{"html-entities", func(p string) string {
		var b strings.Builder
		for _, c := range p {
			fmt.Fprintf(&b, "&#%d;", c)
		}
		return "<p>" + b.String() + "</p>"
	}},
	{"html-nbsp-entity", func(p string) string { return strings.Join(groups(p), "&nbsp;") }},
	{"url-query", func(p string) string { return "https://pay.example/cb?pan=" + p + "&x=1" }},
}

func TestDetectTestPANsInEveryShape(t *testing.T) {
	for _, tc := range testPANs {
		for _, sh := range shapes {
			t.Run(tc.brand+"-"+tc.pan+"-"+sh.name, func(t *testing.T) {
				body := sh.f(tc.pan)
				text := "Hi, my card is " + body + " thanks"
				fs := Detect(text)
				var cards []Finding
				for _, f := range fs {
					if f.Type == CardNumber {
						cards = append(cards, f)
					}
				}
				if len(cards) != 1 {
					t.Fatalf("Detect(%q) = %+v, want one card number", text, fs)
				}
				f := cards[0]
				if f.Brand != tc.brand || f.Last4 != tc.pan[len(tc.pan)-4:] {
					t.Errorf("brand, last4 = %s, %s; want %s, %s", f.Brand, f.Last4, tc.brand, tc.pan[len(tc.pan)-4:])
				}
				if f.Start < 15 || f.End > 15+len(body) {
					t.Errorf("span [%d,%d) outside the number at [15,%d)", f.Start, f.End, 15+len(body))
				}
				m, _, err := Mask(text)
				if err != nil {
					t.Fatalf("Mask: %v", err)
				}
				if strings.Contains(m.String(), tc.pan[:6]) {
					t.Errorf("Mask(%q) = %q still holds the BIN", text, m.String())
				}
			})
		}
	}
}

func TestDetectTable(t *testing.T) {
	type want struct {
		typ  Entity
		text string // the matched text
	}
	cases := []struct {
		name string
		in   string
		want []want
	}{
		{"visa-spaces-expiry", "My card is 4111 1111 1111 1111, exp 12/27", []want{{CardNumber, "4111 1111 1111 1111"}, {CardExpiry, "12/27"}}},
		{"mc-dashes", "5555-5555-5555-4444", []want{{CardNumber, "5555-5555-5555-4444"}}},
		{"amex-plain", "378282246310005", []want{{CardNumber, "378282246310005"}}},
		{"amex-4-6-5", "3782 822463 10005", []want{{CardNumber, "3782 822463 10005"}}},
		{"discover-dots", "6011.1111.1111.1117", []want{{CardNumber, "6011.1111.1111.1117"}}},
		{"jcb-in-words", "pay with 3530111333300000 pls", []want{{CardNumber, "3530111333300000"}}},
		{"json-cvv", `{"card":"5105105105105100","cvv":"123"}`, []want{{CardNumber, "5105105105105100"}, {CardCVV, "123"}}},
		{"url-cvc", "https://pay.example/cb?pan=4242424242424242&cvc=123", []want{{CardNumber, "4242424242424242"}, {CardCVV, "123"}}},
		{"split-lines", "card 4111 1111\n1111 1111", []want{{CardNumber, "4111 1111\n1111 1111"}}},
		{"track1", "%B4111111111111111^DOE/JOHN^2712101000000000000?", []want{{CardNumber, "4111111111111111^DOE/JOHN^2712101000000000000?"}}},
		{"track2", ";4111111111111111=27121010000000000000?", []want{{CardNumber, "4111111111111111=27121010000000000000?"}}},
		{"unionpay-no-luhn-with-keyword", "UnionPay card 6212345678901233", []want{{CardNumber, "6212345678901233"}}},
		{"cvv-keyword", "the CVV2 is 737 ok", []want{{CardCVV, "737"}}},
		{"security-code-4", "security code: 1234", []want{{CardCVV, "1234"}}},
		{"pin", "my PIN is 4321", []want{{PIN, "4321"}}},
		{"expiry-keyword-yyyy", "expires 09/2028", []want{{CardExpiry, "09/2028"}}},
		{"pan-then-expiry-cvv", "4242 4242 4242 4242 12/27 123", []want{{CardNumber, "4242 4242 4242 4242"}, {CardExpiry, "12/27"}, {CardCVV, "123"}}},
		{"two-pans", "4111111111111111 and 5555555555554444", []want{{CardNumber, "4111111111111111"}, {CardNumber, "5555555555554444"}}},
		{"pan-glued-to-ref", "ref 1234 4111111111111111", []want{{CardNumber, "4111111111111111"}}},
		// Look-alikes: nothing to find.
		{"fails-luhn", "4111 1111 1111 1112", nil},
		{"masked", "card 411111******1111 / 4111 11** **** 1111", nil},
		{"order-number", "Order #1000000000000008 shipped", nil},
		{"imei", "IMEI 356938035643809", nil},
		{"imei-16", "my phone's IMEI: 3530111333300000", nil},
		{"iccid", "SIM ICCID 8944500102198304826", nil},
		{"iban-phone", "IBAN GB82 WEST 1234 5698 7654 32, call +1 (415) 555-0132", nil},
		{"iban-with-card-digits", "IBAN DE89 3704 0044 0532 0130 00", nil},
		{"tracking", "UPS 1Z999AA10123456784, USPS 9400 1000 0000 0000 0000 00", nil},
		{"timestamps", "ts=1714567890129 on 2024-05-01T12:30:45Z; ref 9999 9999 9999 9995", nil},
		{"uuid", "id 123e4567-e89b-12d3-4111-111111111111 done", nil},
		{"uuid-digits", "req 12345678-1234-1234-4111-111111111111", nil},
		{"invoice", "Invoice INV-2024-000123 total $1,234.56", nil},
		{"phone", "call me at +44 20 7946 0958 or (212) 555-0187", nil},
		{"date-no-context", "meeting on 12/27 at 10", nil},
		{"amount-after-pan-word", "I paid $123 yesterday", nil},
		{"isbn", "ISBN 978-3-16-148410-0", nil},
		{"long-digits", "00000411111111111111110000", nil},
		{"unionpay-no-luhn-no-keyword", "ref 6212345678901233", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := Detect(tc.in)
			var got []want
			for _, f := range fs {
				got = append(got, want{f.Type, tc.in[f.Start:f.End]})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Detect(%q)\n got %v\nwant %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestDetectEncoded(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		match string // the flagged text, "" for none
	}{
		{"base64", "here: NDExMTExMTExMTExMTExMQ== ok", "NDExMTExMTExMTExMTExMQ=="},
		{"base64-raw-url", "t=NDI0MjQyNDI0MjQyNDI0Mg end", "NDI0MjQyNDI0MjQyNDI0Mg"},
		{"hex", "0x 34313131313131313131313131313131", "34313131313131313131313131313131"},
		{"base64-of-spaced", "NDExMSAxMTExIDExMTEgMTExMQ", "NDExMSAxMTExIDExMTEgMTExMQ"},
		{"spelled", "it is four one one one, one one one one, one one one one, one one one one thanks", "four one one one, one one one one, one one one one, one one one one"},
		{"spelled-double", "five five five five five five five five five five five five double four four four", "five five five five five five five five five five five five double four four four"},
		{"mixed-words-digits", "four 1 1 1 one 1 1 1 one one one one 1 1 1 1", "four 1 1 1 one 1 1 1 one one one one 1 1 1 1"},
		{"base64-plain-text", "aGVsbG8gd29ybGQgaG93IGFyZSB5b3U=", ""},
		{"spelled-not-card", "one two three four five six seven eight nine zero one two three", ""},
		{"hex-uuid-like", "deadbeefdeadbeefdeadbeefdeadbeef", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := DetectEncoded(tc.in)
			got := ""
			if len(fs) > 0 {
				got = tc.in[fs[0].Start:fs[0].End]
			}
			if got != tc.match || len(fs) > 1 {
				t.Errorf("DetectEncoded(%q) = %+v (%q), want %q", tc.in, fs, got, tc.match)
			}
			if tc.match != "" {
				m, _, err := Mask(tc.in)
				if err != nil || strings.Contains(m.String(), tc.match) {
					t.Errorf("Mask = %q, %v", m.String(), err)
				}
			}
		})
	}
}
