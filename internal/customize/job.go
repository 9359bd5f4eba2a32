// Package customize is model customization: Bedrock's fine-tuning and
// continued pre-training jobs, the custom models they make, and the
// deployments that serve them on demand.
//
// A job runs in three phases, as Bedrock reports them in statusDetails:
//
//   - Validation: the training (and validation) JSON Lines files are read
//     as the job's role, checked against the customization type's format
//     and limits, and scanned for card data and PII
//     (internal/trainingdata). A file holding card data fails the job, and
//     the scan report (counts and locations, never values) is written to
//     the output location. No byte of such a file reaches training.
//   - Data processing: the base model (an imported model or another custom
//     model) is decrypted into a RAM-backed folder and the records are
//     tokenized with its tokenizer.
//   - Training: full fine-tuning with the pure-Go trainer
//     (internal/finetune); step-wise metrics go to the output location as
//     Bedrock writes them, and the trained folder is validated, hashed and
//     encrypted under the job's key exactly as an import is
//     (modelimport.Store).
//
// Jobs are durable: a queue entry and a lease in the metadata store, so a
// job interrupted by a crash restarts on the next run (up to three
// attempts), and a custom model becomes visible in the same transaction
// that completes its job. A custom model is invoked through a custom model
// deployment (on demand) or provisioned throughput, as on Bedrock.
package customize

import (
	"encoding/json"
	"time"

	"strata/internal/modelimport"
	"strata/internal/store"
	"strata/internal/tags"
)

// Job statuses, as Bedrock names them.
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusStopping   = "Stopping"
	StatusStopped    = "Stopped"
	// StatusNotStarted is a phase that has not started (statusDetails only).
	StatusNotStarted = "NotStarted"
)

// Customization types strata runs.
const (
	FineTuning           = "FINE_TUNING"
	ContinuedPreTraining = "CONTINUED_PRE_TRAINING"
)

// Record kinds in the metadata store.
const (
	KindJob        = "model-customization-job"
	KindModel      = "custom-model"
	KindDeployment = "custom-model-deployment"
	kindQueue      = "model-customization-queue" // account "": one entry per unfinished job
)

// Tag is a resource tag.
type Tag = tags.Tag

// Phase is one phase of a job's statusDetails.
type Phase struct {
	Status   string    `json:"status"`
	Created  time.Time `json:"created,omitzero"`
	Modified time.Time `json:"modified,omitzero"`
}

// Job is a model customization job.
type Job struct {
	ARN               string            `json:"arn"`
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Account           string            `json:"account"`
	CustomizationType string            `json:"customizationType"`
	BaseModelARN      string            `json:"baseModelArn"`
	OutputModelName   string            `json:"outputModelName"`
	OutputModelID     string            `json:"outputModelId"` // chosen at creation
	OutputModelARN    string            `json:"outputModelArn"`
	RoleARN           string            `json:"roleArn"`
	HyperParameters   map[string]string `json:"hyperParameters"`
	TrainingDataURI   string            `json:"trainingDataUri"`
	ValidationURIs    []string          `json:"validationDataUris,omitempty"`
	OutputDataURI     string            `json:"outputDataUri"`
	Status            string            `json:"status"`
	FailureMessage    string            `json:"failureMessage,omitempty"`
	Created           time.Time         `json:"created"`
	Modified          time.Time         `json:"modified"`
	Ended             time.Time         `json:"ended,omitzero"`
	Validation        Phase             `json:"validationDetails"`
	DataProcessing    Phase             `json:"dataProcessingDetails"`
	Training          Phase             `json:"trainingDetails"`
	// TrainingLoss is the last step's training loss; ValidationLosses one
	// loss per validation file, after training.
	TrainingLoss     *float64        `json:"trainingLoss,omitempty"`
	ValidationLosses []float64       `json:"validationLosses,omitempty"`
	KMSKeyID         string          `json:"kmsKeyId,omitempty"`
	KMSKeyARN        string          `json:"kmsKeyArn,omitempty"`
	Tags             []Tag           `json:"tags,omitempty"`
	ModelTags        []Tag           `json:"modelTags,omitempty"`
	VPCConfig        json.RawMessage `json:"vpcConfig,omitempty"`
	CreatedBy        string          `json:"createdBy"`
	// Step and Steps report training progress (strata's own fields).
	Step       int       `json:"step,omitempty"`
	Steps      int       `json:"steps,omitempty"`
	Attempts   int       `json:"attempts"`
	LeaseOwner string    `json:"leaseOwner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`

	version int64
}

// Model is a custom model: a stored model folder (the same artifact format
// as an imported model) plus how it was made.
type Model struct {
	modelimport.Model
	BaseModelARN      string            `json:"baseModelArn"`
	BaseModelName     string            `json:"baseModelName"`
	CustomizationType string            `json:"customizationType"`
	HyperParameters   map[string]string `json:"hyperParameters"`
	TrainingDataURI   string            `json:"trainingDataUri"`
	ValidationURIs    []string          `json:"validationDataUris,omitempty"`
	OutputDataURI     string            `json:"outputDataUri"`
	TrainingLoss      *float64          `json:"trainingLoss,omitempty"`
	ValidationLosses  []float64         `json:"validationLosses,omitempty"`

	version int64
}

// Deployment is a custom model deployment: an on-demand endpoint of a
// custom model.
type Deployment struct {
	ARN         string `json:"arn"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	Account     string `json:"account"`
	ModelARN    string `json:"modelArn"`
	Description string `json:"description,omitempty"`
	Status      string `json:"status"` // Active
	// Updated is set once the deployment's model was changed
	// (UpdateCustomModelDeployment), which takes effect at once.
	Updated   bool      `json:"updated,omitempty"`
	Created   time.Time `json:"created"`
	Modified  time.Time `json:"modified"`
	Tags      []Tag     `json:"tags,omitempty"`
	CreatedBy string    `json:"createdBy"`

	version int64
}

func jobRecord(j *Job) store.Record {
	data, _ := json.Marshal(j)
	return store.Record{Kind: KindJob, Account: j.Account, ID: j.ID, Name: j.Name, ARN: j.ARN,
		Status: j.Status, Created: j.Created, Version: j.version, Data: data}
}

func jobFrom(r store.Record) (*Job, error) {
	j := &Job{}
	if err := json.Unmarshal(r.Data, j); err != nil {
		return nil, err
	}
	j.version = r.Version
	j.Created = r.Created
	return j, nil
}

func modelRecord(m *Model) store.Record {
	data, _ := json.Marshal(m)
	return store.Record{Kind: KindModel, Account: m.Account, ID: m.ID, Name: m.Name, ARN: m.ARN,
		Status: "Active", Created: m.Created, Version: m.version, Data: data}
}

func modelFrom(r store.Record) (*Model, error) {
	m := &Model{}
	if err := json.Unmarshal(r.Data, m); err != nil {
		return nil, err
	}
	m.version = r.Version
	m.Created = r.Created
	return m, nil
}

func deploymentRecord(d *Deployment) store.Record {
	data, _ := json.Marshal(d)
	return store.Record{Kind: KindDeployment, Account: d.Account, ID: d.ID, Name: d.Name, ARN: d.ARN,
		Status: d.Status, Created: d.Created, Version: d.version, Data: data}
}

func deploymentFrom(r store.Record) (*Deployment, error) {
	d := &Deployment{}
	if err := json.Unmarshal(r.Data, d); err != nil {
		return nil, err
	}
	d.version = r.Version
	d.Created = r.Created
	return d, nil
}
