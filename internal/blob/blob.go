// Package blob defines the artifact store: a flat namespace of immutable
// byte objects (model shards, manifests, datasets) named by slash-separated
// keys. Implementations live in sub-packages named for their backend
// (localfs, and later s3); blobtest holds the conformance suite every
// implementation must pass.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every Store, possibly wrapped; test with errors.Is.
var (
	// ErrNotExist: no object has the key.
	ErrNotExist = errors.New("blob: object does not exist")
	// ErrInvalidKey: the key fails ValidKey.
	ErrInvalidKey = errors.New("blob: invalid key")
)

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is an artifact store. All methods are safe for concurrent use.
//
//   - Put stores the whole of r under key, replacing any object there, and
//     returns the number of bytes stored. It is atomic: readers see the old
//     object or the complete new one, never a part, and a Put that fails
//     (r errors, ctx is cancelled, the process dies) leaves the old object
//     or nothing. Concurrent Puts to one key leave one of the values whole.
//   - Get opens the object for reading; the caller closes it. A reader
//     opened before a Put or Delete of the same key keeps reading the object
//     it opened. Missing: ErrNotExist.
//   - Stat returns the object's Info. Missing: ErrNotExist.
//   - Delete removes the object; deleting a missing key is not an error.
//   - List returns the objects whose keys start with prefix (a plain string
//     prefix, as in S3; "" lists everything), sorted by key.
//
// Every method rejects keys that fail ValidKey with ErrInvalidKey; List
// accepts any prefix that is "" or a valid key, optionally ending in "/".
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]Info, error)
}

// MaxKeyLen bounds a key's length in bytes, as S3 does.
const MaxKeyLen = 1024

// ValidKey reports whether key is a valid object key: 1 to MaxKeyLen bytes
// of UTF-8, slash-separated segments that are non-empty and not "." or
// "..", no leading or trailing slash, no backslash and no control
// characters. The rules make every key a safe relative file path.
func ValidKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: %q contains a control character or backslash", ErrInvalidKey, key)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q has an empty, \".\" or \"..\" segment", ErrInvalidKey, key)
		}
	}
	return nil
}

// ValidPrefix reports whether prefix may be passed to List: "" or a valid
// key with an optional trailing "/".
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidKey(strings.TrimSuffix(prefix, "/"))
}
