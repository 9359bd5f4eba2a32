package iam

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Principal kinds, as aws:PrincipalType names them.
const (
	KindRoot        = "Account"
	KindUser        = "User"
	KindAssumedRole = "AssumedRole"
	KindService     = "Service"
)

// Principal is an authenticated caller.
type Principal struct {
	Account string
	Kind    string // KindRoot, KindUser, KindAssumedRole or KindService
	Name    string // user name, role name, or service principal ("bedrock.amazonaws.com")
	ARN     string // user ARN, assumed-role session ARN, or account root ARN
	RoleARN string // the role of an assumed-role session
	UserID  string // AIDA… for users, AROA…:session for sessions, the account for root
	// Policies are the identity policies in force (user or role policies,
	// plus a session policy that narrows them).
	Policies []*Policy
	Tags     map[string]string
	// SessionName and TokenIssued describe an assumed-role session
	// (aws:TokenIssueTime); empty otherwise.
	SessionName string
	TokenIssued time.Time
}

// principalARN is aws:PrincipalArn: the role ARN for sessions.
func (p *Principal) principalARN() string {
	if p.Kind == KindAssumedRole {
		return p.RoleARN
	}
	return p.ARN
}

// Request is one authorization question: may Principal do Action on Resource?
type Request struct {
	Principal *Principal
	Action    string // "bedrock:CreateModelImportJob"
	Resource  string // ARN, or "*"
	// ResourceAccount owns the resource; empty means the principal's account.
	ResourceAccount string
	// ResourcePolicy is the resource's policy (bucket, key or trust
	// policy), or nil for none.
	ResourcePolicy *Policy
	// ResourcePolicyRequired makes an Allow in ResourcePolicy mandatory,
	// as for role trust policies and KMS key policies.
	ResourcePolicyRequired bool
	// Context holds request condition keys (lowercase names) beyond the
	// ones the authorizer derives, e.g. aws:sourcearn, iam:passedtoservice.
	Context map[string][]string
	Secure  bool // the request came over TLS (aws:SecureTransport)
}

// DeniedError is returned when a request is not allowed. Its message is the
// one AWS writes, so callers can show it as is.
type DeniedError struct {
	Principal, Action, Resource string
	Reason                      string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s %s", e.Principal, e.Action, e.Resource, e.Reason)
}

// Authorizer decides requests. Every operation asks it, in one place.
type Authorizer interface {
	Authorize(ctx context.Context, req Request) error
}

// Evaluator is the policy-evaluation Authorizer, following AWS's logic:
// an explicit Deny anywhere wins; a same-account request is allowed by an
// identity policy or by a resource policy naming the principal; a
// cross-account request needs both sides to allow.
type Evaluator struct {
	Now func() time.Time // nil means time.Now
}

var _ Authorizer = (*Evaluator)(nil)

// Authorize implements Authorizer.
func (e *Evaluator) Authorize(ctx context.Context, req Request) error {
	p := req.Principal
	if p == nil {
		return &DeniedError{Principal: "anonymous", Action: req.Action, Resource: req.Resource, Reason: "because the request was not authenticated"}
	}
	deny := func(reason string) error {
		return &DeniedError{Principal: p.ARN, Action: req.Action, Resource: req.Resource, Reason: reason}
	}
	now := time.Now
	if e.Now != nil {
		now = e.Now
	}
	keys := &conditionKeys{build: func() map[string][]string { return e.contextKeys(req, now()) }}
	resAccount := req.ResourceAccount
	if resAccount == "" {
		resAccount = p.Account
	}

	// 1. Explicit deny anywhere.
	for _, pol := range p.Policies {
		if pol.matches(req, keys, "Deny", false) != none {
			return deny("with an explicit deny in an identity-based policy")
		}
	}
	resMatch := none
	if req.ResourcePolicy != nil {
		if req.ResourcePolicy.matches(req, keys, "Deny", true) != none {
			return deny("with an explicit deny in a resource-based policy")
		}
		resMatch = req.ResourcePolicy.matches(req, keys, "Allow", true)
	}
	if req.ResourcePolicyRequired && resMatch == none {
		return deny("because no resource-based policy allows the " + req.Action + " action")
	}
	// Service principals have no identity policies: the resource policy decides.
	if p.Kind == KindService {
		if resMatch != none {
			return nil
		}
		return deny("because no resource-based policy allows the " + req.Action + " action")
	}
	identity := p.Kind == KindRoot && p.Account == resAccount
	if !identity {
		for _, pol := range p.Policies {
			if pol.matches(req, keys, "Allow", false) != none {
				identity = true
				break
			}
		}
	}
	if p.Account == resAccount {
		if identity || resMatch == byPrincipal {
			return nil
		}
		return deny("because no identity-based policy allows the " + req.Action + " action")
	}
	// Cross-account: both sides must allow.
	if !identity {
		return deny("because no identity-based policy allows the " + req.Action + " action")
	}
	if resMatch == none {
		return deny("because no resource-based policy allows the " + req.Action + " action")
	}
	return nil
}

// conditionKeys are a request's condition keys, built on first use: most
// statements have neither conditions nor policy variables.
type conditionKeys struct {
	build func() map[string][]string
	m     map[string][]string
}

func (k *conditionKeys) get(name string) ([]string, bool) {
	if k.m == nil {
		k.m = k.build()
	}
	v, ok := k.m[name]
	return v, ok
}

func (e *Evaluator) contextKeys(req Request, now time.Time) map[string][]string {
	p := req.Principal
	k := map[string][]string{
		"aws:principalarn":     {p.principalARN()},
		"aws:principalaccount": {p.Account},
		"aws:principaltype":    {p.Kind},
		"aws:currenttime":      {now.UTC().Format(time.RFC3339)},
		"aws:epochtime":        {fmt.Sprint(now.Unix())},
		"aws:securetransport":  {fmt.Sprint(req.Secure)},
	}
	if p.UserID != "" {
		k["aws:userid"] = []string{p.UserID}
	}
	if p.Kind == KindUser {
		k["aws:username"] = []string{p.Name}
	}
	if !p.TokenIssued.IsZero() {
		k["aws:tokenissuetime"] = []string{p.TokenIssued.UTC().Format(time.RFC3339)}
	}
	if p.Kind == KindService {
		k["aws:principalservicename"] = []string{p.Name}
		k["aws:principalisawsservice"] = []string{"true"}
	}
	for t, v := range p.Tags {
		k["aws:principaltag/"+strings.ToLower(t)] = []string{v}
	}
	ra := req.ResourceAccount
	if ra == "" {
		ra = p.Account
	}
	k["aws:resourceaccount"] = []string{ra}
	for name, v := range req.Context {
		k[strings.ToLower(name)] = v
	}
	return k
}

// match says how a statement matched a request's principal.
type match int

const (
	none        match = iota
	byAccount         // the statement names the principal's account (or "*")
	byPrincipal       // the statement names the principal itself
)

// matches returns the strongest way any statement with the given effect
// matches req, or none.
func (pol *Policy) matches(req Request, keys *conditionKeys, effect string, resource bool) match {
	best := none
	for i := range pol.Statement {
		s := &pol.Statement[i]
		if s.Effect != effect {
			continue
		}
		m := byPrincipal
		if resource {
			m = s.principalMatch(req.Principal)
			if m == none {
				continue
			}
		}
		if !s.actionMatch(req.Action) || !s.resourceMatch(req.Resource, pol.Version, keys) {
			continue
		}
		if !s.conditionsMatch(pol.Version, keys) {
			continue
		}
		if m > best {
			best = m
		}
	}
	return best
}

func (s *Statement) principalMatch(p *Principal) match {
	if s.Principal == nil {
		return none
	}
	m := none
	if s.Principal.Any {
		m = byPrincipal
	}
	for _, a := range s.Principal.AWS {
		switch {
		case a == p.ARN || (p.Kind == KindAssumedRole && a == p.RoleARN) || (p.Kind == KindRoot && (a == p.Account || a == "arn:aws:iam::"+p.Account+":root")):
			m = byPrincipal
		case a == p.Account || a == "arn:aws:iam::"+p.Account+":root":
			if m < byAccount {
				m = byAccount
			}
		}
	}
	if p.Kind == KindService {
		for _, svc := range s.Principal.Service {
			if svc == p.Name {
				m = byPrincipal
			}
		}
	}
	if s.NotPrincipal {
		if m != none {
			return none
		}
		return byPrincipal
	}
	return m
}

func (s *Statement) actionMatch(action string) bool {
	hit := false
	for _, a := range s.Action {
		if a == "*" || Glob(a, action, true) {
			hit = true
			break
		}
	}
	return hit != s.NotAction
}

func (s *Statement) resourceMatch(resource, version string, keys *conditionKeys) bool {
	if s.Resource == nil {
		return true // trust policies omit Resource
	}
	hit := false
	for _, r := range s.Resource {
		r, ok := substitute(r, version, keys)
		if !ok {
			continue
		}
		if r == "*" || arnLike(r, resource) {
			hit = true
			break
		}
	}
	return hit != s.NotResource
}

// substitute replaces ${key} policy variables (2012-10-17 only). ok is
// false when a variable has no value, so the element matches nothing.
func substitute(s, version string, keys *conditionKeys) (string, bool) {
	if version != "2012-10-17" || !strings.Contains(s, "${") {
		return s, true
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), true
		}
		b.WriteString(s[:i])
		name := s[i+2 : i+j]
		def := ""
		hasDef := false
		if n, d, ok := strings.Cut(name, ","); ok {
			name, def, hasDef = strings.TrimSpace(n), strings.Trim(strings.TrimSpace(d), "'"), true
		}
		switch name {
		case "*", "?", "$":
			b.WriteString(name)
		default:
			v, _ := keys.get(strings.ToLower(name))
			switch {
			case len(v) == 1:
				b.WriteString(v[0])
			case hasDef:
				b.WriteString(def)
			default:
				return "", false
			}
		}
		s = s[i+j+1:]
	}
}

func (s *Statement) conditionsMatch(version string, keys *conditionKeys) bool {
	for op, kv := range s.Condition {
		qual, base, err := splitOperator(op)
		if err != nil {
			return false
		}
		ifExists := strings.HasSuffix(base, "IfExists")
		base = strings.TrimSuffix(base, "IfExists")
		for key, want := range kv {
			have, present := keys.get(key)
			present = present && len(have) > 0
			if base == "Null" {
				if len(want) != 1 || (want[0] == "true") == present {
					return false
				}
				continue
			}
			switch qual {
			case "ForAllValues":
				for _, h := range have {
					if anyMatch(base, h, want, version, keys) == negated(base) {
						return false
					}
				}
				continue
			case "ForAnyValue":
				ok := false
				for _, h := range have {
					if anyMatch(base, h, want, version, keys) != negated(base) {
						ok = true
					}
				}
				if !ok {
					return false
				}
				continue
			}
			if !present {
				if ifExists || negated(base) {
					continue
				}
				return false
			}
			// A single-valued key: any policy value may match; negated
			// operators need none to match.
			if anyMatch(base, have[0], want, version, keys) == negated(base) {
				return false
			}
		}
	}
	return true
}

func anyMatch(base, have string, wants []string, version string, keys *conditionKeys) bool {
	for _, w := range wants {
		if strings.HasPrefix(base, "String") || strings.HasPrefix(base, "Arn") || base == "Bool" {
			var ok bool
			if w, ok = substitute(w, version, keys); !ok {
				continue
			}
		}
		if evalOne(base, have, w) {
			return true
		}
	}
	return false
}
