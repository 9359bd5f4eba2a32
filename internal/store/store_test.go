package store

import (
	"testing"
	"time"
)

func TestPageTokenRoundTrip(t *testing.T) {
	r := Record{ID: "abc|def", Created: time.Date(2026, 11, 21, 1, 2, 3, 4, time.UTC)}
	pt, err := DecodePageToken(EncodePageToken(r))
	if err != nil || pt.ID != r.ID || !pt.Created.Equal(r.Created) {
		t.Fatalf("round trip = %+v, %v", pt, err)
	}
	for _, bad := range []string{"", "!!!", "bm9waXBl", "MTIz"} {
		if _, err := DecodePageToken(bad); err == nil {
			t.Errorf("DecodePageToken(%q) accepted", bad)
		}
	}
}

// FuzzDecodePageToken: page tokens come from clients (nextToken).
func FuzzDecodePageToken(f *testing.F) {
	f.Add(EncodePageToken(Record{ID: "x", Created: time.Unix(5, 0)}))
	f.Add("garbage")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := DecodePageToken(s)
		if err == nil && len(pt.ID) > 512 {
			t.Fatalf("oversized id accepted")
		}
	})
}
