package router

import (
	"regexp"
	"strings"
)

// Action is what a hard rule decides.
type Action int

// The actions a [Rules] match can take. Only add at the end.
const (
	// ActionNone: no rule matched; the strategy decides.
	ActionNone Action = iota
	// ActionTopTier: fraud, dispute, stolen-card or chargeback language;
	// the query goes to the top tier whatever the strategy says.
	ActionTopTier
	// ActionHandoff: the customer asked for a person (or the query is out
	// of scope); the answer is a human handoff, not a model's.
	ActionHandoff
)

func (a Action) String() string {
	switch a {
	case ActionTopTier:
		return "top_tier"
	case ActionHandoff:
		return "handoff"
	}
	return "none"
}

// Rule is one hard rule: a name (reported in decisions) and a pattern over
// the lower-cased query.
type Rule struct {
	Name    string
	Pattern *regexp.Regexp
	Action  Action
	// Any, if set, lists substrings of which the lower-cased query must
	// contain at least one for Pattern to be tried: a cheap prefilter that
	// must not change what the rule matches.
	Any []string
}

// Rules are the hard rules that run before any model. The first match wins;
// handoff rules come first, so "let me talk to a person about fraud" is a
// handoff. The zero value matches nothing.
type Rules struct {
	list []Rule
}

// DefaultRules returns the built-in rules. The top-tier rules cover fraud,
// disputes, stolen or compromised cards, chargebacks and payments the
// customer did not make or recognise; the handoff rules cover explicit
// requests for a person.
func DefaultRules() Rules {
	return Rules{list: []Rule{
		{"ask_for_person", regexp.MustCompile(`\b(speak|talk|chat|connect|transfer|put)( me)? (to|with|through to) (a |an |the |some |your )?(real |live |actual |human )?(human|person|agent|representative|rep|operator|someone|somebody|manager|supervisor|staff)\b`), ActionHandoff,
			[]string{"speak", "talk", "chat", "connect", "transfer", "put"}},
		{"ask_for_person", regexp.MustCompile(`\b(real|live|actual) (person|human|agent)\b|\bhuman (agent|being|operator|representative)\b|\bcustomer (service|support) (agent|representative|rep)\b`), ActionHandoff,
			[]string{"person", "human", "agent", "rep"}},
		{"fraud", regexp.MustCompile(`\bfraud|\bscam(s|med|mer|mers)?\b`), ActionTopTier, []string{"fraud", "scam"}},
		{"dispute", regexp.MustCompile(`\bdisput(e|es|ed|ing)\b`), ActionTopTier, []string{"disput"}},
		{"chargeback", regexp.MustCompile(`\bcharge ?-?backs?\b`), ActionTopTier, []string{"back"}},
		{"stolen", regexp.MustCompile(`\b(stolen|stole|steal|stealing|theft|thief|thieves)\b|\bcompromised\b|\bhacked\b`), ActionTopTier,
			[]string{"stole", "steal", "theft", "thie", "compromised", "hacked"}},
		{"not_mine", regexp.MustCompile(`\bunauthori[sz]ed\b|\b(didn'?t|did not|never) (make|made|authori[sz]e|authori[sz]ed)\b|\b(don'?t|do not|didn'?t|did not|can'?t|cannot|can not) recogni[sz]e\b|\bunrecogni[sz]ed\b|\bnot recogni[sz]ed\b`), ActionTopTier,
			[]string{"authori", "make", "made", "recogni"}},
	}}
}

// NewRules builds rules from a list; see [DefaultRules] for the built-in
// ones. Patterns are matched against the lower-cased query.
func NewRules(list []Rule) Rules { return Rules{list: list} }

// Match returns the first matching rule's action and name.
func (r Rules) Match(query string) (Action, string) {
	if len(r.list) == 0 {
		return ActionNone, ""
	}
	if len(query) > maxQueryRunes*4 {
		query = query[:maxQueryRunes*4]
	}
	q := strings.ToLower(query)
	q = strings.ReplaceAll(q, "\u2019", "'")
	for _, rule := range r.list {
		if len(rule.Any) > 0 && !containsAny(q, rule.Any) {
			continue
		}
		if rule.Pattern.MatchString(q) {
			return rule.Action, rule.Name
		}
	}
	return ActionNone, ""
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
