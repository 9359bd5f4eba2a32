// Package iam is strata's identity and access management: accounts, users,
// roles and access keys, the AWS IAM policy language, and the one
// Authorizer every operation asks before it acts.
package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Policy is a parsed IAM policy document.
type Policy struct {
	Version   string
	ID        string
	Statement []Statement
}

// Statement is one policy statement. Principal, Action and Resource keep
// their "Not" flags; a nil list means the element is absent.
type Statement struct {
	Sid          string
	Effect       string // "Allow" or "Deny"
	Principal    *Principals
	NotPrincipal bool
	Action       []string
	NotAction    bool
	Resource     []string
	NotResource  bool
	Condition    map[string]map[string][]string // operator -> key -> values
}

// Principals is the Principal element: "*" or a map of kinds to values.
type Principals struct {
	Any     bool
	AWS     []string
	Service []string
}

// MaxPolicySize bounds a policy document, like IAM's largest policy quota.
const MaxPolicySize = 20 << 10

// ErrMalformedPolicy is wrapped by every ParsePolicy error.
var ErrMalformedPolicy = errors.New("malformed policy document")

// ParsePolicy parses and checks an IAM policy document. resourcePolicy
// says whether Principal is required (resource and trust policies) or
// forbidden (identity policies).
func ParsePolicy(doc []byte, resourcePolicy bool) (*Policy, error) {
	if len(doc) > MaxPolicySize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformedPolicy, MaxPolicySize)
	}
	var raw struct {
		Version   string
		Id        string
		Statement json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedPolicy, err)
	}
	switch raw.Version {
	case "2012-10-17", "2008-10-17":
	case "":
		raw.Version = "2008-10-17"
	default:
		return nil, fmt.Errorf("%w: unknown Version %q", ErrMalformedPolicy, raw.Version)
	}
	var rawStmts []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(raw.Statement), []byte("[")) {
		if err := json.Unmarshal(raw.Statement, &rawStmts); err != nil {
			return nil, fmt.Errorf("%w: Statement: %v", ErrMalformedPolicy, err)
		}
	} else if len(raw.Statement) > 0 {
		rawStmts = []json.RawMessage{raw.Statement}
	}
	if len(rawStmts) == 0 {
		return nil, fmt.Errorf("%w: no Statement", ErrMalformedPolicy)
	}
	p := &Policy{Version: raw.Version, ID: raw.Id}
	for i, rs := range rawStmts {
		s, err := parseStatement(rs, resourcePolicy)
		if err != nil {
			return nil, fmt.Errorf("%w: statement %d: %v", ErrMalformedPolicy, i, err)
		}
		p.Statement = append(p.Statement, s)
	}
	return p, nil
}

// MustParsePolicy is ParsePolicy for documents built into the program.
func MustParsePolicy(doc string, resourcePolicy bool) *Policy {
	p, err := ParsePolicy([]byte(doc), resourcePolicy)
	if err != nil {
		panic(err)
	}
	return p
}

func parseStatement(b []byte, resourcePolicy bool) (Statement, error) {
	var raw struct {
		Sid          string
		Effect       string
		Principal    json.RawMessage
		NotPrincipal json.RawMessage
		Action       json.RawMessage
		NotAction    json.RawMessage
		Resource     json.RawMessage
		NotResource  json.RawMessage
		Condition    map[string]map[string]json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Statement{}, err
	}
	s := Statement{Sid: raw.Sid, Effect: raw.Effect}
	if s.Effect != "Allow" && s.Effect != "Deny" {
		return s, fmt.Errorf("Effect must be Allow or Deny, not %q", raw.Effect)
	}
	var err error
	if s.Action, s.NotAction, err = pickList("Action", raw.Action, raw.NotAction); err != nil {
		return s, err
	}
	if s.Action == nil {
		return s, errors.New("needs Action or NotAction")
	}
	for _, a := range s.Action {
		if a != "*" && !strings.Contains(a, ":") {
			return s, fmt.Errorf("action %q is not service:Name", a)
		}
	}
	if s.Resource, s.NotResource, err = pickList("Resource", raw.Resource, raw.NotResource); err != nil {
		return s, err
	}
	pr, notPr := raw.Principal, false
	if len(raw.NotPrincipal) > 0 {
		if len(pr) > 0 {
			return s, errors.New("both Principal and NotPrincipal")
		}
		pr, notPr = raw.NotPrincipal, true
	}
	if len(pr) > 0 {
		if !resourcePolicy {
			return s, errors.New("Principal is not allowed in an identity policy")
		}
		if s.Principal, err = parsePrincipals(pr); err != nil {
			return s, err
		}
		s.NotPrincipal = notPr
	} else if resourcePolicy {
		return s, errors.New("a resource policy statement needs a Principal")
	}
	if !resourcePolicy && s.Resource == nil {
		return s, errors.New("needs Resource or NotResource")
	}
	if len(raw.Condition) > 0 {
		s.Condition = map[string]map[string][]string{}
		for op, keys := range raw.Condition {
			if _, _, err := splitOperator(op); err != nil {
				return s, err
			}
			m := map[string][]string{}
			for k, v := range keys {
				vals, err := stringList(v)
				if err != nil {
					return s, fmt.Errorf("condition %s %s: %v", op, k, err)
				}
				m[strings.ToLower(k)] = vals
			}
			s.Condition[op] = m
		}
	}
	return s, nil
}

func pickList(name string, pos, neg json.RawMessage) ([]string, bool, error) {
	if len(pos) > 0 && len(neg) > 0 {
		return nil, false, fmt.Errorf("both %s and Not%s", name, name)
	}
	raw, not := pos, false
	if len(neg) > 0 {
		raw, not = neg, true
	}
	if len(raw) == 0 {
		return nil, false, nil
	}
	l, err := stringList(raw)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %v", name, err)
	}
	if len(l) == 0 {
		return nil, false, fmt.Errorf("%s is empty", name)
	}
	return l, not, nil
}

// stringList decodes a JSON string, number, bool or array of them.
func stringList(raw json.RawMessage) ([]string, error) {
	var one any
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, err
	}
	conv := func(v any) (string, error) {
		switch v := v.(type) {
		case string:
			return v, nil
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64), nil
		case bool:
			return strconv.FormatBool(v), nil
		}
		return "", fmt.Errorf("value %v is not a string", v)
	}
	if arr, ok := one.([]any); ok {
		out := make([]string, 0, len(arr))
		for _, v := range arr {
			s, err := conv(v)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := conv(one)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

func parsePrincipals(raw json.RawMessage) (*Principals, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf("Principal %q must be \"*\" or an object", star)
		}
		return &Principals{Any: true}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("Principal: %v", err)
	}
	p := &Principals{}
	for k, v := range m {
		vals, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("Principal %s: %v", k, err)
		}
		switch k {
		case "AWS":
			for _, a := range vals {
				if a == "*" {
					p.Any = true
				} else if strings.Contains(a, "*") || strings.Contains(a, "?") {
					return nil, fmt.Errorf("Principal %q: partial wildcards are not allowed", a)
				}
			}
			p.AWS = append(p.AWS, vals...)
		case "Service":
			p.Service = append(p.Service, vals...)
		case "Federated", "CanonicalUser":
			return nil, fmt.Errorf("Principal kind %s is not supported", k)
		default:
			return nil, fmt.Errorf("unknown Principal kind %q", k)
		}
	}
	return p, nil
}

// operators lists the condition operators strata evaluates.
var operators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true, "StringNotEqualsIgnoreCase": true,
	"StringLike": true, "StringNotLike": true,
	"ArnEquals": true, "ArnLike": true, "ArnNotEquals": true, "ArnNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true, "NumericLessThanEquals": true,
	"NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true,
	"Bool": true, "IpAddress": true, "NotIpAddress": true, "Null": true,
}

// splitOperator splits "ForAnyValue:StringLikeIfExists" into its set
// qualifier ("ForAnyValue"), base operator ("StringLike") and IfExists.
func splitOperator(op string) (qual, base string, err error) {
	base = op
	if q, rest, ok := strings.Cut(op, ":"); ok {
		if q != "ForAnyValue" && q != "ForAllValues" {
			return "", "", fmt.Errorf("unknown condition qualifier %q", q)
		}
		qual, base = q, rest
	}
	b := strings.TrimSuffix(base, "IfExists")
	if !operators[b] || (b == "Null" && b != base) {
		return "", "", fmt.Errorf("unknown condition operator %q", op)
	}
	return qual, base, nil
}

// evalOne tests one request value against one policy value.
func evalOne(op, have, want string) bool {
	switch op {
	case "StringEquals", "StringNotEquals":
		return have == want
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		return strings.EqualFold(have, want)
	case "StringLike", "StringNotLike":
		return Glob(want, have, false)
	case "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike":
		return arnLike(want, have)
	case "Bool":
		return strings.EqualFold(have, want)
	case "IpAddress", "NotIpAddress":
		return ipIn(have, want)
	}
	if strings.HasPrefix(op, "Numeric") {
		h, err1 := strconv.ParseFloat(have, 64)
		w, err2 := strconv.ParseFloat(want, 64)
		return err1 == nil && err2 == nil && compare(op[len("Numeric"):], h, w)
	}
	if strings.HasPrefix(op, "Date") {
		h, ok1 := parseDate(have)
		w, ok2 := parseDate(want)
		return ok1 && ok2 && compare(op[len("Date"):], float64(h.UnixNano()), float64(w.UnixNano()))
	}
	return false
}

func compare(rel string, h, w float64) bool {
	switch rel {
	case "Equals":
		return h == w
	case "NotEquals":
		return h != w
	case "LessThan":
		return h < w
	case "LessThanEquals":
		return h <= w
	case "GreaterThan":
		return h > w
	case "GreaterThanEquals":
		return h >= w
	}
	return false
}

func parseDate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

func ipIn(have, cidr string) bool {
	addr, err := netip.ParseAddr(have)
	if err != nil {
		return false
	}
	if !strings.Contains(cidr, "/") {
		w, err := netip.ParseAddr(cidr)
		return err == nil && w == addr
	}
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.Contains(addr)
}

func negated(base string) bool {
	return strings.Contains(base, "Not") && base != "Null"
}

// Glob matches s against pattern, where * matches any run and ? one
// character. With fold, letters match regardless of case.
func Glob(pattern, s string, fold bool) bool {
	if fold {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	// Iterative matcher with single-star backtracking: linear in practice.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// arnLike matches an ARN against a pattern segment by segment, so a
// wildcard never crosses a colon (the sixth segment keeps later colons).
func arnLike(pattern, s string) bool {
	if pattern == "*" {
		return true
	}
	ps := strings.SplitN(pattern, ":", 6)
	ss := strings.SplitN(s, ":", 6)
	if len(ps) != 6 || len(ss) != 6 {
		return false
	}
	for i := range ps {
		if !Glob(ps[i], ss[i], false) {
			return false
		}
	}
	return true
}
