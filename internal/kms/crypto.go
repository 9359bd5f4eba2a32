package kms

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
)

// Ciphertext blob format (version 1), produced by Encrypt, GenerateDataKey
// and Sealer.Seal:
//
//	offset  size  field
//	0       1     format version, 1
//	1       1     purpose: 1 = Encrypt/GenerateDataKey, 2 = Sealer
//	2       16    key id (UUID bytes)
//	18      4     key material version, big-endian
//	22      12    AES-GCM nonce
//	34      n+16  AES-256-GCM ciphertext and tag
//
// The AAD is the first 22 bytes followed by the purpose's context: the
// canonical encryption context for purpose 1, the caller's AAD for
// purpose 2. So a blob cannot be moved to another key, version or purpose,
// or opened under another context.
const (
	blobFormat     = 1
	purposeEncrypt = 1
	purposeSeal    = 2
	blobHeaderLen  = 34
	blobAADLen     = 22
	gcmTagLen      = 16
	nonceLen       = 12

	// MaxPlaintext bounds Encrypt's plaintext, as AWS KMS does.
	MaxPlaintext = 4096
	// MaxSealPlaintext bounds Sealer.Seal's plaintext.
	MaxSealPlaintext = 1 << 20
	// DataKeySize is the size of data keys from GenerateDataKey (AES_256).
	DataKeySize = 32
)

// blobHeader is a parsed ciphertext blob.
type blobHeader struct {
	purpose byte
	keyID   string
	version uint32
	nonce   []byte
	sealed  []byte // ciphertext and tag
	aad     []byte // the first blobAADLen bytes
}

// parseBlob parses a ciphertext blob of any purpose. It checks only the
// framing; authenticity is checked by decryption.
func parseBlob(b []byte) (blobHeader, error) {
	if len(b) < blobHeaderLen+gcmTagLen {
		return blobHeader{}, fmt.Errorf("%w: %d bytes is too short", ErrInvalidCiphertext, len(b))
	}
	if b[0] != blobFormat {
		return blobHeader{}, fmt.Errorf("%w: unknown format %d", ErrInvalidCiphertext, b[0])
	}
	if b[1] != purposeEncrypt && b[1] != purposeSeal {
		return blobHeader{}, fmt.Errorf("%w: unknown purpose %d", ErrInvalidCiphertext, b[1])
	}
	h := blobHeader{
		purpose: b[1],
		keyID:   keyIDString(b[2:18]),
		version: binary.BigEndian.Uint32(b[18:22]),
		nonce:   b[22:34],
		sealed:  b[34:],
		aad:     b[:blobAADLen],
	}
	if h.version == 0 {
		return blobHeader{}, fmt.Errorf("%w: key version 0", ErrInvalidCiphertext)
	}
	return h, nil
}

// KeyIDOf returns the id of the key a ciphertext blob was made under,
// without decrypting it.
func KeyIDOf(blob []byte) (string, error) {
	h, err := parseBlob(blob)
	if err != nil {
		return "", err
	}
	return h.keyID, nil
}

// canonicalContext encodes an encryption context unambiguously and
// independently of map order: the pair count, then each pair sorted by key,
// each string length-prefixed (uvarint).
func canonicalContext(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	n := 0
	for k, v := range ec {
		keys = append(keys, k)
		n += len(k) + len(v) + 2*binary.MaxVarintLen64
	}
	slices.Sort(keys)
	b := make([]byte, 0, binary.MaxVarintLen64+n)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(ec[k])))
		b = append(b, ec[k]...)
	}
	return b
}

// seal encrypts plaintext under rec's current version. Caller holds mu
// (read).
func seal(rec *keyRecord, purpose byte, plaintext, context []byte) []byte {
	v := rec.meta.Version
	aead := rec.versions[v]
	out := make([]byte, blobHeaderLen, blobHeaderLen+len(plaintext)+gcmTagLen)
	out[0] = blobFormat
	out[1] = purpose
	id := keyIDBytes(rec.meta.ID)
	copy(out[2:18], id[:])
	binary.BigEndian.PutUint32(out[18:22], v)
	rand.Read(out[22:34])
	aad := append(slices.Clip(out[:blobAADLen]), context...)
	return aead.Seal(out, out[22:34], plaintext, aad)
}

// open decrypts a parsed blob with rec. Caller holds mu (read).
func open(rec *keyRecord, h blobHeader, context []byte) ([]byte, error) {
	aead := rec.versions[h.version]
	if aead == nil {
		return nil, fmt.Errorf("%w: key version %d does not exist", ErrInvalidCiphertext, h.version)
	}
	aad := append(slices.Clip(h.aad), context...)
	pt, err := aead.Open(nil, h.nonce, h.sealed, aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}

// Encrypt encrypts up to MaxPlaintext bytes under the key's current
// version, binding the encryption context. It returns the ciphertext blob
// and the key ARN.
func (k *KeyRing) Encrypt(ctx context.Context, ref string, plaintext []byte, encCtx map[string]string) ([]byte, string, error) {
	if len(plaintext) == 0 || len(plaintext) > MaxPlaintext {
		return nil, "", fmt.Errorf("%w: plaintext must be 1 to %d bytes", ErrValidation, MaxPlaintext)
	}
	return k.encrypt(ref, purposeEncrypt, plaintext, canonicalContext(encCtx))
}

func (k *KeyRing) encrypt(ref string, purpose byte, plaintext, context []byte) ([]byte, string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	rec, err := k.resolveLocked("", ref)
	if err != nil {
		return nil, "", err
	}
	if err := usable(rec); err != nil {
		return nil, "", err
	}
	return seal(rec, purpose, plaintext, context), rec.meta.ARN, nil
}

// Decrypt decrypts a blob from Encrypt or GenerateDataKey given the same
// encryption context. The blob names its key; Decrypt returns that key's
// ARN, which a caller that expects a particular key must compare.
func (k *KeyRing) Decrypt(ctx context.Context, blob []byte, encCtx map[string]string) ([]byte, string, error) {
	return k.decrypt(blob, purposeEncrypt, "", canonicalContext(encCtx))
}

func (k *KeyRing) decrypt(blob []byte, purpose byte, wantKeyID string, context []byte) ([]byte, string, error) {
	h, err := parseBlob(blob)
	if err != nil {
		return nil, "", err
	}
	if h.purpose != purpose || (wantKeyID != "" && h.keyID != wantKeyID) {
		return nil, "", ErrInvalidCiphertext
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	rec := k.keys[h.keyID]
	if rec == nil {
		return nil, "", fmt.Errorf("%w: key %s", ErrNotFound, h.keyID)
	}
	if err := usable(rec); err != nil {
		return nil, "", err
	}
	pt, err := open(rec, h, context)
	if err != nil {
		return nil, "", err
	}
	return pt, rec.meta.ARN, nil
}

// DataKey is a fresh data key: use Plaintext, store CiphertextBlob, and
// forget Plaintext (clear it) once done.
type DataKey struct {
	Plaintext      []byte // DataKeySize bytes
	CiphertextBlob []byte // Plaintext encrypted under the key
	KeyARN         string
}

// GenerateDataKey returns a new random 256-bit data key, in plaintext and
// encrypted under the key with the encryption context bound.
func (k *KeyRing) GenerateDataKey(ctx context.Context, ref string, encCtx map[string]string) (DataKey, error) {
	pt := make([]byte, DataKeySize)
	rand.Read(pt)
	blob, arn, err := k.encrypt(ref, purposeEncrypt, pt, canonicalContext(encCtx))
	if err != nil {
		return DataKey{}, err
	}
	return DataKey{Plaintext: pt, CiphertextBlob: blob, KeyARN: arn}, nil
}

// Sealer seals and opens values under one key, for packages that keep
// encrypted records (the guard's token vault). Rotation is transparent:
// Seal uses the key's current version and Open any version. A Sealer is
// safe for concurrent use.
type Sealer struct {
	kr    *KeyRing
	keyID string
	arn   string
}

// Sealer returns a Sealer for the key named by ref (key id, key ARN or
// alias ARN).
func (k *KeyRing) Sealer(ctx context.Context, ref string) (*Sealer, error) {
	key, err := k.Resolve(ctx, "", ref)
	if err != nil {
		return nil, err
	}
	return &Sealer{kr: k, keyID: key.ID, arn: key.ARN}, nil
}

// KeyARN returns the ARN of the sealer's key.
func (s *Sealer) KeyARN() string { return s.arn }

// Seal encrypts plaintext (at most MaxSealPlaintext bytes), binding aad.
func (s *Sealer) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	if len(plaintext) > MaxSealPlaintext {
		return nil, fmt.Errorf("%w: plaintext longer than %d bytes", ErrValidation, MaxSealPlaintext)
	}
	blob, _, err := s.kr.encrypt(s.keyID, purposeSeal, plaintext, aad)
	return blob, err
}

// Open decrypts a Seal result made by this sealer's key with the same aad.
func (s *Sealer) Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error) {
	pt, _, err := s.kr.decrypt(ciphertext, purposeSeal, s.keyID, aad)
	return pt, err
}
