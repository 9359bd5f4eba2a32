package guard

import (
	"strings"
	"testing"
	"time"
)

// slowExec flags pathological inputs: the scanners are linear, so no
// fuzz input (at most a few KB) may take this long even on a loaded box.
const slowExec = 3 * time.Second

// fuzzSeeds returns the table inputs plus every test PAN in every shape.
func fuzzSeeds() []string {
	seeds := []string{
		"My card is 4111 1111 1111 1111, exp 12/27",
		"IBAN GB82 WEST 1234 5698 7654 32, call +1 (415) 555-0132",
		"%B4111111111111111^DOE/JOHN^2712101000000000000?",
		";4111111111111111=27121010000000000000?",
		"id 123e4567-e89b-12d3-4111-111111111111 done",
		"1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
		"\\u0034\\u0031", "&#52;&#49;", "<b>4111</b>",
	}
	for i, p := range testPANs {
		seeds = append(seeds, "x "+shapes[i%len(shapes)].f(p.pan)+" y")
	}
	return seeds
}

// plainCardRuns returns the maximal ASCII digit runs of s that have a card
// brand, length and a valid Luhn check: an oracle independent of the
// scanner's grouping logic.
func plainCardRuns(s string) [][2]int {
	var out [][2]int
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		d := make([]byte, j-i)
		for k := range d {
			d[k] = s[i+k] - '0'
		}
		if _, ok := brandOf(d); ok && luhn(d) {
			out = append(out, [2]int{i, j})
		}
		i = j
	}
	return out
}

// exempt reports whether the plain run [i, j) of s is one of the
// look-alikes the detector deliberately leaves: an IMEI after its keyword
// or digits inside a valid IBAN. (A UUID tail is two plain runs, 4 and 12
// digits, so it never shows up here.)
func exempt(s string, i, j int) bool {
	if keywordIn(s[max(0, i-24):i], imeiWords) {
		return true
	}
	sc := getScanner(s, true, false)
	defer sc.release()
	in, _ := sc.insideIBAN(i, j)
	return in
}

func FuzzDetect(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > slowExec {
				t.Fatalf("took %v on %d bytes", d, len(s))
			}
		}()
		for _, fn := range []func(string) []Finding{Detect, func(s string) []Finding { return DetectPII(s, nil) }} {
			fs := fn(s)
			last := 0
			for _, x := range fs {
				if x.Start < last || x.End <= x.Start || x.End > len(s) {
					t.Fatalf("bad or unordered span %+v (prev end %d) in %q", x, last, s)
				}
				if !x.Type.Known() {
					t.Fatalf("unknown type %q", x.Type)
				}
				last = x.End
			}
		}
		m, _, err := Mask(s)
		if err != nil {
			t.Fatalf("Mask(%q): %v", s, err)
		}
		out := m.String()
		for _, x := range Detect(out) {
			if x.Type == CardNumber {
				t.Fatalf("Mask(%q) = %q still holds a card number at %v", s, out, x)
			}
		}
		for _, r := range plainCardRuns(out) {
			if !exempt(out, r[0], r[1]) {
				t.Fatalf("Mask(%q) = %q keeps a Luhn-valid card-like run %q", s, out, out[r[0]:r[1]])
			}
		}
	})
}

// chunk splits s at cut points derived from cuts.
func chunk(s string, cuts []byte) []string {
	var out []string
	for len(s) > 0 {
		n := len(s)
		if len(cuts) > 0 {
			n = min(len(s), int(cuts[0]%16)+1)
			cuts = cuts[1:]
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}

func FuzzStream(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, []byte{byte(i), 3, 1, 7, 2, 9, 4})
	}
	f.Fuzz(func(t *testing.T, s string, cuts []byte) {
		var want []Finding
		for _, x := range Detect(s) {
			if x.Type == CardNumber {
				want = append(want, x)
			}
		}
		st := NewStream()
		var out strings.Builder
		for _, c := range chunk(s, cuts) {
			o, err := st.Write(c)
			if err != nil {
				t.Fatalf("Write: %v", err)
			}
			if st.Held() > MaxHoldback {
				t.Fatalf("held %d bytes > MaxHoldback %d", st.Held(), MaxHoldback)
			}
			out.WriteString(o)
		}
		o, err := st.Close()
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
		out.WriteString(o)
		var got []Finding
		for _, x := range st.Findings() {
			if x.Type == CardNumber {
				got = append(got, x)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("stream of %q in %v found %+v, one-shot %+v", s, chunk(s, cuts), got, want)
		}
		for i := range got {
			if got[i].Start != want[i].Start || got[i].End != want[i].End {
				t.Fatalf("stream of %q found %+v, one-shot %+v", s, got, want)
			}
		}
		for _, x := range Detect(out.String()) {
			if x.Type == CardNumber {
				t.Fatalf("stream output %q holds a card number", out.String())
			}
		}
	})
}
