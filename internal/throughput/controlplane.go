package throughput

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/store"
	"strata/internal/tags"
)

// MaxModelUnits bounds the model units of one provisioned model.
const MaxModelUnits = 64

// CreateInput is CreateProvisionedModelThroughput's request.
type CreateInput struct {
	Name               string
	ModelID            string // an imported model's name, id or ARN in the caller's account
	ModelUnits         int
	CommitmentDuration string // "", "OneMonth" or "SixMonths"
	Tags               []modelimport.Tag
	ClientRequestToken string
}

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

func validateName(field, v string) error {
	if v == "" {
		return apierr.New(apierr.Validation, "1 validation error detected: Value at '%s' failed to satisfy constraint: Member must not be null", field)
	}
	if len(v) > 63 || !nameRE.MatchString(v) {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([0-9a-zA-Z][_-]?)+$ and have length less than or equal to 63", v, field)
	}
	return nil
}

// ValidateToken checks a clientRequestToken.
func ValidateToken(tok string) error {
	if tok != "" && (len(tok) > 256 || !tokenRE.MatchString(tok)) {
		return apierr.New(apierr.Validation, "clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	return nil
}

// Create creates a provisioned model for an imported model. It starts
// Creating and turns InService once a copy of the model is loaded. With a
// client request token already used for the same request, it returns the
// existing provisioned model.
func (s *Service) Create(ctx context.Context, p *iam.Principal, in CreateInput) (*Provisioned, error) {
	if err := validateName("provisionedModelName", in.Name); err != nil {
		return nil, err
	}
	if in.ModelID == "" {
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value at 'modelId' failed to satisfy constraint: Member must not be null")
	}
	if in.ModelUnits < 1 || in.ModelUnits > MaxModelUnits {
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value '%d' at 'modelUnits' failed to satisfy constraint: Member must be between 1 and %d", in.ModelUnits, MaxModelUnits)
	}
	var expires time.Time
	now := s.o.Now().UTC()
	switch in.CommitmentDuration {
	case "":
	case "OneMonth":
		expires = now.AddDate(0, 1, 0)
	case "SixMonths":
		expires = now.AddDate(0, 6, 0)
	default:
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'commitmentDuration' failed to satisfy constraint: Member must satisfy enum value set: [SixMonths, OneMonth]", in.CommitmentDuration)
	}
	if err := ValidateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := tags.Validate("tags", in.Tags); err != nil {
		return nil, err
	}
	m, err := s.o.Models.LookupModel(ctx, p.Account, in.ModelID)
	if err != nil {
		return nil, err
	}
	id := arn.NewID()
	pm := &Provisioned{
		ARN: arn.Bedrock(s.o.Region, p.Account, KindProvisioned, id), ID: id, Name: in.Name, Account: p.Account,
		ModelARN: m.ARN, DesiredModelARN: m.ARN, ModelUnits: in.ModelUnits, DesiredModelUnits: in.ModelUnits,
		Status: StatusCreating, CommitmentDuration: in.CommitmentDuration, CommitmentExpires: expires,
		Tags: in.Tags, Created: now, Modified: now, CreatedBy: p.ARN,
	}
	if err := s.authorize(ctx, p, "bedrock:CreateProvisionedModelThroughput", pm.ARN, m.ARN); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, KindProvisioned, p.Account, in.ClientRequestToken)
		if err == nil {
			old, err := provisionedFrom(r)
			if err != nil {
				return nil, err
			}
			if old.Name != in.Name || old.ModelUnits != in.ModelUnits || old.CommitmentDuration != in.CommitmentDuration {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return old, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	if s.o.Warmer == nil {
		pm.Status = StatusInService
	}
	rec := pm.record()
	rec.Token = in.ClientRequestToken
	index := store.Record{Kind: kindIndex, ID: p.Account + "." + id, Created: now, Data: []byte("{}")}
	if err := s.o.Store.Apply(ctx, []store.Op{{Create: &rec}, {Create: &index}}); err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A provisioned model named %s already exists", in.Name)
		}
		return nil, err
	}
	pm.version = 1
	s.log.Info("provisioned model created", "arn", pm.ARN, "model", m.ARN, "units", pm.ModelUnits, "by", p.ARN)
	s.start(pm)
	return pm, nil
}

// get finds a provisioned model by ARN, name or id in p's account, without
// an authorization check. Another account's model is not found.
func (s *Service) get(ctx context.Context, p *iam.Principal, ident string) (*Provisioned, error) {
	r, err := store.Lookup(ctx, s.o.Store, KindProvisioned, p.Account, ident)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.New(apierr.NotFound, "The provisioned model %s could not be found.", ident)
	}
	if err != nil {
		return nil, err
	}
	return provisionedFrom(r)
}

// Get returns a provisioned model by ARN, name or id.
func (s *Service) Get(ctx context.Context, p *iam.Principal, ident string) (*Provisioned, error) {
	pm, err := s.get(ctx, p, ident)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetProvisionedModelThroughput", pm.ARN); err != nil {
		return nil, err
	}
	return pm, nil
}

// ListInput filters and pages List.
type ListInput struct {
	NameContains  string
	Status        string
	ModelARN      string // modelArnEquals
	CreatedAfter  time.Time
	CreatedBefore time.Time
	Ascending     bool
	MaxResults    int
	NextToken     string
}

// List lists the caller's provisioned models. With ModelARN set a page may
// hold fewer than MaxResults models and still have a next page.
func (s *Service) List(ctx context.Context, p *iam.Principal, in ListInput) ([]*Provisioned, string, error) {
	switch in.Status {
	case "", StatusCreating, StatusInService, StatusUpdating, StatusFailed:
	default:
		return nil, "", apierr.New(apierr.Validation, "statusEquals must be Creating, InService, Updating or Failed")
	}
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, "", apierr.New(apierr.Validation, "maxResults must be between 1 and 1000")
	}
	if err := s.authorize(ctx, p, "bedrock:ListProvisionedModelThroughputs", "*"); err != nil {
		return nil, "", err
	}
	recs, next, err := s.o.Store.List(ctx, store.Query{Kind: KindProvisioned, Account: p.Account, NameContains: in.NameContains,
		Status: in.Status, CreatedAfter: in.CreatedAfter, CreatedBefore: in.CreatedBefore,
		Ascending: in.Ascending, Limit: in.MaxResults, PageToken: in.NextToken})
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, "", apierr.New(apierr.Validation, "Invalid nextToken")
	}
	if err != nil {
		return nil, "", err
	}
	out := make([]*Provisioned, 0, len(recs))
	for _, r := range recs {
		pm, err := provisionedFrom(r)
		if err != nil {
			return nil, "", err
		}
		if in.ModelARN == "" || pm.ModelARN == in.ModelARN {
			out = append(out, pm)
		}
	}
	return out, next, nil
}

// UpdateInput is UpdateProvisionedModelThroughput's request; empty fields
// are left as they are.
type UpdateInput struct {
	DesiredName    string
	DesiredModelID string
}

// Update renames a provisioned model or moves it to another imported model.
// A move makes it Updating: the old model serves until the new one is
// loaded, then it is InService on the new one.
func (s *Service) Update(ctx context.Context, p *iam.Principal, ident string, in UpdateInput) error {
	if in.DesiredName != "" {
		if err := validateName("desiredProvisionedModelName", in.DesiredName); err != nil {
			return err
		}
	}
	for range 5 {
		pm, err := s.get(ctx, p, ident)
		if err != nil {
			return err
		}
		if err := s.authorize(ctx, p, "bedrock:UpdateProvisionedModelThroughput", pm.ARN); err != nil {
			return err
		}
		if in.DesiredName != "" {
			pm.Name = in.DesiredName
		}
		if in.DesiredModelID != "" {
			m, err := s.o.Models.LookupModel(ctx, p.Account, in.DesiredModelID)
			if err != nil {
				return err
			}
			if pm.Status == StatusCreating || pm.Status == StatusUpdating {
				return apierr.New(apierr.Validation, "The provisioned model %s is %s; wait until it is InService", pm.ARN, pm.Status)
			}
			if m.ARN != pm.ModelARN {
				pm.DesiredModelARN, pm.Status, pm.FailureMessage = m.ARN, StatusUpdating, ""
				if s.o.Warmer == nil {
					pm.ModelARN, pm.Status = m.ARN, StatusInService
				}
			}
		}
		pm.Modified = s.o.Now().UTC()
		_, err = s.o.Store.Update(ctx, pm.record())
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return apierr.New(apierr.Conflict, "A provisioned model named %s already exists", in.DesiredName)
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.start(pm)
		return nil
	}
	return apierr.New(apierr.Conflict, "The provisioned model %s is being changed; try again", ident)
}

// Delete deletes a provisioned model and frees its capacity; streams
// running on it finish.
func (s *Service) Delete(ctx context.Context, p *iam.Principal, ident string) error {
	pm, err := s.get(ctx, p, ident)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteProvisionedModelThroughput", pm.ARN); err != nil {
		return err
	}
	if !pm.CommitmentExpires.IsZero() && s.o.Now().Before(pm.CommitmentExpires) {
		s.log.Info("deleting a provisioned model before its commitment ends", "arn", pm.ARN, "expires", pm.CommitmentExpires)
	}
	err = s.o.Store.Apply(ctx, []store.Op{
		{Delete: &store.Key{Kind: KindProvisioned, Account: pm.Account, ID: pm.ID}},
		{Delete: &store.Key{Kind: kindIndex, ID: pm.Account + "." + pm.ID}},
	})
	if errors.Is(err, store.ErrNotFound) {
		return apierr.New(apierr.NotFound, "The provisioned model %s could not be found.", ident)
	}
	if err != nil {
		return fmt.Errorf("deleting provisioned model: %w", err)
	}
	s.stop(pm.ARN)
	s.log.Info("provisioned model deleted", "arn", pm.ARN, "by", p.ARN)
	return nil
}

// Tags returns a provisioned model's tags.
func (s *Service) Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]modelimport.Tag, error) {
	pm, err := s.get(ctx, p, resourceARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:ListTagsForResource", pm.ARN); err != nil {
		return nil, err
	}
	return pm.Tags, nil
}

// UpdateTags adds tags to, or removes tag keys from, a provisioned model.
func (s *Service) UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []modelimport.Tag, remove []string) error {
	return tags.Update(resourceARN, add, remove, func() ([]tags.Tag, func([]tags.Tag) error, error) {
		pm, err := s.get(ctx, p, resourceARN)
		if err != nil {
			return nil, nil, err
		}
		if err := s.authorize(ctx, p, tags.Action(remove), pm.ARN); err != nil {
			return nil, nil, err
		}
		return pm.Tags, func(next []tags.Tag) error {
			pm.Tags = next
			_, err := s.o.Store.Update(ctx, pm.record())
			return err
		}, nil
	})
}
