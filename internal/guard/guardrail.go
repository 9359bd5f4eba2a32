package guard

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"strata/internal/guard/attack"
)

// Guardrail is a Bedrock guardrail's policy, in the JSON shape of the
// CreateGuardrail / UpdateGuardrail request body (the "...Config" names),
// so the API layer can unmarshal a request straight into it.
type Guardrail struct {
	Name                             string                            `json:"name,omitempty"`
	Description                      string                            `json:"description,omitempty"`
	BlockedInputMessaging            string                            `json:"blockedInputMessaging"`
	BlockedOutputsMessaging          string                            `json:"blockedOutputsMessaging"`
	TopicPolicyConfig                *TopicPolicyConfig                `json:"topicPolicyConfig,omitempty"`
	ContentPolicyConfig              *ContentPolicyConfig              `json:"contentPolicyConfig,omitempty"`
	WordPolicyConfig                 *WordPolicyConfig                 `json:"wordPolicyConfig,omitempty"`
	SensitiveInformationPolicyConfig *SensitiveInformationPolicyConfig `json:"sensitiveInformationPolicyConfig,omitempty"`
	ContextualGroundingPolicyConfig  *ContextualGroundingPolicyConfig  `json:"contextualGroundingPolicyConfig,omitempty"`
}

// IOControl holds the per-direction switches every policy entry has.
// Omitted fields mean enabled, with the entry's action.
type IOControl struct {
	InputAction   string `json:"inputAction,omitempty"`
	OutputAction  string `json:"outputAction,omitempty"`
	InputEnabled  *bool  `json:"inputEnabled,omitempty"`
	OutputEnabled *bool  `json:"outputEnabled,omitempty"`
}

// effective returns whether the entry applies to src and its action there.
func (c IOControl) effective(src Source, action string) (bool, string) {
	en, act := c.InputEnabled, c.InputAction
	if src == SourceOutput {
		en, act = c.OutputEnabled, c.OutputAction
	}
	if en != nil && !*en {
		return false, ""
	}
	if act != "" {
		action = act
	}
	return true, action
}

// TopicPolicyConfig is topicPolicyConfig.
type TopicPolicyConfig struct {
	TopicsConfig []TopicConfig `json:"topicsConfig"`
}

// TopicConfig is one denied topic.
type TopicConfig struct {
	Name       string   `json:"name"`
	Definition string   `json:"definition"`
	Examples   []string `json:"examples,omitempty"`
	Type       string   `json:"type"` // DENY
	IOControl
}

// ContentPolicyConfig is contentPolicyConfig.
type ContentPolicyConfig struct {
	FiltersConfig []ContentFilterConfig `json:"filtersConfig"`
}

// ContentFilterConfig is one content filter. Type is HATE, INSULTS,
// SEXUAL, VIOLENCE, MISCONDUCT or PROMPT_ATTACK; strengths NONE, LOW,
// MEDIUM, HIGH.
type ContentFilterConfig struct {
	Type           string `json:"type"`
	InputStrength  string `json:"inputStrength"`
	OutputStrength string `json:"outputStrength"`
	IOControl
}

// WordPolicyConfig is wordPolicyConfig.
type WordPolicyConfig struct {
	WordsConfig            []WordConfig            `json:"wordsConfig,omitempty"`
	ManagedWordListsConfig []ManagedWordListConfig `json:"managedWordListsConfig,omitempty"`
}

// WordConfig is one custom blocked word or phrase.
type WordConfig struct {
	Text string `json:"text"`
	IOControl
}

// ManagedWordListConfig selects a managed list; Type is PROFANITY.
type ManagedWordListConfig struct {
	Type string `json:"type"`
	IOControl
}

// SensitiveInformationPolicyConfig is sensitiveInformationPolicyConfig.
type SensitiveInformationPolicyConfig struct {
	PiiEntitiesConfig []PiiEntityConfig `json:"piiEntitiesConfig,omitempty"`
	RegexesConfig     []RegexConfig     `json:"regexesConfig,omitempty"`
}

// PiiEntityConfig is one PII type with action BLOCK, ANONYMIZE or NONE.
type PiiEntityConfig struct {
	Type   string `json:"type"`
	Action string `json:"action"`
	IOControl
}

// RegexConfig is one custom pattern (RE2 syntax) with its action.
type RegexConfig struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Pattern     string `json:"pattern"`
	Action      string `json:"action"`
	IOControl
}

// ContextualGroundingPolicyConfig is contextualGroundingPolicyConfig.
type ContextualGroundingPolicyConfig struct {
	FiltersConfig []GroundingFilterConfig `json:"filtersConfig"`
}

// GroundingFilterConfig is a GROUNDING or RELEVANCE filter with threshold
// 0-0.99.
type GroundingFilterConfig struct {
	Type      string  `json:"type"`
	Threshold float64 `json:"threshold"`
	Action    string  `json:"action,omitempty"`
	Enabled   *bool   `json:"enabled,omitempty"`
}

// Source says which side of the model the content is on.
type Source string

// Sources of ApplyGuardrail.
const (
	SourceInput  Source = "INPUT"
	SourceOutput Source = "OUTPUT"
)

// Wire values of actions.
const (
	ActionNone        = "NONE"
	ActionIntervened  = "GUARDRAIL_INTERVENED"
	ActionBlock       = "BLOCK"
	ActionAnonymize   = "ANONYMIZE"
	ActionBlocked     = "BLOCKED"
	ActionAnonymized  = "ANONYMIZED"
	textUnitChars     = 1000 // one Bedrock text unit
	maxRegexPatternSz = 500
)

// ErrInvalidPolicy is wrapped by Validate's errors (a ValidationException).
var ErrInvalidPolicy = errors.New("invalid guardrail policy")

// Validate checks the policy's enumerations and patterns as CreateGuardrail
// does.
func (g *Guardrail) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, fmt.Sprintf(format, a...))
	}
	if p := g.TopicPolicyConfig; p != nil {
		for _, t := range p.TopicsConfig {
			if t.Name == "" || t.Definition == "" || t.Type != "DENY" {
				return bad("topic %q needs a name, a definition and type DENY", t.Name)
			}
		}
	}
	if p := g.ContentPolicyConfig; p != nil {
		for _, f := range p.FiltersConfig {
			if !slices.Contains(contentTypes, f.Type) {
				return bad("content filter type %q", f.Type)
			}
			for _, s := range []string{f.InputStrength, f.OutputStrength} {
				if _, ok := strengthRank[s]; !ok {
					return bad("content filter strength %q", s)
				}
			}
			if f.Type == "PROMPT_ATTACK" && f.OutputStrength != "NONE" {
				return bad("PROMPT_ATTACK output strength must be NONE")
			}
		}
	}
	if p := g.WordPolicyConfig; p != nil {
		for _, m := range p.ManagedWordListsConfig {
			if m.Type != "PROFANITY" {
				return bad("managed word list %q", m.Type)
			}
		}
	}
	if p := g.SensitiveInformationPolicyConfig; p != nil {
		for _, e := range p.PiiEntitiesConfig {
			if !Entity(e.Type).Known() {
				return bad("PII entity type %q", e.Type)
			}
			if !validAction(e.Action) {
				return bad("PII action %q", e.Action)
			}
		}
		for _, r := range p.RegexesConfig {
			if len(r.Pattern) > maxRegexPatternSz || r.Name == "" {
				return bad("regex %q", r.Name)
			}
			if _, err := regexp.Compile(r.Pattern); err != nil {
				return bad("regex %q: %v", r.Name, err)
			}
			if !validAction(r.Action) {
				return bad("regex action %q", r.Action)
			}
		}
	}
	if p := g.ContextualGroundingPolicyConfig; p != nil {
		for _, f := range p.FiltersConfig {
			if (f.Type != "GROUNDING" && f.Type != "RELEVANCE") || f.Threshold < 0 || f.Threshold > 0.99 {
				return bad("grounding filter %q threshold %v", f.Type, f.Threshold)
			}
		}
	}
	return nil
}

func validAction(a string) bool { return a == ActionBlock || a == ActionAnonymize || a == ActionNone }

var contentTypes = []string{"HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT", "PROMPT_ATTACK"}

var strengthRank = map[string]int{"NONE": 0, "LOW": 1, "MEDIUM": 2, "HIGH": 3}

// ApplyResponse is ApplyGuardrail's response body.
type ApplyResponse struct {
	Action       string       `json:"action"`
	ActionReason string       `json:"actionReason,omitempty"`
	Outputs      []OutputText `json:"outputs"`
	Assessments  []Assessment `json:"assessments"`
	Usage        Usage        `json:"usage"`
	// GuardrailCoverage counts the characters evaluated (all of them: we
	// evaluate text only, never images).
	GuardrailCoverage *Coverage `json:"guardrailCoverage,omitempty"`
}

// Coverage is guardrailCoverage.
type Coverage struct {
	TextCharacters TextCharacters `json:"textCharacters"`
}

// TextCharacters counts guarded and total characters.
type TextCharacters struct {
	Guarded int `json:"guarded"`
	Total   int `json:"total"`
}

// OutputText is one element of outputs.
type OutputText struct {
	Text string `json:"text"`
}

// Usage counts text units (1,000 characters) per policy, as billed.
type Usage struct {
	TopicPolicyUnits                    int `json:"topicPolicyUnits"`
	ContentPolicyUnits                  int `json:"contentPolicyUnits"`
	WordPolicyUnits                     int `json:"wordPolicyUnits"`
	SensitiveInformationPolicyUnits     int `json:"sensitiveInformationPolicyUnits"`
	SensitiveInformationPolicyFreeUnits int `json:"sensitiveInformationPolicyFreeUnits"`
	ContextualGroundingPolicyUnits      int `json:"contextualGroundingPolicyUnits"`
}

// Assessment is one element of assessments (GuardrailAssessment).
type Assessment struct {
	TopicPolicy                *TopicPolicyAssessment   `json:"topicPolicy,omitempty"`
	ContentPolicy              *ContentPolicyAssessment `json:"contentPolicy,omitempty"`
	WordPolicy                 *WordPolicyAssessment    `json:"wordPolicy,omitempty"`
	SensitiveInformationPolicy *SensitiveInfoAssessment `json:"sensitiveInformationPolicy,omitempty"`
}

// TopicPolicyAssessment lists the denied topics found.
type TopicPolicyAssessment struct {
	Topics []TopicResult `json:"topics"`
}

// TopicResult is one topic hit.
type TopicResult struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Action   string `json:"action"`
	Detected bool   `json:"detected"`
}

// ContentPolicyAssessment lists the content filter results.
type ContentPolicyAssessment struct {
	Filters []ContentFilterResult `json:"filters"`
}

// ContentFilterResult is one content filter result.
type ContentFilterResult struct {
	Type           string `json:"type"`
	Confidence     string `json:"confidence"`
	FilterStrength string `json:"filterStrength"`
	Action         string `json:"action"`
	Detected       bool   `json:"detected"`
}

// WordPolicyAssessment lists the words found.
type WordPolicyAssessment struct {
	CustomWords      []WordResult `json:"customWords"`
	ManagedWordLists []WordResult `json:"managedWordLists"`
}

// WordResult is one word hit; Type is set for managed lists.
type WordResult struct {
	Match    string `json:"match"`
	Type     string `json:"type,omitempty"`
	Action   string `json:"action"`
	Detected bool   `json:"detected"`
}

// SensitiveInfoAssessment lists the PII and regex hits.
type SensitiveInfoAssessment struct {
	PiiEntities []PiiResult   `json:"piiEntities"`
	Regexes     []RegexResult `json:"regexes"`
}

// PiiResult is one PII hit. For card data Match holds the mask, never the
// value, so assessments can be logged and traced safely.
type PiiResult struct {
	Match    string `json:"match"`
	Type     string `json:"type"`
	Action   string `json:"action"`
	Detected bool   `json:"detected"`
}

// RegexResult is one custom regex hit.
type RegexResult struct {
	Name     string `json:"name"`
	Match    string `json:"match"`
	Regex    string `json:"regex"`
	Action   string `json:"action"`
	Detected bool   `json:"detected"`
}

// Apply evaluates guardrail g on content from source, as ApplyGuardrail
// does: blocked content yields the blocked messaging as the single output;
// anonymized content yields the texts with "{TYPE}" / "{regex name}" tags;
// otherwise action is NONE and outputs is empty. The prompt-attack filter
// runs on INPUT only. Card data is never echoed: its matches hold masks.
func Apply(g *Guardrail, source Source, content []string) (*ApplyResponse, error) {
	if source != SourceInput && source != SourceOutput {
		return nil, fmt.Errorf("%w: source %q", ErrInvalidPolicy, source)
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	resp := &ApplyResponse{Action: ActionNone, Outputs: []OutputText{}, Assessments: []Assessment{}}
	units, chars := 0, 0
	for _, c := range content {
		n := utf8.RuneCountInString(c)
		chars += n
		units += max(1, (n+textUnitChars-1)/textUnitChars)
	}
	resp.GuardrailCoverage = &Coverage{TextCharacters{Guarded: chars, Total: chars}}
	blocked, anonymized := false, false
	var as Assessment
	outputs := slices.Clone(content)

	if p := g.SensitiveInformationPolicyConfig; p != nil && (len(p.PiiEntitiesConfig) > 0 || len(p.RegexesConfig) > 0) {
		if len(p.PiiEntitiesConfig) > 0 {
			resp.Usage.SensitiveInformationPolicyUnits = units
		} else {
			resp.Usage.SensitiveInformationPolicyFreeUnits = units
		}
		sia := &SensitiveInfoAssessment{PiiEntities: []PiiResult{}, Regexes: []RegexResult{}}
		for i, text := range content {
			out, b, a := applySensitive(p, source, text, sia)
			outputs[i] = out
			blocked, anonymized = blocked || b, anonymized || a
		}
		if len(sia.PiiEntities)+len(sia.Regexes) > 0 {
			as.SensitiveInformationPolicy = sia
		}
	}
	joined := strings.Join(content, "\n")
	if p := g.WordPolicyConfig; p != nil && (len(p.WordsConfig) > 0 || len(p.ManagedWordListsConfig) > 0) {
		resp.Usage.WordPolicyUnits = units
		if wa, b := applyWords(p, source, joined); wa != nil {
			as.WordPolicy = wa
			blocked = blocked || b
		}
	}
	if p := g.TopicPolicyConfig; p != nil && len(p.TopicsConfig) > 0 {
		resp.Usage.TopicPolicyUnits = units
		if ta, b := applyTopics(p, source, content); ta != nil {
			as.TopicPolicy = ta
			blocked = blocked || b
		}
	}
	if p := g.ContentPolicyConfig; p != nil && len(p.FiltersConfig) > 0 {
		resp.Usage.ContentPolicyUnits = units
		if ca, b := applyContent(p, source, joined); ca != nil {
			as.ContentPolicy = ca
			blocked = blocked || b
		}
	}
	if g.ContextualGroundingPolicyConfig != nil && len(g.ContextualGroundingPolicyConfig.FiltersConfig) > 0 {
		resp.Usage.ContextualGroundingPolicyUnits = units
	}
	if as != (Assessment{}) {
		resp.Assessments = append(resp.Assessments, as)
	}
	switch {
	case blocked:
		resp.Action = ActionIntervened
		msg := g.BlockedInputMessaging
		if source == SourceOutput {
			msg = g.BlockedOutputsMessaging
		}
		resp.Outputs = []OutputText{{Text: msg}}
		resp.ActionReason = "Guardrail blocked."
	case anonymized:
		resp.Action = ActionIntervened
		for _, o := range outputs {
			resp.Outputs = append(resp.Outputs, OutputText{Text: o})
		}
		resp.ActionReason = "Guardrail masked."
	}
	return resp, nil
}

// span is one sensitive match to act on.
type span struct {
	start, end int
	tag        string
	act        string
}

// applySensitive runs the PII and regex filters on one text.
func applySensitive(p *SensitiveInformationPolicyConfig, src Source, text string, sia *SensitiveInfoAssessment) (string, bool, bool) {
	actions := map[Entity]string{}
	var types []Entity
	for _, e := range p.PiiEntitiesConfig {
		if on, act := e.effective(src, e.Action); on {
			actions[Entity(e.Type)] = act
			types = append(types, Entity(e.Type))
		}
	}
	var spans []span
	blocked, anonymized := false, false
	if len(types) > 0 {
		found := DetectPII(text, types)
		if _, ok := actions[CardNumber]; ok {
			found = resolve(append(found, DetectEncoded(text)...))
		}
		for _, f := range found {
			act := actions[f.Type]
			match := text[f.Start:f.End]
			if f.Type.IsCard() {
				match = MaskOf(f)
			}
			res := PiiResult{Match: match, Type: string(f.Type), Action: pastTense(act), Detected: true}
			sia.PiiEntities = append(sia.PiiEntities, res)
			switch act {
			case ActionBlock:
				blocked = true
			case ActionAnonymize:
				anonymized = true
				spans = append(spans, span{f.Start, f.End, "{" + string(f.Type) + "}", act})
			}
		}
	}
	for _, r := range p.RegexesConfig {
		on, act := r.effective(src, r.Action)
		if !on {
			continue
		}
		re := regexp.MustCompile(r.Pattern) // Validate compiled it already
		for _, m := range re.FindAllStringIndex(text, 100) {
			if m[0] == m[1] {
				continue
			}
			match := text[m[0]:m[1]]
			if hasCard(match) {
				match = MaskString(match)
			}
			sia.Regexes = append(sia.Regexes, RegexResult{Name: r.Name, Match: match, Regex: r.Pattern, Action: pastTense(act), Detected: true})
			switch act {
			case ActionBlock:
				blocked = true
			case ActionAnonymize:
				anonymized = true
				spans = append(spans, span{m[0], m[1], "{" + r.Name + "}", act})
			}
		}
	}
	if len(spans) == 0 {
		return text, blocked, anonymized
	}
	slices.SortFunc(spans, func(a, b span) int {
		if a.start != b.start {
			return a.start - b.start
		}
		return b.end - a.end
	})
	var b strings.Builder
	last := 0
	for _, s := range spans {
		if s.start < last {
			continue
		}
		b.WriteString(text[last:s.start])
		b.WriteString(s.tag)
		last = s.end
	}
	b.WriteString(text[last:])
	return b.String(), blocked, anonymized
}

func hasCard(s string) bool {
	for _, f := range Detect(s) {
		if f.Type == CardNumber {
			return true
		}
	}
	return false
}

func pastTense(act string) string {
	switch act {
	case ActionBlock:
		return ActionBlocked
	case ActionAnonymize:
		return ActionAnonymized
	}
	return ActionNone
}

// Prompt-attack confidence thresholds on the classifier's probability
// (chosen on the held-out split, see internal/guard/attack): a filter of
// strength HIGH blocks LOW, MEDIUM and HIGH confidence, MEDIUM blocks
// MEDIUM and HIGH, LOW blocks only HIGH, as Bedrock documents.
const (
	attackLow    = 0.5
	attackMedium = 0.75
	attackHigh   = 0.92
)

// AttackConfidence rates text as a prompt attack: NONE, LOW, MEDIUM or
// HIGH, from the heuristics and the embedded classifier.
func AttackConfidence(text string) string {
	p := attack.Score(text)
	switch {
	case p >= attackHigh:
		return "HIGH"
	case p >= attackMedium:
		return "MEDIUM"
	case p >= attackLow:
		return "LOW"
	}
	return "NONE"
}

// blocksAt reports whether a filter of the given strength acts on a hit of
// the given confidence.
func blocksAt(strength, confidence string) bool {
	s, c := strengthRank[strength], strengthRank[confidence]
	return s > 0 && c > 0 && c >= 4-s
}

func applyContent(p *ContentPolicyConfig, src Source, text string) (*ContentPolicyAssessment, bool) {
	ca := &ContentPolicyAssessment{Filters: []ContentFilterResult{}}
	blocked := false
	for _, f := range p.FiltersConfig {
		strength := f.InputStrength
		if src == SourceOutput {
			strength = f.OutputStrength
		}
		on, act := f.effective(src, ActionBlock)
		if !on || strength == "NONE" {
			continue
		}
		var conf string
		switch f.Type {
		case "PROMPT_ATTACK":
			if src != SourceInput {
				continue
			}
			conf = AttackConfidence(text)
		default:
			conf = harmConfidence(f.Type, text)
		}
		if !blocksAt(strength, conf) {
			continue
		}
		res := ContentFilterResult{Type: f.Type, Confidence: conf, FilterStrength: strength, Action: pastTense(act), Detected: true}
		ca.Filters = append(ca.Filters, res)
		blocked = blocked || act == ActionBlock
	}
	if len(ca.Filters) == 0 {
		return nil, false
	}
	return ca, blocked
}
