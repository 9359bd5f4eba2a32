package blob

import (
	"errors"
	"path"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"simple", "a", true},
		{"nested", "models/m1/model.safetensors", true},
		{"dots-inside", "a/.b/..c/...", true},
		{"unicode", "modèle/ψ", true},
		{"empty", "", false},
		{"absolute", "/a", false},
		{"trailing-slash", "a/", false},
		{"double-slash", "a//b", false},
		{"dot", "a/./b", false},
		{"dotdot", "a/../b", false},
		{"leading-dotdot", "../a", false},
		{"backslash", `a\b`, false},
		{"nul", "a\x00b", false},
		{"del", "a\x7fb", false},
		{"bad-utf8", "a\xffb", false},
		{"too-long", strings.Repeat("a", MaxKeyLen+1), false},
		{"max-length", strings.Repeat("a", MaxKeyLen), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidKey(tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is not ErrInvalidKey", err)
			}
		})
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/./b", "/", "a\\b", "modèle/ψ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		// A valid key is a clean relative path that stays below its root.
		if path.Clean(key) != key || path.IsAbs(key) || key == ".." || strings.HasPrefix(key, "../") {
			t.Fatalf("ValidKey accepted %q", key)
		}
		if ValidPrefix(key) != nil || ValidPrefix(key+"/") != nil {
			t.Fatalf("ValidPrefix rejects valid key %q", key)
		}
	})
}
