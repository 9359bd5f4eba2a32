// Package guard keeps card data and other sensitive values away from models:
// it finds PANs, CVVs, track data and PII, tokenizes or masks them, applies
// guardrail policies to prompts and outputs, and scans streamed output.
//
// Its central type is Text: a string the guard has scanned and cleared. The
// engine interface accepts only Text, and only this package can make one, so
// no code path can hand raw text to a model (DESIGN invariant 1).
package guard

// Text is a string that the guard has scanned and cleared for a model: every
// card number in it was tokenized or masked and every blocked value removed.
// Its fields are unexported, so only this package can make a valid Text; the
// zero Text is not valid and engines must refuse it.
type Text struct {
	s  string
	ok bool
}

// cleared wraps s, which the caller has scanned and cleared, as a Text.
// It is the only way a valid Text comes into being.
func cleared(s string) Text { return Text{s: s, ok: true} }

// String returns the cleared text.
func (t Text) String() string { return t.s }

// Valid reports whether t was made by the guard.
func (t Text) Valid() bool { return t.ok }
