package runtime

import (
	"context"
	"strings"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/engine"
	"strata/internal/iam"
)

// Remote is a model served by an upstream engine (vLLM, llama.cpp server,
// Ollama, TGI, AWS Bedrock), invoked by name or foundation-model ARN.
type Remote struct {
	Name   string
	Family string // "mistral" or "llama"
	Engine engine.Engine
}

// RemoteResolver resolves remote models. They belong to no account, like
// Bedrock's foundation models: any caller whose policy allows the action
// on the foundation-model ARN may invoke them.
type RemoteResolver struct {
	Region string
	Models map[string]*Remote // by name
}

var _ Resolver = (*RemoteResolver)(nil)

// ARN returns the foundation-model ARN of a remote model.
func (r *RemoteResolver) ARN(name string) string {
	return arn.ARN{Partition: "aws", Service: "bedrock", Region: r.Region, Resource: "foundation-model/" + name}.String()
}

// Resolve implements Resolver.
func (r *RemoteResolver) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	name := modelID
	if a, err := arn.Parse(modelID); err == nil {
		typ, id := a.ResourceType()
		if a.Service != "bedrock" || typ != "foundation-model" || a.Account != "" {
			return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
		}
		name = id
	} else if strings.HasPrefix(modelID, "arn:") {
		return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	}
	m, ok := r.Models[name]
	if !ok {
		return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	}
	a := r.ARN(m.Name)
	return &Target{ARN: a, ModelARN: a, Family: m.Family, Instruct: true, Engine: m.Engine}, nil
}
