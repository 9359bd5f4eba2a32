// Package vault tokenizes card numbers: each PAN is replaced by a token that
// keeps the brand and last four digits but can never pass for a card, while
// the PAN itself is stored encrypted (through a Sealer, e.g. AES-256-GCM
// under a KMS key) and found again through a keyed HMAC index, never a
// plain hash (PCI DSS 3.5.1.1). Only callers the authorizer allows can turn
// a token back into its PAN, and entries expire.
//
// CVV, PIN and track data never enter the vault: the guard masks them.
package vault

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Sealer encrypts and decrypts small secrets bound to associated data. The
// kms package satisfies it; implementations must use authenticated
// encryption (AES-256-GCM) and be safe for concurrent use.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// Entry is one stored token. It holds no cleartext PAN.
type Entry struct {
	Token      string    // "[CARD_VISA_1111_tok_bcdfghjkmnpq]"
	Index      []byte    // HMAC-SHA-256 of the PAN under the index key
	Ciphertext []byte    // the PAN sealed with the token as associated data
	Brand      string    // card brand
	Last4      string    // last four digits
	CreatedAt  time.Time // when first stored
	ExpiresAt  time.Time // after this the entry is gone for all purposes
}

// Store keeps entries. Implementations are safe for concurrent use.
//
// Put fails with ErrExists if the token or the index is already stored
// (even expired, until DeleteExpired removes it). ByIndex and ByToken fail
// with ErrNotFound. Touch moves an entry's expiry; DeleteExpired removes
// entries that expired at or before now and returns how many.
type Store interface {
	Put(ctx context.Context, e Entry) error
	ByIndex(ctx context.Context, index []byte) (Entry, error)
	ByToken(ctx context.Context, token string) (Entry, error)
	Touch(ctx context.Context, token string, expiresAt time.Time) error
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
}

// Errors of the vault and its stores.
var (
	ErrNotFound  = errors.New("vault: token not found")
	ErrExists    = errors.New("vault: entry exists")
	ErrExpired   = errors.New("vault: token expired")
	ErrDenied    = errors.New("vault: detokenize denied")
	ErrBadToken  = errors.New("vault: malformed token")
	ErrBadConfig = errors.New("vault: bad configuration")
)

// DefaultTTL is how long an entry lives when Options.TTL is zero.
const DefaultTTL = 24 * time.Hour

// Options configure a Vault.
type Options struct {
	Store  Store  // non-nil
	Sealer Sealer // non-nil: encrypts the PANs
	// IndexKey keys the HMAC-SHA-256 index; at least 32 bytes. It must be
	// kept apart from the data, like any key (PCI DSS 3.6).
	IndexKey []byte
	// Authorize decides whether the caller in ctx may perform the
	// Detokenize action; nil denies everyone.
	Authorize func(ctx context.Context) error
	TTL       time.Duration    // entry lifetime; 0 means DefaultTTL
	Now       func() time.Time // clock; nil means time.Now
	Logger    *slog.Logger     // or nil to discard
}

// Vault tokenizes and detokenizes card numbers.
type Vault struct {
	store     Store
	sealer    Sealer
	key       []byte
	authorize func(ctx context.Context) error
	ttl       time.Duration
	now       func() time.Time
	log       *slog.Logger
}

// New returns a Vault.
func New(o Options) (*Vault, error) {
	if o.Store == nil || o.Sealer == nil {
		return nil, fmt.Errorf("%w: store and sealer are required", ErrBadConfig)
	}
	if len(o.IndexKey) < 32 {
		return nil, fmt.Errorf("%w: index key must be at least 32 bytes", ErrBadConfig)
	}
	v := &Vault{store: o.Store, sealer: o.Sealer, key: append([]byte(nil), o.IndexKey...),
		authorize: o.Authorize, ttl: o.TTL, now: o.Now, log: o.Logger}
	if v.ttl <= 0 {
		v.ttl = DefaultTTL
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.authorize == nil {
		v.authorize = func(context.Context) error { return ErrDenied }
	}
	return v, nil
}

// tokenAlphabet has no digits and no vowels: a token's id can neither add
// digits to the four it shows nor spell words.
const tokenAlphabet = "bcdfghjkmnpqrstvwxz"

const idLen = 12 // 19^12 ≈ 2^51 ids

// Token format: "[CARD_<BRAND>_<last4>_tok_<id>]". It holds exactly four
// digits, so it can never be or contain a 13-19 digit card number (nor pass
// a Luhn check as one), it states plainly that it is a token, and it keeps
// what a support conversation needs: the brand and the last four.
func formatToken(brand, last4, id string) string {
	return "[CARD_" + brand + "_" + last4 + "_tok_" + id + "]"
}

// ParseToken splits a token into brand and last four digits.
func ParseToken(tok string) (brand, last4 string, err error) {
	if !strings.HasPrefix(tok, "[CARD_") || !strings.HasSuffix(tok, "]") {
		return "", "", ErrBadToken
	}
	body := tok[len("[CARD_") : len(tok)-1]
	parts := strings.Split(body, "_")
	if len(parts) != 4 || parts[2] != "tok" || len(parts[1]) != 4 || len(parts[3]) != idLen || parts[0] == "" {
		return "", "", ErrBadToken
	}
	for _, c := range parts[1] {
		if c < '0' || c > '9' {
			return "", "", ErrBadToken
		}
	}
	for _, c := range parts[0] {
		if c < 'A' || c > 'Z' {
			return "", "", ErrBadToken
		}
	}
	for _, c := range parts[3] {
		if !strings.ContainsRune(tokenAlphabet, c) {
			return "", "", ErrBadToken
		}
	}
	return parts[0], parts[1], nil
}

func newID() (string, error) {
	var b [idLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random token id: %w", err)
	}
	for i := range b {
		// 256 = 13*19 + 9: reject nothing but fold; the bias (<4%) on a
		// non-secret id does not matter, uniqueness is checked by Put.
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b[:]), nil
}

func (v *Vault) index(pan string) []byte {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte("strata/vault/pan\x00"))
	m.Write([]byte(pan))
	return m.Sum(nil)
}

// Tokenize returns the token for pan, a string of 13-19 ASCII digits, with
// its brand. The same PAN gets the same token while its entry lives; using
// it again extends the entry's life.
func (v *Vault) Tokenize(ctx context.Context, pan, brand string) (string, error) {
	if len(pan) < 13 || len(pan) > 19 || strings.Trim(pan, "0123456789") != "" {
		return "", fmt.Errorf("vault: tokenize: not a card number")
	}
	if brand == "" || strings.Trim(brand, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", fmt.Errorf("vault: tokenize: bad brand %q", brand)
	}
	idx := v.index(pan)
	now := v.now()
	for attempt := 0; attempt < 4; attempt++ {
		e, err := v.store.ByIndex(ctx, idx)
		switch {
		case err == nil && now.Before(e.ExpiresAt):
			if err := v.store.Touch(ctx, e.Token, now.Add(v.ttl)); err != nil {
				return "", fmt.Errorf("vault: extending token: %w", err)
			}
			return e.Token, nil
		case err == nil:
			// Expired but not yet purged: remove it and mint a new token.
			if _, err := v.store.DeleteExpired(ctx, now); err != nil {
				return "", fmt.Errorf("vault: purging expired entries: %w", err)
			}
		case !errors.Is(err, ErrNotFound):
			return "", fmt.Errorf("vault: looking up index: %w", err)
		}
		id, err := newID()
		if err != nil {
			return "", err
		}
		last4 := pan[len(pan)-4:]
		tok := formatToken(brand, last4, id)
		ct, err := v.sealer.Seal(ctx, []byte(pan), []byte(tok))
		if err != nil {
			return "", fmt.Errorf("vault: sealing: %w", err)
		}
		err = v.store.Put(ctx, Entry{Token: tok, Index: idx, Ciphertext: ct, Brand: brand, Last4: last4,
			CreatedAt: now, ExpiresAt: now.Add(v.ttl)})
		if err == nil {
			v.log.DebugContext(ctx, "tokenized card", "token", tok)
			return tok, nil
		}
		if !errors.Is(err, ErrExists) {
			return "", fmt.Errorf("vault: storing: %w", err)
		}
		// Lost a race for the same PAN, or an id collision: look again.
	}
	return "", fmt.Errorf("vault: tokenize: too many conflicts")
}

// Detokenize returns the PAN behind token if the caller in ctx is allowed
// the Detokenize action and the entry has not expired.
func (v *Vault) Detokenize(ctx context.Context, token string) (string, error) {
	if err := v.authorize(ctx); err != nil {
		v.log.WarnContext(ctx, "detokenize denied", "token", token, "err", err)
		return "", fmt.Errorf("%w: %w", ErrDenied, err)
	}
	if _, _, err := ParseToken(token); err != nil {
		return "", err
	}
	e, err := v.store.ByToken(ctx, token)
	if err != nil {
		return "", fmt.Errorf("vault: detokenize: %w", err)
	}
	if !v.now().Before(e.ExpiresAt) {
		return "", ErrExpired
	}
	pt, err := v.sealer.Open(ctx, e.Ciphertext, []byte(token))
	if err != nil {
		return "", fmt.Errorf("vault: opening: %w", err)
	}
	if !hmac.Equal(v.index(string(pt)), e.Index) {
		return "", fmt.Errorf("vault: entry index does not match its PAN")
	}
	v.log.InfoContext(ctx, "detokenized card", "token", token)
	return string(pt), nil
}

// Purge deletes expired entries and returns how many.
func (v *Vault) Purge(ctx context.Context) (int, error) {
	n, err := v.store.DeleteExpired(ctx, v.now())
	if err != nil {
		return 0, fmt.Errorf("vault: purge: %w", err)
	}
	return n, nil
}
