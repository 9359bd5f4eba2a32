package router

import (
	"regexp"
	"strings"
	"unicode"
)

// The guides' analyze_query_complexity, term for term.
var (
	technicalTerms = []string{
		"configuration", "architecture", "infrastructure", "deployment",
		"security", "performance", "optimization", "troubleshoot",
		"database", "network", "authentication", "authorization",
	}
	// complexPatterns are the guides' regular expressions, each with a
	// literal its matches must contain, checked first because it is cheap.
	complexPatterns = []struct {
		re      *regexp.Regexp
		literal string
	}{
		{regexp.MustCompile(`compare .+ and`), "compare "},
		{regexp.MustCompile(`difference between`), "difference between"},
		{regexp.MustCompile(`step[s]? to`), "step"},
		{regexp.MustCompile(`how (can|do) i`), "how "},
		{regexp.MustCompile(`best practice`), "best practice"},
		{regexp.MustCompile(`optimize`), "optimize"},
		{regexp.MustCompile(`troubleshoot`), "troubleshoot"},
	}
)

// Heuristic thresholds of the guides: a score below SimpleBelow is simple,
// below StandardBelow standard, else complex.
const (
	SimpleBelow   = 3
	StandardBelow = 7
)

// ComplexityScore is the guides' analyze_query_complexity, exactly: 1, plus
// 3 for more than 50 words or 1 for more than 20 (Python str.split), plus 0.5
// per technical term occurring as a substring, plus 0.5 per '?', plus 1 per
// complex pattern found in the lower-cased query, capped at 10.
func ComplexityScore(query string) float64 {
	complexity := 1.0
	words := pyWordCount(query)
	if words > 50 {
		complexity += 3
	} else if words > 20 {
		complexity += 1
	}
	lower := strings.ToLower(query)
	for _, term := range technicalTerms {
		if strings.Contains(lower, term) {
			complexity += 0.5
		}
	}
	complexity += float64(strings.Count(query, "?")) * 0.5
	for _, p := range complexPatterns {
		if strings.Contains(lower, p.literal) && p.re.MatchString(lower) {
			complexity += 1
		}
	}
	return min(10, complexity)
}

// HeuristicTier maps a complexity score onto n tiers: the guides' three
// bands (< 3, < 7, else) become tiers 0, n/2 and n-1 (0, 1, 2 for three).
func HeuristicTier(score float64, n int) int {
	switch {
	case n <= 1:
		return 0
	case score < SimpleBelow:
		return 0
	case score < StandardBelow:
		return n / 2
	}
	return n - 1
}

// pyWordCount counts words as Python's str.split() without arguments does:
// runs of characters that are not whitespace, where whitespace is Go's
// unicode.IsSpace plus the separators U+001C..U+001F that Python also
// splits on.
func pyWordCount(s string) int {
	n := 0
	in := false
	for _, r := range s {
		if unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) {
			in = false
			continue
		}
		if !in {
			n++
			in = true
		}
	}
	return n
}
