package guard

import (
	"slices"
)

// Detect finds card data in s: card numbers (PANs, also inside track data),
// CVVs, expiry dates and PINs. Findings are ordered by Start and do not
// overlap; offsets are bytes of s.
//
// Card numbers are 13-19 digit numbers with a known brand prefix and length
// that pass the Luhn check (UnionPay numbers without Luhn need a card
// keyword nearby). Digits may be ASCII or any Unicode decimal digit, JSON
// \u escapes or HTML character references, and may be split into groups by
// up to three separators (space, dash, dot, slash, underscore, line break,
// Unicode spaces and dashes) and any invisible filler (zero-width and other
// format characters, combining marks, HTML tags). IMEIs after an "IMEI"
// keyword, the tail of a UUID and digits inside a valid IBAN are not cards.
func Detect(s string) []Finding {
	sc := getScanner(s, true, false)
	sc.run(0)
	out := resolve(sc.out)
	sc.release()
	return out
}

// DetectPII finds card data and the PII entity types listed in types (all
// known types when types is nil). Card data detection always runs, but
// card types not in types are left out of the result.
func DetectPII(s string, types []Entity) []Finding {
	sc := getScanner(s, true, true)
	sc.run(0)
	sc.words()
	out := resolve(sc.out)
	sc.release()
	if types == nil {
		return out
	}
	return slices.DeleteFunc(out, func(f Finding) bool { return !slices.Contains(types, f.Type) })
}

// priority orders overlapping findings: card numbers first, then other card
// data, then everything else; ties go to the longer span.
func priority(t Entity) int {
	switch t {
	case CardNumber:
		return 3
	case CardCVV, CardExpiry, PIN:
		return 2
	}
	return 1
}

// resolve sorts findings and drops those that overlap a preferred one.
func resolve(fs []Finding) []Finding {
	if len(fs) < 2 {
		return fs
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if a.Start != b.Start {
			return a.Start - b.Start
		}
		return b.End - a.End
	})
	out := fs[:1]
	for _, f := range fs[1:] {
		last := &out[len(out)-1]
		if f.Start >= last.End {
			out = append(out, f)
			continue
		}
		pf, pl := priority(f.Type), priority(last.Type)
		if pf > pl || pf == pl && f.End-f.Start > last.End-last.Start {
			*last = f
			// The new one may now overlap earlier kept findings too.
			for len(out) > 1 && out[len(out)-2].End > out[len(out)-1].Start {
				prev := out[len(out)-2]
				if priority(prev.Type) >= priority(out[len(out)-1].Type) {
					out = out[:len(out)-1]
				} else {
					out = append(out[:len(out)-2], out[len(out)-1])
				}
			}
		}
	}
	return out
}
