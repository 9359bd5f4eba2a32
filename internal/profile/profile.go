// Package profile is Bedrock's application inference profiles: a named
// alias over one model that carries cost-allocation tags. Invoking a model
// by a profile's ARN or id serves the profile's model with the profile's
// tags on the runtime target.
//
// In strata a profile's modelSource.copyFrom is an imported-model ARN (or
// another application profile's ARN, whose model it copies); AWS takes a
// foundation-model or system-defined profile ARN, which strata does not
// have. strata has no system-defined profiles.
package profile

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/runtime"
	"strata/internal/store"
	"strata/internal/tags"
)

// Kind is the store kind and ARN resource type of application profiles.
const Kind = "application-inference-profile"

// Profile fields Bedrock defines.
const (
	StatusActive      = "ACTIVE"
	TypeApplication   = "APPLICATION"
	TypeSystemDefined = "SYSTEM_DEFINED"
)

// Profile is an application inference profile.
type Profile struct {
	ARN         string            `json:"arn"`
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Account     string            `json:"account"`
	Description string            `json:"description,omitempty"`
	ModelARN    string            `json:"modelArn"`
	Tags        []modelimport.Tag `json:"tags,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	CreatedBy   string            `json:"createdBy"`

	version int64
}

// Status is always ACTIVE: a profile is usable once created.
func (p *Profile) Status() string { return StatusActive }

// Type is always APPLICATION.
func (p *Profile) Type() string { return TypeApplication }

// TagMap returns the tags as a map.
func (p *Profile) TagMap() map[string]string {
	m := make(map[string]string, len(p.Tags))
	for _, t := range p.Tags {
		m[t.Key] = t.Value
	}
	return m
}

func from(r store.Record) (*Profile, error) {
	var p Profile
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return nil, err
	}
	p.version = r.Version
	return &p, nil
}

func (p *Profile) record() store.Record {
	data, _ := json.Marshal(p)
	return store.Record{Kind: Kind, Account: p.Account, ID: p.ID, Name: p.Name, ARN: p.ARN,
		Status: StatusActive, Created: p.Created, Updated: p.Updated, Version: p.version, Data: data}
}

// ModelLookup finds imported models; modelimport.Service satisfies it.
type ModelLookup interface {
	LookupModel(ctx context.Context, account, ident string) (*modelimport.Model, error)
}

// Options configure a Service.
type Options struct {
	Store      store.Store      // non-nil
	Models     ModelLookup      // non-nil: validates copyFrom
	Targets    runtime.Resolver // non-nil: resolves the model at invocation
	Authorizer iam.Authorizer   // non-nil
	Region     string
	Logger     *slog.Logger // nil means discard
	Now        func() time.Time
}

// Service manages application inference profiles.
type Service struct {
	o   Options
	log *slog.Logger
}

// New returns a Service.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{o: o, log: o.Logger}
}

var (
	nameRE  = regexp.MustCompile(`^([0-9a-zA-Z:.][ _-]?)+$`)
	descRE  = regexp.MustCompile(`^([0-9a-zA-Z:.][ _-]?)+$`)
	tokenRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
)

func (s *Service) authorize(ctx context.Context, p *iam.Principal, action string, resources ...string) error {
	for _, res := range resources {
		err := s.o.Authorizer.Authorize(ctx, iam.Request{Principal: p, Action: action, Resource: res})
		if d, ok := errors.AsType[*iam.DeniedError](err); ok {
			return apierr.Wrap(apierr.AccessDenied, err, d.Error())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// CreateInput is CreateInferenceProfile's request.
type CreateInput struct {
	Name               string
	Description        string
	CopyFrom           string // an imported-model ARN, or an application profile ARN
	Tags               []modelimport.Tag
	ClientRequestToken string
}

// Create creates an application inference profile, ACTIVE at once. With a
// client request token already used for the same request, it returns the
// existing profile.
func (s *Service) Create(ctx context.Context, p *iam.Principal, in CreateInput) (*Profile, error) {
	switch {
	case in.Name == "":
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value at 'inferenceProfileName' failed to satisfy constraint: Member must not be null")
	case len(in.Name) > 64 || !nameRE.MatchString(in.Name):
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'inferenceProfileName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([0-9a-zA-Z:.][ _-]?)+$ and have length less than or equal to 64", in.Name)
	case len(in.Description) > 200 || in.Description != "" && !descRE.MatchString(in.Description):
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([0-9a-zA-Z:.][ _-]?)+$ and have length less than or equal to 200")
	case in.CopyFrom == "":
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value at 'modelSource' failed to satisfy constraint: Member must not be null")
	case in.ClientRequestToken != "" && (len(in.ClientRequestToken) > 256 || !tokenRE.MatchString(in.ClientRequestToken)):
		return nil, apierr.New(apierr.Validation, "clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	if err := tags.Validate("tags", in.Tags); err != nil {
		return nil, err
	}
	modelARN, err := s.source(ctx, p, in.CopyFrom)
	if err != nil {
		return nil, err
	}
	id := arn.NewID()
	now := s.o.Now().UTC()
	pr := &Profile{ARN: arn.Bedrock(s.o.Region, p.Account, Kind, id), ID: id, Name: in.Name, Account: p.Account,
		Description: in.Description, ModelARN: modelARN, Tags: in.Tags, Created: now, Updated: now, CreatedBy: p.ARN}
	if err := s.authorize(ctx, p, "bedrock:CreateInferenceProfile", pr.ARN, modelARN); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, Kind, p.Account, in.ClientRequestToken)
		if err == nil {
			old, err := from(r)
			if err != nil {
				return nil, err
			}
			if old.Name != in.Name || old.ModelARN != modelARN || old.Description != in.Description {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return old, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	rec := pr.record()
	rec.Token = in.ClientRequestToken
	if _, err := s.o.Store.Create(ctx, rec); err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "An inference profile named %s already exists", in.Name)
		}
		return nil, err
	}
	pr.version = 1
	s.log.Info("inference profile created", "arn", pr.ARN, "model", modelARN, "by", p.ARN)
	return pr, nil
}

// source returns the model ARN that copyFrom names.
func (s *Service) source(ctx context.Context, p *iam.Principal, copyFrom string) (string, error) {
	a, err := arn.Parse(copyFrom)
	if err != nil {
		return "", apierr.New(apierr.Validation, "modelSource.copyFrom %q is not an ARN", copyFrom)
	}
	switch typ, _ := a.ResourceType(); typ {
	case "imported-model":
		m, err := s.o.Models.LookupModel(ctx, p.Account, copyFrom)
		if err != nil {
			return "", err
		}
		return m.ARN, nil
	case Kind:
		src, err := s.get(ctx, p, copyFrom)
		if err != nil {
			return "", err
		}
		return src.ModelARN, nil
	default:
		return "", apierr.New(apierr.Validation, "modelSource.copyFrom must be an imported-model ARN or an application inference profile ARN in strata; foundation models and system-defined profiles are not served here")
	}
}

// get finds a profile by ARN, name or id in p's account, without an
// authorization check.
func (s *Service) get(ctx context.Context, p *iam.Principal, ident string) (*Profile, error) {
	r, err := store.Lookup(ctx, s.o.Store, Kind, p.Account, ident)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.New(apierr.NotFound, "The inference profile %s could not be found.", ident)
	}
	if err != nil {
		return nil, err
	}
	return from(r)
}

// Get returns a profile by ARN, id or name.
func (s *Service) Get(ctx context.Context, p *iam.Principal, ident string) (*Profile, error) {
	pr, err := s.get(ctx, p, ident)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetInferenceProfile", pr.ARN); err != nil {
		return nil, err
	}
	return pr, nil
}

// ListInput pages List.
type ListInput struct {
	Type       string // "", APPLICATION or SYSTEM_DEFINED
	MaxResults int
	NextToken  string
}

// List lists the caller's application profiles, newest first. strata has
// no system-defined profiles, so that type lists nothing.
func (s *Service) List(ctx context.Context, p *iam.Principal, in ListInput) ([]*Profile, string, error) {
	switch in.Type {
	case "", TypeApplication, TypeSystemDefined:
	default:
		return nil, "", apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'typeEquals' failed to satisfy constraint: Member must satisfy enum value set: [SYSTEM_DEFINED, APPLICATION]", in.Type)
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, "", apierr.New(apierr.Validation, "maxResults must be between 1 and 1000")
	}
	if err := s.authorize(ctx, p, "bedrock:ListInferenceProfiles", "*"); err != nil {
		return nil, "", err
	}
	if in.Type == TypeSystemDefined {
		return nil, "", nil
	}
	recs, next, err := s.o.Store.List(ctx, store.Query{Kind: Kind, Account: p.Account, Limit: in.MaxResults, PageToken: in.NextToken})
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, "", apierr.New(apierr.Validation, "Invalid nextToken")
	}
	if err != nil {
		return nil, "", err
	}
	out := make([]*Profile, 0, len(recs))
	for _, r := range recs {
		pr, err := from(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, pr)
	}
	return out, next, nil
}

// Delete deletes a profile.
func (s *Service) Delete(ctx context.Context, p *iam.Principal, ident string) error {
	pr, err := s.get(ctx, p, ident)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteInferenceProfile", pr.ARN); err != nil {
		return err
	}
	if err := s.o.Store.Delete(ctx, store.Key{Kind: Kind, Account: pr.Account, ID: pr.ID}, 0); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apierr.New(apierr.NotFound, "The inference profile %s could not be found.", ident)
		}
		return err
	}
	s.log.Info("inference profile deleted", "arn", pr.ARN, "by", p.ARN)
	return nil
}

// Tags returns a profile's tags.
func (s *Service) Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]modelimport.Tag, error) {
	pr, err := s.get(ctx, p, resourceARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:ListTagsForResource", pr.ARN); err != nil {
		return nil, err
	}
	return pr.Tags, nil
}

// UpdateTags adds tags to, or removes tag keys from, a profile. Invocations
// through the profile carry the new tags from then on.
func (s *Service) UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []modelimport.Tag, remove []string) error {
	return tags.Update(resourceARN, add, remove, func() ([]tags.Tag, func([]tags.Tag) error, error) {
		pr, err := s.get(ctx, p, resourceARN)
		if err != nil {
			return nil, nil, err
		}
		if err := s.authorize(ctx, p, tags.Action(remove), pr.ARN); err != nil {
			return nil, nil, err
		}
		return pr.Tags, func(next []tags.Tag) error {
			pr.Tags, pr.Updated = next, s.o.Now().UTC()
			_, err := s.o.Store.Update(ctx, pr.record())
			return err
		}, nil
	})
}

var idRE = regexp.MustCompile(`^[a-z0-9]{12}$`)

// Resolve implements runtime.Resolver for application profile ARNs and
// ids: the target is the profile's model, with ARN set to the profile's
// ARN (both are authorized) and Tags to the profile's tags.
func (s *Service) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*runtime.Target, error) {
	notFound := apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	if a, err := arn.Parse(modelID); err == nil {
		if typ, _ := a.ResourceType(); typ != Kind {
			return nil, notFound
		}
	} else if !idRE.MatchString(modelID) {
		return nil, notFound
	}
	var r store.Record
	var err error
	if strings.HasPrefix(modelID, "arn:") {
		r, err = s.o.Store.GetByARN(ctx, modelID)
		if err == nil && (r.Kind != Kind || r.Account != p.Account) {
			err = store.ErrNotFound
		}
	} else {
		r, err = s.o.Store.Get(ctx, store.Key{Kind: Kind, Account: p.Account, ID: modelID})
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	pr, err := from(r)
	if err != nil {
		return nil, err
	}
	t, err := s.o.Targets.Resolve(ctx, p, pr.ModelARN)
	if err != nil {
		return nil, err
	}
	t.ARN, t.Tags = pr.ARN, pr.TagMap()
	return t, nil
}

var _ runtime.Resolver = (*Service)(nil)
