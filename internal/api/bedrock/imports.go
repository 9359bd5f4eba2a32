package bedrock

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/modelimport"
)

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func toTags(in []tagJSON) []modelimport.Tag {
	out := make([]modelimport.Tag, len(in))
	for i, t := range in {
		out[i] = modelimport.Tag(t)
	}
	return out
}

func fromTags(in []modelimport.Tag) []tagJSON {
	out := make([]tagJSON, len(in))
	for i, t := range in {
		out[i] = tagJSON(t)
	}
	return out
}

type s3DataSource struct {
	S3URI string `json:"s3Uri"`
}

type modelDataSource struct {
	S3DataSource *s3DataSource `json:"s3DataSource,omitempty"`
}

func (h *Handler) createModelImportJob(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		JobName               string           `json:"jobName"`
		ImportedModelName     string           `json:"importedModelName"`
		RoleArn               string           `json:"roleArn"`
		ModelDataSource       *modelDataSource `json:"modelDataSource"`
		JobTags               []tagJSON        `json:"jobTags"`
		ImportedModelTags     []tagJSON        `json:"importedModelTags"`
		ClientRequestToken    string           `json:"clientRequestToken"`
		VpcConfig             json.RawMessage  `json:"vpcConfig"`
		ImportedModelKmsKeyId string           `json:"importedModelKmsKeyId"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ModelDataSource == nil || in.ModelDataSource.S3DataSource == nil {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'modelDataSource' failed to satisfy constraint: Member must not be null")
	}
	job, err := h.Imports.CreateJob(ctx, p, modelimport.CreateJobInput{
		JobName: in.JobName, ImportedModelName: in.ImportedModelName, RoleARN: in.RoleArn,
		SourceURI: in.ModelDataSource.S3DataSource.S3URI, ClientRequestToken: in.ClientRequestToken,
		KMSKeyID: in.ImportedModelKmsKeyId, JobTags: toTags(in.JobTags), ModelTags: toTags(in.ImportedModelTags),
		VPCConfig: in.VpcConfig,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"jobArn": job.ARN})
	return nil
}

type jobJSON struct {
	JobArn                 string           `json:"jobArn"`
	JobName                string           `json:"jobName"`
	ImportedModelName      string           `json:"importedModelName,omitempty"`
	ImportedModelArn       string           `json:"importedModelArn,omitempty"`
	RoleArn                string           `json:"roleArn,omitempty"`
	ModelDataSource        *modelDataSource `json:"modelDataSource,omitempty"`
	Status                 string           `json:"status"`
	FailureMessage         string           `json:"failureMessage,omitempty"`
	CreationTime           *string          `json:"creationTime,omitempty"`
	LastModifiedTime       *string          `json:"lastModifiedTime,omitempty"`
	EndTime                *string          `json:"endTime,omitempty"`
	VpcConfig              json.RawMessage  `json:"vpcConfig,omitempty"`
	ImportedModelKmsKeyArn string           `json:"importedModelKmsKeyArn,omitempty"`
	// strata's own fields; the SDKs ignore them.
	BytesDone  int64 `json:"strataBytesDone,omitempty"`
	BytesTotal int64 `json:"strataBytesTotal,omitempty"`
}

func toJobJSON(j *modelimport.Job, full bool) jobJSON {
	out := jobJSON{
		JobArn: j.ARN, JobName: j.Name, ImportedModelName: j.ImportedModelName, ImportedModelArn: j.ImportedModelARN,
		Status: j.Status, CreationTime: timestamp(j.Created), LastModifiedTime: timestamp(j.Modified), EndTime: timestamp(j.Ended),
	}
	if full {
		out.RoleArn = j.RoleARN
		out.ModelDataSource = &modelDataSource{S3DataSource: &s3DataSource{S3URI: j.SourceURI}}
		out.FailureMessage = j.FailureMessage
		out.VpcConfig = j.VPCConfig
		out.ImportedModelKmsKeyArn = j.KMSKeyARN
		out.BytesDone, out.BytesTotal = j.BytesDone, j.BytesTotal
	}
	return out
}

func (h *Handler) getModelImportJob(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	j, err := h.Imports.GetJob(ctx, p, r.PathValue("jobIdentifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toJobJSON(j, true))
	return nil
}

func listInput(r *http.Request) (modelimport.ListInput, error) {
	var in modelimport.ListInput
	var err error
	q := r.URL.Query()
	if in.CreatedAfter, err = parseTimeQuery(r, "creationTimeAfter"); err != nil {
		return in, err
	}
	if in.CreatedBefore, err = parseTimeQuery(r, "creationTimeBefore"); err != nil {
		return in, err
	}
	if in.MaxResults, err = parseIntQuery(r, "maxResults"); err != nil {
		return in, err
	}
	if in.Ascending, err = sortOrder(r); err != nil {
		return in, err
	}
	in.NameContains = q.Get("nameContains")
	in.Status = q.Get("statusEquals")
	in.NextToken = q.Get("nextToken")
	return in, nil
}

func (h *Handler) listModelImportJobs(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	in, err := listInput(r)
	if err != nil {
		return err
	}
	jobs, next, err := h.Imports.ListJobs(ctx, p, in)
	if err != nil {
		return err
	}
	out := struct {
		Summaries []jobJSON `json:"modelImportJobSummaries"`
		NextToken string    `json:"nextToken,omitempty"`
	}{Summaries: []jobJSON{}, NextToken: next}
	for _, j := range jobs {
		out.Summaries = append(out.Summaries, toJobJSON(j, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) getImportedModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	m, err := h.Imports.GetModel(ctx, p, r.PathValue("modelIdentifier"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"modelArn": m.ARN, "modelName": m.Name, "jobName": m.JobName, "jobArn": m.JobARN,
		"modelDataSource":   modelDataSource{S3DataSource: &s3DataSource{S3URI: m.SourceURI}},
		"creationTime":      timestamp(m.Created),
		"modelArchitecture": architectureName(m.Architecture),
		"modelKmsKeyArn":    m.KMSKeyARN,
		"instructSupported": m.Instruct,
		"customModelUnits":  map[string]any{"customModelUnitsPerModelCopy": m.ModelUnits, "customModelUnitsVersion": "1.0"},
	})
	return nil
}

// architectureName is Bedrock's modelArchitecture value for an HF
// architecture: "MistralForCausalLM" → "mistral".
func architectureName(a string) string {
	return strings.ToLower(strings.TrimSuffix(a, "ForCausalLM"))
}

func (h *Handler) listImportedModels(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	in, err := listInput(r)
	if err != nil {
		return err
	}
	models, next, err := h.Imports.ListModels(ctx, p, in)
	if err != nil {
		return err
	}
	type summary struct {
		ModelArn          string  `json:"modelArn"`
		ModelName         string  `json:"modelName"`
		CreationTime      *string `json:"creationTime"`
		InstructSupported bool    `json:"instructSupported"`
		ModelArchitecture string  `json:"modelArchitecture"`
	}
	out := struct {
		Summaries []summary `json:"modelSummaries"`
		NextToken string    `json:"nextToken,omitempty"`
	}{Summaries: []summary{}, NextToken: next}
	for _, m := range models {
		out.Summaries = append(out.Summaries, summary{m.ARN, m.Name, timestamp(m.Created), m.Instruct, architectureName(m.Architecture)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handler) deleteImportedModel(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, _ []byte) error {
	if err := h.Imports.DeleteModel(ctx, p, r.PathValue("modelIdentifier")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) tagResource(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		ResourceARN string    `json:"resourceARN"`
		Tags        []tagJSON `json:"tags"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ResourceARN == "" || in.Tags == nil {
		return apierr.New(apierr.Validation, "resourceARN and tags are required")
	}
	if err := h.tagger(in.ResourceARN).UpdateTags(ctx, p, in.ResourceARN, toTags(in.Tags), nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) untagResource(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		ResourceARN string   `json:"resourceARN"`
		TagKeys     []string `json:"tagKeys"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ResourceARN == "" || in.TagKeys == nil {
		return apierr.New(apierr.Validation, "resourceARN and tagKeys are required")
	}
	if err := h.tagger(in.ResourceARN).UpdateTags(ctx, p, in.ResourceARN, nil, in.TagKeys); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (h *Handler) listTagsForResource(ctx context.Context, w http.ResponseWriter, r *http.Request, p *iam.Principal, body []byte) error {
	var in struct {
		ResourceARN string `json:"resourceARN"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if in.ResourceARN == "" {
		return apierr.New(apierr.Validation, "resourceARN is required")
	}
	tags, err := h.tagger(in.ResourceARN).Tags(ctx, p, in.ResourceARN)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tags": fromTags(tags)})
	return nil
}
