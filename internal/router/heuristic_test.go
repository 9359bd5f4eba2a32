package router

import (
	"strings"
	"testing"
)

// The want scores were computed by running the guides' Python
// analyze_query_complexity on the same strings.
func TestComplexityScore(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  float64
	}{
		{"plain", "What is my balance", 1},
		{"how-do-i-question", "How do I reset my password?", 2.5},
		{"compare-and-difference", "Can you compare the premium plan and the basic plan? What is the difference between them?", 4},
		{"capped-at-10", "I need the steps to troubleshoot network performance and security configuration issues in my deployment architecture. How can I optimize the database?", 10},
		{"21-words", strings.Repeat("word ", 21), 2},
		{"51-words-and-question", strings.Repeat("word ", 50) + "word?", 4.5},
		{"many-questions-capped", strings.Repeat("?", 22), 10},
		{"term-counted-once-case-insensitive", "Troubleshoot TROUBLESHOOT troubleshooting", 2.5},
		{"dot-does-not-cross-newline", "compare\nA and B", 1},
		{"mixed", "How do I optimize infrastructure authentication and authorization? Best practice? step to do it?", 8},
		{"python-splits-on-file-separators", "a\x1cb\x1dc", 1},
		{"empty", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ComplexityScore(tc.query); got != tc.want {
				t.Errorf("ComplexityScore(%q) = %v, want %v", tc.query, got, tc.want)
			}
		})
	}
}

func TestPyWordCount(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"spaces", "  a  b ", 2},
		{"tabs-newlines", "a\tb\nc\r\nd", 4},
		{"file-separators", "a\x1cb\x1fc", 3},
		{"nbsp", "a\u00a0b", 2},
		{"empty", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := pyWordCount(tc.in); got != tc.want {
				t.Errorf("pyWordCount(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestHeuristicTier(t *testing.T) {
	tests := []struct {
		name  string
		score float64
		n     int
		want  int
	}{
		{"below-3-simple", 2.5, 3, 0},
		{"3-standard", 3, 3, 1},
		{"6.5-standard", 6.5, 3, 1},
		{"7-complex", 7, 3, 2},
		{"two-tiers-middle-is-top", 5, 2, 1},
		{"one-tier", 9, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := HeuristicTier(tc.score, tc.n); got != tc.want {
				t.Errorf("HeuristicTier(%v, %d) = %d, want %d", tc.score, tc.n, got, tc.want)
			}
		})
	}
}
