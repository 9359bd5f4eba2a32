package iam

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"strata/internal/arn"
	"strata/internal/auth"
	"strata/internal/store"
)

// Record kinds the directory keeps in the store.
const (
	kindInstall   = "iam-install"
	kindUser      = "iam-user"
	kindRole      = "iam-role"
	kindAccessKey = "iam-access-key"
)

// Sealer encrypts small secrets at rest. The kms package's key ring
// provides one.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, ciphertext, aad []byte) ([]byte, error)
}

// ErrNoSuchEntity is returned for an unknown user, role or access key.
var ErrNoSuchEntity = errors.New("iam: no such entity")

// Directory keeps accounts, users, roles and access keys in the metadata
// store. Access-key secrets are sealed at rest.
type Directory struct {
	st     store.Store
	sealer Sealer

	// Now is the clock sessions are issued and expired by; nil means
	// time.Now. Set it before use.
	Now func() time.Time
}

// NewDirectory returns a Directory over st that seals secrets with sealer.
func NewDirectory(st store.Store, sealer Sealer) *Directory {
	return &Directory{st: st, sealer: sealer}
}

type userDoc struct {
	Path     string            `json:"path"`
	Policies map[string]string `json:"policies"` // inline policy name -> document
	Tags     map[string]string `json:"tags,omitempty"`
}

type roleDoc struct {
	Path               string            `json:"path"`
	TrustPolicy        string            `json:"trustPolicy"`
	Policies           map[string]string `json:"policies"`
	Description        string            `json:"description,omitempty"`
	MaxSessionDuration int               `json:"maxSessionDuration"`
	Tags               map[string]string `json:"tags,omitempty"`
}

type keyDoc struct {
	Account      string `json:"account"`
	UserID       string `json:"userId"`
	UserName     string `json:"userName"`
	SealedSecret []byte `json:"sealedSecret"`
	Status       string `json:"status"`
}

type installDoc struct {
	RootAccount string `json:"rootAccount"`
}

// Role is an IAM role.
type Role struct {
	Account     string
	Name        string
	ARN         string
	ID          string
	TrustPolicy *Policy
	Policies    []*Policy
	Tags        map[string]string
	// MaxSessionDuration bounds AssumeRole's DurationSeconds (1 to 12 h).
	MaxSessionDuration time.Duration
	Created            time.Time
}

// Bootstrap is what a first start created.
type Bootstrap struct {
	Account         string
	UserName        string
	UserARN         string
	AccessKeyID     string
	SecretAccessKey string // only set when Created
	RoleARN         string
	Created         bool
}

// Admin, the first user, may do everything in the root account.
const (
	AdminUserName  = "admin"
	ImportRoleName = "BedrockModelImportRole"
	adminPolicy    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	// bedrockTrust lets Bedrock import jobs of the account assume the
	// role, and delegates to the account's IAM (an account principal), so
	// callers whose identity policy allows sts:AssumeRole on the role (the
	// admin) can assume it to check what a job can read, as AWS's
	// cross-account import guide does with `aws sts assume-role`.
	bedrockTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"bedrock.amazonaws.com"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"%[1]s"}}},` +
		`{"Sid":"AccountIdentityPolicies","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:root"},"Action":"sts:AssumeRole"}]}`
	importRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::*","arn:aws:s3:::*/*"],"Condition":{"StringEquals":{"aws:ResourceAccount":"%s"}}}]}`
	// CustomizationRoleName is the service role model customization jobs
	// run as (the name the Bedrock guides use): it reads training data from
	// the account's buckets and writes job outputs (metrics, scan reports)
	// to them.
	CustomizationRoleName   = "BedrockCustomModelRole"
	customizationRolePolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket","s3:PutObject"],"Resource":["arn:aws:s3:::*","arn:aws:s3:::*/*"],"Condition":{"StringEquals":{"aws:ResourceAccount":"%s"}}}]}`
)

func (d *Directory) customizationRole(account string) (store.Record, error) {
	return d.roleRecord(account, CustomizationRoleName, fmt.Sprintf(bedrockTrust, account),
		map[string]string{"ReadWriteAccountBuckets": fmt.Sprintf(customizationRolePolicy, account)},
		"Lets Bedrock model customization jobs read training data from and write outputs to this account's buckets")
}

// RootAccount returns the root account created by Bootstrap, or
// ErrNoSuchEntity before the first start.
func (d *Directory) RootAccount(ctx context.Context) (string, error) {
	r, err := d.st.Get(ctx, store.Key{Kind: kindInstall, Account: "", ID: "root"})
	if errors.Is(err, store.ErrNotFound) {
		return "", ErrNoSuchEntity
	}
	if err != nil {
		return "", err
	}
	var doc installDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return "", fmt.Errorf("reading install record: %w", err)
	}
	return doc.RootAccount, nil
}

// Bootstrap creates, on first start, the root account, an admin user with
// an access key and the BedrockModelImportRole service role, all in one
// transaction; on later starts it returns what exists. On first start it
// calls persist with the new secret before committing, so the secret is
// never lost: if persist fails nothing is created, and if the process dies
// after persist the next start makes a new one.
func (d *Directory) Bootstrap(ctx context.Context, persist func(Bootstrap) error) (Bootstrap, error) {
	if acct, err := d.RootAccount(ctx); err == nil {
		b := Bootstrap{Account: acct, UserName: AdminUserName, UserARN: arn.IAM(acct, "user/"+AdminUserName),
			RoleARN: arn.IAM(acct, "role/"+ImportRoleName)}
		// Installs made before model customization lack its role.
		if _, err := d.st.GetByName(ctx, kindRole, acct, CustomizationRoleName); errors.Is(err, store.ErrNotFound) {
			r, err := d.customizationRole(acct)
			if err != nil {
				return Bootstrap{}, err
			}
			if _, err := d.st.Create(ctx, r); err != nil && !errors.Is(err, store.ErrConflict) {
				return Bootstrap{}, fmt.Errorf("creating the %s role: %w", CustomizationRoleName, err)
			}
		} else if err != nil {
			return Bootstrap{}, err
		}
		return b, nil
	} else if !errors.Is(err, ErrNoSuchEntity) {
		return Bootstrap{}, err
	}
	acct := arn.NewAccountID()
	inst, _ := json.Marshal(installDoc{RootAccount: acct})
	user, err := d.userRecord(acct, AdminUserName, map[string]string{"AdministratorAccess": adminPolicy})
	if err != nil {
		return Bootstrap{}, err
	}
	key, akid, secret, err := d.accessKeyRecord(ctx, acct, user.ID, AdminUserName)
	if err != nil {
		return Bootstrap{}, err
	}
	role, err := d.roleRecord(acct, ImportRoleName, fmt.Sprintf(bedrockTrust, acct),
		map[string]string{"ReadAccountBuckets": fmt.Sprintf(importRolePolicy, acct)},
		"Lets Bedrock model import jobs read this account's buckets")
	if err != nil {
		return Bootstrap{}, err
	}
	crole, err := d.customizationRole(acct)
	if err != nil {
		return Bootstrap{}, err
	}
	b := Bootstrap{Account: acct, UserName: AdminUserName, UserARN: user.ARN, AccessKeyID: akid,
		SecretAccessKey: secret, RoleARN: role.ARN, Created: true}
	if err := persist(b); err != nil {
		return Bootstrap{}, fmt.Errorf("saving the first access key: %w", err)
	}
	err = d.st.Apply(ctx, []store.Op{
		{Create: &store.Record{Kind: kindInstall, ID: "root", Data: inst}},
		{Create: &user}, {Create: &key}, {Create: &role}, {Create: &crole},
	})
	if err != nil {
		return Bootstrap{}, fmt.Errorf("creating the root account: %w", err)
	}
	return b, nil
}

func newEntityID(prefix string) string {
	b := make([]byte, 11)
	rand.Read(b)
	return prefix + strings.ToUpper(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:17]
}

func (d *Directory) userRecord(account, name string, policies map[string]string) (store.Record, error) {
	for n, doc := range policies {
		if _, err := ParsePolicy([]byte(doc), false); err != nil {
			return store.Record{}, fmt.Errorf("policy %s: %w", n, err)
		}
	}
	data, _ := json.Marshal(userDoc{Path: "/", Policies: policies})
	return store.Record{Kind: kindUser, Account: account, ID: newEntityID("AIDA"), Name: name,
		ARN: arn.IAM(account, "user/"+name), Status: "Active", Data: data}, nil
}

func (d *Directory) roleRecord(account, name, trust string, policies map[string]string, desc string) (store.Record, error) {
	if _, err := ParsePolicy([]byte(trust), true); err != nil {
		return store.Record{}, fmt.Errorf("trust policy: %w", err)
	}
	for n, doc := range policies {
		if _, err := ParsePolicy([]byte(doc), false); err != nil {
			return store.Record{}, fmt.Errorf("policy %s: %w", n, err)
		}
	}
	data, _ := json.Marshal(roleDoc{Path: "/", TrustPolicy: trust, Policies: policies, Description: desc, MaxSessionDuration: 3600})
	return store.Record{Kind: kindRole, Account: account, ID: newEntityID("AROA"), Name: name,
		ARN: arn.IAM(account, "role/"+name), Status: "Active", Data: data}, nil
}

func (d *Directory) accessKeyRecord(ctx context.Context, account, userID, userName string) (store.Record, string, string, error) {
	akid, secret := auth.NewAccessKey()
	sealed, err := d.sealer.Seal(ctx, []byte(secret), []byte("iam-access-key:"+akid))
	if err != nil {
		return store.Record{}, "", "", fmt.Errorf("sealing access key: %w", err)
	}
	data, _ := json.Marshal(keyDoc{Account: account, UserID: userID, UserName: userName, SealedSecret: sealed, Status: "Active"})
	// Access keys are looked up by id alone, so they live under account "".
	return store.Record{Kind: kindAccessKey, ID: akid, Status: "Active", Data: data}, akid, secret, nil
}

// CreateUser adds a user with inline policies to account.
func (d *Directory) CreateUser(ctx context.Context, account, name string, policies map[string]string) (*Principal, error) {
	r, err := d.userRecord(account, name, policies)
	if err != nil {
		return nil, err
	}
	if _, err := d.st.Create(ctx, r); err != nil {
		return nil, fmt.Errorf("creating user %s: %w", name, err)
	}
	return d.userPrincipal(r)
}

// CreateAccessKey makes a new access key for a user and returns its id and
// secret; the secret is shown only here.
func (d *Directory) CreateAccessKey(ctx context.Context, account, userName string) (id, secret string, err error) {
	u, err := d.st.GetByName(ctx, kindUser, account, userName)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("user %s: %w", userName, ErrNoSuchEntity)
	}
	if err != nil {
		return "", "", err
	}
	r, id, secret, err := d.accessKeyRecord(ctx, account, u.ID, userName)
	if err != nil {
		return "", "", err
	}
	if _, err := d.st.Create(ctx, r); err != nil {
		return "", "", err
	}
	return id, secret, nil
}

// CreateRole adds a role with a trust policy and inline identity policies.
func (d *Directory) CreateRole(ctx context.Context, account, name, trust string, policies map[string]string) (*Role, error) {
	r, err := d.roleRecord(account, name, trust, policies, "")
	if err != nil {
		return nil, err
	}
	if _, err := d.st.Create(ctx, r); err != nil {
		return nil, fmt.Errorf("creating role %s: %w", name, err)
	}
	return roleFrom(r)
}

// LookupAccessKey returns the secret of an active access key and the
// principal it signs for. A temporary (ASIA) key is an STS session's: the
// session token ctx carries (auth.WithSecurityToken) must be its token,
// and it must not have expired (auth.ErrInvalidToken, auth.ErrExpiredToken).
// A long-term key with a session token is auth.ErrInvalidToken, as in AWS.
func (d *Directory) LookupAccessKey(ctx context.Context, id string) (string, *Principal, error) {
	token, _ := auth.SecurityTokenFrom(ctx)
	if auth.IsTemporaryKey(id) {
		s, err := d.LookupSession(ctx, id)
		if err != nil {
			return "", nil, err
		}
		if err := s.Check(token, d.now()); err != nil {
			return "", nil, err
		}
		return s.secret, s.Principal, nil
	}
	if token != "" {
		return "", nil, auth.ErrInvalidToken
	}
	r, err := d.st.Get(ctx, store.Key{Kind: kindAccessKey, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, ErrNoSuchEntity
	}
	if err != nil {
		return "", nil, err
	}
	var k keyDoc
	if err := json.Unmarshal(r.Data, &k); err != nil {
		return "", nil, fmt.Errorf("reading access key: %w", err)
	}
	if k.Status != "Active" {
		return "", nil, ErrNoSuchEntity
	}
	secret, err := d.sealer.Open(ctx, k.SealedSecret, []byte("iam-access-key:"+id))
	if err != nil {
		return "", nil, fmt.Errorf("unsealing access key: %w", err)
	}
	u, err := d.st.Get(ctx, store.Key{Kind: kindUser, Account: k.Account, ID: k.UserID})
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, ErrNoSuchEntity
	}
	if err != nil {
		return "", nil, err
	}
	p, err := d.userPrincipal(u)
	if err != nil {
		return "", nil, err
	}
	return string(secret), p, nil
}

func (d *Directory) userPrincipal(r store.Record) (*Principal, error) {
	var doc userDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return nil, fmt.Errorf("reading user %s: %w", r.Name, err)
	}
	p := &Principal{Account: r.Account, Kind: KindUser, Name: r.Name, ARN: r.ARN, UserID: r.ID, Tags: doc.Tags}
	for n, text := range doc.Policies {
		pol, err := ParsePolicy([]byte(text), false)
		if err != nil {
			return nil, fmt.Errorf("user %s policy %s: %w", r.Name, n, err)
		}
		p.Policies = append(p.Policies, pol)
	}
	return p, nil
}

// GetRole returns a role by name or ARN.
func (d *Directory) GetRole(ctx context.Context, roleARN string) (*Role, error) {
	a, err := arn.Parse(roleARN)
	if err != nil || a.Service != "iam" {
		return nil, fmt.Errorf("%q is not a role ARN: %w", roleARN, ErrNoSuchEntity)
	}
	typ, name := a.ResourceType()
	if typ != "role" || name == "" {
		return nil, fmt.Errorf("%q is not a role ARN: %w", roleARN, ErrNoSuchEntity)
	}
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:] // strip a role path
	}
	r, err := d.st.GetByName(ctx, kindRole, a.Account, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("role %s: %w", roleARN, ErrNoSuchEntity)
	}
	if err != nil {
		return nil, err
	}
	return roleFrom(r)
}

func roleFrom(r store.Record) (*Role, error) {
	var doc roleDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return nil, fmt.Errorf("reading role %s: %w", r.Name, err)
	}
	trust, err := ParsePolicy([]byte(doc.TrustPolicy), true)
	if err != nil {
		return nil, fmt.Errorf("role %s trust policy: %w", r.Name, err)
	}
	role := &Role{Account: r.Account, Name: r.Name, ARN: r.ARN, ID: r.ID, TrustPolicy: trust, Tags: doc.Tags,
		MaxSessionDuration: time.Duration(doc.MaxSessionDuration) * time.Second, Created: r.Created}
	if role.MaxSessionDuration == 0 {
		role.MaxSessionDuration = time.Hour
	}
	for n, text := range doc.Policies {
		pol, err := ParsePolicy([]byte(text), false)
		if err != nil {
			return nil, fmt.Errorf("role %s policy %s: %w", r.Name, n, err)
		}
		role.Policies = append(role.Policies, pol)
	}
	return role, nil
}

// AssumeRoleAsService asks whether service (e.g. "bedrock.amazonaws.com")
// may assume role on behalf of a resource (sourceARN in sourceAccount), and
// returns the session principal. The trust policy decides.
func AssumeRoleAsService(ctx context.Context, authz Authorizer, role *Role, service, sourceAccount, sourceARN, session string) (*Principal, error) {
	svc := &Principal{Account: sourceAccount, Kind: KindService, Name: service, ARN: service}
	err := authz.Authorize(ctx, Request{
		Principal: svc, Action: "sts:AssumeRole", Resource: role.ARN, ResourceAccount: role.Account,
		ResourcePolicy: role.TrustPolicy, ResourcePolicyRequired: true,
		Context: map[string][]string{"aws:sourceaccount": {sourceAccount}, "aws:sourcearn": {sourceARN}},
	})
	if err != nil {
		return nil, err
	}
	return sessionPrincipal(role, session, time.Now().UTC()), nil
}
