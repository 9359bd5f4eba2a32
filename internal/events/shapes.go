package events

import (
	"encoding/json"
	"time"
)

// The detail-types strata emits. Bedrock emits the first; the second is
// strata's, in the same style (Bedrock sends no import-job events).
const (
	DetailTypeCustomizationJob = "Model Customization Job State Change"
	DetailTypeImportJob        = "Model Import Job State Change"
)

// DetailTypes returns the detail-types strata emits.
func DetailTypes() []string { return []string{DetailTypeCustomizationJob, DetailTypeImportJob} }

// detailVersion is the detail's own version, as in Bedrock's events.
const detailVersion = "0.0"

// S3Location is a data location: {"s3Uri": ...}.
type S3Location struct {
	S3URI string `json:"s3Uri"`
}

// ValidationDataConfig is {"validators": [{"s3Uri": ...}, ...]}.
type ValidationDataConfig struct {
	Validators []S3Location `json:"validators"`
}

// CustomizationDetail is the detail of a "Model Customization Job State
// Change" event, with Bedrock's JSON names. Zero times and empty optional
// fields are left out.
type CustomizationDetail struct {
	JobName              string
	JobArn               string
	OutputModelName      string
	OutputModelArn       string
	RoleArn              string
	JobStatus            string // InProgress | Completed | Failed | Stopping | Stopped; JSON "jobStatus"
	FailureMessage       string
	CreationTime         time.Time
	LastModifiedTime     time.Time
	EndTime              time.Time
	BaseModelArn         string
	HyperParameters      map[string]string
	TrainingDataConfig   *S3Location
	ValidationDataConfig *ValidationDataConfig
	OutputDataConfig     *S3Location
}

// MarshalJSON writes d with Bedrock's names and times in RFC 3339 UTC with
// milliseconds.
func (d CustomizationDetail) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Version              string                `json:"version"`
		JobName              string                `json:"jobName"`
		JobArn               string                `json:"jobArn"`
		OutputModelName      string                `json:"outputModelName,omitempty"`
		OutputModelArn       string                `json:"outputModelArn,omitempty"`
		RoleArn              string                `json:"roleArn,omitempty"`
		JobStatus            string                `json:"jobStatus"`
		FailureMessage       string                `json:"failureMessage,omitempty"`
		CreationTime         string                `json:"creationTime,omitempty"`
		LastModifiedTime     string                `json:"lastModifiedTime,omitempty"`
		EndTime              string                `json:"endTime,omitempty"`
		BaseModelArn         string                `json:"baseModelArn,omitempty"`
		HyperParameters      map[string]string     `json:"hyperParameters,omitempty"`
		TrainingDataConfig   *S3Location           `json:"trainingDataConfig,omitempty"`
		ValidationDataConfig *ValidationDataConfig `json:"validationDataConfig,omitempty"`
		OutputDataConfig     *S3Location           `json:"outputDataConfig,omitempty"`
	}{
		detailVersion, d.JobName, d.JobArn, d.OutputModelName, d.OutputModelArn, d.RoleArn, d.JobStatus,
		d.FailureMessage, stamp(d.CreationTime), stamp(d.LastModifiedTime), stamp(d.EndTime), d.BaseModelArn,
		d.HyperParameters, d.TrainingDataConfig, d.ValidationDataConfig, d.OutputDataConfig,
	})
}

// ImportDetail is the detail of a "Model Import Job State Change" event.
// ModelDataSource is the weights' S3 URI, written as Bedrock's
// {"s3DataSource": {"s3Uri": ...}}.
type ImportDetail struct {
	JobName           string
	JobArn            string
	ImportedModelName string
	ImportedModelArn  string
	RoleArn           string
	JobStatus         string // InProgress | Completed | Failed; JSON "jobStatus"
	FailureMessage    string
	CreationTime      time.Time
	LastModifiedTime  time.Time
	EndTime           time.Time
	ModelDataSource   string
}

// MarshalJSON writes d with Bedrock's names and times in RFC 3339 UTC with
// milliseconds.
func (d ImportDetail) MarshalJSON() ([]byte, error) {
	type s3Source struct {
		S3DataSource S3Location `json:"s3DataSource"`
	}
	var src *s3Source
	if d.ModelDataSource != "" {
		src = &s3Source{S3Location{d.ModelDataSource}}
	}
	return json.Marshal(struct {
		Version           string    `json:"version"`
		JobName           string    `json:"jobName"`
		JobArn            string    `json:"jobArn"`
		ImportedModelName string    `json:"importedModelName,omitempty"`
		ImportedModelArn  string    `json:"importedModelArn,omitempty"`
		RoleArn           string    `json:"roleArn,omitempty"`
		JobStatus         string    `json:"jobStatus"`
		FailureMessage    string    `json:"failureMessage,omitempty"`
		CreationTime      string    `json:"creationTime,omitempty"`
		LastModifiedTime  string    `json:"lastModifiedTime,omitempty"`
		EndTime           string    `json:"endTime,omitempty"`
		ModelDataSource   *s3Source `json:"modelDataSource,omitempty"`
	}{
		detailVersion, d.JobName, d.JobArn, d.ImportedModelName, d.ImportedModelArn, d.RoleArn, d.JobStatus,
		d.FailureMessage, stamp(d.CreationTime), stamp(d.LastModifiedTime), stamp(d.EndTime), src,
	})
}

// stamp formats t as Bedrock's detail times, or "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// CustomizationJobStateChange returns the event for a customization job's
// new state d, at time t, with a fresh id; its resource is the job ARN.
func CustomizationJobStateChange(region, account string, d CustomizationDetail, t time.Time) Event {
	return newEvent(DetailTypeCustomizationJob, region, account, d.JobArn, d, t)
}

// ImportJobStateChange returns the event for an import job's new state d,
// at time t, with a fresh id; its resource is the job ARN.
func ImportJobStateChange(region, account string, d ImportDetail, t time.Time) Event {
	return newEvent(DetailTypeImportJob, region, account, d.JobArn, d, t)
}

func newEvent(detailType, region, account, resource string, detail json.Marshaler, t time.Time) Event {
	b, err := detail.MarshalJSON()
	if err != nil {
		// Only strings, string maps and times: this cannot happen.
		panic("events: encoding a detail: " + err.Error())
	}
	e := Event{
		Version: "0", ID: newID(), DetailType: detailType, Source: Source, Account: account,
		Time: t.UTC().Truncate(time.Second), Region: region, Resources: []string{}, Detail: b,
	}
	if resource != "" {
		e.Resources = []string{resource}
	}
	return e
}
