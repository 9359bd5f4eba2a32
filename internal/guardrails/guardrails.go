// Package guardrails stores Bedrock guardrails: the mutable DRAFT of each
// guardrail and its immutable numbered versions, with Bedrock's ARNs,
// clientRequestToken idempotency and IAM authorization. The policy itself
// and its evaluation are guard.Guardrail and guard.Apply; Resolve hands the
// runtime and ApplyGuardrail the policy of one version.
//
// A guardrail is one record of kind "guardrail" (the DRAFT, its tags and a
// version counter); each version is a record of kind "guardrail-version"
// whose id is "{guardrailId}:{n}", holding a frozen copy of the policy.
// Guardrails are READY as soon as they are created, updated or versioned.
package guardrails

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"strata/internal/apierr"
	"strata/internal/arn"
	"strata/internal/guard"
	"strata/internal/iam"
	"strata/internal/modelimport"
	"strata/internal/store"
	"strata/internal/tags"
)

// Store kinds, and the ARN resource type of guardrails.
const (
	Kind        = "guardrail"
	KindVersion = "guardrail-version"
)

// Bedrock's values.
const (
	StatusReady = "READY"
	Draft       = "DRAFT"
	// MaxVersions is Bedrock's default quota of versions per guardrail.
	MaxVersions = 20
)

// Guardrail is one version of a guardrail: the DRAFT or a numbered one.
type Guardrail struct {
	ID          string            `json:"id"`
	ARN         string            `json:"arn"`
	Account     string            `json:"account"`
	Version     string            `json:"version"` // "DRAFT" or "1", "2", ...
	Description string            `json:"versionDescription,omitempty"`
	Policy      guard.Guardrail   `json:"policy"` // Name and Description live here
	Tags        []modelimport.Tag `json:"tags,omitempty"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	// NextVersion is the number CreateGuardrailVersion gives next (DRAFT
	// only); numbers are never reused, even after a version is deleted.
	NextVersion int `json:"nextVersion,omitempty"`

	rev int64 // the store's record version
}

// Name returns the guardrail's name.
func (g *Guardrail) Name() string { return g.Policy.Name }

// DescriptionText returns the description GetGuardrail shows: the
// version's own description for numbered versions, else the guardrail's.
func (g *Guardrail) DescriptionText() string {
	if g.Version != Draft && g.Description != "" {
		return g.Description
	}
	return g.Policy.Description
}

// Status is always READY.
func (g *Guardrail) Status() string { return StatusReady }

// Options configure a Service.
type Options struct {
	Store      store.Store    // non-nil
	Authorizer iam.Authorizer // non-nil
	Region     string
	Logger     *slog.Logger // nil means discard
	Now        func() time.Time
}

// Service manages guardrails.
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
	nameRE    = regexp.MustCompile(`^[0-9a-zA-Z_-]+$`)
	versionRE = regexp.MustCompile(`^(DRAFT|[1-9][0-9]{0,7})$`)
	tokenRE   = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`)
)

func (s *Service) authorize(ctx context.Context, p *iam.Principal, action, resource string) error {
	err := s.o.Authorizer.Authorize(ctx, iam.Request{Principal: p, Action: action, Resource: resource})
	if d, ok := errors.AsType[*iam.DeniedError](err); ok {
		return apierr.Wrap(apierr.AccessDenied, err, d.Error())
	}
	return err
}

// validate checks a policy as CreateGuardrail and UpdateGuardrail do.
func validate(g *guard.Guardrail) error {
	switch {
	case g.Name == "":
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must not be null")
	case len(g.Name) > 50 || !nameRE.MatchString(g.Name):
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_]+$ and have length less than or equal to 50", g.Name)
	case len(g.Description) > 200:
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 200")
	case g.BlockedInputMessaging == "" || len(g.BlockedInputMessaging) > 500:
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'blockedInputMessaging' failed to satisfy constraint: Member must have length between 1 and 500")
	case g.BlockedOutputsMessaging == "" || len(g.BlockedOutputsMessaging) > 500:
		return apierr.New(apierr.Validation, "1 validation error detected: Value at 'blockedOutputsMessaging' failed to satisfy constraint: Member must have length between 1 and 500")
	}
	if g.TopicPolicyConfig == nil && g.ContentPolicyConfig == nil && g.WordPolicyConfig == nil &&
		g.SensitiveInformationPolicyConfig == nil && g.ContextualGroundingPolicyConfig == nil {
		return apierr.New(apierr.Validation, "A guardrail needs at least one policy")
	}
	if err := g.Validate(); err != nil {
		return apierr.Wrap(apierr.Validation, err, strings.TrimPrefix(err.Error(), guard.ErrInvalidPolicy.Error()+": "))
	}
	return nil
}

func validateToken(tok string) error {
	if tok != "" && (len(tok) > 256 || !tokenRE.MatchString(tok)) {
		return apierr.New(apierr.Validation, "clientRequestToken must match ^[a-zA-Z0-9](-*[a-zA-Z0-9])*$ and be at most 256 characters")
	}
	return nil
}

func from(r store.Record) (*Guardrail, error) {
	var g Guardrail
	if err := json.Unmarshal(r.Data, &g); err != nil {
		return nil, err
	}
	g.rev = r.Version
	return &g, nil
}

func (g *Guardrail) record() store.Record {
	data, _ := json.Marshal(g)
	r := store.Record{Kind: Kind, Account: g.Account, ID: g.ID, Name: g.Policy.Name, ARN: g.ARN,
		Status: StatusReady, Created: g.Created, Updated: g.Updated, Version: g.rev, Data: data}
	if g.Version != Draft {
		r.Kind, r.ID, r.Name, r.ARN = KindVersion, versionID(g.ID, g.Version), versionID(g.ID, g.Version), ""
	}
	return r
}

func versionID(id, version string) string { return id + ":" + version }

// CreateInput is CreateGuardrail's request.
type CreateInput struct {
	Policy             guard.Guardrail
	Tags               []modelimport.Tag
	ClientRequestToken string
}

// Create creates a guardrail's DRAFT, READY at once. A clientRequestToken
// already used for the same request returns the existing guardrail.
func (s *Service) Create(ctx context.Context, p *iam.Principal, in CreateInput) (*Guardrail, error) {
	if err := validate(&in.Policy); err != nil {
		return nil, err
	}
	if err := validateToken(in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := tags.Validate("tags", in.Tags); err != nil {
		return nil, err
	}
	id := arn.NewID()
	now := s.o.Now().UTC()
	g := &Guardrail{ID: id, ARN: arn.Bedrock(s.o.Region, p.Account, Kind, id), Account: p.Account, Version: Draft,
		Policy: in.Policy, Tags: in.Tags, Created: now, Updated: now, NextVersion: 1}
	if err := s.authorize(ctx, p, "bedrock:CreateGuardrail", g.ARN); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		r, err := s.o.Store.GetByToken(ctx, Kind, p.Account, in.ClientRequestToken)
		if err == nil {
			old, err := from(r)
			if err != nil {
				return nil, err
			}
			a, _ := json.Marshal(old.Policy)
			b, _ := json.Marshal(in.Policy)
			if string(a) != string(b) {
				return nil, apierr.New(apierr.Conflict, "The clientRequestToken was already used for a different request")
			}
			return old, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	rec := g.record()
	rec.Token = in.ClientRequestToken
	created, err := s.o.Store.Create(ctx, rec)
	if err != nil {
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A guardrail named %s already exists", in.Policy.Name)
		}
		return nil, err
	}
	g.rev = created.Version
	s.log.Info("guardrail created", "arn", g.ARN, "by", p.ARN)
	return g, nil
}

// draft finds a guardrail's DRAFT by id, ARN or name in p's account,
// without an authorization check.
func (s *Service) draft(ctx context.Context, p *iam.Principal, ident string) (*Guardrail, error) {
	notFound := apierr.New(apierr.NotFound, "The guardrail %s could not be found.", ident)
	if ident == "" || len(ident) > 2048 {
		return nil, apierr.New(apierr.Validation, "guardrailIdentifier must be a guardrail id or ARN")
	}
	if strings.HasPrefix(ident, "arn:") {
		a, perr := arn.Parse(ident)
		if typ, _ := a.ResourceType(); perr != nil || typ != Kind {
			return nil, apierr.New(apierr.Validation, "guardrailIdentifier %q is not a guardrail ARN", ident)
		}
	}
	r, err := store.Lookup(ctx, s.o.Store, Kind, p.Account, ident)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	return from(r)
}

// version returns version v ("" or DRAFT for the draft) of ident, without
// an authorization check.
func (s *Service) version(ctx context.Context, p *iam.Principal, ident, v string) (*Guardrail, error) {
	if v == "" {
		v = Draft
	}
	if !versionRE.MatchString(v) {
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(([1-9][0-9]{0,7})|(DRAFT))$", v)
	}
	d, err := s.draft(ctx, p, ident)
	if err != nil || v == Draft {
		return d, err
	}
	r, err := s.o.Store.Get(ctx, store.Key{Kind: KindVersion, Account: p.Account, ID: versionID(d.ID, v)})
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierr.New(apierr.NotFound, "Version %s of the guardrail %s could not be found.", v, ident)
	}
	if err != nil {
		return nil, err
	}
	return from(r)
}

// Get returns version v (default DRAFT) of a guardrail.
func (s *Service) Get(ctx context.Context, p *iam.Principal, ident, v string) (*Guardrail, error) {
	g, err := s.version(ctx, p, ident, v)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:GetGuardrail", g.ARN); err != nil {
		return nil, err
	}
	return g, nil
}

// Resolve returns the policy of version v of a guardrail for an
// invocation or ApplyGuardrail, checking bedrock:ApplyGuardrail on the
// guardrail's ARN. An unknown guardrail or version is ResourceNotFound.
func (s *Service) Resolve(ctx context.Context, p *iam.Principal, ident, v string) (*guard.Guardrail, *Guardrail, error) {
	if v == "" {
		return nil, nil, apierr.New(apierr.Validation, "guardrailVersion is required with a guardrail identifier")
	}
	g, err := s.version(ctx, p, ident, v)
	if err != nil {
		return nil, nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:ApplyGuardrail", g.ARN); err != nil {
		return nil, nil, err
	}
	pol := g.Policy
	return &pol, g, nil
}

// ListInput pages List.
type ListInput struct {
	Identifier string // "" lists every guardrail's DRAFT; else that guardrail's versions
	MaxResults int
	NextToken  string
}

// List lists the DRAFT of each guardrail in p's account, newest first, or
// with an Identifier the DRAFT and every version of that guardrail.
func (s *Service) List(ctx context.Context, p *iam.Principal, in ListInput) ([]*Guardrail, string, error) {
	if in.MaxResults < 0 || in.MaxResults > 1000 {
		return nil, "", apierr.New(apierr.Validation, "maxResults must be between 1 and 1000")
	}
	if in.Identifier != "" {
		return s.listVersions(ctx, p, in)
	}
	if err := s.authorize(ctx, p, "bedrock:ListGuardrails", "*"); err != nil {
		return nil, "", err
	}
	recs, next, err := s.o.Store.List(ctx, store.Query{Kind: Kind, Account: p.Account, Limit: in.MaxResults, PageToken: in.NextToken})
	if errors.Is(err, store.ErrBadPageToken) {
		return nil, "", apierr.New(apierr.Validation, "Invalid nextToken")
	}
	if err != nil {
		return nil, "", err
	}
	return fromAll(recs, next)
}

func fromAll(recs []store.Record, next string) ([]*Guardrail, string, error) {
	out := make([]*Guardrail, 0, len(recs))
	for _, r := range recs {
		g, err := from(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, g)
	}
	return out, next, nil
}

// listVersions lists a guardrail's DRAFT then its versions in order. There
// are at most MaxVersions+1, so the page token is an offset.
func (s *Service) listVersions(ctx context.Context, p *iam.Principal, in ListInput) ([]*Guardrail, string, error) {
	d, err := s.draft(ctx, p, in.Identifier)
	if err != nil {
		return nil, "", err
	}
	if err := s.authorize(ctx, p, "bedrock:ListGuardrails", d.ARN); err != nil {
		return nil, "", err
	}
	all, err := s.versions(ctx, d)
	if err != nil {
		return nil, "", err
	}
	all = append([]*Guardrail{d}, all...)
	start := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(in.NextToken, "v"))
		if err != nil || !strings.HasPrefix(in.NextToken, "v") || n < 0 || n > len(all) {
			return nil, "", apierr.New(apierr.Validation, "Invalid nextToken")
		}
		start = n
	}
	limit := in.MaxResults
	if limit == 0 {
		limit = 1000
	}
	end, next := min(len(all), start+limit), ""
	if end < len(all) {
		next = "v" + strconv.Itoa(end)
	}
	return all[start:end], next, nil
}

// versions returns d's numbered versions, oldest first.
func (s *Service) versions(ctx context.Context, d *Guardrail) ([]*Guardrail, error) {
	var out []*Guardrail
	tok := ""
	for {
		recs, next, err := s.o.Store.List(ctx, store.Query{Kind: KindVersion, Account: d.Account, NameContains: d.ID + ":", Ascending: true, PageToken: tok})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if !strings.HasPrefix(r.ID, d.ID+":") {
				continue
			}
			g, err := from(r)
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		if next == "" {
			return out, nil
		}
		tok = next
	}
}

// Update replaces the DRAFT's policy (name, messages and policies). Tags
// and versions are kept.
func (s *Service) Update(ctx context.Context, p *iam.Principal, ident string, pol guard.Guardrail) (*Guardrail, error) {
	if err := validate(&pol); err != nil {
		return nil, err
	}
	for range 5 {
		d, err := s.draft(ctx, p, ident)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, p, "bedrock:UpdateGuardrail", d.ARN); err != nil {
			return nil, err
		}
		d.Policy = pol
		d.Updated = s.o.Now().UTC()
		r, err := s.o.Store.Update(ctx, d.record())
		if ce, ok := errors.AsType[*store.ConflictError](err); ok && ce.Field == "name" {
			return nil, apierr.New(apierr.Conflict, "A guardrail named %s already exists", pol.Name)
		}
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.rev, d.Updated = r.Version, r.Updated
		s.log.Info("guardrail updated", "arn", d.ARN, "by", p.ARN)
		return d, nil
	}
	return nil, apierr.New(apierr.Conflict, "The guardrail %s is being changed; try again", ident)
}

// CreateVersion freezes the DRAFT as the next numbered version. A
// clientRequestToken already used for this guardrail returns that version.
func (s *Service) CreateVersion(ctx context.Context, p *iam.Principal, ident, description, token string) (*Guardrail, error) {
	if len(description) > 200 {
		return nil, apierr.New(apierr.Validation, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 200")
	}
	if err := validateToken(token); err != nil {
		return nil, err
	}
	for range 5 {
		d, err := s.draft(ctx, p, ident)
		if err != nil {
			return nil, err
		}
		if err := s.authorize(ctx, p, "bedrock:CreateGuardrailVersion", d.ARN); err != nil {
			return nil, err
		}
		if token != "" {
			r, err := s.o.Store.GetByToken(ctx, KindVersion, p.Account, versionID(d.ID, token))
			if err == nil {
				return from(r)
			}
			if !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
		vs, err := s.versions(ctx, d)
		if err != nil {
			return nil, err
		}
		if len(vs) >= MaxVersions {
			return nil, apierr.New(apierr.ServiceQuotaExceeded, "The guardrail %s has %d versions, the most allowed", d.ID, MaxVersions)
		}
		now := s.o.Now().UTC()
		v := &Guardrail{ID: d.ID, ARN: d.ARN, Account: d.Account, Version: strconv.Itoa(d.NextVersion),
			Description: description, Policy: d.Policy, Created: now, Updated: now}
		vrec := v.record()
		if token != "" {
			vrec.Token = versionID(d.ID, token)
		}
		d.NextVersion++
		drec := d.record()
		err = s.o.Store.Apply(ctx, []store.Op{{Update: &drec}, {Create: &vrec}})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.log.Info("guardrail version created", "arn", d.ARN, "version", v.Version, "by", p.ARN)
		return v, nil
	}
	return nil, apierr.New(apierr.Conflict, "The guardrail %s is being changed; try again", ident)
}

// Delete deletes a guardrail with all its versions, or with v set, only
// numbered version v.
func (s *Service) Delete(ctx context.Context, p *iam.Principal, ident, v string) error {
	if v == Draft {
		return apierr.New(apierr.Validation, "The DRAFT version cannot be deleted on its own; omit guardrailVersion to delete the guardrail")
	}
	if v != "" && !versionRE.MatchString(v) {
		return apierr.New(apierr.Validation, "1 validation error detected: Value '%s' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(([1-9][0-9]{0,7})|(DRAFT))$", v)
	}
	d, err := s.draft(ctx, p, ident)
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, p, "bedrock:DeleteGuardrail", d.ARN); err != nil {
		return err
	}
	if v != "" {
		err := s.o.Store.Delete(ctx, store.Key{Kind: KindVersion, Account: d.Account, ID: versionID(d.ID, v)}, 0)
		if errors.Is(err, store.ErrNotFound) {
			return apierr.New(apierr.NotFound, "Version %s of the guardrail %s could not be found.", v, ident)
		}
		if err == nil {
			s.log.Info("guardrail version deleted", "arn", d.ARN, "version", v, "by", p.ARN)
		}
		return err
	}
	vs, err := s.versions(ctx, d)
	if err != nil {
		return err
	}
	ops := []store.Op{{Delete: &store.Key{Kind: Kind, Account: d.Account, ID: d.ID}}}
	for _, g := range vs {
		ops = append(ops, store.Op{Delete: &store.Key{Kind: KindVersion, Account: d.Account, ID: versionID(g.ID, g.Version)}})
	}
	if err := s.o.Store.Apply(ctx, ops); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return apierr.New(apierr.NotFound, "The guardrail %s could not be found.", ident)
		}
		return err
	}
	s.log.Info("guardrail deleted", "arn", d.ARN, "versions", len(vs), "by", p.ARN)
	return nil
}

// Tags returns a guardrail's tags (bedrock.Tagger).
func (s *Service) Tags(ctx context.Context, p *iam.Principal, resourceARN string) ([]modelimport.Tag, error) {
	d, err := s.draft(ctx, p, resourceARN)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, p, "bedrock:ListTagsForResource", d.ARN); err != nil {
		return nil, err
	}
	return d.Tags, nil
}

// UpdateTags adds tags to, or removes tag keys from, a guardrail
// (bedrock.Tagger).
func (s *Service) UpdateTags(ctx context.Context, p *iam.Principal, resourceARN string, add []modelimport.Tag, remove []string) error {
	return tags.Update(resourceARN, add, remove, func() ([]tags.Tag, func([]tags.Tag) error, error) {
		d, err := s.draft(ctx, p, resourceARN)
		if err != nil {
			return nil, nil, err
		}
		if err := s.authorize(ctx, p, tags.Action(remove), d.ARN); err != nil {
			return nil, nil, err
		}
		return d.Tags, func(next []tags.Tag) error {
			d.Tags = next
			_, err := s.o.Store.Update(ctx, d.record())
			return err
		}, nil
	})
}
