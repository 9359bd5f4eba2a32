// Package tags is Bedrock's resource tags: their type, the rules a tag set
// must follow, and tag updates. Every taggable resource (import jobs,
// imported models, provisioned models, inference profiles, guardrails) uses
// it.
package tags

import "strata/internal/apierr"

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
