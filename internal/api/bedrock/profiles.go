package bedrock

import (
	"context"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/profile"
)

func (h *Handler) profiles() (*profile.Service, error) {
	if h.Profiles == nil {
		return nil, apierr.New(apierr.UnknownOperation, "Inference profiles are not enabled on this server")
	}
	return h.Profiles, nil
}

func (h *Handler) createInferenceProfile(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.profiles()
	if err != nil {
		return err
	}
	var in struct {
		InferenceProfileName string `json:"inferenceProfileName"`
		Description          string `json:"description"`
		ModelSource          *struct {
			CopyFrom string `json:"copyFrom"`
		} `json:"modelSource"`
		Tags               []tagJSON `json:"tags"`
		ClientRequestToken string    `json:"clientRequestToken"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ModelSource == nil {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'modelSource' failed to satisfy constraint: Member must not be null")
	}
	pr, err := svc.Create(ctx, p, profile.CreateInput{
		Name: in.InferenceProfileName, Description: in.Description, CopyFrom: in.ModelSource.CopyFrom,
		Tags: toTags(in.Tags), ClientRequestToken: in.ClientRequestToken,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"inferenceProfileArn": pr.ARN, "status": pr.Status()})
	return nil
}

type profileModelJSON struct {
	ModelArn string `json:"modelArn"`
}

// profileJSON is GetInferenceProfile's response and a
// ListInferenceProfiles summary.
type profileJSON struct {
	InferenceProfileName string             `json:"inferenceProfileName"`
	InferenceProfileArn  string             `json:"inferenceProfileArn"`
	InferenceProfileID   string             `json:"inferenceProfileId"`
	Models               []profileModelJSON `json:"models"`
	Status               string             `json:"status"`
	Type                 string             `json:"type"`
	Description          string             `json:"description,omitempty"`
	CreatedAt            *string            `json:"createdAt,omitempty"`
	UpdatedAt            *string            `json:"updatedAt,omitempty"`
}

func toProfileJSON(pr *profile.Profile) profileJSON {
	return profileJSON{
		InferenceProfileName: pr.Name, InferenceProfileArn: pr.ARN, InferenceProfileID: pr.ID,
		Models: []profileModelJSON{{ModelArn: pr.ModelARN}}, Status: pr.Status(), Type: pr.Type(),
		Description: pr.Description, CreatedAt: timestamp(pr.Created), UpdatedAt: timestamp(pr.Updated),
	}
}

func (h *Handler) getInferenceProfile(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.profiles()
	if err != nil {
		return err
	}
	pr, err := svc.Get(ctx, p, r.PathValue("inferenceProfileIdentifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProfileJSON(pr))
	return nil
}

func (h *Handler) listInferenceProfiles(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.profiles()
	if err != nil {
		return err
	}
	maxResults, err := parseIntQuery(r, "maxResults")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	prs, next, err := svc.List(ctx, p, profile.ListInput{Type: q.Get("type"), MaxResults: maxResults, NextToken: q.Get("nextToken")})
	if err != nil {
		return err
	}
	out := struct {
		Summaries []profileJSON `json:"inferenceProfileSummaries"`
		NextToken string        `json:"nextToken,omitempty"`
	}{Summaries: []profileJSON{}, NextToken: next}
	for _, pr := range prs {
		out.Summaries = append(out.Summaries, toProfileJSON(pr))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) deleteInferenceProfile(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.profiles()
	if err != nil {
		return err
	}
	if err := svc.Delete(ctx, p, r.PathValue("inferenceProfileIdentifier")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
