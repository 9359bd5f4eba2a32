package bedrock

import (
	"context"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/throughput"
)

func (h *Handler) provisioned() (*throughput.Service, error) {
	if h.Provisioned == nil {
		return nil, apierr.New(apierr.UnknownOperation, "Provisioned throughput is not enabled on this server")
	}
	return h.Provisioned, nil
}

func (h *Handler) createProvisionedModelThroughput(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.provisioned()
	if err != nil {
		return err
	}
	var in struct {
		ModelUnits           *int      `json:"modelUnits"`
		ProvisionedModelName string    `json:"provisionedModelName"`
		ModelID              string    `json:"modelId"`
		CommitmentDuration   string    `json:"commitmentDuration"`
		Tags                 []tagJSON `json:"tags"`
		ClientRequestToken   string    `json:"clientRequestToken"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ModelUnits == nil {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'modelUnits' failed to satisfy constraint: Member must not be null")
	}
	pm, err := svc.Create(ctx, p, throughput.CreateInput{
		Name: in.ProvisionedModelName, ModelID: in.ModelID, ModelUnits: *in.ModelUnits,
		CommitmentDuration: in.CommitmentDuration, Tags: toTags(in.Tags), ClientRequestToken: in.ClientRequestToken,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"provisionedModelArn": pm.ARN})
	return nil
}

// provisionedJSON is GetProvisionedModelThroughput's response and a
// ListProvisionedModelThroughputs summary. foundationModelArn is the
// imported model's ARN: strata's provisioned models are all over imported
// models.
type provisionedJSON struct {
	ModelUnits               int     `json:"modelUnits"`
	DesiredModelUnits        int     `json:"desiredModelUnits"`
	ProvisionedModelName     string  `json:"provisionedModelName"`
	ProvisionedModelArn      string  `json:"provisionedModelArn"`
	ModelArn                 string  `json:"modelArn"`
	DesiredModelArn          string  `json:"desiredModelArn"`
	FoundationModelArn       string  `json:"foundationModelArn"`
	Status                   string  `json:"status"`
	CreationTime             *string `json:"creationTime"`
	LastModifiedTime         *string `json:"lastModifiedTime"`
	FailureMessage           string  `json:"failureMessage,omitempty"`
	CommitmentDuration       string  `json:"commitmentDuration,omitempty"`
	CommitmentExpirationTime *string `json:"commitmentExpirationTime,omitempty"`
}

func toProvisionedJSON(pm *throughput.Provisioned) provisionedJSON {
	return provisionedJSON{
		ModelUnits: pm.ModelUnits, DesiredModelUnits: pm.DesiredModelUnits, ProvisionedModelName: pm.Name,
		ProvisionedModelArn: pm.ARN, ModelArn: pm.ModelARN, DesiredModelArn: pm.DesiredModelARN,
		FoundationModelArn: pm.ModelARN, Status: pm.Status, CreationTime: timestamp(pm.Created),
		LastModifiedTime: timestamp(pm.Modified), FailureMessage: pm.FailureMessage,
		CommitmentDuration: pm.CommitmentDuration, CommitmentExpirationTime: timestamp(pm.CommitmentExpires),
	}
}

func (h *Handler) getProvisionedModelThroughput(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.provisioned()
	if err != nil {
		return err
	}
	pm, err := svc.Get(ctx, p, r.PathValue("provisionedModelId"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProvisionedJSON(pm))
	return nil
}

func (h *Handler) listProvisionedModelThroughputs(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.provisioned()
	if err != nil {
		return err
	}
	li, err := listInput(r)
	if err != nil {
		return err
	}
	pms, next, err := svc.List(ctx, p, throughput.ListInput{
		NameContains: li.NameContains, Status: li.Status, ModelARN: r.URL.Query().Get("modelArnEquals"),
		CreatedAfter: li.CreatedAfter, CreatedBefore: li.CreatedBefore, Ascending: li.Ascending,
		MaxResults: li.MaxResults, NextToken: li.NextToken,
	})
	if err != nil {
		return err
	}
	out := struct {
		Summaries []provisionedJSON `json:"provisionedModelSummaries"`
		NextToken string            `json:"nextToken,omitempty"`
	}{Summaries: []provisionedJSON{}, NextToken: next}
	for _, pm := range pms {
		out.Summaries = append(out.Summaries, toProvisionedJSON(pm))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateProvisionedModelThroughput(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	svc, err := h.provisioned()
	if err != nil {
		return err
	}
	var in struct {
		DesiredProvisionedModelName string `json:"desiredProvisionedModelName"`
		DesiredModelID              string `json:"desiredModelId"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if err := svc.Update(ctx, p, r.PathValue("provisionedModelId"), throughput.UpdateInput{
		DesiredName: in.DesiredProvisionedModelName, DesiredModelID: in.DesiredModelID,
	}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) deleteProvisionedModelThroughput(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	svc, err := h.provisioned()
	if err != nil {
		return err
	}
	if err := svc.Delete(ctx, p, r.PathValue("provisionedModelId")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
