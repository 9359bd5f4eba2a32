package bucket

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ListQuery selects the keys of one ListObjects or ListObjectsV2 page.
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

// IsCommonPrefix reports whether s is a common prefix of a listing with
// prefix and delimiter: the prefix, then text up to and including the
// first delimiter after it. A marker that is one (ListObjects' NextMarker,
// ListMultipartUploads' NextKeyMarker) continues after every key under it.
func IsCommonPrefix(s, prefix, delimiter string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || delimiter == "" {
		return false
	}
	i := strings.Index(rest, delimiter)
	return i >= 0 && i == len(rest)-len(delimiter)
}

// pager builds one listing page from keys offered in order: keys under
// the prefix that hold the delimiter after it roll up into common
// prefixes, and keys and prefixes together count against max. Both
// object and multipart upload listings page with it.
type pager struct {
	prefix, delimiter string
	max               int

	n          int
	prefixes   []string
	truncated  bool
	last       string // the last key or common prefix taken
	lastPrefix bool   // last is a common prefix
}

// offer takes the next key in order. It reports whether the key is listed
// as itself (the caller adds its entry); a key outside the prefix or
// rolled into a common prefix is not. Once the page is full it returns
// errPageFull, and the page is truncated.
func (p *pager) offer(key string) (bool, error) {
	if !strings.HasPrefix(key, p.prefix) {
		return false, nil
	}
	cp := ""
	if p.delimiter != "" {
		if i := strings.Index(key[len(p.prefix):], p.delimiter); i >= 0 {
			cp = key[:len(p.prefix)+i+len(p.delimiter)]
			if p.lastPrefix && p.last == cp {
				return false, nil
			}
		}
	}
	if p.n == p.max {
		p.truncated = true
		return false, errPageFull
	}
	p.n++
	if cp != "" {
		p.prefixes = append(p.prefixes, cp)
		p.last, p.lastPrefix = cp, true
		return false, nil
	}
	p.last, p.lastPrefix = key, false
	return true, nil
}

// List returns one page of bucket's keys, in UTF-8 byte order.
func (s *Store) List(bucket string, q ListQuery) (ListResult, error) {
	if _, err := s.Bucket(bucket); err != nil {
		return ListResult{}, err
	}
	var res ListResult
	pg := &pager{prefix: q.Prefix, delimiter: q.Delimiter, max: q.Max}
	emit := func(key string, fi os.FileInfo) error {
		if q.After != "" && (key <= q.After || q.AfterPrefix && strings.HasPrefix(key, q.After)) {
			return nil
		}
		own, err := pg.offer(key)
		if own {
			res.Objects = append(res.Objects, s.info(bucket, key, fi))
		}
		return err
	}
	// Start in the deepest folder the prefix names entirely.
	start := ""
	if i := strings.LastIndex(q.Prefix, "/"); i >= 0 {
		start = q.Prefix[:i+1]
		if CheckKey(strings.TrimSuffix(start, "/")) != nil {
			return res, nil // no file path has this prefix
		}
	}
	err := s.walk(filepath.Join(s.bucketDir(bucket), filepath.FromSlash(start)), start, q, pg, emit, false)
	if err != nil && !errors.Is(err, errPageFull) {
		return ListResult{}, fmt.Errorf("listing %s: %w", bucket, err)
	}
	res.Prefixes, res.Truncated, res.Last, res.LastPrefix = pg.prefixes, pg.truncated, pg.last, pg.lastPrefix
	return res, nil
}

// walk visits the regular files under dir (whose keys start with
// keyPrefix) in key order. A folder sorts as its name plus "/", which is
// where its keys sort among its siblings.
func (s *Store) walk(dir, keyPrefix string, q ListQuery, pg *pager, emit func(string, os.FileInfo) error, rolled bool) error {
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
			before := len(pg.prefixes)
			sub = func(k string, fi os.FileInfo) error {
				if err := emit(k, fi); err != nil {
					return err
				}
				if len(pg.prefixes) > before || pg.lastPrefix && strings.HasPrefix(k, pg.last) {
					return errFolderDone
				}
				return nil
			}
		}
		if err := s.walk(filepath.Join(dir, strings.TrimSuffix(e.name, "/")), key, q, pg, sub, rolled || rollup); err != nil && !(rollup && errors.Is(err, errFolderDone)) {
			return err
		}
	}
	return nil
}
