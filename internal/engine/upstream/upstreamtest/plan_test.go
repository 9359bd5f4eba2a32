package upstreamtest

import (
	"strings"
	"testing"
)

func TestMakePlan(t *testing.T) {
	reply := []string{"a", "bc", " d", "e"}
	cases := []struct {
		name        string
		max         int
		stops       []string
		wantText    string
		wantFinish  string
		wantMatched string
	}{
		{name: "all", max: 9, wantText: "abc de", wantFinish: "stop"},
		{name: "cut-by-length", max: 2, wantText: "abc", wantFinish: "length"},
		{name: "stop-at-token-edge", max: 9, stops: []string{" d"}, wantText: "abc", wantFinish: "stop", wantMatched: " d"},
		{name: "stop-inside-token", max: 9, stops: []string{"c d"}, wantText: "ab", wantFinish: "stop", wantMatched: "c d"},
		{name: "earliest-stop-wins", max: 9, stops: []string{"e", "b"}, wantText: "a", wantFinish: "stop", wantMatched: "b"},
		{name: "stop-beyond-length-is-ignored", max: 2, stops: []string{"e"}, wantText: "abc", wantFinish: "length"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := makePlan(reply, tc.max, tc.stops)
			if got := strings.Join(p.tokens, ""); got != tc.wantText || p.finish != tc.wantFinish || p.matched != tc.wantMatched {
				t.Errorf("plan = %q %s %q; want %q %s %q", got, p.finish, p.matched, tc.wantText, tc.wantFinish, tc.wantMatched)
			}
		})
	}
}

func TestHasPAN(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{name: "visa-spaced", in: "card 4111 1111 1111 1111 ok", want: true},
		{name: "mastercard-dashed", in: "5555-5555-5555-4444", want: true},
		{name: "amex", in: "378282246310005", want: true},
		{name: "discover", in: "x6011111111111117y", want: true},
		{name: "luhn-fails", in: "4111 1111 1111 1112", want: false},
		{name: "masked", in: "[VISA ****1111]", want: false},
		{name: "wrong-length-for-visa", in: "41111111111111", want: false},
		{name: "too-long-run", in: "41111111111111110000", want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := hasPAN(tc.in); got != tc.want {
				t.Errorf("hasPAN(%q) = %v", tc.in, got)
			}
		})
	}
}
