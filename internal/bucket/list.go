package bucket

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ListQuery selects the keys of one ListObjectsV2 page.
type ListQuery struct {
	Prefix    string
	Delimiter string
	// After skips every key up to and including it; when AfterPrefix is
	// set it is a common prefix, and every key under it is skipped too.
	After       string
	AfterPrefix bool
	Max         int // > 0
}

// ListResult is one page: objects and common prefixes in key order,
// together at most Max of them.
type ListResult struct {
	Objects   []Info
	Prefixes  []string
	Truncated bool
	// Last is the last key or common prefix returned; LastPrefix says
	// which. A truncated page continues after it.
	Last       string
	LastPrefix bool
}

var (
	errPageFull   = errors.New("page full")
	errFolderDone = errors.New("folder done")
)

// List returns one page of bucket's keys, in UTF-8 byte order.
func (s *Store) List(bucket string, q ListQuery) (ListResult, error) {
	if _, err := s.Bucket(bucket); err != nil {
		return ListResult{}, err
	}
	var res ListResult
	n := 0
	emit := func(key string, fi os.FileInfo) error {
		if !strings.HasPrefix(key, q.Prefix) {
			return nil
		}
		if q.After != "" && (key <= q.After || q.AfterPrefix && strings.HasPrefix(key, q.After)) {
			return nil
		}
		if q.Delimiter != "" {
			if i := strings.Index(key[len(q.Prefix):], q.Delimiter); i >= 0 {
				cp := key[:len(q.Prefix)+i+len(q.Delimiter)]
				if res.LastPrefix && res.Last == cp {
					return nil
				}
				if n == q.Max {
					res.Truncated = true
					return errPageFull
				}
				res.Prefixes = append(res.Prefixes, cp)
				res.Last, res.LastPrefix = cp, true
				n++
				return nil
			}
		}
		if n == q.Max {
			res.Truncated = true
			return errPageFull
		}
		res.Objects = append(res.Objects, s.info(bucket, key, fi))
		res.Last, res.LastPrefix = key, false
		n++
		return nil
	}
	// Start in the deepest folder the prefix names entirely.
	start := ""
	if i := strings.LastIndex(q.Prefix, "/"); i >= 0 {
		start = q.Prefix[:i+1]
		if CheckKey(strings.TrimSuffix(start, "/")) != nil {
			return res, nil // no file path has this prefix
		}
	}
	err := s.walk(filepath.Join(s.bucketDir(bucket), filepath.FromSlash(start)), start, q, &res, emit, false)
	if err != nil && !errors.Is(err, errPageFull) {
		return ListResult{}, fmt.Errorf("listing %s: %w", bucket, err)
	}
	return res, nil
}

// walk visits the regular files under dir (whose keys start with
// keyPrefix) in key order. A folder sorts as its name plus "/", which is
// where its keys sort among its siblings.
func (s *Store) walk(dir, keyPrefix string, q ListQuery, res *ListResult, emit func(string, os.FileInfo) error, rolled bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || keyPrefix != "" {
			return nil // gone meanwhile, or a file where a folder was
		}
		return err
	}
	type entry struct {
		name string // sort name
		dir  bool
	}
	list := make([]entry, 0, len(ents))
	for _, e := range ents {
		switch {
		case e.IsDir():
			list = append(list, entry{e.Name() + "/", true})
		case e.Type().IsRegular():
			list = append(list, entry{e.Name(), false})
		}
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, e := range list {
		key := keyPrefix + e.name
		// Skip what cannot match the prefix.
		if !strings.HasPrefix(key, q.Prefix) && !(e.dir && strings.HasPrefix(q.Prefix, key)) {
			continue
		}
		if !e.dir {
			if CheckKey(key) != nil {
				continue
			}
			fi, err := os.Lstat(filepath.Join(dir, e.name))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := emit(key, fi); err != nil {
				return err
			}
			continue
		}
		// Every key in the folder starts with key: skip it whole when all
		// of them come before the continuation point.
		if q.After != "" && key < q.After && !strings.HasPrefix(q.After, key) {
			continue
		}
		if q.After != "" && q.AfterPrefix && strings.HasPrefix(key, q.After) {
			continue
		}
		sub, rollup := emit, false
		if !rolled && q.Delimiter != "" && strings.HasPrefix(key, q.Prefix) && strings.Contains(key[len(q.Prefix):], q.Delimiter) {
			// Every key in the folder rolls up into one common prefix:
			// one file that counts is enough.
			rollup = true
			before := len(res.Prefixes)
			sub = func(k string, fi os.FileInfo) error {
				if err := emit(k, fi); err != nil {
					return err
				}
				if len(res.Prefixes) > before || res.LastPrefix && strings.HasPrefix(k, res.Last) {
					return errFolderDone
				}
				return nil
			}
		}
		if err := s.walk(filepath.Join(dir, strings.TrimSuffix(e.name, "/")), key, q, res, sub, rolled || rollup); err != nil && !(rollup && errors.Is(err, errFolderDone)) {
			return err
		}
	}
	return nil
}
