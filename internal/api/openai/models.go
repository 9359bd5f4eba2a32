package openai

import (
	"context"
	"errors"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
)

// modelJSON is an OpenAI model object for an imported model: its id is
// the model's name, which the model parameter accepts (as does the ARN).
func modelJSON(m *modelimport.Model) map[string]any {
	return map[string]any{"id": m.Name, "object": "model", "created": m.Created.Unix(), "owned_by": m.Account}
}

// listModels serves GET /v1/models: the caller's imported models, as
// bedrock:ListImportedModels allows.
func (h *Handler) listModels(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	data := []any{}
	in := modelimport.ListInput{Ascending: true, MaxResults: 1000}
	for {
		models, next, err := h.Models.ListModels(ctx, p, in)
		if err != nil {
			return err
		}
		for _, m := range models {
			data = append(data, modelJSON(m))
		}
		if next == "" {
			break
		}
		in.NextToken = next
	}
	writeJSON(w, map[string]any{"object": "list", "data": data})
	return nil
}

// getModel serves GET /v1/models/{id}, by name or ARN.
func (h *Handler) getModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	id := r.PathValue("id")
	m, err := h.Models.GetModel(ctx, p, id)
	if e, ok := errors.AsType[*apierr.Error](err); ok && e.Kind == apierr.NotFound {
		return &Error{Status: http.StatusNotFound, Type: typeInvalidRequest, Param: "model", Code: "model_not_found",
			Message: "The model `" + id + "` does not exist or you do not have access to it.", Err: err}
	}
	if err != nil {
		return err
	}
	writeJSON(w, modelJSON(m))
	return nil
}
