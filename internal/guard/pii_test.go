package guard

import (
	"fmt"
	"strings"
	"testing"
)

// piiWant is one expected finding: its type and the text it covers.
type piiWant struct {
	typ  Entity
	text string
}

var piiCases = []struct {
	name string
	in   string
	want []piiWant
}{
	{"email", "write to jane.doe+bank@example.co.uk today", []piiWant{{Email, "jane.doe+bank@example.co.uk"}}},
	{"phone-us-parens", "call +1 (415) 555-0132 now", []piiWant{{Phone, "+1 (415) 555-0132"}}},
	{"phone-intl", "my number is +44 20 7946 0958", []piiWant{{Phone, "+44 20 7946 0958"}}},
	{"phone-dashes", "reach me at 212-555-0187", []piiWant{{Phone, "212-555-0187"}}},
	{"ssn", "SSN 123-45-6789 please", []piiWant{{SSN, "123-45-6789"}}},
	{"ssn-invalid-area", "code 000-12-3456", nil},
	{"itin", "ITIN 912-70-1234", []piiWant{{ITIN, "912-70-1234"}}},
	{"iban", "IBAN GB82 WEST 1234 5698 7654 32 thanks", []piiWant{{IBAN, "GB82 WEST 1234 5698 7654 32"}}},
	{"iban-compact", "to DE89370400440532013000.", []piiWant{{IBAN, "DE89370400440532013000"}}},
	{"iban-bad-checksum", "to DE89370400440532013001.", nil},
	{"swift", "SWIFT code DEUTDEFF500 for the wire", []piiWant{{SwiftCode, "DEUTDEFF500"}}},
	{"swift-needs-context", "the CUSTOMER said", nil},
	{"ipv4", "from 192.168.10.25 at noon", []piiWant{{IPAddress, "192.168.10.25"}}},
	{"version-not-ip-range", "v 300.1.2.3", nil},
	{"mac", "device 00:1A:2b:3C:4d:5E joined", []piiWant{{MACAddress, "00:1A:2b:3C:4d:5E"}}},
	{"url", "see https://bank.example/help?x=1.", []piiWant{{URL, "https://bank.example/help?x=1"}}},
	{"aws-access-key", "key AKIAIOSFODNN7EXAMPLE ok", []piiWant{{AWSAccessKey, "AKIAIOSFODNN7EXAMPLE"}}},
	{"aws-secret", "aws secret access key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []piiWant{{AWSSecretKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}},
	{"bank-account", "my checking account number is 000123456789", []piiWant{{BankAccount, "000123456789"}}},
	{"routing", "routing number 011000015", []piiWant{{RoutingNum, "011000015"}}},
	{"nino", "NI number AB 12 34 56 C", []piiWant{{UKNINO, "AB 12 34 56 C"}}},
	{"nhs", "NHS number 943 476 5919", []piiWant{{UKNHS, "943 476 5919"}}},
	{"ca-sin", "my SIN is 046 454 286", []piiWant{{CASIN, "046 454 286"}}},
	{"vin", "VIN 1HGCM82633A004352 sold", []piiWant{{VIN, "1HGCM82633A004352"}}},
	{"passport", "passport number 123456789", []piiWant{{Passport, "123456789"}}},
	{"password", "my password is hunter2!", []piiWant{{Password, "hunter2!"}}},
	{"username", "username: jdoe_77", []piiWant{{Username, "jdoe_77"}}},
	{"name", "Hi, my name is Jane Doe and", []piiWant{{Name, "Jane Doe"}}},
	{"title-name", "Dear Mr. Smith,", []piiWant{{Name, "Smith"}}},
	{"title-no-period", "Dear Mr Smith, Dr Jones and Miss Lee Park", []piiWant{{Name, "Smith"}, {Name, "Jones"}, {Name, "Lee Park"}}},
	{"title-mrs-ms", "Mrs Jones met Ms. Kay", []piiWant{{Name, "Jones"}, {Name, "Kay"}}},
	{"title-lower-case-next", "mr smith and dr. who", nil},
	{"age", "I am 34 years old", []piiWant{{Age, "34"}}},
	{"address", "ship to 221 Baker Street, London today", []piiWant{{Address, "221 Baker Street, London"}}},
	{"address-us", "at 1600 Pennsylvania Ave, Washington, DC 20500.", []piiWant{{Address, "1600 Pennsylvania Ave, Washington, DC 20500"}}},
	{"driver", "driver's license D1234567", []piiWant{{DriverID, "1234567"}}},
	{"card-still-wins", "card 4111111111111111", []piiWant{{CardNumber, "4111111111111111"}}},
	{"plain-chat", "I was charged twice for my order, can you refund one?", nil},
}

func TestDetectPII(t *testing.T) {
	for _, tc := range piiCases {
		t.Run(tc.name, func(t *testing.T) {
			var got []piiWant
			for _, f := range DetectPII(tc.in, nil) {
				got = append(got, piiWant{f.Type, tc.in[f.Start:f.End]})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("DetectPII(%q)\n got %v\nwant %v", tc.in, got, tc.want)
			}
		})
	}
}

// TestDetectPIIAligned runs the PII cases, and keyword starts in other
// cases, at every offset inside longer text: the word pass reads long text
// in 64-byte blocks and filters word starts there, and short text byte by
// byte, and both must find the same.
func TestDetectPIIAligned(t *testing.T) {
	ins := []string{
		"PASSWORD: Hunter2", "Pwd=abc123 ok", "pwd: x", "Passcode 9911", "LOGIN: jdoe", "User name: bob_1",
		"user id: u-77", "NAME: Ann Lee", "Mr Mills called", "Mrs. Jones", "Ms. Kay Lo", "Dr. Who",
		"License plate 7ABC123", "REGISTRATION NUMBER AB12CDE", "WWW.Example.com/x", "FTP://files.example",
		"HTTP://a.example", "SECRET access key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
		"aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "mac aa-bb-cc-dd-ee-ff",
		"a@b.co x@y", "IBAN DE89 3704 0044 0532 0130 00", "passport: X1234567",
	}
	for _, tc := range piiCases {
		ins = append(ins, tc.in)
	}
	for _, in := range ins {
		want := DetectPII(in, nil)
		for pad := 0; pad <= 70; pad++ {
			s := strings.Repeat(" ", pad) + in + strings.Repeat(" ", 70)
			got := DetectPII(s, nil)
			for k := range got {
				got[k].Start -= pad
				got[k].End -= pad
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%q at offset %d:\n got %v\nwant %v", in, pad, got, want)
			}
		}
	}
}

// TestKeyAction checks the keyword table against the keys it was built
// from, in both cases, and against near misses.
func TestKeyAction(t *testing.T) {
	isKey := map[string]bool{}
	for _, ks := range keyStarts {
		isKey[ks.key] = true
	}
	for _, ks := range keyStarts {
		for _, w := range []string{ks.key, strings.ToUpper(ks.key), strings.ToUpper(ks.key[:1]) + ks.key[1:]} {
			if got := keyAction(keyOf(w)); got != ks.act {
				t.Errorf("keyAction(%q) = %d, want %d", w, got, ks.act)
			}
			if f := load4(w) | foldBits; keyFold[keySlot(f)] != f {
				t.Errorf("%q fails the word-start filter", w)
			}
		}
		for k := 0; k < 4; k++ {
			b := []byte(ks.key)
			b[k] ^= 0x01
			if isKey[strings.ToLower(string(b))] {
				continue
			}
			if got := keyAction(keyOf(string(b))); got != keyNone {
				t.Errorf("keyAction(%q) = %d, want none", b, got)
			}
		}
	}
	if got := keyAction(keyOf("aws\x7f")); got != keyNone {
		t.Errorf(`keyAction("aws\x7f") = %d, want none (only '_' ends that key)`, got)
	}
}

// TestAlnumMask compares alnumMask with isAlnum for every byte in every
// position.
func TestAlnumMask(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			for _, fill := range []byte{0, 'a', 'Z', '0', '@', 0xFF} {
				b := []byte(strings.Repeat(string(rune(0)), 8))
				for k := range b {
					b[k] = fill
				}
				b[pos] = byte(c)
				m := alnumMask(load8(string(b), 0))
				for k := 0; k < 8; k++ {
					if got := m>>(8*k+7)&1 == 1; got != isAlnum(b[k]) || m>>(8*k)&0x7F != 0 {
						t.Fatalf("alnumMask(% x) = %#x: byte %d wrong", b, m, k)
					}
				}
			}
		}
	}
}
