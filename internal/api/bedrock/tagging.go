package bedrock

import (
	"context"

	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/modelimport"
)

// Tagger keeps the tags of the resources of one ARN resource type.
// TagResource, UntagResource and ListTagsForResource pick the Tagger of
// the resource ARN's type; modelimport.Service tags import jobs and
// imported models, which are the default.
type Tagger interface {
	Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]modelimport.Tag, error)
	UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []modelimport.Tag, remove []string) error
}

// tagger returns the Tagger of resourceARN's resource type.
func (h *Handler) tagger(resourceARN string) Tagger {
	if a, err := arn.Parse(resourceARN); err == nil {
		typ, _ := a.ResourceType()
		switch {
		case h.Taggers[typ] != nil:
			return h.Taggers[typ]
		case typ == "provisioned-model" && h.Provisioned != nil:
			return h.Provisioned
		case typ == "application-inference-profile" && h.Profiles != nil:
			return h.Profiles
		case typ == "guardrail" && h.Guardrails != nil:
			return h.Guardrails
		}
	}
	return h.Imports
}
