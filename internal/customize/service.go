package customize

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
	"strata/internal/audit"
	"strata/internal/events"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store"
	"strata/internal/tags"
	"strata/internal/trainingdata"
)

// Keys makes and opens per-model data keys under customer keys; the kms
// key ring satisfies it through its adapter.
type Keys interface {
	modelimport.Keys
	runtime.Keys
}

// Artifacts is where model files are kept; blob.Store satisfies it.
type Artifacts interface {
	modelimport.Artifacts
	runtime.Blobs
}

// BaseModels finds the imported models a job may start from;
// modelimport.Service satisfies it.
type BaseModels interface {
	LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error)
}

// Recorder keeps audit events; *audit.Trail is one.
type Recorder interface {
	Append(e audit.Event)
}

func (s *Service) audit(j *Job, op, outcome string, findings int) {
	if s.o.Audit == nil {
		return
	}
	s.o.Audit.Append(audit.Event{Time: s.o.Now().UTC(), Principal: j.RoleARN, Account: j.Account, API: "bedrock",
		Operation: op, Resource: j.ARN, Outcome: outcome, InputFindings: findings})
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
	d := events.CustomizationDetail{JobName: j.Name, JobArn: j.ARN, OutputModelName: j.OutputModelName, RoleArn: j.RoleARN,
		JobStatus: j.Status, FailureMessage: j.FailureMessage, CreationTime: j.Created, LastModifiedTime: j.Modified,
		EndTime: j.Ended, BaseModelArn: j.BaseModelARN, HyperParameters: j.HyperParameters,
		TrainingDataConfig: &events.S3Location{S3URI: j.TrainingDataURI}, OutputDataConfig: &events.S3Location{S3URI: j.OutputDataURI}}
	if j.Status == StatusCompleted {
		d.OutputModelArn = j.OutputModelARN
	}
	if len(j.ValidationURIs) > 0 {
		d.ValidationDataConfig = &events.ValidationDataConfig{}
		for _, u := range j.ValidationURIs {
			d.ValidationDataConfig.Validators = append(d.ValidationDataConfig.Validators, events.S3Location{S3URI: u})
		}
	}
	return s.o.Events.Ops(events.CustomizationJobStateChange(s.o.Region, j.Account, d, j.Modified))
}

// wakeEvents starts delivery of events just committed.
func (s *Service) wakeEvents() {
	if s.o.Events != nil {
		s.o.Events.Wake()
	}
}

// Limits bound what a job may train.
type Limits struct {
	// MaxParams is the largest base model the built-in trainer takes, in
	// parameters. Default 200M: full fine-tuning in float32 holds 16 bytes
	// per parameter of weights and optimizer state.
	MaxParams int64
	// Data bounds each training file; the zero value means trainingdata's
	// defaults. Validation files are held to 100 MiB.
	Data trainingdata.Limits
	// Model bounds the trained folder as an import is bounded.
	Model modelimport.Limits
}

// Options configures a Service.
type Options struct {
	Store      store.Store    // non-nil
	Artifacts  Artifacts      // non-nil
	Keys       Keys           // non-nil
	Authorizer iam.Authorizer // non-nil; bucket policies apply to the job's reads and writes
	Directory  *iam.Directory // non-nil: the roles jobs run as
	Buckets    Buckets        // non-nil: training data and outputs
	// BucketOwner owns the buckets the job reads and writes.
	BucketOwner string
	Base        BaseModels // non-nil: imported models
	// Targets resolves a custom model's ARN to something the runtime can
	// invoke (a runtime.ImportedResolver over this Service), for
	// deployments. Nil: deployments cannot be invoked.
	Targets  runtime.Resolver
	PlainDir string // RAM-backed folder for decrypted models while a job runs
	Region   string
	NodeID   string // identifies this process's node across restarts
	Limits   Limits
	// Audit gets each job's outcome and each training-data scan that
	// blocked a file, as events of the job's role; nil records none.
	Audit Recorder
	// Events records job state changes (EventBridge's "Model
	// Customization Job State Change") in the transactions that make
	// them; nil sends none.
	Events Events
	Logger *slog.Logger // nil means discard
	Now    func() time.Time
}

// Service runs model customization.
type Service struct {
	o        Options
	log      *slog.Logger
	wake     chan struct{}
	onDelete func(modelARN string)
}

// New returns a Service. Call Run to execute jobs.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Limits.MaxParams == 0 {
		o.Limits.MaxParams = 200_000_000
	}
	return &Service{o: o, log: o.Logger, wake: make(chan struct{}, 1)}
}

// OnModelDeleted sets the hook told about deleted custom models. Call it
// before serving.
func (s *Service) OnModelDeleted(f func(modelARN string)) { s.onDelete = f }

// Wake makes the runner look for work now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// estimateParams estimates a stored model's parameter count from its size
// and its config's dtype, before anything is decrypted.
func estimateParams(m *modelimport.Model) int64 {
	var c struct {
		TorchDType string `json:"torch_dtype"`
	}
	json.Unmarshal(m.Config, &c)
	per := int64(2) // float16, bfloat16 and unset (HF's default is half precision for these models)
	if c.TorchDType == "float32" {
		per = 4
	}
	return m.TotalBytes / per
}

// CreateJobInput is CreateModelCustomizationJob's request.
type CreateJobInput struct {
	JobName             string
	CustomModelName     string
	RoleARN             string
	BaseModelIdentifier string
	CustomizationType   string // default FINE_TUNING
	TrainingDataURI     string
	ValidationURIs      []string
	OutputDataURI       string
	HyperParameters     map[string]string
	KMSKeyID            string
	JobTags             []Tag
	ModelTags           []Tag
	ClientRequestToken  string
	VPCConfig           json.RawMessage
	// CustomizationConfig is the distillation or reinforcement
	// configuration; strata runs neither, so it must be empty.
	CustomizationConfig json.RawMessage
}

var (
	jobNameRE   = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9\+\-\.])*$`)
	modelNameRE = regexp.MustCompile(`^([0-9a-zA-Z][_-]?)+$`)
	tokenRE     = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
)

func validationf(format string, args ...any) error {
	return apierr.New(apierr.Validation, format, args...)
}

func checkName(field, v string, re *regexp.Regexp) error {
	if v == "" {
		return validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if len(v) > 63 || !re.MatchString(v) {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s and have length less than or equal to 63", v, field, re.String())
	}
	return nil
}

func (s *Service) authorize(ctx context.Context, p *iam.Principal, action, resource string, extra map[string][]string) error {
	return modelimport.Authorize(ctx, s.o.Authorizer, p, action, resource, extra)
}

// base is a job's starting point: an imported model or a custom model.
type base struct {
	model *modelimport.Model
	name  string
}

// findBase resolves a base model identifier in account: a custom model's
// ARN, or an imported model's ARN, name or id.
func (s *Service) findBase(ctx context.Context, account, ident string) (base, error) {
	if strings.Contains(ident, ":custom-model/") {
		m, err := s.LookupModel(ctx, account, ident)
		if err != nil {
			return base{}, err
		}
		return base{model: m, name: m.Name}, nil
	}
	m, err := s.o.Base.LookupModel(ctx, account, ident)
	if err != nil {
		return base{}, err
	}
	return base{model: m, name: m.Name}, nil
}

// CreateJob starts a customization job and returns it. With a client
// request token already used for the same request, it returns that job.
func (s *Service) CreateJob(ctx context.Context, p *iam.Principal, in CreateJobInput) (*Job, error) {
	if err := checkName("jobName", in.JobName, jobNameRE); err != nil {
		return nil, err
	}
	if err := checkName("customModelName", in.CustomModelName, modelNameRE); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) > 256 || !tokenRE.MatchString(in.ClientRequestToken)) {
		return nil, validationf("clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	if err := tags.Validate("jobTags", in.JobTags); err != nil {
		return nil, err
	}
	if err := tags.Validate("customModelTags", in.ModelTags); err != nil {
		return nil, err
	}
	switch in.CustomizationType {
	case "":
		in.CustomizationType = FineTuning
	case FineTuning, ContinuedPreTraining:
	case "DISTILLATION", "REINFORCEMENT_FINE_TUNING":
		return nil, validationf("customizationType %s is not supported by strata's built-in trainer; use FINE_TUNING or CONTINUED_PRE_TRAINING", in.CustomizationType)
	default:
		return nil, validationf("1 validation error detected: Value '%s' at 'customizationType' failed to satisfy constraint: Member must satisfy enum value set: [FINE_TUNING, CONTINUED_PRE_TRAINING, DISTILLATION, REINFORCEMENT_FINE_TUNING]", in.CustomizationType)
	}
	if len(in.CustomizationConfig) > 0 && string(in.CustomizationConfig) != "null" {
		return nil, validationf("customizationConfig (distillation, reinforcement fine-tuning) is not supported by strata's built-in trainer")
	}
	hp, err := checkHyperParameters(in.HyperParameters)
	if err != nil {
		return nil, err
	}
	if in.RoleARN == "" {
		return nil, validationf("1 validation error detected: Value at 'roleArn' failed to satisfy constraint: Member must not be null")
	}
	if in.BaseModelIdentifier == "" {
		return nil, validationf("1 validation error detected: Value at 'baseModelIdentifier' failed to satisfy constraint: Member must not be null")
	}
	if in.TrainingDataURI == "" {
		return nil, validationf("trainingDataConfig.s3Uri is required")
	}
	if _, err := parseS3URI(in.TrainingDataURI, true); err != nil {
		return nil, validationf("trainingDataConfig.s3Uri: %v", err)
	}
	if len(in.ValidationURIs) > 10 {
		return nil, validationf("validationDataConfig.validators: at most 10")
	}
	for _, u := range in.ValidationURIs {
		if _, err := parseS3URI(u, true); err != nil {
			return nil, validationf("validationDataConfig.validators.s3Uri: %v", err)
		}
	}
	if in.OutputDataURI == "" {
		return nil, validationf("outputDataConfig.s3Uri is required")
	}
	if _, err := parseS3URI(in.OutputDataURI, false); err != nil {
		return nil, validationf("outputDataConfig.s3Uri: %v", err)
	}
	b, err := s.findBase(ctx, p.Account, in.BaseModelIdentifier)
	if err != nil {
		if e, ok := errors.AsType[*apierr.Error](err); ok && e.Kind == apierr.NotFound {
			return nil, validationf("The base model %s could not be found.", in.BaseModelIdentifier)
		}
		return nil, err
	}
	if n := estimateParams(b.model); n > s.o.Limits.MaxParams {
		return nil, validationf("The base model %s has about %d million parameters; strata's built-in trainer fine-tunes models of at most %d million (full fine-tuning in float32 needs 16 bytes per parameter)",
			b.model.Name, n/1_000_000, s.o.Limits.MaxParams/1_000_000)
	}
	baseID := b.model.ID
	id := arn.NewID()
	jobARN := arn.Bedrock(s.o.Region, p.Account, "model-customization-job", baseID+"/"+id)
	if err := s.authorize(ctx, p, "bedrock:CreateModelCustomizationJob", jobARN, nil); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:CreateModelCustomizationJob", b.model.ARN, nil); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, KindJob, p.Account, in.ClientRequestToken)
		if err == nil {
			j, err := jobFrom(r)
			if err != nil {
				return nil, err
			}
			if j.Name != in.JobName || j.OutputModelName != in.CustomModelName || j.TrainingDataURI != in.TrainingDataURI || j.RoleARN != in.RoleARN {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return j, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	role, err := modelimport.PassJobRole(ctx, s.o.Authorizer, s.o.Directory, p, in.RoleARN, jobARN)
	if err != nil {
		return nil, err
	}
	keyARN, err := s.o.Keys.ResolveKey(ctx, p.Account, in.KMSKeyID)
	if err != nil {
		return nil, apierr.Wrap(apierr.Validation, err, fmt.Sprintf("customModelKmsKeyId %q: %v", in.KMSKeyID, err))
	}
	if _, err := s.o.Store.GetByName(ctx, KindModel, p.Account, in.CustomModelName); err == nil {
		return nil, apierr.New(apierr.Conflict, "A custom model named %s already exists", in.CustomModelName)
	}
	now := s.o.Now().UTC()
	j := &Job{
		ARN: jobARN, ID: id, Name: in.JobName, Account: p.Account, CustomizationType: in.CustomizationType,
		BaseModelARN: b.model.ARN, OutputModelName: in.CustomModelName, OutputModelID: arn.NewID(),
		RoleARN: role.ARN, HyperParameters: hp, TrainingDataURI: in.TrainingDataURI, ValidationURIs: in.ValidationURIs,
		OutputDataURI: in.OutputDataURI, Status: StatusInProgress, Created: now, Modified: now,
		Validation:     Phase{Status: StatusInProgress, Created: now, Modified: now},
		DataProcessing: Phase{Status: StatusNotStarted}, Training: Phase{Status: StatusNotStarted},
		KMSKeyID: in.KMSKeyID, KMSKeyARN: keyARN, Tags: in.JobTags, ModelTags: in.ModelTags,
		VPCConfig: in.VPCConfig, CreatedBy: p.ARN,
	}
	j.OutputModelARN = arn.Bedrock(s.o.Region, p.Account, "custom-model", baseID+"/"+j.OutputModelID)
	rec := jobRecord(j)
	rec.Token = in.ClientRequestToken
	queue := store.Record{Kind: kindQueue, ID: j.ID, Data: []byte(`{"account":"` + j.Account + `"}`), Created: now}
	if err := s.o.Store.Apply(ctx, append([]store.Op{{Create: &rec}, {Create: &queue}}, s.stateChange(j)...)); err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A model customization job named %s already exists", in.JobName)
		}
		return nil, err
	}
	s.wakeEvents()
	j.version = 1
	s.log.Info("customization job created", "job", j.ARN, "base", j.BaseModelARN, "model", j.OutputModelName, "by", p.ARN)
	s.Wake()
	return j, nil
}

// resolve finds a record of kind by name, id or ARN in the caller's
// account. Another account's resource is reported as not found.
func (s *Service) resolve(ctx context.Context, account, kind, ident, what string) (store.Record, error) {
	r, err := store.Lookup(ctx, s.o.Store, kind, account, ident)
	if errors.Is(err, store.ErrNotFound) {
		return r, apierr.New(apierr.NotFound, "The %s %s could not be found.", what, ident)
	}
	return r, err
}

// GetJob returns a job by name, id or ARN.
func (s *Service) GetJob(ctx context.Context, p *iam.Principal, ident string) (*Job, error) {
	r, err := s.resolve(ctx, p.Account, KindJob, ident, "model customization job")
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetModelCustomizationJob", r.ARN, nil); err != nil {
		return nil, err
	}
	return jobFrom(r)
}

// ListInput filters and pages List calls, as for imports.
type ListInput = modelimport.ListInput

func (s *Service) list(ctx context.Context, p *iam.Principal, kind, action string, in ListInput) ([]store.Record, string, error) {
	if err := s.authorize(ctx, p, action, "*", nil); err != nil {
		return nil, "", err
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, "", validationf("maxResults must be between 1 and 1000")
	}
	recs, next, err := s.o.Store.List(ctx, store.Query{Kind: kind, Account: p.Account, NameContains: in.NameContains,
		Status: in.Status, CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
		Ascending: in.Ascending, Limit: in.MaxResults, PageToken: in.NextToken})
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, "", validationf("Invalid nextToken")
	}
	return recs, next, err
}

// ListJobs lists the caller's customization jobs.
func (s *Service) ListJobs(ctx context.Context, p *iam.Principal, in ListInput) ([]*Job, string, error) {
	switch in.Status {
	case "", StatusInProgress, StatusCompleted, StatusFailed, StatusStopping, StatusStopped:
	default:
		return nil, "", validationf("statusEquals must be InProgress, Completed, Failed, Stopping or Stopped")
	}
	recs, next, err := s.list(ctx, p, KindJob, "bedrock:ListModelCustomizationJobs", in)
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

// StopJob asks a running job to stop. A job not yet started stops at once;
// a training job stops after its current step. Stopping a job that has
// ended is a ValidationException, as on Bedrock.
func (s *Service) StopJob(ctx context.Context, p *iam.Principal, ident string) error {
	for {
		r, err := s.resolve(ctx, p.Account, KindJob, ident, "model customization job")
		if err != nil {
			return err
		}
		if err := s.authorize(ctx, p, "bedrock:StopModelCustomizationJob", r.ARN, nil); err != nil {
			return err
		}
		j, err := jobFrom(r)
		if err != nil {
			return err
		}
		switch j.Status {
		case StatusStopping:
			return nil
		case StatusInProgress:
		default:
			return validationf("The model customization job %s is %s and cannot be stopped.", j.Name, j.Status)
		}
		j.Status = StatusStopping
		j.Modified = s.o.Now().UTC()
		jr := jobRecord(j)
		if err := s.o.Store.Apply(ctx, append([]store.Op{{Update: &jr}}, s.stateChange(j)...)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				continue // the runner updated it meanwhile
			}
			return err
		}
		s.wakeEvents()
		s.log.Info("customization job stopping", "job", j.ARN, "by", p.ARN)
		s.Wake()
		return nil
	}
}

// GetModel returns a custom model by name, id or ARN.
func (s *Service) GetModel(ctx context.Context, p *iam.Principal, ident string) (*Model, error) {
	r, err := s.resolve(ctx, p.Account, KindModel, ident, "custom model")
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetCustomModel", r.ARN, nil); err != nil {
		return nil, err
	}
	return modelFrom(r)
}

// ListModelsInput adds ListCustomModels' own filter to ListInput.
type ListModelsInput struct {
	ListInput
	BaseModelARN string
}

// ListModels lists the caller's custom models.
func (s *Service) ListModels(ctx context.Context, p *iam.Principal, in ListModelsInput) ([]*Model, string, error) {
	switch in.Status {
	case "", "Active":
	case "Creating", "Failed":
		// Models appear only when their job completes; none is in these states.
		if err := s.authorize(ctx, p, "bedrock:ListCustomModels", "*", nil); err != nil {
			return nil, "", err
		}
		return nil, "", nil
	default:
		return nil, "", validationf("modelStatus must be Active, Creating or Failed")
	}
	in.Status = ""
	var out []*Model
	next := in.NextToken
	for {
		in.NextToken = next
		recs, n, err := s.list(ctx, p, KindModel, "bedrock:ListCustomModels", in.ListInput)
		if err != nil {
			return nil, "", err
		}
		for _, r := range recs {
			m, err := modelFrom(r)
			if err != nil {
				return nil, "", err
			}
			if in.BaseModelARN == "" || m.BaseModelARN == in.BaseModelARN {
				out = append(out, m)
			}
		}
		next = n
		// A base-model filter may empty a page; go on to fill it.
		if next == "" || in.BaseModelARN == "" || len(out) > 0 {
			return out, next, nil
		}
	}
}

// DeleteModel deletes a custom model and its artifacts. A model that a
// deployment still serves cannot be deleted. The record goes first, so
// the model is never visible with its files half gone.
func (s *Service) DeleteModel(ctx context.Context, p *iam.Principal, ident string) error {
	r, err := s.resolve(ctx, p.Account, KindModel, ident, "custom model")
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteCustomModel", r.ARN, nil); err != nil {
		return err
	}
	m, err := modelFrom(r)
	if err != nil {
		return err
	}
	deps, err := s.deploymentsOf(ctx, m.Account, m.ARN)
	if err != nil {
		return err
	}
	if len(deps) > 0 {
		return apierr.New(apierr.Conflict, "The custom model %s is used by the custom model deployment %s; delete the deployment first", m.Name, deps[0].Name)
	}
	if err := s.o.Store.Delete(ctx, r.Key(), r.Version); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return apierr.New(apierr.Conflict, "The custom model %s changed while it was being deleted; try again", ident)
		}
		return err
	}
	modelimport.DeleteFiles(ctx, s.o.Artifacts, &m.Model, s.log)
	if s.onDelete != nil {
		s.onDelete(m.ARN)
	}
	s.log.Info("custom model deleted", "model", m.ARN, "by", p.ARN)
	return nil
}

// LookupModel finds a custom model by name, id or ARN in account, without
// an authorization check: the caller (provisioned throughput, the runtime)
// authorizes the use itself. It returns the stored model.
func (s *Service) LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error) {
	r, err := s.resolve(ctx, account, KindModel, ident, "custom model")
	if err != nil {
		return nil, err
	}
	m, err := modelFrom(r)
	if err != nil {
		return nil, err
	}
	return &m.Model, nil
}

// readAll reads at most limit bytes of r, failing beyond.
func readAll(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}
