// Package kms is strata's key ring: customer-owned symmetric keys that
// behave like AWS KMS keys, and the envelope encryption built on them.
//
// A KeyRing keeps its keys in a data directory. Each key is one JSON file,
// DIR/keys/<key id>.json, holding its metadata and its key material
// versions, each wrapped (AES-256-GCM) under a root key read from
// DIR/keys/root.key (32 random bytes, mode 0600, made on first start).
// Every write is atomic (temporary file, fsync, rename, fsync of the
// directory), so a killed process never leaves a half-written key.
// Deleting a key removes its file: whatever was encrypted under it can no
// longer be decrypted (crypto-shredding). One process owns a directory.
//
// Keys are named as AWS names them: a UUID key id, an ARN
// arn:aws:kms:REGION:ACCOUNT:key/ID, and aliases alias/NAME. Encrypt,
// Decrypt and GenerateDataKey bind an encryption context (string pairs) to
// the ciphertext as additional authenticated data, as AWS does; Decrypt
// needs the same context. Rotation adds a key material version; old
// versions stay to decrypt old ciphertexts.
//
// Large artifacts use envelope encryption: GenerateDataKey gives a fresh
// data key and its wrapped form; NewWriter and NewReader encrypt a stream
// under the data key in fixed-size AES-256-GCM chunks (the STREAM
// construction), so truncation, reordering and splicing are detected and
// memory stays constant. The wrapped data key is stored beside the
// artifact.
//
// Sealer gives other packages (the guard's token vault) Seal and Open under
// one key.
package kms
