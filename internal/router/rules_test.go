package router

import "testing"

func TestRules(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  Action
		rule  string
	}{
		{"fraud", "I think there is fraudulent activity on my account", ActionTopTier, "fraud"},
		{"dispute", "How do I dispute this charge?", ActionTopTier, "dispute"},
		{"chargeback", "I want a charge-back for this order", ActionTopTier, "chargeback"},
		{"stolen-card", "My card was stolen yesterday", ActionTopTier, "stolen"},
		{"did-not-make", "I didn't make this payment", ActionTopTier, "not_mine"},
		{"curly-apostrophe", "I don\u2019t recognise this transaction", ActionTopTier, "not_mine"},
		{"ask-for-person", "Can I speak to a real person please", ActionHandoff, "ask_for_person"},
		{"human-agent", "get me a human agent", ActionHandoff, "ask_for_person"},
		{"handoff-beats-fraud", "let me talk to someone about fraud", ActionHandoff, "ask_for_person"},
		{"plain-question", "How do I change my PIN?", ActionNone, ""},
		{"declined-is-not-fraud", "My card payment was declined", ActionNone, ""},
		{"disputed-word-boundary", "indisputable facts", ActionNone, ""},
	}
	r := DefaultRules()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, name := r.Match(tc.query)
			if a != tc.want || name != tc.rule {
				t.Errorf("Match(%q) = %v %q, want %v %q", tc.query, a, name, tc.want, tc.rule)
			}
		})
	}
	if a, _ := (Rules{}).Match("fraud"); a != ActionNone {
		t.Errorf("zero Rules matched")
	}
}

// FuzzRulesPrefilter checks that the cheap substring prefilters never
// change what the default rules match.
func FuzzRulesPrefilter(f *testing.F) {
	for _, s := range []string{"I didn't make this", "talk to a human", "charge-back", "thieves took it", "customer service rep"} {
		f.Add(s)
	}
	with := DefaultRules()
	var list []Rule
	for _, r := range with.list {
		r.Any = nil
		list = append(list, r)
	}
	without := NewRules(list)
	f.Fuzz(func(t *testing.T, q string) {
		a1, n1 := with.Match(q)
		a2, n2 := without.Match(q)
		if a1 != a2 || n1 != n2 {
			t.Fatalf("Match(%q): with prefilter %v %q, without %v %q", q, a1, n1, a2, n2)
		}
	})
}
