package bucket

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket("bkt", "123456789012"); err != nil {
		t.Fatal(err)
	}
	return s
}

func putString(t *testing.T, s *Store, key, body string) error {
	t.Helper()
	st, err := s.Stage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.WriteString(body); err != nil {
		t.Fatal(err)
	}
	_, err = st.Commit("bkt", key, Info{ETag: `"x"`})
	return err
}

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key  string
		want error
	}{
		{"a/b/c.json", nil},
		{"model-00001-of-00002.safetensors", nil},
		{"with space/ünïcode", nil},
		{"", ErrKeyUnsafe},
		{"/abs", ErrKeyUnsafe},
		{"dir/", ErrKeyUnsafe},
		{"a//b", ErrKeyUnsafe},
		{"a/./b", ErrKeyUnsafe},
		{"a/../b", ErrKeyUnsafe},
		{"..", ErrKeyUnsafe},
		{"tab\there", ErrKeyUnsafe},
		{"nul\x00", ErrKeyUnsafe},
		{"back\\slash", ErrKeyUnsafe},
		{"bad\xffutf8", ErrKeyUnsafe},
		{strings.Repeat("a", 256), ErrKeyUnsafe},
		{strings.Repeat("a/", 600), ErrKeyTooLong},
	}
	for _, tc := range tests {
		if err := CheckKey(tc.key); !errors.Is(err, tc.want) {
			t.Errorf("CheckKey(%q) = %v, want %v", tc.key, err, tc.want)
		}
	}
}

func FuzzCheckKey(f *testing.F) {
	for _, k := range []string{"a/b", "../x", "a//b", "ok.json", "x/./y"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if CheckKey(key) != nil {
			return
		}
		// An accepted key is a clean relative path that stays inside.
		p := filepath.FromSlash(key)
		if filepath.IsAbs(p) || filepath.Clean(p) != p || p == "." || strings.HasPrefix(p, "..") || !filepath.IsLocal(p) {
			t.Fatalf("CheckKey accepted %q", key)
		}
	})
}

// TestKeyConflicts: an object cannot also be a folder of objects.
func TestKeyConflicts(t *testing.T) {
	s := newStore(t)
	if err := putString(t, s, "a/b", "x"); err != nil {
		t.Fatal(err)
	}
	if err := putString(t, s, "a/b/c", "y"); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("a/b/c under object a/b: %v", err)
	}
	if err := putString(t, s, "a", "z"); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("object a over folder a/: %v", err)
	}
	if err := putString(t, s, "a/b", "new"); err != nil {
		t.Errorf("overwrite: %v", err)
	}
	f, info, err := s.Open("bkt", "a/b")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if info.Size != 3 || info.ETag != `"x"` {
		t.Errorf("info = %+v", info)
	}
	// Staging files never show in the bucket, and a new Open clears them.
	st, _ := s.Stage()
	st.WriteString("partial")
	res, _ := s.List("bkt", ListQuery{Max: 100})
	if len(res.Objects) != 1 {
		t.Errorf("listing shows %d objects", len(res.Objects))
	}
	s2, err := Open(filepath.Dir(s.root), "123456789012")
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s2.state, "tmp")); len(ents) != 0 {
		t.Errorf("staged files survive a restart: %v", ents)
	}
}

// TestSymlinks: links in a bucket folder are not objects and cannot be
// written through.
func TestSymlinks(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.root, "bkt", "link"))
	os.Symlink(outside, filepath.Join(s.root, "bkt", "dirlink"))
	if _, _, err := s.Open("bkt", "link"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("Open through a file link: %v", err)
	}
	if _, _, err := s.Open("bkt", "dirlink/secret"); !errors.Is(err, ErrNoSuchKey) {
		t.Errorf("Open through a folder link: %v", err)
	}
	if err := putString(t, s, "dirlink/new", "x"); !errors.Is(err, ErrKeyConflict) {
		t.Errorf("write through a folder link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); !os.IsNotExist(err) {
		t.Error("a write escaped the bucket")
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	keys := []string{"a-c", "a/b", "a/c/d", "a/c/e", "a0", "b", "models/m1/config.json", "models/m1/model.safetensors", "models/m2/config.json"}
	for _, k := range keys {
		if err := putString(t, s, k, k); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(s.root, "bkt", "empty", "dir"), 0o700)
	tests := []struct {
		name string
		q    ListQuery
		want []string // objects, and prefixes ending in the delimiter, in order
	}{
		{"all-in-byte-order", ListQuery{}, keys},
		{"delimiter", ListQuery{Delimiter: "/"}, []string{"a-c", "a/", "a0", "b", "models/"}},
		{"prefix-folder", ListQuery{Prefix: "models/", Delimiter: "/"}, []string{"models/m1/", "models/m2/"}},
		{"prefix-partial", ListQuery{Prefix: "models/m1/con"}, []string{"models/m1/config.json"}},
		{"prefix-no-delimiter", ListQuery{Prefix: "a"}, []string{"a-c", "a/b", "a/c/d", "a/c/e", "a0"}},
		{"after-key", ListQuery{After: "a/c/d"}, keys[3:]},
		{"after-prefix", ListQuery{Delimiter: "/", After: "a/", AfterPrefix: true}, []string{"a0", "b", "models/"}},
		{"other-delimiter", ListQuery{Delimiter: "."}, []string{"a-c", "a/b", "a/c/d", "a/c/e", "a0", "b", "models/m1/config.", "models/m1/model.", "models/m2/config."}},
		{"unsafe-prefix", ListQuery{Prefix: "../"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Page one entry at a time, as a paginator with max-keys=1 does.
			var got []string
			q := tc.q
			q.Max = 1
			for range 50 {
				res, err := s.List("bkt", q)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range res.Objects {
					got = append(got, o.Key)
				}
				got = append(got, res.Prefixes...)
				if !res.Truncated {
					break
				}
				// A ListObjects (v1) client has only the marker string:
				// whether it is a common prefix must follow from it.
				if IsCommonPrefix(res.Last, q.Prefix, q.Delimiter) != res.LastPrefix {
					t.Fatalf("page ends at %q (prefix %v): IsCommonPrefix disagrees", res.Last, res.LastPrefix)
				}
				q.After, q.AfterPrefix = res.Last, res.LastPrefix
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// And in one page.
			q = tc.q
			q.Max = 1000
			res, _ := s.List("bkt", q)
			if n := len(res.Objects) + len(res.Prefixes); n != len(tc.want) || res.Truncated {
				t.Errorf("one page: %d entries, truncated %v", n, res.Truncated)
			}
		})
	}
}

func TestDeleteBucket(t *testing.T) {
	s := newStore(t)
	putString(t, s, "x/y", "1")
	if err := s.DeleteBucket("bkt"); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("DeleteBucket of a full bucket: %v", err)
	}
	if err := s.Delete("bkt", "x/y"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.root, "bkt", "x")); !os.IsNotExist(err) {
		t.Errorf("empty folder left: %v", err)
	}
	if err := s.DeleteBucket("bkt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bucket("bkt"); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("bucket after delete: %v", err)
	}
	// A folder made by hand is a bucket of the default owner.
	os.Mkdir(filepath.Join(s.root, "by-hand"), 0o700)
	b, err := s.Bucket("by-hand")
	if err != nil || b.Owner != "123456789012" {
		t.Errorf("hand-made bucket = %+v, %v", b, err)
	}
	if err := s.CreateBucket("by-hand", "999999999999"); !errors.Is(err, ErrBucketExists) {
		t.Errorf("CreateBucket over a folder: %v", err)
	}
}
