package localfs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"strata/internal/blob"
	"strata/internal/blob/blobtest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

func TestStaleTempRemovedOnOpen(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	stale := filepath.Join(dir, tmpDir, "deadbeef")
	fresh := filepath.Join(dir, tmpDir, "cafe")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half a shard"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * StaleTempAge)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	s, err = New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temp file survived: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	if n, err := s.CleanTemp(0); err != nil || n != 1 {
		t.Errorf("CleanTemp(0) = %d, %v; want 1", n, err)
	}
	list, _ := s.List(t.Context(), "")
	if len(list) != 0 {
		t.Errorf("temp files visible as objects: %v", list)
	}
}

func TestSymlinkEscapeRefused(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStoreAt(t, dir)
	if err := os.Symlink(outside, filepath.Join(dir, objectsDir, "link")); err != nil {
		t.Fatal(err)
	}
	if rc, err := s.Get(t.Context(), "link/secret"); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("read %q through a symlink out of the store", b)
	}
	if _, err := s.Put(t.Context(), "link/planted", bytes.NewReader([]byte("x"))); err == nil {
		t.Fatal("Put wrote through a symlink out of the store")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Fatalf("file planted outside the store: %v", err)
	}
}

func newStoreAt(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkPut measures Put throughput of a 64 MiB object, fsync included.
func BenchmarkPut(b *testing.B) {
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	payload := bytes.Repeat([]byte("0123456789abcdef"), 4<<20) // 64 MiB
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := s.Put(b.Context(), "bench/obj", bytes.NewReader(payload)); err != nil {
			b.Fatal(err)
		}
	}
}
