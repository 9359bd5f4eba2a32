package bedrock

import (
	"log/slog"
	"net/http"

	"strata/internal/guardrails"
	"strata/internal/modelimport"
	"strata/internal/profile"
	"strata/internal/runtime"
	"strata/internal/throughput"
)

// Handler serves the Bedrock operations.
type Handler struct {
	Authn   Authenticator        // non-nil
	Imports *modelimport.Service // non-nil
	Runtime *runtime.Runtime     // non-nil
	// Provisioned and Profiles serve provisioned throughput and
	// application inference profiles; nil answers their operations with
	// UnknownOperationException.
	Provisioned *throughput.Service // or nil
	Profiles    *profile.Service    // or nil
	// Guardrails serves the guardrail operations, ApplyGuardrail and the
	// guardrails of InvokeModel and Converse; nil answers them with
	// UnknownOperationException.
	Guardrails *guardrails.Service // or nil
	// Taggers tag other resource types, by ARN resource type; or nil.
	Taggers map[string]Tagger
	Logger  *slog.Logger // nil means discard
}

// Register adds the Bedrock routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	if h.Logger == nil {
		h.Logger = slog.New(slog.DiscardHandler)
	}
	routes := []struct {
		pattern string
		fn      handlerFunc
	}{
		{"POST /model-import-jobs", h.createModelImportJob},
		{"GET /model-import-jobs/{jobIdentifier}", h.getModelImportJob},
		{"GET /model-import-jobs", h.listModelImportJobs},
		{"GET /imported-models/{modelIdentifier}", h.getImportedModel},
		{"GET /imported-models", h.listImportedModels},
		{"DELETE /imported-models/{modelIdentifier}", h.deleteImportedModel},
		{"POST /tagResource", h.tagResource},
		{"POST /untagResource", h.untagResource},
		{"POST /listTagsForResource", h.listTagsForResource},
		{"POST /provisioned-model-throughput", h.createProvisionedModelThroughput},
		{"GET /provisioned-model-throughput/{provisionedModelId}", h.getProvisionedModelThroughput},
		{"GET /provisioned-model-throughputs", h.listProvisionedModelThroughputs},
		{"PATCH /provisioned-model-throughput/{provisionedModelId}", h.updateProvisionedModelThroughput},
		{"DELETE /provisioned-model-throughput/{provisionedModelId}", h.deleteProvisionedModelThroughput},
		{"POST /inference-profiles", h.createInferenceProfile},
		{"GET /inference-profiles/{inferenceProfileIdentifier}", h.getInferenceProfile},
		{"GET /inference-profiles", h.listInferenceProfiles},
		{"DELETE /inference-profiles/{inferenceProfileIdentifier}", h.deleteInferenceProfile},
		{"POST /guardrails", h.createGuardrail},
		{"GET /guardrails/{guardrailIdentifier}", h.getGuardrail},
		{"GET /guardrails", h.listGuardrails},
		{"PUT /guardrails/{guardrailIdentifier}", h.updateGuardrail},
		{"POST /guardrails/{guardrailIdentifier}", h.createGuardrailVersion},
		{"DELETE /guardrails/{guardrailIdentifier}", h.deleteGuardrail},
		{"POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply", h.applyGuardrail},
		{"POST /model/{modelId}/invoke", h.invokeModel},
		{"POST /model/{modelId}/invoke-with-response-stream", h.invokeModelWithResponseStream},
		{"POST /model/{modelId}/converse", h.converse},
		{"POST /model/{modelId}/converse-stream", h.converseStream},
		{"POST /model/{modelId}/count-tokens", h.countTokens},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.op(rt.fn))
	}
}

// op authenticates a request and runs fn, writing any error in Bedrock's shape.
func (h *Handler) op(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, body, err := h.Authn.Authenticate(r)
		if err != nil {
			WriteError(w, h.Logger, err)
			return
		}
		if err := fn(r.Context(), w, r, p, body); err != nil {
			WriteError(w, h.Logger, err)
		}
	})
}
