package runtime

import (
	"context"
	"strings"

	"strata/internal/iam"
	"strata/internal/modelimport"
)

// ModelLookup finds imported models; modelimport.Service satisfies it.
type ModelLookup interface {
	LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error)
}

// ImportedResolver resolves imported-model ARNs, names and ids to targets
// the built-in engine serves.
type ImportedResolver struct {
	Models   ModelLookup // non-nil
	Blobs    Blobs       // non-nil
	Keys     Keys        // non-nil
	PlainDir string      // RAM-backed folder for decrypted files
	Open     OpenEngine  // non-nil
}

var _ Resolver = (*ImportedResolver)(nil)

// Resolve implements Resolver.
func (r *ImportedResolver) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*Target, error) {
	m, err := r.Models.LookupModel(ctx, p.Account, modelID)
	if err != nil {
		return nil, err
	}
	return &Target{
		ARN: m.ARN, ModelARN: m.ARN, Family: Family(m.Architecture), Instruct: m.Instruct, Account: m.Account,
		Loadable: &ImportedModel{Model: m, Blobs: r.Blobs, Keys: r.Keys, PlainDir: r.PlainDir, Open: r.Open},
	}, nil
}

// Family returns the InvokeModel body family of an HF architecture:
// Mistral and Mixtral take Mistral's body, Llama Llama's.
func Family(architecture string) string {
	if strings.HasPrefix(architecture, "Llama") {
		return "llama"
	}
	return "mistral"
}
