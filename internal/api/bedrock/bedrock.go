package bedrock

import (
	"errors"
	"log/slog"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/audit"
	"strata/internal/auth"
	"strata/internal/customize"
	"strata/internal/guardrails"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/profile"
	"strata/internal/runtime"
	"strata/internal/throughput"
)

// Recorder keeps audit events; *audit.Trail is one.
type Recorder interface {
	Append(e audit.Event)
}

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
	// Customize serves model customization, custom models and custom
	// model deployments; nil answers them with UnknownOperationException.
	Customize *customize.Service // or nil
	// Audit, when set, gets every operation as an event.
	Audit Recorder // or nil
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
		pattern, name string // name is the operation's AWS name
		fn            handlerFunc
	}{
		{"POST /model-import-jobs", "CreateModelImportJob", h.createModelImportJob},
		{"GET /model-import-jobs/{jobIdentifier}", "GetModelImportJob", h.getModelImportJob},
		{"GET /model-import-jobs", "ListModelImportJobs", h.listModelImportJobs},
		{"GET /imported-models/{modelIdentifier}", "GetImportedModel", h.getImportedModel},
		{"GET /imported-models", "ListImportedModels", h.listImportedModels},
		{"DELETE /imported-models/{modelIdentifier}", "DeleteImportedModel", h.deleteImportedModel},
		{"POST /tagResource", "TagResource", h.tagResource},
		{"POST /untagResource", "UntagResource", h.untagResource},
		{"POST /listTagsForResource", "ListTagsForResource", h.listTagsForResource},
		{"POST /provisioned-model-throughput", "CreateProvisionedModelThroughput", h.createProvisionedModelThroughput},
		{"GET /provisioned-model-throughput/{provisionedModelId}", "GetProvisionedModelThroughput", h.getProvisionedModelThroughput},
		{"GET /provisioned-model-throughputs", "ListProvisionedModelThroughputs", h.listProvisionedModelThroughputs},
		{"PATCH /provisioned-model-throughput/{provisionedModelId}", "UpdateProvisionedModelThroughput", h.updateProvisionedModelThroughput},
		{"DELETE /provisioned-model-throughput/{provisionedModelId}", "DeleteProvisionedModelThroughput", h.deleteProvisionedModelThroughput},
		{"POST /inference-profiles", "CreateInferenceProfile", h.createInferenceProfile},
		{"GET /inference-profiles/{inferenceProfileIdentifier}", "GetInferenceProfile", h.getInferenceProfile},
		{"GET /inference-profiles", "ListInferenceProfiles", h.listInferenceProfiles},
		{"DELETE /inference-profiles/{inferenceProfileIdentifier}", "DeleteInferenceProfile", h.deleteInferenceProfile},
		{"POST /guardrails", "CreateGuardrail", h.createGuardrail},
		{"GET /guardrails/{guardrailIdentifier}", "GetGuardrail", h.getGuardrail},
		{"GET /guardrails", "ListGuardrails", h.listGuardrails},
		{"PUT /guardrails/{guardrailIdentifier}", "UpdateGuardrail", h.updateGuardrail},
		{"POST /guardrails/{guardrailIdentifier}", "CreateGuardrailVersion", h.createGuardrailVersion},
		{"DELETE /guardrails/{guardrailIdentifier}", "DeleteGuardrail", h.deleteGuardrail},
		{"POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply", "ApplyGuardrail", h.applyGuardrail},
		{"POST /model/{modelId}/invoke", "InvokeModel", h.invokeModel},
		{"POST /model/{modelId}/invoke-with-response-stream", "InvokeModelWithResponseStream", h.invokeModelWithResponseStream},
		{"POST /model/{modelId}/converse", "Converse", h.converse},
		{"POST /model/{modelId}/converse-stream", "ConverseStream", h.converseStream},
		{"POST /model/{modelId}/count-tokens", "CountTokens", h.countTokens},
	}
	if h.Customize != nil {
		routes = append(routes, []struct {
			pattern, name string
			fn            handlerFunc
		}{
			{"POST /model-customization-jobs", "CreateModelCustomizationJob", h.createModelCustomizationJob},
			{"GET /model-customization-jobs/{jobIdentifier}", "GetModelCustomizationJob", h.getModelCustomizationJob},
			{"GET /model-customization-jobs", "ListModelCustomizationJobs", h.listModelCustomizationJobs},
			{"POST /model-customization-jobs/{jobIdentifier}/stop", "StopModelCustomizationJob", h.stopModelCustomizationJob},
			{"GET /custom-models/{modelIdentifier}", "GetCustomModel", h.getCustomModel},
			{"GET /custom-models", "ListCustomModels", h.listCustomModels},
			{"DELETE /custom-models/{modelIdentifier}", "DeleteCustomModel", h.deleteCustomModel},
			{"POST /model-customization/custom-model-deployments", "CreateCustomModelDeployment", h.createCustomModelDeployment},
			{"GET /model-customization/custom-model-deployments/{customModelDeploymentIdentifier}", "GetCustomModelDeployment", h.getCustomModelDeployment},
			{"GET /model-customization/custom-model-deployments", "ListCustomModelDeployments", h.listCustomModelDeployments},
			{"PATCH /model-customization/custom-model-deployments/{customModelDeploymentIdentifier}", "UpdateCustomModelDeployment", h.updateCustomModelDeployment},
			{"DELETE /model-customization/custom-model-deployments/{customModelDeploymentIdentifier}", "DeleteCustomModelDeployment", h.deleteCustomModelDeployment},
		}...)
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, h.op(rt.name, rt.fn))
	}
}

// op authenticates a request and runs fn, writing any error in Bedrock's shape.
func (h *Handler) op(name string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, body, err := h.Authn.Authenticate(r)
		if err == nil {
			err = fn(r.Context(), w, r, p, body)
		}
		if err != nil {
			WriteError(w, h.Logger, err)
		} else if h.Runtime != nil && (r.Method == http.MethodDelete || r.Method == http.MethodPatch || r.Method == http.MethodPut) {
			// A deleted or changed model, profile or provisioned model must
			// not be served from the runtime's resolution cache.
			h.Runtime.Forget()
		}
		h.record(r, name, p, err)
	})
}

// record appends the operation to the audit trail: who, what, on which
// resource (the path's identifier), and the outcome.
func (h *Handler) record(r *http.Request, name string, p *iam.Principal, err error) {
	if h.Audit == nil {
		return
	}
	req := audit.RequestFrom(r.Context())
	e := audit.Event{RequestID: req.ID, SourceIP: req.SourceIP, API: "bedrock", Operation: name, Outcome: "ok"}
	for _, label := range []string{"modelId", "jobIdentifier", "modelIdentifier", "provisionedModelId", "inferenceProfileIdentifier", "guardrailIdentifier", "customModelDeploymentIdentifier"} {
		if v := r.PathValue(label); v != "" {
			e.Resource = v
			break
		}
	}
	if p != nil {
		e.Principal, e.Account = p.ARN, p.Account
	}
	if err != nil {
		if ae, ok := errors.AsType[*auth.Error](err); ok {
			e.Outcome, _ = ae.Wire(auth.JSON)
		} else {
			e.Outcome = apierr.From(err).Kind.String()
		}
	}
	h.Audit.Append(e)
}
