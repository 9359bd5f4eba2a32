// Package blobtest is the conformance suite for blob.Store: every
// implementation's tests call Run, so all stores behave alike (DESIGN
// invariant 5).
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"strata/internal/blob"
)

// Option adapts the suite to a store whose backend has a known limit.
type Option func(*config)

type config struct {
	keepSharedParent bool
}

// KeepSharedParent keeps an object beside the nested keys that the
// concurrency test puts and deletes from several goroutines at once, so
// their shared parent folder never empties. It is for S3 servers over a
// POSIX folder (versitygw) that prune a deleted key's empty parent folders
// without guarding against a concurrent Put beneath them (409
// ExistingObjectIsDirectory, about one run in eight here): a limit of the
// server, not of the store under test. localfs prunes folders too, and is
// tested without it.
func KeepSharedParent() Option { return func(c *config) { c.keepSharedParent = true } }

// Run runs the conformance suite. newStore returns an empty store and
// arranges its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, opts ...Option) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"put-get-sizes", testPutGetSizes},
		{"overwrite", testOverwrite},
		{"stat", testStat},
		{"missing", testMissing},
		{"delete", testDelete},
		{"invalid-keys", testInvalidKeys},
		{"list", testList},
		{"failed-put-leaves-old-value", testFailedPut},
		{"cancelled-put", testCancelledPut},
		{"concurrent-puts-and-gets", func(t *testing.T, s blob.Store) { testConcurrent(t, s, cfg) }},
		{"reader-survives-overwrite-and-delete", testReaderSurvives},
		{"key-shapes", testKeyShapes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// data returns n deterministic pseudo-random bytes.
func data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, s blob.Store, key string, b []byte) {
	t.Helper()
	n, err := s.Put(t.Context(), key, bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	if n != int64(len(b)) {
		t.Fatalf("Put(%q) = %d bytes, want %d", key, n, len(b))
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

func keys(infos []blob.Info) []string {
	var ks []string
	for _, i := range infos {
		ks = append(ks, i.Key)
	}
	return ks
}

func testPutGetSizes(t *testing.T, s blob.Store) {
	for i, n := range []int{0, 1, 4095, 4096, 1<<20 + 1, 3<<20 + 7} {
		key := fmt.Sprintf("sizes/obj-%d", n)
		want := data(uint64(i), n)
		put(t, s, key, want)
		if got := get(t, s, key); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) returned %d bytes differing from the %d put", key, len(got), n)
		}
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	put(t, s, "k", []byte("first value, longer"))
	put(t, s, "k", []byte("second"))
	if got := get(t, s, "k"); string(got) != "second" {
		t.Errorf("after overwrite Get = %q", got)
	}
	info, err := s.Stat(t.Context(), "k")
	if err != nil || info.Size != 6 {
		t.Errorf("Stat = %+v, %v; want size 6", info, err)
	}
}

func testStat(t *testing.T, s blob.Store) {
	before := time.Now().Add(-2 * time.Second)
	put(t, s, "dir/file.bin", data(1, 1234))
	info, err := s.Stat(t.Context(), "dir/file.bin")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != "dir/file.bin" || info.Size != 1234 {
		t.Errorf("Stat = %+v", info)
	}
	if info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(2*time.Second)) {
		t.Errorf("ModTime %v is not about now", info.ModTime)
	}
}

func testMissing(t *testing.T, s blob.Store) {
	put(t, s, "present/a", []byte("x"))
	for _, key := range []string{"absent", "present/b", "present", "present/a/below"} {
		if _, err := s.Get(t.Context(), key); !errors.Is(err, blob.ErrNotExist) {
			t.Errorf("Get(%q) error = %v, want ErrNotExist", key, err)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotExist) {
			t.Errorf("Stat(%q) error = %v, want ErrNotExist", key, err)
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(%q) of a missing key: %v", key, err)
		}
	}
	if got := get(t, s, "present/a"); string(got) != "x" {
		t.Errorf("deleting missing keys disturbed present/a: %q", got)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	put(t, s, "a/b/c", []byte("1"))
	put(t, s, "a/d", []byte("2"))
	if err := s.Delete(t.Context(), "a/b/c"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Get(t.Context(), "a/b/c"); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("Get after Delete = %v, want ErrNotExist", err)
	}
	if err := s.Delete(t.Context(), "a/b/c"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	list, err := s.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(list); !slices.Equal(got, []string{"a/d"}) {
		t.Errorf("List after Delete = %v", got)
	}
	// The key's former directory is usable as an object name again.
	put(t, s, "a/b", []byte("3"))
	if got := get(t, s, "a/b"); string(got) != "3" {
		t.Errorf("Get(a/b) = %q", got)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	bad := []string{"", "/abs", "trailing/", "a//b", "./a", "a/./b", "../escape", "a/../../b", "..", ".",
		"back\\slash", "nul\x00", "new\nline", string([]byte{0xff, 0xfe}), string(make([]byte, blob.MaxKeyLen+1))}
	for _, key := range bad {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			if _, err := s.Put(t.Context(), key, bytes.NewReader([]byte("x"))); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Put error = %v, want ErrInvalidKey", err)
			}
			if _, err := s.Get(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Get error = %v, want ErrInvalidKey", err)
			}
			if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Stat error = %v, want ErrInvalidKey", err)
			}
			if err := s.Delete(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
				t.Errorf("Delete error = %v, want ErrInvalidKey", err)
			}
		})
	}
	for _, p := range []string{"/abs", "a//", "../", "a/../b/"} {
		if _, err := s.List(t.Context(), p); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q) error = %v, want ErrInvalidKey", p, err)
		}
	}
	list, err := s.List(t.Context(), "")
	if err != nil || len(list) != 0 {
		t.Errorf("invalid keys left objects: %v, %v", keys(list), err)
	}
}

func testList(t *testing.T, s blob.Store) {
	all := []string{"m/a-b", "m/a/b", "m/a/c/d", "m/ab", "m/b", "n/x", "top"}
	for i, k := range slices.Backward(all) {
		put(t, s, k, data(uint64(i), i+1))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", all},
		{"m/", []string{"m/a-b", "m/a/b", "m/a/c/d", "m/ab", "m/b"}},
		{"m", []string{"m/a-b", "m/a/b", "m/a/c/d", "m/ab", "m/b"}},
		{"m/a", []string{"m/a-b", "m/a/b", "m/a/c/d", "m/ab"}},
		{"m/a/", []string{"m/a/b", "m/a/c/d"}},
		{"m/a/c/d", []string{"m/a/c/d"}},
		{"m/a/c/d/", nil},
		{"m/b/x", nil},
		{"zzz", nil},
		{"t", []string{"top"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("prefix-%q", tc.prefix), func(t *testing.T) {
			list, err := s.List(t.Context(), tc.prefix)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := keys(list); !slices.Equal(got, tc.want) {
				t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
			}
			for _, info := range list {
				i := slices.Index(all, info.Key)
				if info.Size != int64(i+1) {
					t.Errorf("List size of %s = %d, want %d", info.Key, info.Size, i+1)
				}
			}
		})
	}
}

// failingReader returns n bytes of data and then an error.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	m := min(len(p), f.n)
	for i := range p[:m] {
		p[i] = 'z'
	}
	f.n -= m
	return m, nil
}

func testFailedPut(t *testing.T, s blob.Store) {
	boom := errors.New("source broke")
	put(t, s, "old", []byte("old value"))
	if _, err := s.Put(t.Context(), "old", &failingReader{n: 100 << 10, err: boom}); !errors.Is(err, boom) {
		t.Errorf("Put error = %v, want the reader's error", err)
	}
	if got := get(t, s, "old"); string(got) != "old value" {
		t.Errorf("failed Put changed the object to %d bytes", len(got))
	}
	if _, err := s.Put(t.Context(), "new", &failingReader{n: 10, err: boom}); err == nil {
		t.Error("Put of a failing reader succeeded")
	}
	if _, err := s.Stat(t.Context(), "new"); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("failed Put left an object: %v", err)
	}
	list, _ := s.List(t.Context(), "")
	if got := keys(list); !slices.Equal(got, []string{"old"}) {
		t.Errorf("List after failed Puts = %v", got)
	}
}

// cancellingReader cancels its context after the first read.
type cancellingReader struct {
	cancel context.CancelFunc
	reads  int
}

func (c *cancellingReader) Read(p []byte) (int, error) {
	c.reads++
	if c.reads == 1 {
		c.cancel()
	}
	if c.reads > 1000 {
		return 0, io.EOF
	}
	return copy(p, make([]byte, min(len(p), 4096))), nil
}

func testCancelledPut(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	if _, err := s.Put(ctx, "cancelled", &cancellingReader{cancel: cancel}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put error = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(t.Context(), "cancelled"); !errors.Is(err, blob.ErrNotExist) {
		t.Errorf("cancelled Put left an object: %v", err)
	}
}

func testConcurrent(t *testing.T, s blob.Store, cfg config) {
	const writers, size = 6, 256 << 10
	want := writers // objects under par/ at the end
	if cfg.keepSharedParent {
		put(t, s, "par/keep", []byte("k"))
		want++
	}
	values := make([][]byte, writers)
	for i := range values {
		values[i] = data(uint64(100+i), size)
	}
	put(t, s, "hot", values[0])
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range writers {
		wg.Go(func() {
			for range 3 {
				if _, err := s.Put(t.Context(), "hot", bytes.NewReader(values[i])); err != nil {
					errs <- fmt.Errorf("Put: %w", err)
					return
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				rc, err := s.Get(t.Context(), "hot")
				if err != nil {
					errs <- fmt.Errorf("Get: %w", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errs <- fmt.Errorf("read: %w", err)
					return
				}
				if !slices.ContainsFunc(values, func(v []byte) bool { return bytes.Equal(v, b) }) {
					errs <- fmt.Errorf("Get returned %d bytes that are no value put whole", len(b))
					return
				}
			}
		})
		wg.Go(func() {
			key := fmt.Sprintf("par/%d/obj", i)
			for range 3 {
				if _, err := s.Put(t.Context(), key, bytes.NewReader(values[i][:1000])); err != nil {
					errs <- err
					return
				}
				if err := s.Delete(t.Context(), key); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.Put(t.Context(), key, bytes.NewReader(values[i][:1000])); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	list, err := s.List(t.Context(), "par/")
	if err != nil || len(list) != want {
		t.Errorf("List(par/) = %v, %v; want %d objects", keys(list), err, want)
	}
}

func testReaderSurvives(t *testing.T, s blob.Store) {
	old := data(7, 300<<10)
	put(t, s, "k", old)
	rc, err := s.Get(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	put(t, s, "k", []byte("new"))
	if err := s.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("open reader read %d bytes (err %v), want the old %d", len(got), err, len(old))
	}
}

func testKeyShapes(t *testing.T, s blob.Store) {
	for _, key := range []string{
		"models/arn:aws:bedrock:us-east-1:123456789012:imported-model/abc/model-00001-of-00002.safetensors",
		"unicode/modèle/ψ.bin", "spaces/a b c", ".hidden", "a/.b/..c/...", "x=1&y=2/%41",
	} {
		want := []byte("value of " + key)
		put(t, s, key, want)
		if got := get(t, s, key); !bytes.Equal(got, want) {
			t.Errorf("Get(%q) = %q", key, got)
		}
		list, err := s.List(t.Context(), key)
		if err != nil || !slices.Contains(keys(list), key) {
			t.Errorf("List(%q) = %v, %v", key, keys(list), err)
		}
	}
}
