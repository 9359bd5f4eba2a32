package kms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	acct  = "111122223333"
	other = "777788889999"
	reg   = "us-east-1"
)

func openRing(t *testing.T, dir string) *KeyRing {
	t.Helper()
	k, err := Open(dir, reg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return k
}

func createKey(t *testing.T, k *KeyRing, account string) Key {
	t.Helper()
	key, err := k.CreateKey(t.Context(), account, "test key")
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return key
}

func TestCreateKeyPersists(t *testing.T) {
	dir := t.TempDir()
	k := openRing(t, dir)
	key := createKey(t, k, acct)
	if !validKeyID(key.ID) || key.ARN != "arn:aws:kms:us-east-1:111122223333:key/"+key.ID ||
		key.State != Enabled || key.Manager != ManagerCustomer || key.Version != 1 || key.Account != acct {
		t.Fatalf("CreateKey = %+v", key)
	}
	blob, arn, err := k.Encrypt(t.Context(), key.ID, []byte("secret"), map[string]string{"model": "m1"})
	if err != nil || arn != key.ARN {
		t.Fatalf("Encrypt = %v, %v", arn, err)
	}

	k2 := openRing(t, dir)
	got, err := k2.DescribeKey(t.Context(), key.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != key.ID || got.State != Enabled || got.Description != "test key" || !got.CreationDate.Equal(key.CreationDate) {
		t.Errorf("after reopen DescribeKey = %+v, want %+v", got, key)
	}
	pt, _, err := k2.Decrypt(t.Context(), blob, map[string]string{"model": "m1"})
	if err != nil || string(pt) != "secret" {
		t.Fatalf("Decrypt after reopen = %q, %v", pt, err)
	}
	// The key file holds no plaintext material: it must not decrypt under
	// anything but the root key (checked by the tamper test); here check mode.
	info, err := os.Stat(filepath.Join(dir, "keys", key.ID+".json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v", info.Mode(), err)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	k := openRing(t, t.TempDir())
	for _, a := range []string{"", "12345", "11112222333a", "1111222233334"} {
		if _, err := k.CreateKey(t.Context(), a, ""); !errors.Is(err, ErrValidation) {
			t.Errorf("CreateKey(account %q) error = %v", a, err)
		}
	}
}

func TestRootKey(t *testing.T) {
	dir := t.TempDir()
	k := openRing(t, dir)
	createKey(t, k, acct)
	root := filepath.Join(dir, "keys", rootKeyFile)
	info, err := os.Stat(root)
	if err != nil || info.Mode().Perm() != 0o600 || info.Size() != 32 {
		t.Fatalf("root key: %v, %v", info, err)
	}

	t.Run("too-open-refused", func(t *testing.T) {
		os.Chmod(root, 0o644)
		defer os.Chmod(root, 0o600)
		if _, err := Open(dir, reg, nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Open with a 0644 root key: %v", err)
		}
	})
	t.Run("missing-with-keys-refused", func(t *testing.T) {
		b, _ := os.ReadFile(root)
		os.Remove(root)
		defer os.WriteFile(root, b, 0o600)
		if _, err := Open(dir, reg, nil); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("Open without the root key: %v", err)
		}
	})
	t.Run("other-root-cannot-unwrap", func(t *testing.T) {
		b, _ := os.ReadFile(root)
		defer os.WriteFile(root, b, 0o600)
		os.WriteFile(root, make([]byte, 32), 0o600)
		if _, err := Open(dir, reg, nil); err == nil {
			t.Fatal("Open with the wrong root key succeeded")
		}
	})
	t.Run("interrupted-write-cleaned", func(t *testing.T) {
		junk := filepath.Join(dir, "keys", ".tmp-0000.json-123")
		os.WriteFile(junk, []byte("{half"), 0o600)
		openRing(t, dir)
		if _, err := os.Stat(junk); !os.IsNotExist(err) {
			t.Fatalf("temporary file survived Open: %v", err)
		}
	})
}

func TestKeyMaterialBoundToKey(t *testing.T) {
	dir := t.TempDir()
	k := openRing(t, dir)
	a, b := createKey(t, k, acct), createKey(t, k, acct)
	// Copy b's wrapped material into a's file: unwrapping must fail.
	pa, pb := filepath.Join(dir, "keys", a.ID+".json"), filepath.Join(dir, "keys", b.ID+".json")
	fa, _ := os.ReadFile(pa)
	fb, _ := os.ReadFile(pb)
	mat := func(f []byte) string {
		s := string(f)
		i := strings.Index(s, `"material": "`) + len(`"material": "`)
		return s[i : i+strings.Index(s[i:], `"`)]
	}
	os.WriteFile(pa, []byte(strings.Replace(string(fa), mat(fa), mat(fb), 1)), 0o600)
	if _, err := Open(dir, reg, nil); err == nil {
		t.Fatal("Open accepted material moved between keys")
	}
}

func TestKeyStates(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	blob, _, err := k.Encrypt(ctx, key.ID, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	encrypt := func() error { _, _, err := k.Encrypt(ctx, key.ID, []byte("x"), nil); return err }
	decrypt := func() error { _, _, err := k.Decrypt(ctx, blob, nil); return err }

	steps := []struct {
		name    string
		op      func() (Key, error)
		opErr   error
		state   KeyState
		cryptOK error
	}{
		{"disable", func() (Key, error) { return k.DisableKey(ctx, key.ID) }, nil, Disabled, ErrDisabled},
		{"rotate-disabled", func() (Key, error) { return k.RotateKey(ctx, key.ID) }, ErrDisabled, Disabled, ErrDisabled},
		{"enable", func() (Key, error) { return k.EnableKey(ctx, key.ARN) }, nil, Enabled, nil},
		{"cancel-not-pending", func() (Key, error) { return k.CancelKeyDeletion(ctx, key.ID) }, ErrInvalidState, Enabled, nil},
		{"schedule-bad-window", func() (Key, error) { return k.ScheduleKeyDeletion(ctx, key.ID, 6) }, ErrValidation, Enabled, nil},
		{"schedule", func() (Key, error) { return k.ScheduleKeyDeletion(ctx, key.ID, 7) }, nil, PendingDeletion, ErrInvalidState},
		{"enable-pending", func() (Key, error) { return k.EnableKey(ctx, key.ID) }, ErrInvalidState, PendingDeletion, ErrInvalidState},
		{"schedule-twice", func() (Key, error) { return k.ScheduleKeyDeletion(ctx, key.ID, 0) }, ErrInvalidState, PendingDeletion, ErrInvalidState},
		{"cancel", func() (Key, error) { return k.CancelKeyDeletion(ctx, key.ID) }, nil, Disabled, ErrDisabled},
		{"enable-again", func() (Key, error) { return k.EnableKey(ctx, key.ID) }, nil, Enabled, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			_, err := s.op()
			if !errors.Is(err, s.opErr) || (s.opErr == nil && err != nil) {
				t.Fatalf("op error = %v, want %v", err, s.opErr)
			}
			got, _ := k.DescribeKey(ctx, key.ID)
			if got.State != s.state {
				t.Fatalf("state = %s, want %s", got.State, s.state)
			}
			for name, f := range map[string]func() error{"Encrypt": encrypt, "Decrypt": decrypt} {
				if err := f(); !errors.Is(err, s.cryptOK) || (s.cryptOK == nil && err != nil) {
					t.Errorf("%s error = %v, want %v", name, err, s.cryptOK)
				}
			}
		})
	}
}

func TestScheduledDeletionPurge(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := openRing(t, dir)
	doomed, kept := createKey(t, k, acct), createKey(t, k, acct)
	blob, _, _ := k.Encrypt(ctx, doomed.ID, []byte("card vault"), nil)
	got, err := k.ScheduleKeyDeletion(ctx, doomed.ID, 7)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(got.DeletionDate); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour {
		t.Errorf("DeletionDate is %v away, want 7 days", d)
	}
	if purged, err := k.PurgeDeleted(ctx, time.Now()); err != nil || len(purged) != 0 {
		t.Fatalf("early PurgeDeleted = %v, %v", purged, err)
	}
	purged, err := k.PurgeDeleted(ctx, time.Now().Add(8*24*time.Hour))
	if err != nil || !slices.Equal(purged, []string{doomed.ARN}) {
		t.Fatalf("PurgeDeleted = %v, %v", purged, err)
	}
	if _, _, err := k.Decrypt(ctx, blob, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Decrypt after purge: %v", err)
	}
	k2 := openRing(t, dir)
	if _, err := k2.DescribeKey(ctx, doomed.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged key back after reopen: %v", err)
	}
	if _, err := k2.DescribeKey(ctx, kept.ID); err != nil {
		t.Errorf("kept key lost: %v", err)
	}
}

func TestDeleteKeyShreds(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := openRing(t, dir)
	key := createKey(t, k, acct)
	dk, err := k.GenerateDataKey(ctx, key.ID, map[string]string{"model": "m"})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := k.Sealer(ctx, key.ID)
	sealed, _ := s.Seal(ctx, []byte("4111111111111111"), []byte("tok_1"))
	if err := k.DeleteKey(ctx, key.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", key.ID+".json")); !os.IsNotExist(err) {
		t.Fatalf("key file still present: %v", err)
	}
	for _, ring := range []*KeyRing{k, openRing(t, dir)} {
		if _, _, err := ring.Decrypt(ctx, dk.CiphertextBlob, map[string]string{"model": "m"}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Decrypt of data key after delete: %v", err)
		}
		if _, err := s.Open(ctx, sealed, []byte("tok_1")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after delete: %v", err)
		}
	}
	if err := k.DeleteKey(ctx, key.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteKey: %v", err)
	}
}

func TestRotateKey(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := openRing(t, dir)
	key := createKey(t, k, acct)
	old, _, _ := k.Encrypt(ctx, key.ID, []byte("v1 data"), nil)
	rotated, err := k.RotateKey(ctx, key.ID)
	if err != nil || rotated.Version != 2 {
		t.Fatalf("RotateKey = %+v, %v", rotated, err)
	}
	nw, _, _ := k.Encrypt(ctx, key.ID, []byte("v2 data"), nil)
	if h, _ := parseBlob(nw); h.version != 2 {
		t.Errorf("new ciphertext uses version %d", h.version)
	}
	k2 := openRing(t, dir)
	for blob, want := range map[string]string{string(old): "v1 data", string(nw): "v2 data"} {
		pt, _, err := k2.Decrypt(ctx, []byte(blob), nil)
		if err != nil || string(pt) != want {
			t.Errorf("Decrypt after rotation and reopen = %q, %v; want %q", pt, err, want)
		}
	}
	if d, _ := k2.DescribeKey(ctx, key.ID); d.Version != 2 {
		t.Errorf("version after reopen = %d", d.Version)
	}
}

func TestResolve(t *testing.T) {
	ctx := t.Context()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	theirs := createKey(t, k, other)
	if err := k.CreateAlias(ctx, "alias/payments", key.ID); err != nil {
		t.Fatal(err)
	}
	if err := k.CreateAlias(ctx, "alias/payments", theirs.ARN); err != nil {
		t.Fatalf("same alias name in another account: %v", err)
	}
	tests := []struct {
		name    string
		account string
		ref     string
		want    string // key id, "" for ErrNotFound
	}{
		{"key-id", acct, key.ID, key.ID},
		{"key-arn", acct, key.ARN, key.ID},
		{"alias", acct, "alias/payments", key.ID},
		{"alias-other-account", other, "alias/payments", theirs.ID},
		{"alias-arn", "", "arn:aws:kms:us-east-1:111122223333:alias/payments", key.ID},
		{"cross-account-arn", acct, theirs.ARN, theirs.ID},
		{"cross-account-bare-id", acct, theirs.ID, ""},
		{"arn-wrong-account", acct, "arn:aws:kms:us-east-1:777788889999:key/" + key.ID, ""},
		{"arn-wrong-region", acct, "arn:aws:kms:eu-west-1:111122223333:key/" + key.ID, ""},
		{"unknown-alias", acct, "alias/nope", ""},
		{"alias-without-account", "", "alias/payments", ""},
		{"upper-case-id", acct, strings.ToUpper(key.ID), ""},
		{"garbage", acct, "arn:aws:kms:::::", ""},
		{"empty", acct, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := k.Resolve(ctx, tc.account, tc.ref)
			if tc.want == "" {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Resolve = %v, %v; want ErrNotFound", got.ID, err)
				}
				return
			}
			if err != nil || got.ID != tc.want {
				t.Fatalf("Resolve = %v, %v; want %s", got.ID, err, tc.want)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := openRing(t, dir)
	key := createKey(t, k, acct)
	for _, bad := range []string{"payments", "alias/", "alias/aws/bedrock", "alias/has space", "alias/" + strings.Repeat("a", 251)} {
		if err := k.CreateAlias(ctx, bad, key.ID); !errors.Is(err, ErrInvalidAlias) {
			t.Errorf("CreateAlias(%q) = %v, want ErrInvalidAlias", bad, err)
		}
	}
	if err := k.CreateAlias(ctx, "alias/a", key.ID); err != nil {
		t.Fatal(err)
	}
	key2 := createKey(t, k, acct)
	if err := k.CreateAlias(ctx, "alias/a", key2.ID); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("duplicate alias: %v", err)
	}
	if err := k.CreateAlias(ctx, "alias/b", "nonexistent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alias to missing key: %v", err)
	}
	k2 := openRing(t, dir)
	if got, err := k2.Resolve(ctx, acct, "alias/a"); err != nil || got.ID != key.ID {
		t.Fatalf("alias after reopen: %v, %v", got.ID, err)
	}
	if err := k2.DeleteAlias(ctx, acct, "alias/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.Resolve(ctx, acct, "alias/a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted alias resolves: %v", err)
	}
	if _, err := k2.DescribeKey(ctx, key.ID); err != nil {
		t.Errorf("DeleteAlias removed the key: %v", err)
	}
}

func TestDefaultKey(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	k := openRing(t, dir)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Go(func() {
			key, err := k.DefaultKey(ctx, acct, "bedrock")
			if err != nil {
				t.Error(err)
			}
			ids[i] = key.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent DefaultKey made several keys: %v", ids)
		}
	}
	key, _ := openRing(t, dir).DefaultKey(ctx, acct, "bedrock")
	if key.ID != ids[0] || key.Manager != ManagerAWS || !slices.Equal(key.Aliases, []string{"alias/aws/bedrock"}) {
		t.Errorf("DefaultKey after reopen = %+v", key)
	}
	theirs, _ := k.DefaultKey(ctx, other, "bedrock")
	if theirs.ID == key.ID {
		t.Error("two accounts share a default key")
	}
	if len(k.ListKeys(ctx, acct)) != 1 || len(k.ListKeys(ctx, other)) != 1 {
		t.Errorf("ListKeys = %v / %v", k.ListKeys(ctx, acct), k.ListKeys(ctx, other))
	}
	if err := k.DeleteAlias(ctx, acct, "alias/aws/bedrock"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an AWS-managed alias: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	k := openRing(t, t.TempDir())
	key := createKey(t, k, acct)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				ec := map[string]string{"i": string(rune('a' + i)), "j": string(rune('a' + j%26))}
				blob, _, err := k.Encrypt(ctx, key.ID, []byte("payload"), ec)
				if err != nil {
					t.Error(err)
					return
				}
				if pt, _, err := k.Decrypt(ctx, blob, ec); err != nil || string(pt) != "payload" {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if _, err := k.RotateKey(ctx, key.ID); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}
