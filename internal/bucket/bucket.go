// Package bucket is strata's embedded bucket store: S3 buckets that are
// plain folders, so s3://BUCKET/KEY is the file DATA/buckets/BUCKET/KEY and
// the import job's folder source, users' file tools and the S3 API all see
// the same bytes.
//
// Only complete objects ever appear in the bucket tree. Uploads are
// written to a staging folder outside it (DATA/s3/tmp, on the same file
// system), synced, and renamed into place; multipart parts wait in
// DATA/s3/uploads. Object metadata (ETag, Content-Type, x-amz-meta-*,
// checksum) is kept in a sidecar under DATA/s3/meta, and bucket records
// (owner, creation time, bucket policy) under DATA/s3/buckets. A sidecar
// holds the size and modification time of the file it describes; when the
// file is changed by hand it no longer matches and is ignored.
//
// Keys must be safe relative file paths: no empty, "." or ".." segments,
// no control characters, and no key that is a folder of another key (an
// object "a/b" and an object "a/b/c" cannot both exist). Such keys are
// refused with ErrKeyUnsafe or ErrKeyConflict.
//
// A Store is safe for concurrent use. One process owns a data directory:
// Open removes staged files left by a process that died.
package bucket

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Errors of the store. Callers branch on them with errors.Is.
var (
	ErrNoSuchBucket     = errors.New("no such bucket")
	ErrBucketExists     = errors.New("bucket already exists")
	ErrBucketNotEmpty   = errors.New("bucket not empty")
	ErrNoSuchKey        = errors.New("no such key")
	ErrNoSuchUpload     = errors.New("no such upload")
	ErrInvalidBucket    = errors.New("invalid bucket name")
	ErrKeyUnsafe        = errors.New("key cannot be a file path")
	ErrKeyConflict      = errors.New("key conflicts with another key")
	ErrKeyTooLong       = errors.New("key too long")
	ErrNoSuchPartNumber = errors.New("no such part")
)

// Store is the embedded bucket store over a data directory.
type Store struct {
	root  string // DATA/buckets
	state string // DATA/s3
	owner string // owner of folders made by hand

	mu          sync.Mutex     // serializes bucket creation, deletion and record updates
	locks       [64]sync.Mutex // by bucket and key: commits and deletes
	uploadLocks sync.Map       // upload id -> *sync.Mutex
}

// Open returns the store of dataDir. owner is the account that owns bucket
// folders made by hand (strata's root account). Open removes staged
// uploads of an earlier process: one process serves a data directory.
func Open(dataDir, owner string) (*Store, error) {
	s := &Store{root: filepath.Join(dataDir, "buckets"), state: filepath.Join(dataDir, "s3"), owner: owner}
	tmp := filepath.Join(s.state, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, fmt.Errorf("clearing staged uploads: %w", err)
	}
	for _, d := range []string{s.root, tmp, filepath.Join(s.state, "uploads"), filepath.Join(s.state, "meta"), filepath.Join(s.state, "buckets")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return s, nil
}

// Root returns the folder holding the buckets.
func (s *Store) Root() string { return s.root }

// Bucket is a bucket's record.
type Bucket struct {
	Name    string    `json:"-"`
	Owner   string    `json:"owner"`   // account id
	Created time.Time `json:"created"` //
	Policy  []byte    `json:"policy,omitempty"`
}

// ValidBucketName reports whether name follows S3's bucket naming rules.
func ValidBucketName(name string) bool {
	if len(name) < 3 || len(name) > 63 {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
	if !alnum(name[0]) || !alnum(name[len(name)-1]) || strings.Contains(name, "..") {
		return false
	}
	if strings.HasPrefix(name, "xn--") || strings.HasPrefix(name, "sthree-") ||
		strings.HasSuffix(name, "-s3alias") || strings.HasSuffix(name, "--ol-s3") {
		return false
	}
	// Not an IPv4 address.
	parts := strings.Split(name, ".")
	if len(parts) == 4 {
		ip := true
		for _, p := range parts {
			if p == "" || strings.Trim(p, "0123456789") != "" {
				ip = false
			}
		}
		if ip {
			return false
		}
	}
	return true
}

func (s *Store) bucketDir(name string) string { return filepath.Join(s.root, name) }
func (s *Store) recordPath(name string) string {
	return filepath.Join(s.state, "buckets", name+".json")
}

// CreateBucket makes an empty bucket owned by owner. An existing bucket
// gives an error wrapping ErrBucketExists; its Owner says whose it is.
func (s *Store) CreateBucket(name, owner string) error {
	if !ValidBucketName(name) {
		return ErrInvalidBucket
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, err := s.bucketLocked(name); err == nil {
		return &ExistsError{Owner: b.Owner}
	}
	rec := Bucket{Owner: owner, Created: time.Now().UTC().Truncate(time.Millisecond)}
	if err := s.writeRecordLocked(name, rec); err != nil {
		return err
	}
	if err := os.Mkdir(s.bucketDir(name), 0o700); err != nil {
		os.Remove(s.recordPath(name))
		return fmt.Errorf("creating bucket folder: %w", err)
	}
	return nil
}

// ExistsError is CreateBucket's error for a taken name.
type ExistsError struct{ Owner string }

func (e *ExistsError) Error() string        { return "bucket already exists, owned by " + e.Owner }
func (e *ExistsError) Is(target error) bool { return target == ErrBucketExists }

// Bucket returns the record of bucket name. A folder made by hand is a
// bucket of the store's owner.
func (s *Store) Bucket(name string) (Bucket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bucketLocked(name)
}

func (s *Store) bucketLocked(name string) (Bucket, error) {
	if !ValidBucketName(name) {
		return Bucket{}, ErrNoSuchBucket
	}
	st, err := os.Lstat(s.bucketDir(name))
	if err != nil || !st.IsDir() {
		return Bucket{}, ErrNoSuchBucket
	}
	b := Bucket{Name: name, Owner: s.owner, Created: st.ModTime().UTC()}
	data, err := os.ReadFile(s.recordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return Bucket{}, fmt.Errorf("reading bucket record: %w", err)
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return Bucket{}, fmt.Errorf("reading bucket record %s: %w", name, err)
	}
	b.Name = name
	return b, nil
}

func (s *Store) writeRecordLocked(name string, b Bucket) error {
	data, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.state, "tmp"), s.recordPath(name), data)
}

// Buckets returns every bucket, sorted by name.
func (s *Store) Buckets() ([]Bucket, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("listing buckets: %w", err)
	}
	var out []Bucket
	for _, e := range ents {
		if !e.IsDir() || !ValidBucketName(e.Name()) {
			continue
		}
		b, err := s.Bucket(e.Name())
		if errors.Is(err, ErrNoSuchBucket) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// DeleteBucket removes an empty bucket (empty folders in it do not count),
// its record and its pending multipart uploads.
func (s *Store) DeleteBucket(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucketLocked(name); err != nil {
		return err
	}
	dir := s.bucketDir(name)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return ErrBucketNotEmpty
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrBucketNotEmpty) {
			return ErrBucketNotEmpty
		}
		return fmt.Errorf("checking bucket %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing bucket %s: %w", name, err)
	}
	os.Remove(s.recordPath(name))
	os.RemoveAll(filepath.Join(s.state, "meta", name))
	s.abortUploadsOf(name)
	return nil
}

// SetPolicy stores bucket name's policy document; nil removes it.
func (s *Store) SetPolicy(name string, doc []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucketLocked(name)
	if err != nil {
		return err
	}
	b.Policy = slices.Clone(doc)
	return s.writeRecordLocked(name, b)
}

// keyLock returns the lock that orders commits of bucket/key.
func (s *Store) keyLock(bucket, key string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// writeFileAtomic writes data to path through a synced temporary file in
// tmpDir (same file system) and a rename.
func writeFileAtomic(tmpDir, path string, data []byte) error {
	f, err := os.CreateTemp(tmpDir, "rec-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// newID returns a 32-digit hex id: t in Unix milliseconds (12 digits), so
// that ids sort by creation time, then 20 random digits.
func newID(t time.Time) string {
	b := make([]byte, 16)
	rand.Read(b[6:])
	ms := uint64(t.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i], ms = byte(ms), ms>>8
	}
	return hex.EncodeToString(b)
}

// syncDir syncs a directory so a rename into it survives a crash.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
