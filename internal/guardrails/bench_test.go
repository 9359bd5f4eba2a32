package guardrails

import (
	"strings"
	"testing"

	"strata/internal/guard"
)

// BenchmarkInvocationOverhead is what a guardrail adds to one invocation:
// Resolve (a store read and an authorization) plus guard.Apply on a 2 KB
// prompt and a 500-byte output, with card, email, word, topic and
// prompt-attack policies on.
func BenchmarkInvocationOverhead(b *testing.B) {
	s := newService(b)
	pol := policy("bench")
	pol.WordPolicyConfig = &guard.WordPolicyConfig{WordsConfig: []guard.WordConfig{{Text: "competitor bank"}}}
	pol.TopicPolicyConfig = &guard.TopicPolicyConfig{TopicsConfig: []guard.TopicConfig{{Name: "InvestmentAdvice", Type: "DENY",
		Definition: "Recommendations about which stocks, funds, crypto or other investments to buy or sell.",
		Examples:   []string{"Which stocks should I buy this year?", "Is bitcoin a good investment right now?"}}}}
	pol.ContentPolicyConfig = &guard.ContentPolicyConfig{FiltersConfig: []guard.ContentFilterConfig{{Type: "PROMPT_ATTACK", InputStrength: "HIGH", OutputStrength: "NONE"}}}
	g, err := s.Create(b.Context(), root, CreateInput{Policy: pol})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.CreateVersion(b.Context(), root, g.ID, "", ""); err != nil {
		b.Fatal(err)
	}
	prompt := strings.Repeat("Hi, I moved house last month and my statement still goes to the old address. ", 30)[:2048]
	output := strings.Repeat("You can change your address in the app under Settings. ", 10)[:500]
	run := func(name string, n int, fn func() error) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				if err := fn(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	p, _, err := s.Resolve(b.Context(), root, g.ID, "1")
	if err != nil {
		b.Fatal(err)
	}
	run("resolve", 0, func() error { _, _, err := s.Resolve(b.Context(), root, g.ID, "1"); return err })
	run("apply-input-2KB", len(prompt), func() error { _, err := guard.Apply(p, guard.SourceInput, []string{prompt}); return err })
	run("apply-output-500B", len(output), func() error { _, err := guard.Apply(p, guard.SourceOutput, []string{output}); return err })
	run("all", len(prompt)+len(output), func() error {
		p, _, err := s.Resolve(b.Context(), root, g.ID, "1")
		if err != nil {
			return err
		}
		if _, err := guard.Apply(p, guard.SourceInput, []string{prompt}); err != nil {
			return err
		}
		_, err = guard.Apply(p, guard.SourceOutput, []string{output})
		return err
	})
}
