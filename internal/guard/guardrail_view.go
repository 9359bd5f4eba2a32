package guard

// PolicyView is the policy part of GetGuardrail's response: the same
// entries as Guardrail under the names without "Config".
type PolicyView struct {
	TopicPolicy                *TopicPolicyView         `json:"topicPolicy,omitempty"`
	ContentPolicy              *ContentPolicyView       `json:"contentPolicy,omitempty"`
	WordPolicy                 *WordPolicyView          `json:"wordPolicy,omitempty"`
	SensitiveInformationPolicy *SensitiveInfoPolicyView `json:"sensitiveInformationPolicy,omitempty"`
	ContextualGroundingPolicy  *GroundingPolicyView     `json:"contextualGroundingPolicy,omitempty"`
}

// TopicPolicyView is topicPolicy.
type TopicPolicyView struct {
	Topics []TopicConfig `json:"topics"`
}

// ContentPolicyView is contentPolicy.
type ContentPolicyView struct {
	Filters []ContentFilterConfig `json:"filters"`
}

// WordPolicyView is wordPolicy.
type WordPolicyView struct {
	Words            []WordConfig            `json:"words,omitempty"`
	ManagedWordLists []ManagedWordListConfig `json:"managedWordLists,omitempty"`
}

// SensitiveInfoPolicyView is sensitiveInformationPolicy.
type SensitiveInfoPolicyView struct {
	PiiEntities []PiiEntityConfig `json:"piiEntities,omitempty"`
	Regexes     []RegexConfig     `json:"regexes,omitempty"`
}

// GroundingPolicyView is contextualGroundingPolicy.
type GroundingPolicyView struct {
	Filters []GroundingFilterConfig `json:"filters"`
}

// View returns g's policies in GetGuardrail's shape.
func (g *Guardrail) View() PolicyView {
	var v PolicyView
	if p := g.TopicPolicyConfig; p != nil {
		v.TopicPolicy = &TopicPolicyView{Topics: p.TopicsConfig}
	}
	if p := g.ContentPolicyConfig; p != nil {
		v.ContentPolicy = &ContentPolicyView{Filters: p.FiltersConfig}
	}
	if p := g.WordPolicyConfig; p != nil {
		v.WordPolicy = &WordPolicyView{Words: p.WordsConfig, ManagedWordLists: p.ManagedWordListsConfig}
	}
	if p := g.SensitiveInformationPolicyConfig; p != nil {
		v.SensitiveInformationPolicy = &SensitiveInfoPolicyView{PiiEntities: p.PiiEntitiesConfig, Regexes: p.RegexesConfig}
	}
	if p := g.ContextualGroundingPolicyConfig; p != nil {
		v.ContextualGroundingPolicy = &GroundingPolicyView{Filters: p.FiltersConfig}
	}
	return v
}
