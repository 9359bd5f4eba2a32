package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"strata/internal/guard"
)

const guardHelp = `usage: strata guard scan [--mask] [--pii] < text

Scans the text on stdin for card data (card numbers, CVV, expiry, PIN,
track data) and prints the findings as a JSON array of
{"type","start","end"} with byte offsets into the input; type is the
Bedrock Guardrails entity name (e.g. CREDIT_DEBIT_CARD_NUMBER). Values are
never printed. With --mask it prints the masked text instead; with --pii it
also finds the other PII types (email, phone, SSN, IBAN, ...).
`

// maxGuardInput bounds what "guard scan" reads from stdin.
const maxGuardInput = 64 << 20

func runGuard(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "scan" {
		fmt.Fprint(os.Stderr, guardHelp)
		return fmt.Errorf("want the scan subcommand")
	}
	fs := flag.NewFlagSet("guard scan", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(os.Stderr, guardHelp); fs.PrintDefaults() }
	mask := fs.Bool("mask", false, "print the masked text instead of the findings")
	pii := fs.Bool("pii", false, "also find the non-card PII types")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	in, err := io.ReadAll(io.LimitReader(os.Stdin, maxGuardInput+1))
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if len(in) > maxGuardInput {
		return fmt.Errorf("input larger than %d bytes", maxGuardInput)
	}
	return guardScan(os.Stdout, string(in), *mask, *pii)
}

// scanFinding is the printed shape: type and offsets, never the value.
type scanFinding struct {
	Type  guard.Entity `json:"type"`
	Start int          `json:"start"`
	End   int          `json:"end"`
}

func guardScan(w io.Writer, in string, mask, pii bool) error {
	if mask {
		src := in
		if pii {
			src = maskAll(in, merge(guard.DetectCardData(in), guard.DetectPII(in, nil)))
		}
		// Mask re-checks and fails rather than print a card number.
		t, _, err := guard.Mask(src)
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, t.String())
		return err
	}
	found := guard.DetectCardData(in)
	if pii {
		found = merge(found, guard.DetectPII(in, nil))
	}
	out := make([]scanFinding, 0, len(found))
	for _, f := range found {
		out = append(out, scanFinding{f.Type, f.Start, f.End})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// maskAll replaces every finding by its mask (card data) or {TYPE} tag.
func maskAll(in string, fs []guard.Finding) string {
	var b []byte
	last := 0
	for _, f := range fs {
		b = append(b, in[last:f.Start]...)
		b = append(b, guard.MaskOf(f)...)
		last = f.End
	}
	return string(append(b, in[last:]...))
}

// merge adds the findings of b that overlap none of a (card data first).
func merge(a, b []guard.Finding) []guard.Finding {
	out := append([]guard.Finding(nil), a...)
	for _, f := range b {
		overlaps := false
		for _, g := range a {
			if f.Start < g.End && g.Start < f.End {
				overlaps = true
				break
			}
		}
		if !overlaps {
			out = append(out, f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out
}
