package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"strata/internal/store/sqlite"
)

// gcmSealer is a real AES-256-GCM Sealer for tests (the kms package
// provides the production one).
type gcmSealer struct{ aead cipher.AEAD }

func newGCM(t testing.TB) *gcmSealer {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gcmSealer{a}
}

func (g *gcmSealer) Seal(_ context.Context, pt, aad []byte) ([]byte, error) {
	nonce := make([]byte, g.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return g.aead.Seal(nonce, nonce, pt, aad), nil
}

func (g *gcmSealer) Open(_ context.Context, ct, aad []byte) ([]byte, error) {
	n := g.aead.NonceSize()
	if len(ct) < n {
		return nil, errors.New("short ciphertext")
	}
	return g.aead.Open(nil, ct[:n], ct[n:], aad)
}

type principalKey struct{}

// allowAdmins lets only the "admin" principal detokenize.
func allowAdmins(ctx context.Context) error {
	if p, _ := ctx.Value(principalKey{}).(string); p == "admin" {
		return nil
	}
	return errors.New("not allowed: Detokenize")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func stores(t *testing.T) map[string]Store {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return map[string]Store{"mem": NewMemStore(), "records-sqlite": NewRecordStore(db)}
}

func TestVault(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_800_000_000, 0)}
			v, err := New(Options{Store: st, Sealer: newGCM(t), IndexKey: bytes.Repeat([]byte{7}, 32),
				Authorize: allowAdmins, TTL: time.Hour, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			admin := context.WithValue(ctx, principalKey{}, "admin")
			tok, err := v.Tokenize(ctx, "4111111111111111", "VISA")
			if err != nil {
				t.Fatal(err)
			}
			t.Run("token-shape", func(t *testing.T) {
				brand, last4, err := ParseToken(tok)
				if err != nil || brand != "VISA" || last4 != "1111" {
					t.Fatalf("ParseToken(%q) = %q, %q, %v", tok, brand, last4, err)
				}
				digits := 0
				for _, c := range tok {
					if c >= '0' && c <= '9' {
						digits++
					}
				}
				if digits != 4 {
					t.Errorf("token %q has %d digits, want exactly 4", tok, digits)
				}
			})
			t.Run("same-pan-same-token", func(t *testing.T) {
				tok2, err := v.Tokenize(ctx, "4111111111111111", "VISA")
				if err != nil || tok2 != tok {
					t.Fatalf("second Tokenize = %q, %v; want %q", tok2, err, tok)
				}
				tok3, err := v.Tokenize(ctx, "4242424242424242", "VISA")
				if err != nil || tok3 == tok {
					t.Fatalf("other PAN got %q, %v", tok3, err)
				}
			})
			t.Run("stored-encrypted-and-keyed", func(t *testing.T) {
				e, err := st.ByToken(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(e.Ciphertext, []byte("4111111111111111")) || bytes.Contains(e.Index, []byte("4111")) {
					t.Error("entry holds the cleartext PAN")
				}
				if len(e.Index) != 32 {
					t.Errorf("index length %d, want 32 (HMAC-SHA-256)", len(e.Index))
				}
			})
			t.Run("detokenize-allowed", func(t *testing.T) {
				pan, err := v.Detokenize(admin, tok)
				if err != nil || pan != "4111111111111111" {
					t.Fatalf("Detokenize = %q, %v", pan, err)
				}
			})
			t.Run("detokenize-denied", func(t *testing.T) {
				_, err := v.Detokenize(ctx, tok)
				if !errors.Is(err, ErrDenied) {
					t.Fatalf("Detokenize without permission: %v, want ErrDenied", err)
				}
			})
			t.Run("unknown-token", func(t *testing.T) {
				_, err := v.Detokenize(admin, "[CARD_VISA_1111_tok_bcdfghjkmnpq]")
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("got %v, want ErrNotFound", err)
				}
			})
			t.Run("expiry", func(t *testing.T) {
				clk.add(2 * time.Hour)
				if _, err := v.Detokenize(admin, tok); !errors.Is(err, ErrExpired) {
					t.Fatalf("after TTL: %v, want ErrExpired", err)
				}
				n, err := v.Purge(ctx)
				if err != nil || n != 2 {
					t.Fatalf("Purge = %d, %v; want 2", n, err)
				}
				tok4, err := v.Tokenize(ctx, "4111111111111111", "VISA")
				if err != nil || tok4 == tok {
					t.Fatalf("after expiry Tokenize = %q, %v; want a new token", tok4, err)
				}
			})
			t.Run("concurrent-same-pan", func(t *testing.T) {
				var wg sync.WaitGroup
				toks := make([]string, 8)
				for i := range toks {
					wg.Go(func() {
						var err error
						toks[i], err = v.Tokenize(ctx, "5555555555554444", "MASTERCARD")
						if err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				for _, x := range toks {
					if x != toks[0] {
						t.Fatalf("concurrent tokens differ: %v", toks)
					}
				}
			})
			t.Run("rejects-non-pan", func(t *testing.T) {
				if _, err := v.Tokenize(ctx, "4111-1111", "VISA"); err == nil {
					t.Fatal("tokenized a non-PAN")
				}
			})
		})
	}
}

func TestParseTokenRejects(t *testing.T) {
	for _, tc := range []struct{ name, tok string }{
		{"empty", ""},
		{"digits-id", "[CARD_VISA_1111_tok_123456789012]"},
		{"no-brackets", "CARD_VISA_1111_tok_bcdfghjkmnpq"},
		{"short-last4", "[CARD_VISA_111_tok_bcdfghjkmnpq]"},
		{"lower-brand", "[CARD_visa_1111_tok_bcdfghjkmnpq]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := ParseToken(tc.tok); !errors.Is(err, ErrBadToken) {
				t.Errorf("ParseToken(%q) = %v, want ErrBadToken", tc.tok, err)
			}
		})
	}
}

func TestNewRejectsShortKey(t *testing.T) {
	_, err := New(Options{Store: NewMemStore(), Sealer: newGCM(t), IndexKey: []byte("short")})
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "32") {
		t.Fatalf("New with short key: %v", err)
	}
}
