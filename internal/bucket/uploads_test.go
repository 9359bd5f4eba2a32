package bucket

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIsCommonPrefix(t *testing.T) {
	tests := []struct {
		s, prefix, delim string
		want             bool
	}{
		{"a/", "", "/", true},
		{"models/m1/", "models/", "/", true},
		{"a/b/", "", "/", false}, // the first delimiter is not the last
		{"a/b", "", "/", false},
		{"a", "", "/", false},
		{"", "", "/", false},
		{"a/", "", "", false}, // no delimiter, no prefixes
		{"a/", "b", "/", false},
		{"x--", "", "--", true},
		{"x-", "", "--", false},
		{"m.", "", ".", true},
	}
	for _, tc := range tests {
		if got := IsCommonPrefix(tc.s, tc.prefix, tc.delim); got != tc.want {
			t.Errorf("IsCommonPrefix(%q, %q, %q) = %v", tc.s, tc.prefix, tc.delim, got)
		}
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t0 := time.UnixMilli(1_700_000_000_000)
	a, b := newID(t0), newID(t0.Add(time.Millisecond))
	if !validUploadID(a) || !validUploadID(b) || a >= b {
		t.Fatalf("ids %s, %s: want valid and ascending", a, b)
	}
	if newID(t0) == a {
		t.Fatal("two ids of the same millisecond are equal")
	}
	if a[:12] != "018bcfe56800" {
		t.Errorf("time digits %s", a[:12])
	}
}

func TestListUploads(t *testing.T) {
	s := newStore(t)
	if err := s.CreateBucket("other", "123456789012"); err != nil {
		t.Fatal(err)
	}
	mk := func(bucket, key string) Upload {
		t.Helper()
		u, err := s.CreateUpload(Upload{Bucket: bucket, Key: key, Initiator: "arn:aws:iam::123456789012:root"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // ids sort by creation
		return u
	}
	ids := map[string][]string{}
	for _, k := range []string{"m/b", "m/a", "x", "m/a", "n/c/d", "x"} {
		u := mk("bkt", k)
		ids[k] = append(ids[k], u.ID)
	}
	mk("other", "m/a")
	done := mk("bkt", "m/done")
	if _, err := s.CompleteUpload(done, nil, Info{ETag: `"e"`}, nil); err != nil {
		t.Fatal(err)
	}
	aborted := mk("bkt", "m/aborted")
	if err := s.AbortUpload(aborted); err != nil {
		t.Fatal(err)
	}

	// entries renders a page: "key@n" for the n-th upload of key, and
	// prefixes as they are.
	entries := func(l UploadList) []string {
		var out []string
		for _, u := range l.Uploads {
			out = append(out, u.Key+"@"+string(rune('0'+slices.Index(ids[u.Key], u.ID))))
		}
		return append(out, l.Prefixes...)
	}
	tests := []struct {
		name string
		q    UploadQuery
		want []string
	}{
		{"all", UploadQuery{}, []string{"m/a@0", "m/a@1", "m/b@0", "n/c/d@0", "x@0", "x@1"}},
		{"delimiter", UploadQuery{Delimiter: "/"}, []string{"x@0", "x@1", "m/", "n/"}},
		{"prefix-delimiter", UploadQuery{Prefix: "n/", Delimiter: "/"}, []string{"n/c/"}},
		{"prefix", UploadQuery{Prefix: "m/"}, []string{"m/a@0", "m/a@1", "m/b@0"}},
		{"key-marker", UploadQuery{KeyMarker: "m/a"}, []string{"m/b@0", "n/c/d@0", "x@0", "x@1"}},
		{"key-and-id-marker", UploadQuery{KeyMarker: "m/a", UploadIDMarker: ids["m/a"][0]}, []string{"m/a@1", "m/b@0", "n/c/d@0", "x@0", "x@1"}},
		{"id-marker-alone-ignored", UploadQuery{UploadIDMarker: ids["x"][1]}, []string{"m/a@0", "m/a@1", "m/b@0", "n/c/d@0", "x@0", "x@1"}},
		{"prefix-marker-skips-under-it", UploadQuery{Delimiter: "/", KeyMarker: "m/"}, []string{"x@0", "x@1", "n/"}},
		{"key-marker-inside-prefix", UploadQuery{Delimiter: "/", KeyMarker: "m/a"}, []string{"x@0", "x@1", "m/", "n/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.Max = 1000
			l, err := s.ListUploads("bkt", q)
			if err != nil {
				t.Fatal(err)
			}
			got := entries(l)
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) || l.Truncated {
				t.Fatalf("got %q (truncated %v), want %q", entries(l), l.Truncated, tc.want)
			}
			// One entry a page, following the next markers, gives the same.
			var paged []string
			q.Max = 1
			for range 20 {
				l, err := s.ListUploads("bkt", q)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(l.Uploads) + len(l.Prefixes); n > 1 {
					t.Fatalf("a page of %d entries", n)
				}
				paged = append(paged, entries(l)...)
				if !l.Truncated {
					break
				}
				q.KeyMarker, q.UploadIDMarker = l.NextKeyMarker, l.NextUploadIDMarker
			}
			slices.Sort(paged)
			if !slices.Equal(paged, want) {
				t.Fatalf("paged %q, want %q", paged, want)
			}
		})
	}

	// Order: by key, then creation; the page's markers are its last entry.
	l, err := s.ListUploads("bkt", UploadQuery{Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(l); !slices.Equal(got, []string{"m/a@0", "m/a@1"}) || !l.Truncated ||
		l.NextKeyMarker != "m/a" || l.NextUploadIDMarker != ids["m/a"][1] {
		t.Fatalf("first page %q, truncated %v, next %s/%s", got, l.Truncated, l.NextKeyMarker, l.NextUploadIDMarker)
	}
	l, _ = s.ListUploads("bkt", UploadQuery{Delimiter: "/", Max: 1})
	if !l.Truncated || l.NextKeyMarker != "m/" || l.NextUploadIDMarker != "" {
		t.Fatalf("prefix page: next %q/%q", l.NextKeyMarker, l.NextUploadIDMarker)
	}
	if _, err := s.ListUploads("nope", UploadQuery{Max: 1}); !errors.Is(err, ErrNoSuchBucket) {
		t.Errorf("missing bucket: %v", err)
	}
	if l, _ := s.ListUploads("other", UploadQuery{Max: 10}); len(l.Uploads) != 1 || !strings.HasPrefix(l.Uploads[0].Key, "m/a") {
		t.Errorf("other bucket lists %+v", l.Uploads)
	}
}

// FuzzListUploads: paging through uploads with the markers each page
// returns, at any page size, lists what one page lists, once each.
func FuzzListUploads(f *testing.F) {
	f.Add("a/b,a/c,b,c/d/e,a/b", "", "/", uint8(0))
	f.Add("x.y.z,x.y,xy,x.y", "x", ".", uint8(1))
	f.Add("m/a,m/a,m/a", "m/", "/", uint8(2))
	f.Fuzz(func(t *testing.T, keyList, prefix, delim string, size uint8) {
		s, err := Open(t.TempDir(), "123456789012")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateBucket("bkt", "123456789012"); err != nil {
			t.Fatal(err)
		}
		for i, k := range strings.Split(keyList, ",") {
			if i == 8 {
				break
			}
			if CheckKey(k) == nil {
				if _, err := s.CreateUpload(Upload{Bucket: "bkt", Key: k}); err != nil {
					t.Fatal(err)
				}
			}
		}
		render := func(l UploadList) []string {
			var out []string
			for _, u := range l.Uploads {
				if !strings.HasPrefix(u.Key, prefix) || delim != "" && strings.Contains(u.Key[len(prefix):], delim) {
					t.Fatalf("listed %q with prefix %q, delimiter %q", u.Key, prefix, delim)
				}
				out = append(out, u.Key+"\x00"+u.ID)
			}
			for _, p := range l.Prefixes {
				if !IsCommonPrefix(p, prefix, delim) {
					t.Fatalf("common prefix %q with prefix %q, delimiter %q", p, prefix, delim)
				}
				out = append(out, p)
			}
			return out
		}
		full, err := s.ListUploads("bkt", UploadQuery{Prefix: prefix, Delimiter: delim, Max: 1000})
		if err != nil || full.Truncated {
			t.Fatalf("one page: %+v, %v", full, err)
		}
		want := render(full)
		q := UploadQuery{Prefix: prefix, Delimiter: delim, Max: int(size%4) + 1}
		var got []string
		for range 20 {
			l, err := s.ListUploads("bkt", q)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(l.Uploads) + len(l.Prefixes); n > q.Max || l.Truncated && n == 0 {
				t.Fatalf("page of %d entries (max %d, truncated %v)", n, q.Max, l.Truncated)
			}
			got = append(got, render(l)...)
			if !l.Truncated {
				break
			}
			q.KeyMarker, q.UploadIDMarker = l.NextKeyMarker, l.NextUploadIDMarker
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("paged %q, want %q", got, want)
		}
	})
}
