package modelimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/events"
	"strata/internal/iam"
	"strata/internal/store"
	"strata/internal/tags"
)

// Artifacts is where imported files are kept; blob.Store satisfies it.
type Artifacts interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Delete(ctx context.Context, key string) error
}

// Keys makes per-model data keys under customer keys; the kms key ring
// satisfies it through a small adapter.
type Keys interface {
	// ResolveKey returns the ARN of keyID (an id, ARN or alias) in account,
	// or of the account's default key for imports when keyID is "".
	ResolveKey(ctx context.Context, account, keyID string) (keyARN string, err error)
	// DataKey returns a fresh 256-bit data key, and that key wrapped under
	// keyARN and bound to encCtx.
	DataKey(ctx context.Context, keyARN string, encCtx map[string]string) (plaintext, wrapped []byte, err error)
	// EncryptStream returns a writer that encrypts into w under key, bound to aad.
	EncryptStream(w io.Writer, key, aad []byte) (io.WriteCloser, error)
}

// Events records state-change events in the transaction that makes the
// change, for delivery after it commits; *events.Bus is one.
type Events interface {
	Ops(e events.Event) []store.Op
	Wake()
}

// stateChange returns the operations recording j's current state as an
// event, or none without Events.
func (s *Service) stateChange(j *Job) []store.Op {
	if s.o.Events == nil {
		return nil
	}
	return s.o.Events.Ops(events.ImportJobStateChange(s.o.Region, j.Account, events.ImportDetail{
		JobName: j.Name, JobArn: j.ARN, ImportedModelName: j.ImportedModelName, ImportedModelArn: j.ImportedModelARN,
		RoleArn: j.RoleARN, JobStatus: j.Status, FailureMessage: j.FailureMessage, CreationTime: j.Created,
		LastModifiedTime: j.Modified, EndTime: j.Ended, ModelDataSource: j.SourceURI,
	}, j.Modified))
}

func (s *Service) wakeEvents() {
	if s.o.Events != nil {
		s.o.Events.Wake()
	}
}

// Options configures a Service.
type Options struct {
	Store      store.Store    // non-nil
	Artifacts  Artifacts      // non-nil
	Keys       Keys           // non-nil
	Authorizer iam.Authorizer // non-nil
	Directory  *iam.Directory // non-nil: roles for reading sources
	// BucketsDir holds embedded-mode buckets: s3://B/P/ is BucketsDir/B/P/.
	// Unused when S3 is set.
	BucketsDir string
	// S3 reads s3://B/P/ sources from an S3-compatible server, or nil for
	// embedded mode (BucketsDir).
	S3 S3Client
	// BucketOwner owns the embedded buckets (the root account).
	BucketOwner string
	Region      string // e.g. "us-east-1"
	NodeID      string // identifies this process's node across restarts
	Limits      Limits // zero means Bedrock's limits
	// Events records job state changes (EventBridge's "Model Import Job
	// State Change") in the transactions that make them; nil sends none.
	Events Events
	Logger *slog.Logger // nil means discard
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service runs Custom Model Import.
type Service struct {
	o        Options
	log      *slog.Logger
	wake     chan struct{}
	onDelete func(modelARN string) // set before serving; see OnModelDeleted
}

// New returns a Service. Call Run to execute jobs.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Limits = o.Limits.withDefaults()
	return &Service{o: o, log: o.Logger, wake: make(chan struct{}, 1)}
}

// CreateJobInput is CreateModelImportJob's request.
type CreateJobInput struct {
	JobName            string
	ImportedModelName  string
	RoleARN            string
	SourceURI          string
	ClientRequestToken string
	KMSKeyID           string
	JobTags            []Tag
	ModelTags          []Tag
	VPCConfig          json.RawMessage
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*$`)
	tokenRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
)

func validateName(field, v string) error {
	if v == "" {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if len(v) > 63 || !nameRE.MatchString(v) {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9\\+\\-\\.])*$ and have length less than or equal to 63", v, field)
	}
	return nil
}

func (s *Service) authorize(ctx context.Context, p *iam.Principal, action, resource string, extra map[string][]string) error {
	return Authorize(ctx, s.o.Authorizer, p, action, resource, extra)
}

// Authorize asks authz, turning a denial into Bedrock's
// AccessDeniedException; the job services share it.
func Authorize(ctx context.Context, authz iam.Authorizer, p *iam.Principal, action, resource string, extra map[string][]string) error {
	err := authz.Authorize(ctx, iam.Request{Principal: p, Action: action, Resource: resource, Context: extra})
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		return apierr.Wrap(apierr.AccessDenied, err, d.Error())
	}
	return err
}

// PassJobRole checks that p may hand the role roleARN to a Bedrock job
// jobARN, as import and customization jobs need: the role exists in p's
// account, p may iam:PassRole it to bedrock.amazonaws.com for that job,
// and its trust policy lets Bedrock assume it for that job. Errors are in
// Bedrock's API shape (ValidationException, AccessDeniedException).
func PassJobRole(ctx context.Context, authz iam.Authorizer, dir *iam.Directory, p *iam.Principal, roleARN, jobARN string) (*iam.Role, error) {
	role, err := dir.GetRole(ctx, roleARN)
	if errors.Is(err, iam.ErrNoSuchEntity) {
		return nil, apierr.New(apierr.Validation, "The role %s does not exist", roleARN)
	}
	if err != nil {
		return nil, err
	}
	if role.Account != p.Account {
		return nil, apierr.New(apierr.Validation, "The role %s is in another account; a role passed to a job must be in the caller's account", roleARN)
	}
	if err := Authorize(ctx, authz, p, "iam:PassRole", role.ARN, map[string][]string{
		"iam:passedtoservice": {"bedrock.amazonaws.com"}, "iam:associatedresourcearn": {jobARN},
	}); err != nil {
		return nil, err
	}
	// The service must be able to assume the role for this job.
	if _, err := iam.AssumeRoleAsService(ctx, authz, role, "bedrock.amazonaws.com", p.Account, jobARN, "check"); err != nil {
		return nil, apierr.New(apierr.Validation, "Bedrock cannot assume the role %s: its trust policy does not allow bedrock.amazonaws.com to call sts:AssumeRole for this job", role.ARN)
	}
	return role, nil
}

// CreateJob starts an import job and returns it. With a client request
// token already used for the same request, it returns the existing job.
func (s *Service) CreateJob(ctx context.Context, p *iam.Principal, in CreateJobInput) (*Job, error) {
	if err := validateName("jobName", in.JobName); err != nil {
		return nil, err
	}
	if err := validateName("importedModelName", in.ImportedModelName); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) > 256 || !tokenRE.MatchString(in.ClientRequestToken)) {
		return nil, apierr.New(apierr.Validation, "clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	if err := tags.Validate("jobTags", in.JobTags); err != nil {
		return nil, err
	}
	if err := tags.Validate("importedModelTags", in.ModelTags); err != nil {
		return nil, err
	}
	if in.SourceURI == "" {
		return nil, apierr.New(apierr.Validation, "modelDataSource.s3DataSource.s3Uri is required")
	}
	loc, err := ParseURI(in.SourceURI)
	if err != nil {
		return nil, apierr.New(apierr.Validation, "modelDataSource.s3DataSource.s3Uri: %v", err)
	}
	if in.RoleARN == "" {
		return nil, apierr.New(apierr.Validation, "roleArn is required")
	}
	id := arn.NewID()
	jobARN := arn.Bedrock(s.o.Region, p.Account, "model-import-job", id)
	if err := s.authorize(ctx, p, "bedrock:CreateModelImportJob", jobARN, nil); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, KindJob, p.Account, in.ClientRequestToken)
		if err == nil {
			j, err := jobFrom(r)
			if err != nil {
				return nil, err
			}
			if j.Name != in.JobName || j.ImportedModelName != in.ImportedModelName || j.SourceURI != in.SourceURI || j.RoleARN != in.RoleARN {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return j, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	role, err := PassJobRole(ctx, s.o.Authorizer, s.o.Directory, p, in.RoleARN, jobARN)
	if err != nil {
		return nil, err
	}
	if loc.Scheme == "file" {
		if err := s.authorize(ctx, p, "strata:ImportLocalPath", "arn:aws:strata:::local-path"+loc.Prefix, nil); err != nil {
			return nil, err
		}
	}
	keyARN, err := s.o.Keys.ResolveKey(ctx, p.Account, in.KMSKeyID)
	if err != nil {
		return nil, apierr.Wrap(apierr.Validation, err, fmt.Sprintf("importedModelKmsKeyId %q: %v", in.KMSKeyID, err))
	}
	if _, err := s.o.Store.GetByName(ctx, KindModel, p.Account, in.ImportedModelName); err == nil {
		return nil, apierr.New(apierr.Conflict, "An imported model named %s already exists", in.ImportedModelName)
	}
	now := s.o.Now().UTC()
	j := &Job{
		ARN: jobARN, ID: id, Name: in.JobName, Account: p.Account,
		ImportedModelName: in.ImportedModelName, ImportedModelID: arn.NewID(),
		RoleARN: role.ARN, SourceURI: in.SourceURI, Status: StatusInProgress,
		Created: now, Modified: now, KMSKeyID: in.KMSKeyID, KMSKeyARN: keyARN,
		Tags: in.JobTags, ModelTags: in.ModelTags, VPCConfig: in.VPCConfig, CreatedBy: p.ARN,
	}
	rec := jobRecord(j)
	rec.Token = in.ClientRequestToken
	queue := store.Record{Kind: kindQueue, ID: j.ID, Data: []byte(`{"account":"` + j.Account + `"}`), Created: now}
	if err := s.o.Store.Apply(ctx, append([]store.Op{{Create: &rec}, {Create: &queue}}, s.stateChange(j)...)); err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A model import job named %s already exists", in.JobName)
		}
		return nil, err
	}
	s.wakeEvents()
	j.version = 1
	s.log.Info("import job created", "job", j.ARN, "model", j.ImportedModelName, "source", j.SourceURI, "by", p.ARN)
	s.Wake()
	return j, nil
}

// Wake makes the runner look for work now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// resolve finds a record of kind by name or ARN in the caller's account.
// Another account's resource is reported as not found.
func (s *Service) resolve(ctx context.Context, p *iam.Principal, kind, ident, what string) (store.Record, error) {
	r, err := store.Lookup(ctx, s.o.Store, kind, p.Account, ident)
	if errors.Is(err, store.ErrNotFound) {
		return r, apierr.New(apierr.NotFound, "The %s %s could not be found.", what, ident)
	}
	return r, err
}

// GetJob returns a job by name or ARN.
func (s *Service) GetJob(ctx context.Context, p *iam.Principal, ident string) (*Job, error) {
	r, err := s.resolve(ctx, p, KindJob, ident, "model import job")
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetModelImportJob", r.ARN, nil); err != nil {
		return nil, err
	}
	return jobFrom(r)
}

// ListInput filters and pages List calls.
type ListInput struct {
	NameContains  string
	Status        string
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Ascending     bool
	MaxResults    int
	NextToken     string
}

func (s *Service) list(ctx context.Context, p *iam.Principal, kind, action string, in ListInput) ([]store.Record, string, error) {
	if err := s.authorize(ctx, p, action, "*", nil); err != nil {
		return nil, "", err
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, "", apierr.New(apierr.Validation, "maxResults must be between 1 and 1000")
	}
	recs, next, err := s.o.Store.List(ctx, store.Query{Kind: kind, Account: p.Account, NameContains: in.NameContains,
		Status: in.Status, CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
		Ascending: in.Ascending, Limit: in.MaxResults, PageToken: in.NextToken})
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, "", apierr.New(apierr.Validation, "Invalid nextToken")
	}
	return recs, next, err
}

// ListJobs lists the caller's jobs.
func (s *Service) ListJobs(ctx context.Context, p *iam.Principal, in ListInput) ([]*Job, string, error) {
	switch in.Status {
	case "", StatusInProgress, StatusCompleted, StatusFailed:
	default:
		return nil, "", apierr.New(apierr.Validation, "statusEquals must be InProgress, Completed or Failed")
	}
	recs, next, err := s.list(ctx, p, KindJob, "bedrock:ListModelImportJobs", in)
	if err != nil {
		return nil, "", err
	}
	out := make([]*Job, 0, len(recs))
	for _, r := range recs {
		j, err := jobFrom(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, j)
	}
	return out, next, nil
}

// GetModel returns an imported model by name, id or ARN.
func (s *Service) GetModel(ctx context.Context, p *iam.Principal, ident string) (*Model, error) {
	r, err := s.resolve(ctx, p, KindModel, ident, "imported model")
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetImportedModel", r.ARN, nil); err != nil {
		return nil, err
	}
	return modelFrom(r)
}

// ListModels lists the caller's imported models.
func (s *Service) ListModels(ctx context.Context, p *iam.Principal, in ListInput) ([]*Model, string, error) {
	in.Status = ""
	recs, next, err := s.list(ctx, p, KindModel, "bedrock:ListImportedModels", in)
	if err != nil {
		return nil, "", err
	}
	out := make([]*Model, 0, len(recs))
	for _, r := range recs {
		m, err := modelFrom(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, m)
	}
	return out, next, nil
}

// DeleteModel deletes an imported model and its artifacts. The record goes
// first, so the model is never visible with its files half gone.
func (s *Service) DeleteModel(ctx context.Context, p *iam.Principal, ident string) error {
	r, err := s.resolve(ctx, p, KindModel, ident, "imported model")
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteImportedModel", r.ARN, nil); err != nil {
		return err
	}
	m, err := modelFrom(r)
	if err != nil {
		return err
	}
	if err := s.o.Store.Delete(ctx, r.Key(), r.Version); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return apierr.New(apierr.Conflict, "The imported model %s changed while it was being deleted; try again", ident)
		}
		return err
	}
	DeleteFiles(ctx, s.o.Artifacts, m, s.log)
	if s.onDelete != nil {
		s.onDelete(m.ARN)
	}
	s.log.Info("imported model deleted", "model", m.ARN, "by", p.ARN)
	return nil
}

// Tags returns a job's or model's tags.
func (s *Service) Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]Tag, error) {
	r, err := s.taggable(ctx, p, resourceARN, "bedrock:ListTagsForResource")
	if err != nil {
		return nil, err
	}
	if r.Kind == KindJob {
		j, err := jobFrom(r)
		if err != nil {
			return nil, err
		}
		return j.Tags, nil
	}
	m, err := modelFrom(r)
	if err != nil {
		return nil, err
	}
	return m.Tags, nil
}

func (s *Service) taggable(ctx context.Context, p *iam.Principal, resourceARN, action string) (store.Record, error) {
	r, err := s.o.Store.GetByARN(ctx, resourceARN)
	if err != nil || (r.Kind != KindJob && r.Kind != KindModel) || r.Account != p.Account {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
		return r, apierr.New(apierr.NotFound, "The resource %s could not be found.", resourceARN)
	}
	if err := s.authorize(ctx, p, action, r.ARN, nil); err != nil {
		return r, err
	}
	return r, nil
}

// UpdateTags adds tags to (or, with remove, removes tag keys from) a job
// or model.
func (s *Service) UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []Tag, remove []string) error {
	return tags.Update(resourceARN, add, remove, func() ([]Tag, func([]Tag) error, error) {
		r, err := s.taggable(ctx, p, resourceARN, tags.Action(remove))
		if err != nil {
			return nil, nil, err
		}
		var doc map[string]any
		if err := json.Unmarshal(r.Data, &doc); err != nil {
			return nil, nil, err
		}
		var current []Tag
		if b, _ := json.Marshal(doc["tags"]); b != nil {
			json.Unmarshal(b, &current)
		}
		return current, func(next []Tag) error {
			doc["tags"] = next
			r.Data, _ = json.Marshal(doc)
			_, err := s.o.Store.Update(ctx, r)
			return err
		}, nil
	})
}

// artifactDir is the artifact-store folder of a stored model: by its ARN's
// resource type, "imported-models/ACCOUNT/ID" or "custom-models/ACCOUNT/ID".
func artifactDir(m *Model) string {
	kind := "imported-models"
	if strings.Contains(m.ARN, ":custom-model/") {
		kind = "custom-models"
	}
	return kind + "/" + m.Account + "/" + m.ID
}

func manifestKey(m *Model) string { return artifactDir(m) + "/manifest.json" }

func fileKey(m *Model, name string) string { return artifactDir(m) + "/files/" + name + ".enc" }

// LookupModel finds an imported model by name, id or ARN in account,
// without an authorization check: the caller (the runtime) authorizes the
// invocation itself.
func (s *Service) LookupModel(ctx context.Context, account, ident string) (*Model, error) {
	r, err := s.resolve(ctx, &iam.Principal{Account: account}, KindModel, ident, "imported model")
	if err != nil {
		return nil, err
	}
	return modelFrom(r)
}

// OnModelDeleted sets the hook told about deleted models. Call it before
// serving.
func (s *Service) OnModelDeleted(f func(modelARN string)) { s.onDelete = f }
