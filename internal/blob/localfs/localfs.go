// Package localfs is the embedded blob.Store: objects are files under a
// local folder. Puts write a temporary file, fsync it and rename it into
// place, so an object is visible whole or not at all, even across a crash.
// All access goes through an os.Root, so no key or symlink reaches outside
// the folder.
//
// Layout: DIR/objects/<key> holds the objects; DIR/tmp holds files being
// written. A key that is a prefix directory of another key ("a" beside
// "a/b") cannot be stored, a limit of a file system that S3 does not have.
package localfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"strata/internal/blob"
)

const (
	objectsDir = "objects"
	tmpDir     = "tmp"

	// StaleTempAge is how old a temporary file must be before New removes
	// it: old enough that no live writer still owns it (an active Put
	// keeps touching its file), young enough to reclaim space promptly.
	StaleTempAge = 15 * time.Minute
)

// Store is a blob.Store on a local folder. Use New.
type Store struct {
	root *os.Root
	dir  string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating if needed) the store in dir and removes temporary
// files older than StaleTempAge left by interrupted Puts. Close releases it.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating blob dir: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening blob dir: %w", err)
	}
	for _, d := range []string{objectsDir, tmpDir} {
		if err := root.MkdirAll(d, 0o700); err != nil {
			root.Close()
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	s := &Store{root: root, dir: dir}
	if _, err := s.CleanTemp(StaleTempAge); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the folder. Readers returned by Get stay usable.
func (s *Store) Close() error { return s.root.Close() }

// CleanTemp removes temporary files not modified for olderThan and returns
// how many it removed. With a single process on the folder, 0 is safe.
func (s *Store) CleanTemp(olderThan time.Duration) (int, error) {
	entries, err := fs.ReadDir(s.root.FS(), tmpDir)
	if err != nil {
		return 0, fmt.Errorf("reading temp dir: %w", err)
	}
	n := 0
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		if info.ModTime().After(cutoff) && olderThan > 0 {
			continue
		}
		if err := s.root.RemoveAll(path.Join(tmpDir, e.Name())); err != nil {
			return n, fmt.Errorf("removing stale temp file: %w", err)
		}
		n++
	}
	return n, nil
}

func objectPath(key string) string { return objectsDir + "/" + key }

// bufPool holds copy buffers; a large buffer keeps syscalls few on
// multi-gigabyte shards.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rnd [12]byte
	rand.Read(rnd[:])
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("creating temp file: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			f.Close()
			s.root.Remove(tmp)
		}
	}()
	bp := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(onlyWriter{f}, ctxReader{ctx, r}, *bp)
	bufPool.Put(bp)
	if err != nil {
		return n, fmt.Errorf("writing %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("syncing %s: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return n, fmt.Errorf("closing %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	dst := objectPath(key)
	parent := path.Dir(dst)
	// A concurrent Delete may prune the parent between MkdirAll and Rename;
	// try again a few times.
	for attempt := 0; ; attempt++ {
		if err = s.root.MkdirAll(parent, 0o700); err == nil {
			if err = s.root.Rename(tmp, dst); err == nil {
				break
			}
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt == 5 {
			return n, fmt.Errorf("storing %s: %w", key, err)
		}
	}
	committed = true
	if err := s.syncDir(parent); err != nil {
		return n, err
	}
	return n, nil
}

// syncDir fsyncs a directory so a rename in it survives a crash.
func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// ctxReader fails reads once ctx is done, so a cancelled Put stops.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// onlyWriter hides *os.File's ReadFrom so io.CopyBuffer uses our buffer
// and our ctx checks rather than copy_file_range on the raw reader.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.root.Open(objectPath(key))
	if err != nil {
		return nil, notExist(key, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", key, err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", key, blob.ErrNotExist)
	}
	return f, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	info, err := s.root.Stat(objectPath(key))
	if err != nil {
		return blob.Info{}, notExist(key, err)
	}
	if !info.Mode().IsRegular() {
		return blob.Info{}, fmt.Errorf("%s: %w", key, blob.ErrNotExist)
	}
	return blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()}, nil
}

func notExist(key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%s: %w", key, blob.ErrNotExist)
	}
	return fmt.Errorf("opening %s: %w", key, err)
}

// Delete implements blob.Store. It also removes directories the deletion
// leaves empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := objectPath(key)
	info, err := s.root.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	if info.IsDir() {
		return nil // a prefix of other keys, not an object
	}
	if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting %s: %w", key, err)
	}
	for dir := path.Dir(p); dir != objectsDir; dir = path.Dir(dir) {
		if s.root.Remove(dir) != nil {
			break // not empty, or gone
		}
	}
	if err := s.syncDir(path.Dir(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List implements blob.Store.
func (s *Store) List(ctx context.Context, prefix string) ([]blob.Info, error) {
	if err := blob.ValidPrefix(prefix); err != nil {
		return nil, err
	}
	start := objectsDir
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = objectsDir + "/" + prefix[:i]
	}
	var out []blob.Info
	err := fs.WalkDir(s.root.FS(), start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) {
				return fs.SkipAll
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == objectsDir {
			return nil
		}
		key := strings.TrimPrefix(p, objectsDir+"/")
		if d.IsDir() {
			// Descend only where keys can still match the prefix.
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		out = append(out, blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	slices.SortFunc(out, func(a, b blob.Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}
