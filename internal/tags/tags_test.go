package tags

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"strata/internal/apierr"
	"strata/internal/store"
)

func TestValidate(t *testing.T) {
	many := make([]Tag, Max+1)
	for i := range many {
		many[i] = Tag{Key: fmt.Sprint("k", i)}
	}
	tests := []struct {
		name string
		tags []Tag
		kind apierr.Kind
		ok   bool
	}{
		{"none", nil, 0, true},
		{"fine", []Tag{{"team", "support"}, {"env", ""}}, 0, true},
		{"empty-key", []Tag{{"", "x"}}, apierr.Validation, false},
		{"long-key", []Tag{{strings.Repeat("k", 129), "x"}}, apierr.Validation, false},
		{"long-value", []Tag{{"k", strings.Repeat("v", 257)}}, apierr.Validation, false},
		{"duplicate", []Tag{{"k", "1"}, {"k", "2"}}, apierr.Validation, false},
		{"too-many", many, apierr.TooManyTags, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate("tags", tc.tags)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if e, ok := errors.AsType[*apierr.Error](err); !ok || e.Kind != tc.kind {
				t.Errorf("Validate = %v, want kind %v", err, tc.kind)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	got := Merge([]Tag{{"a", "1"}, {"b", "2"}, {"c", "3"}}, []Tag{{"b", "20"}, {"d", "4"}}, []string{"c"})
	want := "a=1,b=20,d=4"
	var parts []string
	for _, t := range got {
		parts = append(parts, t.Key+"="+t.Value)
	}
	if strings.Join(parts, ",") != want {
		t.Errorf("Merge = %v, want %s", parts, want)
	}
}

func TestUpdateRetriesConflicts(t *testing.T) {
	stored := []Tag{{"a", "1"}}
	conflicts := 2
	err := Update("arn:x", []Tag{{"b", "2"}}, nil, func() ([]Tag, func([]Tag) error, error) {
		return stored, func(next []Tag) error {
			if conflicts > 0 {
				conflicts--
				return &store.ConflictError{Field: "version"}
			}
			stored = next
			return nil
		}, nil
	})
	if err != nil || len(stored) != 2 || conflicts != 0 {
		t.Fatalf("Update = %v, stored %v", err, stored)
	}
	// A resource that keeps changing gives up with a ConflictException.
	err = Update("arn:x", nil, []string{"a"}, func() ([]Tag, func([]Tag) error, error) {
		return stored, func([]Tag) error { return store.ErrConflict }, nil
	})
	if e, ok := errors.AsType[*apierr.Error](err); !ok || e.Kind != apierr.Conflict {
		t.Errorf("endless conflicts: %v", err)
	}
	if Action(nil) != "bedrock:TagResource" || Action([]string{}) != "bedrock:UntagResource" {
		t.Error("Action picks the wrong IAM action")
	}
}
