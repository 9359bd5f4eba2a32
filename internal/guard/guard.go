package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// ErrRefused wraps every error of the Guard's input and output paths: the
// request must fail (fail closed), and no text is returned.
var ErrRefused = errors.New("guard: request refused")

// Tokenizer replaces a card number by a vault token. *vault.Vault
// satisfies it. pan is 13-19 ASCII digits; brand is one of the Brand
// constants. The token must not contain a card number.
type Tokenizer interface {
	Tokenize(ctx context.Context, pan, brand string) (string, error)
}

// Options configure a Guard.
type Options struct {
	// Tokenizer replaces card numbers by vault tokens; nil masks them
	// instead (brand and last four, see MaskOf).
	Tokenizer Tokenizer
	// Anonymize lists the non-card PII types that Input replaces by
	// "{TYPE}" as Bedrock's ANONYMIZE does; nil leaves them.
	Anonymize []Entity
	// Logger gets one debug line per call with finding counts (never
	// values); nil discards.
	Logger *slog.Logger
}

// Guard clears text on its way to a model and masks card data on its way
// out. It is safe for concurrent use.
type Guard struct {
	tok       Tokenizer
	anonymize []Entity
	log       *slog.Logger
}

// New returns a Guard.
func New(o Options) *Guard {
	g := &Guard{tok: o.Tokenizer, anonymize: o.Anonymize, log: o.Logger}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	return g
}

// Input scans raw text bound for a model. Card numbers become vault tokens
// (or masks without a tokenizer); CVV, expiry, PIN and track data are
// masked and never stored; the Anonymize types become "{TYPE}". It returns
// the cleared Text and the findings (offsets into raw). Any failure - a
// tokenizer or sealer error, a cancelled ctx, card data that survives -
// returns an error wrapping ErrRefused and no text.
func (g *Guard) Input(ctx context.Context, raw string) (t Text, fs []Finding, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, fs, err = Text{}, nil, fmt.Errorf("%w: scanner panic: %v", ErrRefused, r)
		}
	}()
	if err := ctx.Err(); err != nil {
		return Text{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	fs = Detect(raw)
	if len(g.anonymize) > 0 {
		// Card data is always removed, whatever the PII list says.
		fs = append(fs, DetectPII(raw, g.anonymize)...)
	}
	if enc := DetectEncoded(raw); len(enc) > 0 {
		fs = append(fs, enc...)
	}
	fs = resolve(fs)
	out, err := replace(raw, fs, func(f Finding) (string, error) {
		if f.Type != CardNumber || f.Track || f.Encoded || g.tok == nil {
			return MaskOf(f), nil
		}
		pan := panDigits(raw[f.Start:f.End])
		if len(pan) < minPAN || len(pan) > maxPAN {
			return "", fmt.Errorf("card number of %d digits", len(pan))
		}
		tok, err := g.tok.Tokenize(ctx, pan, f.Brand)
		if err != nil {
			return "", fmt.Errorf("tokenizing: %w", err)
		}
		return tok, nil
	})
	if err == nil && len(fs) > 0 {
		// With no findings out is raw, which Detect just cleared.
		err = verify(out)
	}
	if err != nil {
		g.log.WarnContext(ctx, "guard refused input", "findings", len(fs), "err", err)
		return Text{}, nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	g.log.DebugContext(ctx, "guard cleared input", "findings", len(fs), "types", typeCounts(fs))
	return cleared(out), fs, nil
}

// InputAll clears several texts (e.g. the turns of a conversation). A card
// number split across two turns is caught by also scanning the joined
// text; if that finds a card no single turn holds, the request is refused.
func (g *Guard) InputAll(ctx context.Context, raws []string) ([]Text, error) {
	out := make([]Text, len(raws))
	n := 0
	for i, r := range raws {
		t, fs, err := g.Input(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = t
		for _, f := range fs {
			if f.Type == CardNumber {
				n++
			}
		}
	}
	joined := 0
	for _, f := range Detect(strings.Join(raws, "\n")) {
		if f.Type == CardNumber {
			joined++
		}
	}
	if joined > n {
		return nil, fmt.Errorf("%w: card number split across messages", ErrRefused)
	}
	return out, nil
}

// Output masks card data in a complete model output before it leaves.
func (g *Guard) Output(ctx context.Context, s string) (string, []Finding, error) {
	t, fs, err := Mask(s)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if len(fs) > 0 {
		g.log.InfoContext(ctx, "guard masked output", "findings", len(fs), "types", typeCounts(fs))
	}
	return t.String(), fs, nil
}

// OutputStream returns a Stream that masks card data in a streamed model
// output; see Stream. Any Write error must end the response.
func (g *Guard) OutputStream() *Stream { return NewStream() }

// panDigits returns the ASCII digits of the card number written in s.
func panDigits(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		k, v, w := unitAt(s, i)
		if k == uDigit {
			b = append(b, '0'+v)
		}
		if w < 1 {
			w = 1
		}
		i += w
	}
	return string(b)
}

func typeCounts(fs []Finding) map[Entity]int {
	m := make(map[Entity]int)
	for _, f := range fs {
		m[f.Type]++
	}
	return m
}
