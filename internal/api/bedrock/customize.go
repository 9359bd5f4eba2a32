package bedrock

import (
	"context"
	"encoding/json"
	"net/http"

	"strata/internal/apierr"
	"strata/internal/customize"
	"strata/internal/iam"
)

type s3Config struct {
	S3URI string `json:"s3Uri"`
}

type trainingDataConfig struct {
	S3URI                string          `json:"s3Uri"`
	InvocationLogsConfig json.RawMessage `json:"invocationLogsConfig"`
}

type validationDataConfig struct {
	Validators []s3Config `json:"validators"`
}

type phaseJSON struct {
	Status           string  `json:"status"`
	CreationTime     *string `json:"creationTime,omitempty"`
	LastModifiedTime *string `json:"lastModifiedTime,omitempty"`
}

type statusDetailsJSON struct {
	Validation     phaseJSON `json:"validationDetails"`
	DataProcessing phaseJSON `json:"dataProcessingDetails"`
	Training       phaseJSON `json:"trainingDetails"`
}

func toPhase(p customize.Phase) phaseJSON {
	return phaseJSON{Status: p.Status, CreationTime: timestamp(p.Created), LastModifiedTime: timestamp(p.Modified)}
}

type trainingMetricsJSON struct {
	TrainingLoss float64 `json:"trainingLoss"`
}

type validatorMetricJSON struct {
	ValidationLoss float64 `json:"validationLoss"`
}

func validationConfig(uris []string) *validationDataConfig {
	if len(uris) == 0 {
		return nil
	}
	v := &validationDataConfig{}
	for _, u := range uris {
		v.Validators = append(v.Validators, s3Config{S3URI: u})
	}
	return v
}

func metricsJSON(train *float64, vals []float64) (*trainingMetricsJSON, []validatorMetricJSON) {
	var tm *trainingMetricsJSON
	if train != nil {
		tm = &trainingMetricsJSON{TrainingLoss: *train}
	}
	var vm []validatorMetricJSON
	for _, v := range vals {
		vm = append(vm, validatorMetricJSON{v})
	}
	return tm, vm
}

func (h *Handler) createModelCustomizationJob(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		JobName              string                `json:"jobName"`
		CustomModelName      string                `json:"customModelName"`
		RoleArn              string                `json:"roleArn"`
		BaseModelIdentifier  string                `json:"baseModelIdentifier"`
		CustomizationType    string                `json:"customizationType"`
		TrainingDataConfig   *trainingDataConfig   `json:"trainingDataConfig"`
		ValidationDataConfig *validationDataConfig `json:"validationDataConfig"`
		OutputDataConfig     *s3Config             `json:"outputDataConfig"`
		HyperParameters      map[string]string     `json:"hyperParameters"`
		CustomModelKmsKeyId  string                `json:"customModelKmsKeyId"`
		JobTags              []tagJSON             `json:"jobTags"`
		CustomModelTags      []tagJSON             `json:"customModelTags"`
		ClientRequestToken   string                `json:"clientRequestToken"`
		VpcConfig            json.RawMessage       `json:"vpcConfig"`
		CustomizationConfig  json.RawMessage       `json:"customizationConfig"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.TrainingDataConfig == nil || (in.TrainingDataConfig.S3URI == "" && len(in.TrainingDataConfig.InvocationLogsConfig) > 0) {
		if in.TrainingDataConfig != nil {
			return apierr.New(apierr.Validation, "trainingDataConfig.invocationLogsConfig is not supported; give trainingDataConfig.s3Uri")
		}
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'trainingDataConfig' failed to satisfy constraint: Member must not be null")
	}
	if in.OutputDataConfig == nil {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'outputDataConfig' failed to satisfy constraint: Member must not be null")
	}
	var vals []string
	if in.ValidationDataConfig != nil {
		for _, v := range in.ValidationDataConfig.Validators {
			vals = append(vals, v.S3URI)
		}
	}
	j, err := h.Customize.CreateJob(ctx, p, customize.CreateJobInput{
		JobName: in.JobName, CustomModelName: in.CustomModelName, RoleARN: in.RoleArn,
		BaseModelIdentifier: in.BaseModelIdentifier, CustomizationType: in.CustomizationType,
		TrainingDataURI: in.TrainingDataConfig.S3URI, ValidationURIs: vals, OutputDataURI: in.OutputDataConfig.S3URI,
		HyperParameters: in.HyperParameters, KMSKeyID: in.CustomModelKmsKeyId,
		JobTags: toTags(in.JobTags), ModelTags: toTags(in.CustomModelTags), ClientRequestToken: in.ClientRequestToken,
		VPCConfig: in.VpcConfig, CustomizationConfig: in.CustomizationConfig,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"jobArn": j.ARN})
	return nil
}

func (h *Handler) getModelCustomizationJob(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	j, err := h.Customize.GetJob(ctx, p, r.PathValue("jobIdentifier"))
	if err != nil {
		return err
	}
	tm, vm := metricsJSON(j.TrainingLoss, j.ValidationLosses)
	out := map[string]any{
		"jobArn": j.ARN, "jobName": j.Name, "outputModelName": j.OutputModelName, "roleArn": j.RoleARN,
		"baseModelArn": j.BaseModelARN, "customizationType": j.CustomizationType, "status": j.Status,
		"creationTime": timestamp(j.Created), "lastModifiedTime": timestamp(j.Modified),
		"hyperParameters":    j.HyperParameters,
		"trainingDataConfig": s3Config{j.TrainingDataURI}, "outputDataConfig": s3Config{j.OutputDataURI},
		"outputModelKmsKeyArn": j.KMSKeyARN,
		"statusDetails":        statusDetailsJSON{toPhase(j.Validation), toPhase(j.DataProcessing), toPhase(j.Training)},
		// strata's own progress fields; the SDKs ignore them.
		"strataStep": j.Step, "strataSteps": j.Steps,
	}
	if j.Status == customize.StatusCompleted {
		out["outputModelArn"] = j.OutputModelARN
	}
	if v := validationConfig(j.ValidationURIs); v != nil {
		out["validationDataConfig"] = v
	}
	if !j.Ended.IsZero() {
		out["endTime"] = timestamp(j.Ended)
	}
	if j.FailureMessage != "" {
		out["failureMessage"] = j.FailureMessage
	}
	if tm != nil {
		out["trainingMetrics"] = tm
	}
	if vm != nil {
		out["validationMetrics"] = vm
	}
	if len(j.VPCConfig) > 0 {
		out["vpcConfig"] = j.VPCConfig
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listModelCustomizationJobs(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	in, err := listInput(r)
	if err != nil {
		return err
	}
	jobs, next, err := h.Customize.ListJobs(ctx, p, in)
	if err != nil {
		return err
	}
	type summary struct {
		JobArn            string            `json:"jobArn"`
		JobName           string            `json:"jobName"`
		BaseModelArn      string            `json:"baseModelArn"`
		CustomModelName   string            `json:"customModelName"`
		CustomModelArn    string            `json:"customModelArn,omitempty"`
		CustomizationType string            `json:"customizationType"`
		Status            string            `json:"status"`
		StatusDetails     statusDetailsJSON `json:"statusDetails"`
		CreationTime      *string           `json:"creationTime"`
		LastModifiedTime  *string           `json:"lastModifiedTime,omitempty"`
		EndTime           *string           `json:"endTime,omitempty"`
	}
	out := struct {
		Summaries []summary `json:"modelCustomizationJobSummaries"`
		NextToken string    `json:"nextToken,omitempty"`
	}{Summaries: []summary{}, NextToken: next}
	for _, j := range jobs {
		s := summary{JobArn: j.ARN, JobName: j.Name, BaseModelArn: j.BaseModelARN, CustomModelName: j.OutputModelName,
			CustomizationType: j.CustomizationType, Status: j.Status,
			StatusDetails: statusDetailsJSON{toPhase(j.Validation), toPhase(j.DataProcessing), toPhase(j.Training)},
			CreationTime:  timestamp(j.Created), LastModifiedTime: timestamp(j.Modified), EndTime: timestamp(j.Ended)}
		if j.Status == customize.StatusCompleted {
			s.CustomModelArn = j.OutputModelARN
		}
		out.Summaries = append(out.Summaries, s)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) stopModelCustomizationJob(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	if err := h.Customize.StopJob(ctx, p, r.PathValue("jobIdentifier")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) getCustomModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	m, err := h.Customize.GetModel(ctx, p, r.PathValue("modelIdentifier"))
	if err != nil {
		return err
	}
	tm, vm := metricsJSON(m.TrainingLoss, m.ValidationLosses)
	out := map[string]any{
		"modelArn": m.ARN, "modelName": m.Name, "jobName": m.JobName, "jobArn": m.JobARN,
		"baseModelArn": m.BaseModelARN, "customizationType": m.CustomizationType, "modelKmsKeyArn": m.KMSKeyARN,
		"hyperParameters": m.HyperParameters, "trainingDataConfig": s3Config{m.TrainingDataURI},
		"outputDataConfig": s3Config{m.OutputDataURI}, "creationTime": timestamp(m.Created), "modelStatus": "Active",
	}
	if v := validationConfig(m.ValidationURIs); v != nil {
		out["validationDataConfig"] = v
	}
	if tm != nil {
		out["trainingMetrics"] = tm
	}
	if vm != nil {
		out["validationMetrics"] = vm
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listCustomModels(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	li, err := listInput(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("sortBy") != "" && q.Get("sortBy") != "CreationTime" {
		return apierr.New(apierr.Validation, "sortBy must be CreationTime")
	}
	in := customize.ListModelsInput{ListInput: li, BaseModelARN: q.Get("baseModelArnEquals")}
	in.Status = q.Get("modelStatus")
	type summary struct {
		ModelArn          string  `json:"modelArn"`
		ModelName         string  `json:"modelName"`
		CreationTime      *string `json:"creationTime"`
		BaseModelArn      string  `json:"baseModelArn"`
		BaseModelName     string  `json:"baseModelName"`
		CustomizationType string  `json:"customizationType"`
		OwnerAccountId    string  `json:"ownerAccountId"`
		ModelStatus       string  `json:"modelStatus"`
	}
	out := struct {
		Summaries []summary `json:"modelSummaries"`
		NextToken string    `json:"nextToken,omitempty"`
	}{Summaries: []summary{}}
	// foundationModelArnEquals: strata's custom models all start from the
	// caller's own models, never from a foundation model.
	if q.Get("foundationModelArnEquals") != "" || q.Get("isOwned") == "false" {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	models, next, err := h.Customize.ListModels(ctx, p, in)
	if err != nil {
		return err
	}
	out.NextToken = next
	for _, m := range models {
		out.Summaries = append(out.Summaries, summary{m.ARN, m.Name, timestamp(m.Created), m.BaseModelARN, m.BaseModelName,
			m.CustomizationType, m.Account, "Active"})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) deleteCustomModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	if err := h.Customize.DeleteModel(ctx, p, r.PathValue("modelIdentifier")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) createCustomModelDeployment(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		ModelDeploymentName string    `json:"modelDeploymentName"`
		ModelArn            string    `json:"modelArn"`
		Description         string    `json:"description"`
		Tags                []tagJSON `json:"tags"`
		ClientRequestToken  string    `json:"clientRequestToken"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	d, err := h.Customize.CreateDeployment(ctx, p, customize.CreateDeploymentInput{Name: in.ModelDeploymentName,
		ModelARN: in.ModelArn, Description: in.Description, Tags: toTags(in.Tags), ClientRequestToken: in.ClientRequestToken})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"customModelDeploymentArn": d.ARN})
	return nil
}

func (h *Handler) getCustomModelDeployment(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	d, err := h.Customize.GetDeployment(ctx, p, r.PathValue("customModelDeploymentIdentifier"))
	if err != nil {
		return err
	}
	out := map[string]any{
		"customModelDeploymentArn": d.ARN, "modelDeploymentName": d.Name, "modelArn": d.ModelARN,
		"status": d.Status, "createdAt": timestamp(d.Created), "lastUpdatedAt": timestamp(d.Modified),
	}
	if d.Description != "" {
		out["description"] = d.Description
	}
	if d.Updated {
		out["updateDetails"] = map[string]string{"modelArn": d.ModelARN, "updateStatus": "UpdateCompleted"}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) listCustomModelDeployments(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	q := r.URL.Query()
	var in customize.ListInput
	var err error
	if in.CreatedAfter, err = parseTimeQuery(r, "createdAfter"); err != nil {
		return err
	}
	if in.CreatedBefore, err = parseTimeQuery(r, "createdBefore"); err != nil {
		return err
	}
	if in.MaxResults, err = parseIntQuery(r, "maxResults"); err != nil {
		return err
	}
	if in.Ascending, err = sortOrder(r); err != nil {
		return err
	}
	in.NameContains, in.Status, in.NextToken = q.Get("nameContains"), q.Get("statusEquals"), q.Get("nextToken")
	deps, next, err := h.Customize.ListDeployments(ctx, p, in)
	if err != nil {
		return err
	}
	modelARN := q.Get("modelArnEquals")
	type summary struct {
		Arn           string  `json:"customModelDeploymentArn"`
		Name          string  `json:"customModelDeploymentName"`
		ModelArn      string  `json:"modelArn"`
		Status        string  `json:"status"`
		CreatedAt     *string `json:"createdAt"`
		LastUpdatedAt *string `json:"lastUpdatedAt,omitempty"`
	}
	out := struct {
		Summaries []summary `json:"modelDeploymentSummaries"`
		NextToken string    `json:"nextToken,omitempty"`
	}{Summaries: []summary{}, NextToken: next}
	for _, d := range deps {
		if modelARN != "" && d.ModelARN != modelARN {
			continue
		}
		out.Summaries = append(out.Summaries, summary{d.ARN, d.Name, d.ModelARN, d.Status, timestamp(d.Created), timestamp(d.Modified)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) updateCustomModelDeployment(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		ModelArn string `json:"modelArn"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	d, err := h.Customize.UpdateDeployment(ctx, p, r.PathValue("customModelDeploymentIdentifier"), in.ModelArn)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"customModelDeploymentArn": d.ARN})
	return nil
}

func (h *Handler) deleteCustomModelDeployment(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	if err := h.Customize.DeleteDeployment(ctx, p, r.PathValue("customModelDeploymentIdentifier")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}
