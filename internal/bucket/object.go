package bucket

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// MaxKeyLength is S3's limit on a key, in bytes.
const MaxKeyLength = 1024

// maxSegment is the longest path segment most file systems store.
const maxSegment = 255

// CheckKey reports why key cannot name a file in a bucket folder, or nil.
func CheckKey(key string) error {
	if len(key) > MaxKeyLength {
		return ErrKeyTooLong
	}
	if key == "" || !utf8.ValidString(key) {
		return ErrKeyUnsafe
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return ErrKeyUnsafe
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." || len(seg) > maxSegment {
			return ErrKeyUnsafe
		}
	}
	return nil
}

// Checksum is an object's or part's S3 checksum.
type Checksum struct {
	Algorithm string `json:"algorithm,omitempty"` // CRC32, CRC32C, CRC64NVME, SHA1, SHA256
	Value     string `json:"value,omitempty"`     // base64, "-N" suffixed for COMPOSITE multipart values
	Type      string `json:"type,omitempty"`      // FULL_OBJECT or COMPOSITE
}

// Info describes a stored object.
type Info struct {
	Key         string            `json:"key"`
	Size        int64             `json:"size"`
	ModTime     time.Time         `json:"-"`
	ModNano     int64             `json:"mtime"` // of the file the sidecar describes
	ETag        string            `json:"etag"`  // quoted
	ContentType string            `json:"contentType,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"` // x-amz-meta-* without the prefix, lower case
	Checksum    Checksum          `json:"checksum,omitzero"`
	Parts       int               `json:"parts,omitempty"` // of a multipart object
}

// Staged is an upload being written outside the bucket tree. Write the
// body, then Commit it (or Discard it).
type Staged struct {
	*os.File
	s *Store
}

// Stage returns a new staging file.
func (s *Store) Stage() (*Staged, error) {
	f, err := os.CreateTemp(filepath.Join(s.state, "tmp"), "obj-*")
	if err != nil {
		return nil, fmt.Errorf("creating a staging file: %w", err)
	}
	return &Staged{File: f, s: s}, nil
}

// Discard removes the staged file.
func (st *Staged) Discard() {
	st.File.Close()
	os.Remove(st.File.Name())
}

// Commit syncs the staged file and renames it to bucket/key, recording
// info (Key, Size and the times are set here). The staged file is gone
// afterwards, whatever the outcome.
func (st *Staged) Commit(bucket, key string, info Info) (Info, error) {
	defer st.Discard()
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	if err := st.File.Sync(); err != nil {
		return Info{}, fmt.Errorf("syncing upload: %w", err)
	}
	fi, err := st.File.Stat()
	if err != nil {
		return Info{}, err
	}
	if err := st.File.Close(); err != nil {
		return Info{}, err
	}
	info.Key, info.Size, info.ModTime, info.ModNano = key, fi.Size(), fi.ModTime().UTC(), fi.ModTime().UnixNano()
	return info, st.s.commit(st.File.Name(), bucket, key, info)
}

// commit moves the finished file src into bucket/key with its sidecar.
func (s *Store) commit(src, bucket, key string, info Info) error {
	if _, err := s.Bucket(bucket); err != nil {
		return err
	}
	dst := filepath.Join(s.bucketDir(bucket), filepath.FromSlash(key))
	l := s.keyLock(bucket, key)
	l.Lock()
	defer l.Unlock()
	if err := s.writeMeta(bucket, info); err != nil {
		return err
	}
	// A concurrent delete may remove the folder just made; try again.
	for attempt := 0; ; attempt++ {
		if err := s.mkParents(bucket, key); err != nil {
			return err
		}
		if st, err := os.Lstat(dst); err == nil && st.IsDir() {
			return ErrKeyConflict
		}
		err := os.Rename(src, dst)
		if err == nil {
			syncDir(filepath.Dir(dst))
			return nil
		}
		if errors.Is(err, fs.ErrNotExist) && attempt < 3 {
			continue
		}
		if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
			return ErrKeyConflict
		}
		return fmt.Errorf("placing object: %w", err)
	}
}

// mkParents makes key's folders in bucket, refusing a path through a file
// or a symbolic link.
func (s *Store) mkParents(bucket, key string) error {
	dir := s.bucketDir(bucket)
	segs := strings.Split(key, "/")
	for _, seg := range segs[:len(segs)-1] {
		dir = filepath.Join(dir, seg)
		st, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				if errors.Is(err, syscall.ENOTDIR) {
					return ErrKeyConflict
				}
				return fmt.Errorf("creating folder: %w", err)
			}
		case err != nil:
			if errors.Is(err, syscall.ENOTDIR) {
				return ErrKeyConflict
			}
			return err
		case !st.IsDir():
			return ErrKeyConflict
		}
	}
	return nil
}

func (s *Store) metaPath(bucket, key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(s.state, "meta", bucket, h[:2], h+".json")
}

func (s *Store) writeMeta(bucket string, info Info) error {
	p := s.metaPath(bucket, info.Key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.state, "tmp"), p, data)
}

// info builds a file's Info: its sidecar if that still describes it, else
// what the file itself says (a file copied in by hand).
func (s *Store) info(bucket, key string, fi fs.FileInfo) Info {
	in := Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC(), ModNano: fi.ModTime().UnixNano()}
	if data, err := os.ReadFile(s.metaPath(bucket, key)); err == nil {
		var m Info
		if json.Unmarshal(data, &m) == nil && m.Key == key && m.Size == in.Size && m.ModNano == in.ModNano {
			m.ModTime = in.ModTime
			return m
		}
	}
	// Not MD5 of the content (that would mean reading the file): an
	// opaque tag that changes when the file does.
	sum := md5.Sum(fmt.Appendf(nil, "%d/%d", in.Size, in.ModNano))
	in.ETag = `"` + hex.EncodeToString(sum[:]) + `"`
	return in
}

// Open opens bucket/key for reading. Only regular files are objects.
func (s *Store) Open(bucket, key string) (*os.File, Info, error) {
	if _, err := s.Bucket(bucket); err != nil {
		return nil, Info{}, err
	}
	if CheckKey(key) != nil {
		return nil, Info{}, ErrNoSuchKey
	}
	root, err := os.OpenRoot(s.bucketDir(bucket))
	if err != nil {
		return nil, Info{}, ErrNoSuchBucket
	}
	defer root.Close()
	// os.Root refuses paths that leave the bucket through a link.
	f, err := root.Open(filepath.FromSlash(key))
	if err != nil {
		return nil, Info{}, ErrNoSuchKey
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, ErrNoSuchKey
	}
	if lfi, err := root.Lstat(filepath.FromSlash(key)); err != nil || !lfi.Mode().IsRegular() {
		f.Close()
		return nil, Info{}, ErrNoSuchKey
	}
	return f, s.info(bucket, key, fi), nil
}

// Stat returns bucket/key's Info.
func (s *Store) Stat(bucket, key string) (Info, error) {
	f, in, err := s.Open(bucket, key)
	if err != nil {
		return Info{}, err
	}
	f.Close()
	return in, nil
}

// Delete removes bucket/key and the folders it leaves empty. A missing key
// is not an error, as in S3.
func (s *Store) Delete(bucket, key string) error {
	if _, err := s.Bucket(bucket); err != nil {
		return err
	}
	if CheckKey(key) != nil {
		return nil
	}
	l := s.keyLock(bucket, key)
	l.Lock()
	defer l.Unlock()
	dir := s.bucketDir(bucket)
	p := filepath.Join(dir, filepath.FromSlash(key))
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("deleting object: %w", err)
	}
	os.Remove(s.metaPath(bucket, key))
	for d := filepath.Dir(p); d != dir && strings.HasPrefix(d, dir); d = filepath.Dir(d) {
		if os.Remove(d) != nil { // not empty
			break
		}
	}
	return nil
}
