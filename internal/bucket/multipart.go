package bucket

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Upload is a multipart upload in progress.
type Upload struct {
	ID          string            `json:"id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Initiator   string            `json:"initiator"` // principal ARN
	Initiated   time.Time         `json:"initiated"`
	ContentType string            `json:"contentType,omitempty"`
	Meta        map[string]string `json:"meta,omitempty"`
	Checksum    Checksum          `json:"checksum,omitzero"` // Algorithm and Type only
}

// Part is an uploaded part.
type Part struct {
	Number   int       `json:"number"`
	Size     int64     `json:"size"`
	ETag     string    `json:"etag"` // quoted
	Checksum Checksum  `json:"checksum,omitzero"`
	Modified time.Time `json:"modified"`
}

// lockUpload serializes the changes of one upload.
func (s *Store) lockUpload(id string) func() {
	m, _ := s.uploadLocks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (s *Store) uploadDir(id string) string { return filepath.Join(s.state, "uploads", id) }

// validUploadID reports whether id has the form newID makes, so it is safe
// as a file name.
func validUploadID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// CreateUpload starts a multipart upload of u.Bucket/u.Key and returns it
// with its ID and time.
func (s *Store) CreateUpload(u Upload) (Upload, error) {
	if _, err := s.Bucket(u.Bucket); err != nil {
		return Upload{}, err
	}
	if err := CheckKey(u.Key); err != nil {
		return Upload{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	u.ID, u.Initiated = newID(now), now
	dir := s.uploadDir(u.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return Upload{}, fmt.Errorf("creating upload: %w", err)
	}
	data, _ := json.Marshal(u)
	if err := writeFileAtomic(filepath.Join(s.state, "tmp"), filepath.Join(dir, "upload.json"), data); err != nil {
		os.RemoveAll(dir)
		return Upload{}, err
	}
	return u, nil
}

// Upload returns the upload id of bucket/key.
func (s *Store) Upload(bucket, key, id string) (Upload, error) {
	if !validUploadID(id) {
		return Upload{}, ErrNoSuchUpload
	}
	u, err := s.readUpload(id)
	if err != nil {
		return Upload{}, err
	}
	if u.Bucket != bucket || u.Key != key {
		return Upload{}, ErrNoSuchUpload
	}
	if _, err := s.Bucket(bucket); err != nil {
		return Upload{}, err
	}
	return u, nil
}

// readUpload reads the record of upload id.
func (s *Store) readUpload(id string) (Upload, error) {
	data, err := os.ReadFile(filepath.Join(s.uploadDir(id), "upload.json"))
	if err != nil {
		return Upload{}, ErrNoSuchUpload
	}
	var u Upload
	if err := json.Unmarshal(data, &u); err != nil {
		return Upload{}, fmt.Errorf("reading upload %s: %w", id, err)
	}
	return u, nil
}

// UploadQuery selects one page of a bucket's multipart uploads.
type UploadQuery struct {
	Prefix    string
	Delimiter string
	// KeyMarker and UploadIDMarker continue a listing after the uploads of
	// keys up to KeyMarker, except those of KeyMarker itself whose ID comes
	// after UploadIDMarker (when one is given). A KeyMarker that is a
	// common prefix skips every key under it too.
	KeyMarker      string
	UploadIDMarker string
	Max            int // > 0
}

// UploadList is one page of uploads, by key and then by ID (IDs sort by
// creation time), and common prefixes; together at most Max of them.
type UploadList struct {
	Uploads   []Upload
	Prefixes  []string
	Truncated bool
	// NextKeyMarker and NextUploadIDMarker are where the page ends: the
	// last upload's key and ID, or the last common prefix and "".
	NextKeyMarker, NextUploadIDMarker string
}

// ListUploads returns one page of the multipart uploads in progress into
// bucket.
func (s *Store) ListUploads(bucket string, q UploadQuery) (UploadList, error) {
	if _, err := s.Bucket(bucket); err != nil {
		return UploadList{}, err
	}
	ents, err := os.ReadDir(filepath.Join(s.state, "uploads"))
	if err != nil {
		return UploadList{}, fmt.Errorf("listing uploads: %w", err)
	}
	var all []Upload
	for _, e := range ents {
		if !validUploadID(e.Name()) {
			continue
		}
		u, err := s.readUpload(e.Name())
		if err != nil || u.Bucket != bucket || u.ID != e.Name() || !strings.HasPrefix(u.Key, q.Prefix) {
			continue // ended meanwhile, or not a record of this bucket
		}
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b Upload) int { return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.ID, b.ID)) })
	var out UploadList
	pg := &pager{prefix: q.Prefix, delimiter: q.Delimiter, max: q.Max}
	markerIsPrefix := IsCommonPrefix(q.KeyMarker, q.Prefix, q.Delimiter)
	for _, u := range all {
		if q.KeyMarker != "" && (u.Key < q.KeyMarker || markerIsPrefix && strings.HasPrefix(u.Key, q.KeyMarker) ||
			u.Key == q.KeyMarker && (q.UploadIDMarker == "" || u.ID <= q.UploadIDMarker)) {
			continue
		}
		own, err := pg.offer(u.Key)
		if err != nil {
			break // page full
		}
		if own {
			out.Uploads = append(out.Uploads, u)
			out.NextUploadIDMarker = u.ID
		}
	}
	out.Prefixes, out.Truncated, out.NextKeyMarker = pg.prefixes, pg.truncated, pg.last
	if pg.lastPrefix {
		out.NextUploadIDMarker = ""
	}
	return out, nil
}

// PutPart moves a staged part into upload u as part p.Number, replacing
// an earlier one (p.Size and p.Modified are set here).
func (s *Store) PutPart(u Upload, st *Staged, p Part) (Part, error) {
	defer st.Discard()
	fi, err := st.File.Stat()
	if err != nil {
		return Part{}, err
	}
	if err := st.File.Sync(); err != nil {
		return Part{}, err
	}
	p.Size, p.Modified = fi.Size(), time.Now().UTC().Truncate(time.Millisecond)
	unlock := s.lockUpload(u.ID)
	defer unlock()
	dir := s.uploadDir(u.ID)
	if _, err := os.Stat(dir); err != nil {
		return Part{}, ErrNoSuchUpload // aborted or completed meanwhile
	}
	n := strconv.Itoa(p.Number)
	data, _ := json.Marshal(p)
	if err := os.Rename(st.File.Name(), filepath.Join(dir, n+".part")); err != nil {
		return Part{}, fmt.Errorf("storing part: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(s.state, "tmp"), filepath.Join(dir, n+".json"), data); err != nil {
		return Part{}, err
	}
	return p, nil
}

// Parts returns upload u's parts by number.
func (s *Store) Parts(u Upload) ([]Part, error) {
	ents, err := os.ReadDir(s.uploadDir(u.ID))
	if err != nil {
		return nil, ErrNoSuchUpload
	}
	var out []Part
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || name == "upload" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(s.uploadDir(u.ID), e.Name()))
		if err != nil {
			continue // replaced meanwhile
		}
		var p Part
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("reading part %s: %w", name, err)
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Part) int { return a.Number - b.Number })
	return out, nil
}

// CompleteUpload joins the given parts of u, in order, into the object
// u.Bucket/u.Key with info, and ends the upload. The caller has checked
// the part list against Parts. If full is not nil, the joined object is
// hashed with it and info.Checksum.Value set to the base64 digest.
func (s *Store) CompleteUpload(u Upload, parts []int, info Info, full hash.Hash) (Info, error) {
	unlock := s.lockUpload(u.ID)
	defer unlock()
	dir := s.uploadDir(u.ID)
	if _, err := os.Stat(dir); err != nil {
		return Info{}, ErrNoSuchUpload
	}
	st, err := s.Stage()
	if err != nil {
		return Info{}, err
	}
	var w io.Writer = st.File
	if full != nil {
		w = io.MultiWriter(st.File, full)
	}
	for _, n := range parts {
		f, err := os.Open(filepath.Join(dir, strconv.Itoa(n)+".part"))
		if err != nil {
			st.Discard()
			return Info{}, fmt.Errorf("part %d: %w", n, ErrNoSuchPartNumber)
		}
		_, err = io.Copy(w, f) // copy_file_range where the kernel can, without full
		f.Close()
		if err != nil {
			st.Discard()
			return Info{}, fmt.Errorf("joining parts: %w", err)
		}
	}
	if full != nil {
		info.Checksum.Value = base64.StdEncoding.EncodeToString(full.Sum(nil))
	}
	info, err = st.Commit(u.Bucket, u.Key, info)
	if err != nil {
		return Info{}, err
	}
	os.RemoveAll(dir)
	s.uploadLocks.Delete(u.ID)
	return info, nil
}

// AbortUpload ends upload u and removes its parts.
func (s *Store) AbortUpload(u Upload) error {
	unlock := s.lockUpload(u.ID)
	defer unlock()
	if err := os.RemoveAll(s.uploadDir(u.ID)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("aborting upload: %w", err)
	}
	s.uploadLocks.Delete(u.ID)
	return nil
}

// abortUploadsOf removes every upload into bucket.
func (s *Store) abortUploadsOf(bucket string) {
	ents, _ := os.ReadDir(filepath.Join(s.state, "uploads"))
	for _, e := range ents {
		if u, err := s.readUpload(e.Name()); err == nil && u.Bucket == bucket {
			s.AbortUpload(u)
		}
	}
}
