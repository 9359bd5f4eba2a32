// Package store is strata's metadata store: accounts, principals, jobs,
// models and every other control-plane resource, as versioned records.
//
// A Record is a resource's indexed fields (kind, account, id, name, ARN,
// idempotency token, status, times) plus an opaque JSON document that the
// owning package defines. The Store interface has an embedded implementation
// (store/sqlite) and a scale-out one (store/postgres); both pass the same
// conformance suite (store/storetest).
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors a Store returns. Callers branch on them with errors.Is.
var (
	// ErrNotFound means no record matches.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a unique field (id, name, ARN or token) is taken,
	// or an update's Version is stale.
	ErrConflict = errors.New("store: conflict")
)

// ConflictError says which field of a record conflicted. It wraps ErrConflict.
type ConflictError struct {
	Field string // "id", "name", "arn", "token" or "version"
	Value string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("store: %s %q already exists", e.Field, e.Value)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Record is one stored resource.
type Record struct {
	Kind    string // resource kind, e.g. "model-import-job"
	Account string // owning account id
	ID      string // unique within (Kind, Account)
	Name    string // unique within (Kind, Account) when non-empty
	ARN     string // globally unique when non-empty
	Token   string // idempotency token, unique within (Kind, Account) when non-empty
	Status  string
	Created time.Time
	Updated time.Time
	// Version is maintained by the store: 1 after Create, +1 per Update.
	// Update and Delete with a non-zero Version fail with a version
	// conflict when the stored Version differs.
	Version int64
	Data    []byte // the owner's JSON document
}

// Key names one record.
type Key struct {
	Kind    string
	Account string
	ID      string
}

// Key returns r's key.
func (r Record) Key() Key { return Key{r.Kind, r.Account, r.ID} }

// Query selects records of one kind in one account for List. Zero fields
// do not filter.
type Query struct {
	Kind          string
	Account       string
	NameContains  string
	Status        string
	CreatedAfter  time.Time // exclusive
	CreatedBefore time.Time // exclusive
	Ascending     bool      // by creation time, then id; default newest first
	Limit         int       // page size; 0 means 1000
	PageToken     string    // from a previous List
}

// Op is one step of an atomic batch: exactly one field is set.
type Op struct {
	Create *Record
	Update *Record
	Delete *Key
}

// Store keeps records. Implementations are safe for concurrent use.
//
// Create fails with a *ConflictError when the record's id, name, ARN or
// token is taken. Get, GetByName, GetByARN, GetByToken, Update and Delete
// fail with ErrNotFound when nothing matches. Apply runs its ops in one
// transaction: all take effect or none.
type Store interface {
	Create(ctx context.Context, r Record) (Record, error)
	Get(ctx context.Context, k Key) (Record, error)
	GetByName(ctx context.Context, kind, account, name string) (Record, error)
	GetByARN(ctx context.Context, arn string) (Record, error)
	GetByToken(ctx context.Context, kind, account, token string) (Record, error)
	Update(ctx context.Context, r Record) (Record, error)
	Delete(ctx context.Context, k Key, version int64) error
	// List returns a page of matching records and the token of the next
	// page ("" when this is the last).
	List(ctx context.Context, q Query) ([]Record, string, error)
	Apply(ctx context.Context, ops []Op) error
	Close() error
}

// PageToken is the position after the last record of a page. Implementations
// share its encoding through EncodePageToken and DecodePageToken.
type PageToken struct {
	Created time.Time
	ID      string
}

// EncodePageToken returns the opaque token of the page after r.
func EncodePageToken(r Record) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d|%s", r.Created.UnixNano(), r.ID))
}

// DecodePageToken parses a token from EncodePageToken. It fails with
// ErrBadPageToken on anything else.
func DecodePageToken(s string) (PageToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 512 {
		return PageToken{}, ErrBadPageToken
	}
	ns, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return PageToken{}, ErrBadPageToken
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return PageToken{}, ErrBadPageToken
	}
	return PageToken{Created: time.Unix(0, n).UTC(), ID: id}, nil
}

// ErrBadPageToken means a List page token was not one the store issued.
var ErrBadPageToken = errors.New("store: invalid page token")

// Lookup finds a record of kind in account by the identifiers Bedrock's
// APIs accept: an ARN, a name, or an id. A record of another kind or
// another account is ErrNotFound, so callers cannot tell another account's
// resources from missing ones.
func Lookup(ctx context.Context, s Store, kind, account, ident string) (Record, error) {
	if strings.HasPrefix(ident, "arn:") {
		r, err := s.GetByARN(ctx, ident)
		if err == nil && (r.Kind != kind || r.Account != account) {
			return Record{}, ErrNotFound
		}
		return r, err
	}
	r, err := s.GetByName(ctx, kind, account, ident)
	if errors.Is(err, ErrNotFound) {
		r, err = s.Get(ctx, Key{Kind: kind, Account: account, ID: ident})
	}
	return r, err
}
