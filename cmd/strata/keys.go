package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"strata/internal/iam"
	"strata/internal/kms"
)

// systemAccount owns the key that seals strata's own secrets (access-key
// secrets in the metadata store); no user can sign as it.
const systemAccount = "000000000000"

// keyRing adapts the kms key ring to what the import service needs.
type keyRing struct {
	*kms.KeyRing
}

func openKeyRing(ctx context.Context, dataDir, region string, log *slog.Logger) (*keyRing, error) {
	kr, err := kms.Open(dataDir, region, log)
	if err != nil {
		return nil, err
	}
	return &keyRing{kr}, nil
}

// systemSealer seals strata's own secrets under the system key.
func (k *keyRing) systemSealer(ctx context.Context) (iam.Sealer, error) {
	key, err := k.DefaultKey(ctx, systemAccount, "strata")
	if err != nil {
		return nil, fmt.Errorf("opening the system key: %w", err)
	}
	return k.Sealer(ctx, key.ARN)
}

// ResolveKey implements modelimport.Keys: a named key, or the account's
// aws/bedrock default key.
func (k *keyRing) ResolveKey(ctx context.Context, account, keyID string) (string, error) {
	var key kms.Key
	var err error
	if keyID == "" {
		key, err = k.DefaultKey(ctx, account, "bedrock")
	} else {
		key, err = k.Resolve(ctx, account, keyID)
	}
	if err != nil {
		return "", err
	}
	if key.State != kms.Enabled {
		return "", fmt.Errorf("the key %s is %s", key.ARN, key.State)
	}
	return key.ARN, nil
}

// DataKey implements modelimport.Keys.
func (k *keyRing) DataKey(ctx context.Context, keyARN string, encCtx map[string]string) ([]byte, []byte, error) {
	dk, err := k.GenerateDataKey(ctx, keyARN, encCtx)
	if err != nil {
		return nil, nil, err
	}
	return dk.Plaintext, dk.CiphertextBlob, nil
}

// EncryptStream implements modelimport.Keys.
func (k *keyRing) EncryptStream(w io.Writer, key, aad []byte) (io.WriteCloser, error) {
	return kms.NewWriter(w, key, aad)
}

// UnwrapDataKey implements runtime.Keys.
func (k *keyRing) UnwrapDataKey(ctx context.Context, wrapped []byte, encCtx map[string]string) ([]byte, error) {
	pt, _, err := k.Decrypt(ctx, wrapped, encCtx)
	return pt, err
}

// DecryptStream implements runtime.Keys.
func (k *keyRing) DecryptStream(r io.Reader, key, aad []byte) (io.Reader, error) {
	return kms.NewReader(r, key, aad)
}
