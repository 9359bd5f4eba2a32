package modelimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Object is one file of a model source, readable at any offset.
type Object interface {
	io.ReaderAt
	io.Reader
	io.Closer
}

// FileInfo names one file of a source, relative to the source prefix.
type FileInfo struct {
	Name string // slash-separated, relative to the prefix
	Key  string // the object key in its bucket (or path on disk)
	Size int64
}

// Source lists and opens the files of a model folder.
type Source interface {
	// List returns the files under the location, sorted by name.
	List(ctx context.Context) ([]FileInfo, error)
	// Open opens one listed file.
	Open(ctx context.Context, f FileInfo) (Object, error)
	// Bucket is the source bucket ("" for a local path) for authorization.
	Bucket() string
}

// Location is a parsed model data source URI.
type Location struct {
	Scheme string // "s3" or "file"
	Bucket string // s3 only
	Prefix string // s3: key prefix ending in "/" or ""; file: absolute path
}

// ParseURI parses "s3://bucket/prefix/" or "file:///abs/path".
func ParseURI(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("%q is not a URI", s)
	}
	switch u.Scheme {
	case "s3":
		if !validBucket(u.Host) {
			return Location{}, fmt.Errorf("%q does not name a valid bucket", s)
		}
		p := strings.TrimPrefix(u.Path, "/")
		if p != "" && !strings.HasSuffix(p, "/") {
			p += "/"
		}
		if strings.Contains("/"+p, "/../") || strings.Contains("/"+p, "/./") {
			return Location{}, fmt.Errorf("%q has a relative path segment", s)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: p}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("%q names a remote host", s)
		}
		if !filepath.IsAbs(u.Path) {
			return Location{}, fmt.Errorf("%q is not an absolute path", s)
		}
		return Location{Scheme: "file", Prefix: filepath.Clean(u.Path)}, nil
	}
	return Location{}, fmt.Errorf("%q: the model data source must be an s3:// URI", s)
}

// validBucket checks S3's bucket naming rules.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return b[0] != '-' && b[0] != '.' && b[len(b)-1] != '-' && b[len(b)-1] != '.' && !strings.Contains(b, "..")
}

// dirSource reads a folder on disk: an embedded-mode bucket folder or a
// local path.
type dirSource struct {
	bucket string
	root   string
}

// DirSource returns a Source over the folder root. bucket is the bucket the
// folder stands for, or "" for a plain local path.
func DirSource(bucket, root string) Source { return &dirSource{bucket: bucket, root: root} }

func (s *dirSource) Bucket() string { return s.bucket }

// maxFiles bounds how many files a model folder may hold.
const maxFiles = 10000

func (s *dirSource) List(ctx context.Context) ([]FileInfo, error) {
	st, err := os.Stat(s.root)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("no model folder at the source location")
	}
	var out []FileInfo
	err = filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		rel = filepath.ToSlash(rel)
		if d.Type()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link; the source must hold plain files", rel)
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && p != s.root {
				return fs.SkipDir // .git, .cache from hub downloads
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", rel)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if len(out) >= maxFiles {
			return fmt.Errorf("the source holds more than %d files", maxFiles)
		}
		out = append(out, FileInfo{Name: rel, Key: p, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *dirSource) Open(ctx context.Context, f FileInfo) (Object, error) {
	if !strings.HasPrefix(f.Key, s.root+string(os.PathSeparator)) {
		return nil, errors.New("file outside the source folder")
	}
	return os.Open(f.Key)
}

// bucketObjectKey returns the object key of a listed file, for IAM resource ARNs.
func bucketObjectKey(loc Location, f FileInfo) string {
	return path.Join(strings.TrimSuffix(loc.Prefix, "/"), f.Name)
}
