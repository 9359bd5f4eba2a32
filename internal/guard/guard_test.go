package guard_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"strata/internal/guard"
	"strata/internal/guard/vault"
)

type gcm struct{ a cipher.AEAD }

func newGCM(t *testing.T) *gcm {
	k := make([]byte, 32)
	rand.Read(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcm{a}
}

func (g *gcm) Seal(_ context.Context, pt, aad []byte) ([]byte, error) {
	n := make([]byte, g.a.NonceSize())
	rand.Read(n)
	return g.a.Seal(n, n, pt, aad), nil
}

func (g *gcm) Open(_ context.Context, ct, aad []byte) ([]byte, error) {
	n := g.a.NonceSize()
	return g.a.Open(nil, ct[:n], ct[n:], aad)
}

// failingSealer is a key service that is down.
type failingSealer struct{}

func (failingSealer) Seal(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("kms unavailable")
}
func (failingSealer) Open(context.Context, []byte, []byte) ([]byte, error) {
	return nil, errors.New("kms unavailable")
}

func newVault(t *testing.T, s vault.Sealer) *vault.Vault {
	v, err := vault.New(vault.Options{Store: vault.NewMemStore(), Sealer: s, IndexKey: make([]byte, 32),
		Authorize: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestGuardInputTokenizes(t *testing.T) {
	v := newVault(t, newGCM(t))
	g := guard.New(guard.Options{Tokenizer: v, Anonymize: []guard.Entity{guard.Email}})
	in := "card 4111 1111 1111 1111 exp 12/27 cvv 123, mail me at a.b@example.com"
	txt, fs, err := g.Input(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !txt.Valid() {
		t.Fatal("Input returned an invalid Text")
	}
	out := txt.String()
	for _, bad := range []string{"4111 1111", "12/27", "123", "a.b@example.com"} {
		if strings.Contains(out, bad) {
			t.Errorf("cleared text %q still holds %q", out, bad)
		}
	}
	if !strings.Contains(out, "[CARD_VISA_1111_tok_") || !strings.Contains(out, "{EMAIL}") {
		t.Errorf("cleared text %q lacks the token or the {EMAIL} tag", out)
	}
	if len(fs) != 4 {
		t.Errorf("findings %+v, want 4", fs)
	}
	tok := out[strings.Index(out, "[CARD_"):]
	tok = tok[:strings.Index(tok, "]")+1]
	pan, err := v.Detokenize(t.Context(), tok)
	if err != nil || pan != "4111111111111111" {
		t.Errorf("Detokenize(%q) = %q, %v", tok, pan, err)
	}
	// The same card in another request gets the same token.
	txt2, _, err := g.Input(t.Context(), "again: 4111-1111-1111-1111")
	if err != nil || !strings.Contains(txt2.String(), tok) {
		t.Errorf("second input %q, %v; want token %s", txt2.String(), err, tok)
	}
}

func TestGuardFailsClosed(t *testing.T) {
	g := guard.New(guard.Options{Tokenizer: newVault(t, failingSealer{})})
	cases := []struct {
		name string
		ctx  func() context.Context
		in   string
	}{
		{"sealer-fails", t.Context, "pay with 4242424242424242 please"},
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, "hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			txt, fs, err := g.Input(tc.ctx(), tc.in)
			if !errors.Is(err, guard.ErrRefused) {
				t.Fatalf("Input error = %v, want ErrRefused", err)
			}
			if txt.Valid() || txt.String() != "" || fs != nil {
				t.Fatalf("refused Input still returned text %q / findings %v", txt.String(), fs)
			}
		})
	}
	// Text without card data needs no sealer and passes.
	if _, _, err := g.Input(t.Context(), "what is my balance?"); err != nil {
		t.Fatalf("clean input refused: %v", err)
	}
}

func TestGuardInputAllSplitAcrossTurns(t *testing.T) {
	g := guard.New(guard.Options{})
	_, err := g.InputAll(t.Context(), []string{"my card is 4111 1111", "1111 1111"})
	if !errors.Is(err, guard.ErrRefused) {
		t.Fatalf("card split across turns: %v, want ErrRefused", err)
	}
	if _, err := g.InputAll(t.Context(), []string{"hi", "what is my balance"}); err != nil {
		t.Fatal(err)
	}
}

func TestGuardOutputStream(t *testing.T) {
	g := guard.New(guard.Options{})
	st := g.OutputStream()
	var out strings.Builder
	for _, c := range []string{"Your card 55", "55 5555 55", "55 4444 is ", "on file."} {
		o, err := st.Write(c)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(o)
	}
	o, err := st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString(o)
	if got, want := out.String(), "Your card [MASTERCARD ****4444] is on file."; got != want {
		t.Errorf("stream output %q, want %q", got, want)
	}
}
