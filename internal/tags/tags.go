// Package tags is Bedrock's resource tags: their type, the rules a tag set
// must follow, and tag updates. Every taggable resource (import jobs,
// imported models, provisioned models, inference profiles, guardrails) uses
// it.
package tags

import (
	"errors"

	"strata/internal/apierr"
	"strata/internal/store"
)

// Tag is a resource tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Max is the most tags a resource may have.
const Max = 200

// Validate checks tags the way Bedrock does: at most Max, keys of 1-128
// characters, values of at most 256, no repeated key. field names the
// request field in the error.
func Validate(field string, tags []Tag) error {
	if len(tags) > Max {
		return apierr.New(apierr.TooManyTags, "%s: a resource can have at most %d tags", field, Max)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 {
			return apierr.New(apierr.Validation, "%s: tag keys must be 1-128 characters and values at most 256", field)
		}
		if seen[t.Key] {
			return apierr.New(apierr.Validation, "%s: duplicate tag key %q", field, t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// Merge returns tags with the keys in remove dropped and add applied
// (replacing tags with the same keys).
func Merge(tags, add []Tag, remove []string) []Tag {
	drop := make(map[string]bool, len(remove)+len(add))
	for _, k := range remove {
		drop[k] = true
	}
	for _, t := range add {
		drop[t.Key] = true
	}
	var out []Tag
	for _, t := range tags {
		if !drop[t.Key] {
			out = append(out, t)
		}
	}
	return append(out, add...)
}

// Action returns the IAM action a tag update needs: UntagResource when it
// removes keys, else TagResource.
func Action(remove []string) string {
	if remove != nil {
		return "bedrock:UntagResource"
	}
	return "bedrock:TagResource"
}

// Update adds tags to, or removes tag keys from, one resource, retrying
// when the resource changes underneath. load reads the resource afresh
// (and authorizes the caller), returning its tags and a save function that
// stores new ones; save fails with an error wrapping store.ErrConflict when
// the resource changed since load.
func Update(resourceARN string, add []Tag, remove []string, load func() (current []Tag, save func([]Tag) error, err error)) error {
	if err := Validate("tags", add); err != nil {
		return err
	}
	for range 5 {
		current, save, err := load()
		if err != nil {
			return err
		}
		next := Merge(current, add, remove)
		if err := Validate("tags", next); err != nil {
			return err
		}
		if err := save(next); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return apierr.New(apierr.Conflict, "The resource %s is being changed; try again", resourceARN)
}
