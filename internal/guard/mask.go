package guard

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUncleared is returned when text still holds a card number after the
// guard replaced every one it found: the request must be refused.
var ErrUncleared = errors.New("guard: card data remains after masking")

// MaskOf returns the mask that replaces a card-data finding: "[VISA
// ****1111]" for a card number (brand and last four, which PCI DSS 3.4.1
// allows), "[TRACK_DATA]", "[CVV]", "[EXPIRY]" or "[PIN]". A mask holds at
// most four digits, so it can never read as a card number, and is bracketed
// so it never joins the digits around it.
func MaskOf(f Finding) string {
	switch f.Type {
	case CardNumber:
		if f.Track {
			return "[TRACK_DATA]"
		}
		return "[" + f.Brand + " ****" + f.Last4 + "]"
	case CardCVV:
		return "[CVV]"
	case CardExpiry:
		return "[EXPIRY]"
	case PIN:
		return "[PIN]"
	}
	return "{" + string(f.Type) + "}"
}

// Mask replaces all card data in s by masks (see MaskOf) without a vault,
// for command-line tools, logs and tests. Besides Detect's findings it
// masks card numbers hidden in base64, hex or number words (DetectEncoded). It returns the findings in s and
// fails with ErrUncleared, never returning the text, if a card number
// survives masking.
func Mask(s string) (Text, []Finding, error) {
	fs := DetectCardData(s)
	out, err := replace(s, fs, func(f Finding) (string, error) { return MaskOf(f), nil })
	if err != nil {
		return Text{}, nil, err
	}
	if len(fs) > 0 {
		// With no findings out is s, which Detect just cleared.
		if err := verify(out); err != nil {
			return Text{}, nil, err
		}
	}
	return cleared(out), fs, nil
}

// DetectCardData returns everything Mask masks: Detect's findings plus
// the encoded and spelled-out card numbers of DetectEncoded, ordered and
// without overlaps.
func DetectCardData(s string) []Finding {
	fs := Detect(s)
	if enc := DetectEncoded(s); len(enc) > 0 {
		fs = resolve(append(fs, enc...))
	}
	return fs
}

// MaskString is Mask for places that need a plain string, such as log
// attributes; on failure it returns a fixed placeholder, never s.
func MaskString(s string) string {
	t, _, err := Mask(s)
	if err != nil {
		return "[REDACTED]"
	}
	return t.String()
}

// replace rebuilds s with each finding (sorted, non-overlapping) replaced by
// repl's result.
func replace(s string, fs []Finding, repl func(Finding) (string, error)) (string, error) {
	if len(fs) == 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s) + 16*len(fs))
	last := 0
	for _, f := range fs {
		if f.Start < last || f.End > len(s) || f.Start > f.End {
			return "", fmt.Errorf("guard: bad finding span [%d,%d)", f.Start, f.End)
		}
		r, err := repl(f)
		if err != nil {
			return "", err
		}
		b.WriteString(s[last:f.Start])
		b.WriteString(r)
		last = f.End
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// verify fails closed when out still holds a card number.
func verify(out string) error {
	for _, f := range Detect(out) {
		if f.Type == CardNumber {
			return ErrUncleared
		}
	}
	return nil
}
