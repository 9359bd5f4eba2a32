package kms

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestEncryptionContext(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	ec := map[string]string{"aws:bedrock:model": "m1", "purpose": "weights"}
	blob, _, err := k.Encrypt(ctx, key.ID, []byte("hello"), ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ec   map[string]string
		ok   bool
	}{
		{"same", map[string]string{"purpose": "weights", "aws:bedrock:model": "m1"}, true},
		{"missing", nil, false},
		{"subset", map[string]string{"purpose": "weights"}, false},
		{"extra-pair", map[string]string{"aws:bedrock:model": "m1", "purpose": "weights", "x": ""}, false},
		{"value-differs", map[string]string{"aws:bedrock:model": "m2", "purpose": "weights"}, false},
		{"case-differs", map[string]string{"aws:bedrock:model": "M1", "purpose": "weights"}, false},
		{"boundary-shift", map[string]string{"aws:bedrock:model": "m1purpose", "": "weights"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, arn, err := k.Decrypt(ctx, blob, tc.ec)
			if tc.ok {
				if err != nil || string(pt) != "hello" || arn != key.ARN {
					t.Fatalf("Decrypt = %q, %s, %v", pt, arn, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidCiphertext) {
				t.Fatalf("Decrypt error = %v, want ErrInvalidCiphertext", err)
			}
		})
	}
	// A nil and an empty context are the same context.
	blob2, _, _ := k.Encrypt(ctx, key.ID, []byte("x"), nil)
	if _, _, err := k.Decrypt(ctx, blob2, map[string]string{}); err != nil {
		t.Errorf("nil vs empty context: %v", err)
	}
}

func TestCiphertextTamper(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	other := createKey(t, k, acct)
	blob, _, _ := k.Encrypt(ctx, key.ID, []byte("plaintext"), nil)
	for i := range blob {
		b := bytes.Clone(blob)
		b[i] ^= 0x80
		if _, _, err := k.Decrypt(ctx, b, nil); err == nil {
			t.Errorf("byte %d flipped: Decrypt succeeded", i)
		}
	}
	// Re-labelled with another key's id.
	b := bytes.Clone(blob)
	id := keyIDBytes(other.ID)
	copy(b[2:18], id[:])
	if _, _, err := k.Decrypt(ctx, b, nil); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("blob moved to another key: %v", err)
	}
	for _, n := range []int{0, 1, blobHeaderLen, blobHeaderLen + gcmTagLen - 1} {
		if _, _, err := k.Decrypt(ctx, blob[:n], nil); !errors.Is(err, ErrInvalidCiphertext) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
}

func TestPlaintextLimits(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	for _, n := range []int{0, MaxPlaintext + 1} {
		if _, _, err := k.Encrypt(ctx, key.ID, make([]byte, n), nil); !errors.Is(err, ErrValidation) {
			t.Errorf("Encrypt of %d bytes: %v", n, err)
		}
	}
	if _, _, err := k.Encrypt(ctx, key.ID, make([]byte, MaxPlaintext), nil); err != nil {
		t.Errorf("Encrypt of %d bytes: %v", MaxPlaintext, err)
	}
	s, _ := k.Sealer(ctx, key.ID)
	if _, err := s.Seal(ctx, make([]byte, MaxSealPlaintext+1), nil); !errors.Is(err, ErrValidation) {
		t.Errorf("Seal too large: %v", err)
	}
}

func TestGenerateDataKey(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	ec := map[string]string{"model": "arn:aws:bedrock:us-east-1:111122223333:imported-model/abc"}
	dk, err := k.GenerateDataKey(ctx, key.ARN, ec)
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Plaintext) != DataKeySize || dk.KeyARN != key.ARN {
		t.Fatalf("GenerateDataKey = %d bytes, %s", len(dk.Plaintext), dk.KeyARN)
	}
	if id, err := KeyIDOf(dk.CiphertextBlob); err != nil || id != key.ID {
		t.Errorf("KeyIDOf = %s, %v", id, err)
	}
	pt, _, err := k.Decrypt(ctx, dk.CiphertextBlob, ec)
	if err != nil || !bytes.Equal(pt, dk.Plaintext) {
		t.Fatalf("Decrypt of data key: %v", err)
	}
	dk2, _ := k.GenerateDataKey(ctx, key.ARN, ec)
	if bytes.Equal(dk.Plaintext, dk2.Plaintext) {
		t.Fatal("two data keys are equal")
	}
	// The data key drives the stream cipher end to end.
	ct := encryptStream(t, dk.Plaintext, []byte("shard-1"), []byte("weights"), 3)
	pt2, err := decryptStream(pt, []byte("shard-1"), ct)
	if err != nil || string(pt2) != "weights" {
		t.Fatalf("stream under unwrapped data key: %v", err)
	}
}

func TestSealer(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	otherKey := createKey(t, k, acct)
	s, err := k.Sealer(ctx, key.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyARN() != key.ARN {
		t.Errorf("KeyARN = %s", s.KeyARN())
	}
	sealed, err := s.Seal(ctx, []byte("4111111111111111"), []byte("tok_abc"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.Open(ctx, sealed, []byte("tok_abc")); err != nil || string(pt) != "4111111111111111" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := s.Open(ctx, sealed, []byte("tok_abd")); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("Open with other aad: %v", err)
	}
	os, _ := k.Sealer(ctx, otherKey.ID)
	if _, err := os.Open(ctx, sealed, []byte("tok_abc")); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("Open by another key's sealer: %v", err)
	}
	// Sealed blobs are not Decrypt blobs, and the reverse.
	if _, _, err := k.Decrypt(ctx, sealed, nil); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("Decrypt of a sealed blob: %v", err)
	}
	enc, _, _ := k.Encrypt(ctx, key.ID, []byte("x"), nil)
	if _, err := s.Open(ctx, enc, canonicalContext(nil)); !errors.Is(err, ErrInvalidCiphertext) {
		t.Errorf("Open of an Encrypt blob: %v", err)
	}
	// Rotation: old seals still open.
	k.RotateKey(ctx, key.ID)
	if _, err := s.Open(ctx, sealed, []byte("tok_abc")); err != nil {
		t.Errorf("Open after rotation: %v", err)
	}
	if _, err := k.Sealer(ctx, "alias/none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Sealer of unknown key: %v", err)
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		err    error
		code   string
		status int
	}{
		{fmt.Errorf("x: %w", ErrNotFound), "NotFoundException", 404},
		{ErrDisabled, "DisabledException", 409},
		{ErrInvalidState, "KMSInvalidStateException", 409},
		{ErrStreamCorrupt, "InvalidCiphertextException", 400},
		{ErrAlreadyExists, "AlreadyExistsException", 409},
		{ErrInvalidAlias, "InvalidAliasNameException", 400},
		{ErrValidation, "ValidationException", 400},
		{errors.New("disk"), "KMSInternalException", 500},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			if code, status := Code(tc.err); code != tc.code || status != tc.status {
				t.Errorf("Code = %s %d", code, status)
			}
		})
	}
}

func FuzzDecryptBlob(f *testing.F) {
	k, err := Open(f.TempDir(), reg, nil)
	if err != nil {
		f.Fatal(err)
	}
	key, err := k.CreateKey(f.Context(), acct, "")
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := k.Encrypt(f.Context(), key.ID, []byte("plain"), map[string]string{"a": "b"})
	s, _ := k.Sealer(f.Context(), key.ID)
	sealed, _ := s.Seal(f.Context(), []byte("sealed"), []byte("a"))
	f.Add(good)
	f.Add(sealed)
	f.Add([]byte{1, 1})
	id := keyIDBytes(key.ID)
	f.Fuzz(func(t *testing.T, blob []byte) {
		// Fuzz workers are separate processes with their own key ring:
		// point the blob at this process's key so decryption is exercised.
		if len(blob) >= 18 {
			blob = bytes.Clone(blob)
			copy(blob[2:18], id[:])
		}
		h, err := parseBlob(blob)
		if err == nil && (len(h.sealed) < gcmTagLen || len(h.nonce) != nonceLen || h.version == 0) {
			t.Fatalf("parseBlob accepted a malformed blob: %+v", h)
		}
		pt, _, err := k.Decrypt(t.Context(), blob, map[string]string{"a": "b"})
		if err == nil && (!bytes.Equal(blob, good) || string(pt) != "plain") {
			t.Fatalf("forged blob decrypted to %q", pt)
		}
		pt, err = s.Open(t.Context(), blob, []byte("a"))
		if err == nil && (!bytes.Equal(blob, sealed) || string(pt) != "sealed") {
			t.Fatalf("forged seal opened to %q", pt)
		}
	})
}
