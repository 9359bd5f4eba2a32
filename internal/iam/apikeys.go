package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"strata/internal/auth"
	"strata/internal/store"
)

// kindAPIKey is the store kind of an API bearer key.
const kindAPIKey = "iam-api-key"

// apiKeyDoc is what the store keeps of an API key: never the key itself,
// only its SHA-256 (auth.HashAPIKey).
type apiKeyDoc struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	UserARN  string `json:"userArn"`
	Hash     string `json:"hash"`
}

// APIKey describes a stored API key. It never holds the key.
type APIKey struct {
	ID       string // the id part of the key, "sk-strata-<id>-…"
	Account  string
	UserName string
	UserARN  string
	Created  time.Time
}

// apiKeyARN is the globally unique name an API key is stored under, so a
// key is found by its id alone, whatever its account.
func apiKeyARN(id string) string { return "arn:aws:strata:::api-key/" + id }

// CreateAPIKey makes a new API bearer key for a user of account and
// returns it and its id. The key is shown only here: the store keeps its
// hash. The key authorizes exactly as the user's SigV4 calls do.
func (d *Directory) CreateAPIKey(ctx context.Context, account, userName string) (key, id string, err error) {
	u, err := d.st.GetByName(ctx, kindUser, account, userName)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("user %s: %w", userName, ErrNoSuchEntity)
	}
	if err != nil {
		return "", "", err
	}
	key, id = auth.NewAPIKey()
	data, _ := json.Marshal(apiKeyDoc{UserID: u.ID, UserName: u.Name, UserARN: u.ARN, Hash: auth.HashAPIKey(key)})
	r := store.Record{Kind: kindAPIKey, Account: account, ID: id, ARN: apiKeyARN(id), Status: "Active", Data: data}
	if _, err := d.st.Create(ctx, r); err != nil {
		return "", "", fmt.Errorf("storing API key: %w", err)
	}
	return key, id, nil
}

// LookupAPIKey returns the principal an API key acts as. It fails with
// ErrNoSuchEntity for a malformed, unknown or deleted key, a key whose hash
// does not match, or one whose user no longer exists.
func (d *Directory) LookupAPIKey(ctx context.Context, key string) (*Principal, error) {
	id, err := auth.ParseAPIKey(key)
	if err != nil {
		return nil, ErrNoSuchEntity
	}
	r, err := d.st.GetByARN(ctx, apiKeyARN(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchEntity
	}
	if err != nil {
		return nil, err
	}
	if r.Kind != kindAPIKey || r.Status != "Active" {
		return nil, ErrNoSuchEntity
	}
	var doc apiKeyDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return nil, fmt.Errorf("reading API key %s: %w", id, err)
	}
	if !auth.CheckAPIKey(key, doc.Hash) {
		return nil, ErrNoSuchEntity
	}
	u, err := d.st.Get(ctx, store.Key{Kind: kindUser, Account: r.Account, ID: doc.UserID})
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoSuchEntity
	}
	if err != nil {
		return nil, err
	}
	return d.userPrincipal(u)
}

// ListAPIKeys returns the API keys of account, newest first. A non-empty
// userName keeps only that user's keys.
func (d *Directory) ListAPIKeys(ctx context.Context, account, userName string) ([]APIKey, error) {
	var keys []APIKey
	token := ""
	for {
		rs, next, err := d.st.List(ctx, store.Query{Kind: kindAPIKey, Account: account, PageToken: token})
		if err != nil {
			return nil, fmt.Errorf("listing API keys: %w", err)
		}
		for _, r := range rs {
			var doc apiKeyDoc
			if err := json.Unmarshal(r.Data, &doc); err != nil {
				return nil, fmt.Errorf("reading API key %s: %w", r.ID, err)
			}
			if userName != "" && doc.UserName != userName {
				continue
			}
			keys = append(keys, APIKey{ID: r.ID, Account: r.Account, UserName: doc.UserName, UserARN: doc.UserARN, Created: r.Created})
		}
		if next == "" {
			return keys, nil
		}
		token = next
	}
}

// GetAPIKey returns one API key of account by id.
func (d *Directory) GetAPIKey(ctx context.Context, account, id string) (APIKey, error) {
	r, err := d.st.Get(ctx, store.Key{Kind: kindAPIKey, Account: account, ID: id})
	if errors.Is(err, store.ErrNotFound) {
		return APIKey{}, fmt.Errorf("API key %s: %w", id, ErrNoSuchEntity)
	}
	if err != nil {
		return APIKey{}, err
	}
	var doc apiKeyDoc
	if err := json.Unmarshal(r.Data, &doc); err != nil {
		return APIKey{}, fmt.Errorf("reading API key %s: %w", id, err)
	}
	return APIKey{ID: r.ID, Account: r.Account, UserName: doc.UserName, UserARN: doc.UserARN, Created: r.Created}, nil
}

// DeleteAPIKey deletes an API key of account; it stops working at once
// for this store (authenticators may cache a key briefly).
func (d *Directory) DeleteAPIKey(ctx context.Context, account, id string) error {
	err := d.st.Delete(ctx, store.Key{Kind: kindAPIKey, Account: account, ID: id}, 0)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("API key %s: %w", id, ErrNoSuchEntity)
	}
	return err
}
