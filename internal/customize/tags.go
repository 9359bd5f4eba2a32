package customize

import (
	"context"
	"encoding/json"
	"errors"

	"strata/internal/apierr"
	"strata/internal/iam"
	"strata/internal/store"
	"strata/internal/tags"
)

// taggable finds a job, custom model or deployment by ARN in the caller's
// account and authorizes action on it.
func (s *Service) taggable(ctx context.Context, p *iam.Principal, resourceARN, action string) (store.Record, error) {
	r, err := s.o.Store.GetByARN(ctx, resourceARN)
	if err == nil && (r.Account != p.Account || (r.Kind != KindJob && r.Kind != KindModel && r.Kind != KindDeployment)) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return r, apierr.New(apierr.NotFound, "The resource %s could not be found.", resourceARN)
	}
	if err != nil {
		return r, err
	}
	return r, s.authorize(ctx, p, action, r.ARN, nil)
}

// Tags returns the tags of a customization job, custom model or custom
// model deployment.
func (s *Service) Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]Tag, error) {
	r, err := s.taggable(ctx, p, resourceARN, "bedrock:ListTagsForResource")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Tags []Tag `json:"tags"`
	}
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return nil, err
	}
	return doc.Tags, nil
}

// UpdateTags adds tags to (or, with remove, removes tag keys from) a
// customization job, custom model or custom model deployment.
func (s *Service) UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []Tag, remove []string) error {
	return tags.Update(resourceARN, add, remove, func() ([]Tag, func([]Tag) error, error) {
		r, err := s.taggable(ctx, p, resourceARN, tags.Action(remove))
		if err != nil {
			return nil, nil, err
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(r.Data, &doc); err != nil {
			return nil, nil, err
		}
		var current []Tag
		if raw, ok := doc["tags"]; ok {
			if err := json.Unmarshal(raw, &current); err != nil {
				return nil, nil, err
			}
		}
		return current, func(next []Tag) error {
			doc["tags"], _ = json.Marshal(next)
			r.Data, _ = json.Marshal(doc)
			_, err := s.o.Store.Update(ctx, r)
			return err
		}, nil
	})
}
