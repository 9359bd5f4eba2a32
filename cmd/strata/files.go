package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"strata/internal/apierr"
)

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash leaves the old file or the new one, never a part.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// writeCredentials writes an AWS shared-credentials file with one profile.
func writeCredentials(path, id, secret, region string) error {
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n# region = %s\n", id, secret, region)
	return writeFileAtomic(path, []byte(body), 0o600)
}

// readOrCreate returns the contents of a small id file, creating it with a
// random id the first time.
func readOrCreate(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	var r [8]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

func unknownOperation(r *http.Request) error {
	return apierr.New(apierr.UnknownOperation, "No operation matches %s %s", r.Method, r.URL.EscapedPath())
}
