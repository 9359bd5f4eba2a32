package guard

import (
	"strings"
	"unicode"
)

// profanity is the managed PROFANITY word list: common English profanity
// and slurs' stems, matched as whole words after folding case and simple
// leetspeak (0→o, 1→i, 3→e, 4→a, 5→s, 7→t, @→a, $→s).
var profanity = []string{
	"fuck", "fucking", "fucked", "fucker", "motherfucker", "shit", "shitty", "bullshit", "bitch", "bitches",
	"bastard", "asshole", "ass", "arse", "arsehole", "dick", "dickhead", "cock", "cunt", "pussy", "prick",
	"twat", "wanker", "whore", "slut", "piss", "pissed", "damn", "goddamn", "crap", "douche", "douchebag",
	"jackass", "dumbass", "bollocks", "bugger", "tits", "nigger", "nigga", "faggot", "fag", "retard",
	"retarded", "spic", "kike", "chink", "wetback", "tranny", "skank", "hoe", "screw you", "son of a bitch",
	"wtf", "stfu", "fck", "fuk", "sh1t",
}

// harmLexicon holds small word lists for the HATE, INSULTS, SEXUAL,
// VIOLENCE and MISCONDUCT content filters. These filters are lexicon
// based (distinct hits: 1 LOW, 2 MEDIUM, 3+ HIGH), far weaker than
// Bedrock's models; PROMPT_ATTACK uses a trained classifier instead.
var harmLexicon = map[string][]string{
	"HATE": {"nigger", "faggot", "kike", "spic", "chink", "wetback", "subhuman", "inferior race", "go back to your country",
		"white power", "ethnic cleansing", "gas the", "hate all", "should be exterminated", "vermin"},
	"INSULTS": {"idiot", "stupid", "moron", "dumb", "loser", "pathetic", "worthless", "useless", "imbecile", "retard",
		"incompetent", "clown", "shut up", "ugly", "trash", "garbage", "asshole", "jerk"},
	"SEXUAL": {"sex", "sexual", "porn", "nude", "naked", "orgasm", "erotic", "blowjob", "penis", "vagina", "boobs",
		"horny", "nsfw", "masturbate", "fetish", "explicit"},
	"VIOLENCE": {"kill", "murder", "shoot", "stab", "bomb", "assault", "beat up", "torture", "behead", "massacre",
		"slaughter", "strangle", "gun down", "blow up", "hurt you", "attack them"},
	"MISCONDUCT": {"launder", "money laundering", "steal", "fraud", "scam", "phishing", "counterfeit", "hack into",
		"carding", "skimmer", "stolen card", "fake id", "bribe", "evade taxes", "drugs", "meth", "cocaine", "chargeback fraud",
		"card dump", "cvv dump", "bypass kyc"},
}

// wordToken is one lower-cased word of a text.
type wordToken struct {
	w          string
	start, end int
}

// tokenize splits s into lower-cased words of letters and digits, with
// leetspeak folded when leet is set.
func tokenize(s string, leet bool) []wordToken {
	var out []wordToken
	var b strings.Builder
	start := -1
	flush := func(end int) {
		if start >= 0 {
			out = append(out, wordToken{b.String(), start, end})
			b.Reset()
			start = -1
		}
	}
	for i, r := range s {
		if leet {
			switch r {
			case '0':
				r = 'o'
			case '1', '!':
				r = 'i'
			case '3':
				r = 'e'
			case '4', '@':
				r = 'a'
			case '5', '$':
				r = 's'
			case '7':
				r = 't'
			}
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		if r == '\'' || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) {
			continue // don't split "don't" or words with invisible characters
		}
		flush(i)
	}
	flush(len(s))
	return out
}

// findPhrase returns the spans where the words of phrase occur in toks.
func findPhrase(toks []wordToken, phrase []wordToken) [][2]int {
	var out [][2]int
	if len(phrase) == 0 {
		return nil
	}
outer:
	for i := 0; i+len(phrase) <= len(toks); i++ {
		for j, p := range phrase {
			if toks[i+j].w != p.w {
				continue outer
			}
		}
		out = append(out, [2]int{toks[i].start, toks[i+len(phrase)-1].end})
	}
	return out
}

func applyWords(p *WordPolicyConfig, src Source, text string) (*WordPolicyAssessment, bool) {
	wa := &WordPolicyAssessment{CustomWords: []WordResult{}, ManagedWordLists: []WordResult{}}
	blocked := false
	toks := tokenize(text, false)
	for _, w := range p.WordsConfig {
		on, act := w.effective(src, ActionBlock)
		if !on {
			continue
		}
		for _, m := range findPhrase(toks, tokenize(w.Text, false)) {
			wa.CustomWords = append(wa.CustomWords, WordResult{Match: text[m[0]:m[1]], Action: pastTense(act), Detected: true})
			blocked = blocked || act == ActionBlock
		}
	}
	for _, m := range p.ManagedWordListsConfig {
		on, act := m.effective(src, ActionBlock)
		if !on {
			continue
		}
		leet := tokenize(text, true)
		for _, word := range profanity {
			for _, sp := range findPhrase(leet, tokenize(word, true)) {
				wa.ManagedWordLists = append(wa.ManagedWordLists, WordResult{Match: text[sp[0]:sp[1]], Type: "PROFANITY", Action: pastTense(act), Detected: true})
				blocked = blocked || act == ActionBlock
			}
		}
	}
	if len(wa.CustomWords)+len(wa.ManagedWordLists) == 0 {
		return nil, false
	}
	return wa, blocked
}

// harmConfidence rates text for a lexicon content filter type.
func harmConfidence(typ, text string) string {
	toks := tokenize(text, true)
	hits := 0
	for _, w := range harmLexicon[typ] {
		if len(findPhrase(toks, tokenize(w, true))) > 0 {
			hits++
		}
	}
	switch {
	case hits >= 3:
		return "HIGH"
	case hits == 2:
		return "MEDIUM"
	case hits == 1:
		return "LOW"
	}
	return "NONE"
}
