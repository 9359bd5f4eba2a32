package customize

import (
	"context"
	"errors"
	"strings"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/iam"
	"strata/internal/runtime"
	"strata/internal/store"
	"strata/internal/tags"
)

// CreateDeploymentInput is CreateCustomModelDeployment's request.
type CreateDeploymentInput struct {
	Name               string
	ModelARN           string
	Description        string
	Tags               []Tag
	ClientRequestToken string
}

// CreateDeployment makes a custom model invocable on demand: the
// deployment's ARN is a modelId for InvokeModel and Converse. The model
// must exist (custom models are Active as soon as they exist).
func (s *Service) CreateDeployment(ctx context.Context, p *iam.Principal, in CreateDeploymentInput) (*Deployment, error) {
	if err := checkName("modelDeploymentName", in.Name, jobNameRE); err != nil {
		return nil, err
	}
	if len(in.Description) > 200 {
		return nil, validationf("description must be at most 200 characters")
	}
	if in.ClientRequestToken != "" && (len(in.ClientRequestToken) > 256 || !tokenRE.MatchString(in.ClientRequestToken)) {
		return nil, validationf("clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	if err := tags.Validate("tags", in.Tags); err != nil {
		return nil, err
	}
	if in.ModelARN == "" {
		return nil, validationf("1 validation error detected: Value at 'modelArn' failed to satisfy constraint: Member must not be null")
	}
	mr, err := s.resolve(ctx, p.Account, KindModel, in.ModelARN, "custom model")
	if err != nil {
		return nil, err
	}
	id := arn.NewID()
	depARN := arn.Bedrock(s.o.Region, p.Account, "custom-model-deployment", id)
	if err := s.authorize(ctx, p, "bedrock:CreateCustomModelDeployment", depARN, nil); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:CreateCustomModelDeployment", mr.ARN, nil); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, KindDeployment, p.Account, in.ClientRequestToken)
		if err == nil {
			d, err := deploymentFrom(r)
			if err != nil {
				return nil, err
			}
			if d.Name != in.Name || d.ModelARN != mr.ARN {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return d, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	now := s.o.Now().UTC()
	d := &Deployment{ARN: depARN, ID: id, Name: in.Name, Account: p.Account, ModelARN: mr.ARN,
		Description: in.Description, Status: "Active", Created: now, Modified: now, Tags: in.Tags, CreatedBy: p.ARN}
	rec := deploymentRecord(d)
	rec.Token = in.ClientRequestToken
	if _, err := s.o.Store.Create(ctx, rec); err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A custom model deployment named %s already exists", in.Name)
		}
		return nil, err
	}
	d.version = 1
	s.log.Info("custom model deployment created", "deployment", d.ARN, "model", d.ModelARN, "by", p.ARN)
	return d, nil
}

// GetDeployment returns a deployment by name, id or ARN.
func (s *Service) GetDeployment(ctx context.Context, p *iam.Principal, ident string) (*Deployment, error) {
	r, err := s.resolve(ctx, p.Account, KindDeployment, ident, "custom model deployment")
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetCustomModelDeployment", r.ARN, nil); err != nil {
		return nil, err
	}
	return deploymentFrom(r)
}

// ListDeployments lists the caller's deployments.
func (s *Service) ListDeployments(ctx context.Context, p *iam.Principal, in ListInput) ([]*Deployment, string, error) {
	switch in.Status {
	case "", "Active":
	case "Creating", "Failed":
	default:
		return nil, "", validationf("statusEquals must be Creating, Active or Failed")
	}
	recs, next, err := s.list(ctx, p, KindDeployment, "bedrock:ListCustomModelDeployments", in)
	if err != nil {
		return nil, "", err
	}
	out := make([]*Deployment, 0, len(recs))
	for _, r := range recs {
		d, err := deploymentFrom(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, d)
	}
	return out, next, nil
}

// DeleteDeployment deletes a deployment; its model stays.
func (s *Service) DeleteDeployment(ctx context.Context, p *iam.Principal, ident string) error {
	r, err := s.resolve(ctx, p.Account, KindDeployment, ident, "custom model deployment")
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteCustomModelDeployment", r.ARN, nil); err != nil {
		return err
	}
	if err := s.o.Store.Delete(ctx, r.Key(), r.Version); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return apierr.New(apierr.Conflict, "The custom model deployment %s changed while it was being deleted; try again", ident)
		}
		return err
	}
	s.log.Info("custom model deployment deleted", "deployment", r.ARN, "by", p.ARN)
	return nil
}

// UpdateDeployment points a deployment at another custom model of the
// caller's; invocations of the deployment's ARN reach the new model from
// then on.
func (s *Service) UpdateDeployment(ctx context.Context, p *iam.Principal, ident, modelARN string) (*Deployment, error) {
	if modelARN == "" {
		return nil, validationf("1 validation error detected: Value at 'modelArn' failed to satisfy constraint: Member must not be null")
	}
	for range 5 {
		r, err := s.resolve(ctx, p.Account, KindDeployment, ident, "custom model deployment")
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, p, "bedrock:UpdateCustomModelDeployment", r.ARN, nil); err != nil {
			return nil, err
		}
		mr, err := s.resolve(ctx, p.Account, KindModel, modelARN, "custom model")
		if err != nil {
			return nil, err
		}
		d, err := deploymentFrom(r)
		if err != nil {
			return nil, err
		}
		d.ModelARN, d.Updated, d.Modified = mr.ARN, true, s.o.Now().UTC()
		nr, err := s.o.Store.Update(ctx, deploymentRecord(d))
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.version = nr.Version
		s.log.Info("custom model deployment updated", "deployment", d.ARN, "model", d.ModelARN, "by", p.ARN)
		return d, nil
	}
	return nil, apierr.New(apierr.Conflict, "The custom model deployment %s is being changed; try again", ident)
}

// deploymentsOf lists account's deployments of modelARN.
func (s *Service) deploymentsOf(ctx context.Context, account, modelARN string) ([]*Deployment, error) {
	var out []*Deployment
	token := ""
	for {
		recs, next, err := s.o.Store.List(ctx, store.Query{Kind: KindDeployment, Account: account, Limit: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			d, err := deploymentFrom(r)
			if err != nil {
				return nil, err
			}
			if d.ModelARN == modelARN {
				out = append(out, d)
			}
		}
		if next == "" {
			return out, nil
		}
		token = next
	}
}

var _ runtime.Resolver = (*Service)(nil)

// Resolve implements runtime.Resolver for custom model deployment ARNs. A
// custom model's own ARN is refused as Bedrock refuses it: custom models
// are invoked through a deployment or provisioned throughput. Other ids
// are NotFound, for the next resolver.
func (s *Service) Resolve(ctx context.Context, p *iam.Principal, modelID string) (*runtime.Target, error) {
	switch {
	case strings.Contains(modelID, ":custom-model/"):
		if _, err := s.resolve(ctx, p.Account, KindModel, modelID, "custom model"); err != nil {
			return nil, err
		}
		return nil, validationf("The custom model %s cannot be invoked directly. Create a custom model deployment (CreateCustomModelDeployment) or provisioned throughput for it and invoke that ARN.", modelID)
	case !strings.Contains(modelID, ":custom-model-deployment/"):
		return nil, apierr.New(apierr.NotFound, "The model %s could not be found.", modelID)
	}
	r, err := s.resolve(ctx, p.Account, KindDeployment, modelID, "custom model deployment")
	if err != nil {
		return nil, err
	}
	d, err := deploymentFrom(r)
	if err != nil {
		return nil, err
	}
	if s.o.Targets == nil {
		return nil, apierr.New(apierr.ModelNotReady, "The custom model deployment %s cannot be served by this node.", d.ARN)
	}
	t, err := s.o.Targets.Resolve(ctx, p, d.ModelARN)
	if err != nil {
		return nil, err
	}
	t.ARN = d.ARN
	if len(d.Tags) > 0 {
		t.Tags = make(map[string]string, len(d.Tags))
		for _, tag := range d.Tags {
			t.Tags[tag.Key] = tag.Value
		}
	}
	return t, nil
}
