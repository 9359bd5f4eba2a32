package guard

import (
	"fmt"
	"testing"
)

func TestDetectPII(t *testing.T) {
	type want struct {
		typ  Entity
		text string
	}
	cases := []struct {
		name string
		in   string
		want []want
	}{
		{"email", "write to jane.doe+bank@example.co.uk today", []want{{Email, "jane.doe+bank@example.co.uk"}}},
		{"phone-us-parens", "call +1 (415) 555-0132 now", []want{{Phone, "+1 (415) 555-0132"}}},
		{"phone-intl", "my number is +44 20 7946 0958", []want{{Phone, "+44 20 7946 0958"}}},
		{"phone-dashes", "reach me at 212-555-0187", []want{{Phone, "212-555-0187"}}},
		{"ssn", "SSN 123-45-6789 please", []want{{SSN, "123-45-6789"}}},
		{"ssn-invalid-area", "code 000-12-3456", nil},
		{"itin", "ITIN 912-70-1234", []want{{ITIN, "912-70-1234"}}},
		{"iban", "IBAN GB82 WEST 1234 5698 7654 32 thanks", []want{{IBAN, "GB82 WEST 1234 5698 7654 32"}}},
		{"iban-compact", "to DE89370400440532013000.", []want{{IBAN, "DE89370400440532013000"}}},
		{"iban-bad-checksum", "to DE89370400440532013001.", nil},
		{"swift", "SWIFT code DEUTDEFF500 for the wire", []want{{SwiftCode, "DEUTDEFF500"}}},
		{"swift-needs-context", "the CUSTOMER said", nil},
		{"ipv4", "from 192.168.10.25 at noon", []want{{IPAddress, "192.168.10.25"}}},
		{"version-not-ip-range", "v 300.1.2.3", nil},
		{"mac", "device 00:1A:2b:3C:4d:5E joined", []want{{MACAddress, "00:1A:2b:3C:4d:5E"}}},
		{"url", "see https://bank.example/help?x=1.", []want{{URL, "https://bank.example/help?x=1"}}},
		{"aws-access-key", "key AKIAIOSFODNN7EXAMPLE ok", []want{{AWSAccessKey, "AKIAIOSFODNN7EXAMPLE"}}},
		{"aws-secret", "aws secret access key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", []want{{AWSSecretKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}}},
		{"bank-account", "my checking account number is 000123456789", []want{{BankAccount, "000123456789"}}},
		{"routing", "routing number 011000015", []want{{RoutingNum, "011000015"}}},
		{"nino", "NI number AB 12 34 56 C", []want{{UKNINO, "AB 12 34 56 C"}}},
		{"nhs", "NHS number 943 476 5919", []want{{UKNHS, "943 476 5919"}}},
		{"ca-sin", "my SIN is 046 454 286", []want{{CASIN, "046 454 286"}}},
		{"vin", "VIN 1HGCM82633A004352 sold", []want{{VIN, "1HGCM82633A004352"}}},
		{"passport", "passport number 123456789", []want{{Passport, "123456789"}}},
		{"password", "my password is hunter2!", []want{{Password, "hunter2!"}}},
		{"username", "username: jdoe_77", []want{{Username, "jdoe_77"}}},
		{"name", "Hi, my name is Jane Doe and", []want{{Name, "Jane Doe"}}},
		{"title-name", "Dear Mr. Smith,", []want{{Name, "Smith"}}},
		{"age", "I am 34 years old", []want{{Age, "34"}}},
		{"address", "ship to 221 Baker Street, London today", []want{{Address, "221 Baker Street, London"}}},
		{"address-us", "at 1600 Pennsylvania Ave, Washington, DC 20500.", []want{{Address, "1600 Pennsylvania Ave, Washington, DC 20500"}}},
		{"driver", "driver's license D1234567", []want{{DriverID, "1234567"}}},
		{"card-still-wins", "card 4111111111111111", []want{{CardNumber, "4111111111111111"}}},
		{"plain-chat", "I was charged twice for my order, can you refund one?", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []want
			for _, f := range DetectPII(tc.in, nil) {
				got = append(got, want{f.Type, tc.in[f.Start:f.End]})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("DetectPII(%q)\n got %v\nwant %v", tc.in, got, tc.want)
			}
		})
	}
}
