// Package modelimport is Custom Model Import: it validates Hugging Face
// model folders (safetensors only, shapes against config.json, limits),
// copies them into the artifact store hashed and encrypted under a
// per-model data key, and runs each import as a durable asynchronous job
// that survives restarts.
package modelimport

import (
	"encoding/json"
	"time"

	"strata/internal/store"
	"strata/internal/tags"
)

// Job statuses, as Bedrock names them.
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
)

// Record kinds in the metadata store.
const (
	KindJob   = "model-import-job"
	KindModel = "imported-model"
	kindQueue = "model-import-queue" // account "": one entry per unfinished job
)

// Tag is a resource tag.
type Tag = tags.Tag

// Job is a model import job.
type Job struct {
	ARN               string          `json:"arn"`
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	Account           string          `json:"account"`
	ImportedModelName string          `json:"importedModelName"`
	ImportedModelID   string          `json:"importedModelId"` // chosen at creation
	ImportedModelARN  string          `json:"importedModelArn,omitempty"`
	RoleARN           string          `json:"roleArn"`
	SourceURI         string          `json:"sourceUri"`
	Status            string          `json:"status"`
	FailureMessage    string          `json:"failureMessage,omitempty"`
	Created           time.Time       `json:"created"`
	Modified          time.Time       `json:"modified"`
	Ended             time.Time       `json:"ended,omitzero"`
	KMSKeyID          string          `json:"kmsKeyId,omitempty"`
	KMSKeyARN         string          `json:"kmsKeyArn,omitempty"`
	Tags              []Tag           `json:"tags,omitempty"`
	ModelTags         []Tag           `json:"modelTags,omitempty"`
	VPCConfig         json.RawMessage `json:"vpcConfig,omitempty"`
	CreatedBy         string          `json:"createdBy"`
	BytesDone         int64           `json:"bytesDone"`
	BytesTotal        int64           `json:"bytesTotal"`
	Attempts          int             `json:"attempts"`
	LeaseOwner        string          `json:"leaseOwner,omitempty"`
	LeaseUntil        time.Time       `json:"leaseUntil,omitzero"`

	version int64
}

// ManifestFile is one imported file: its plaintext size and SHA-256, and
// where its ciphertext is stored.
type ManifestFile struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	BlobKey string `json:"blobKey"`
}

// Model is an imported model.
type Model struct {
	ARN          string          `json:"arn"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Account      string          `json:"account"`
	JobName      string          `json:"jobName"`
	JobARN       string          `json:"jobArn"`
	SourceURI    string          `json:"sourceUri"`
	Architecture string          `json:"architecture"`
	Instruct     bool            `json:"instructSupported"`
	KMSKeyARN    string          `json:"kmsKeyArn"`
	WrappedKey   []byte          `json:"wrappedKey"` // the data key, wrapped by the KMS key
	Files        []ManifestFile  `json:"files"`
	TotalBytes   int64           `json:"totalBytes"`
	Config       json.RawMessage `json:"config"` // the model's config.json
	ModelUnits   int             `json:"customModelUnitsPerModelCopy"`
	Tags         []Tag           `json:"tags,omitempty"`
	Created      time.Time       `json:"created"`

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
