package vault

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"strata/internal/store"
)

// recordKind is the metadata-store kind of vault entries.
const recordKind = "vault-entry"

// RecordStore keeps entries in the metadata store (store.Store), so the
// vault lives wherever strata's metadata does: SQLite on one node,
// PostgreSQL across replicas. The token is the record id and the hex index
// its unique name.
type RecordStore struct {
	st store.Store
}

var _ Store = (*RecordStore)(nil)

// NewRecordStore returns a Store over st.
func NewRecordStore(st store.Store) *RecordStore { return &RecordStore{st: st} }

type entryDoc struct {
	Ciphertext []byte    `json:"ciphertext"`
	Brand      string    `json:"brand"`
	Last4      string    `json:"last4"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

// Put implements Store.
func (s *RecordStore) Put(ctx context.Context, e Entry) error {
	data, _ := json.Marshal(entryDoc{Ciphertext: e.Ciphertext, Brand: e.Brand, Last4: e.Last4, ExpiresAt: e.ExpiresAt})
	_, err := s.st.Create(ctx, store.Record{Kind: recordKind, ID: e.Token, Name: hex.EncodeToString(e.Index),
		Status: "active", Created: e.CreatedAt, Data: data})
	if errors.Is(err, store.ErrConflict) {
		return ErrExists
	}
	return err
}

func entryFrom(r store.Record) (Entry, error) {
	var d entryDoc
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return Entry{}, fmt.Errorf("vault: reading entry: %w", err)
	}
	idx, err := hex.DecodeString(r.Name)
	if err != nil {
		return Entry{}, fmt.Errorf("vault: reading entry index: %w", err)
	}
	return Entry{Token: r.ID, Index: idx, Ciphertext: d.Ciphertext, Brand: d.Brand, Last4: d.Last4,
		CreatedAt: r.Created, ExpiresAt: d.ExpiresAt}, nil
}

// ByIndex implements Store.
func (s *RecordStore) ByIndex(ctx context.Context, index []byte) (Entry, error) {
	r, err := s.st.GetByName(ctx, recordKind, "", hex.EncodeToString(index))
	if errors.Is(err, store.ErrNotFound) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	return entryFrom(r)
}

// ByToken implements Store.
func (s *RecordStore) ByToken(ctx context.Context, token string) (Entry, error) {
	r, err := s.st.Get(ctx, store.Key{Kind: recordKind, ID: token})
	if errors.Is(err, store.ErrNotFound) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, err
	}
	return entryFrom(r)
}

// Touch implements Store.
func (s *RecordStore) Touch(ctx context.Context, token string, expiresAt time.Time) error {
	for range 5 {
		r, err := s.st.Get(ctx, store.Key{Kind: recordKind, ID: token})
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var d entryDoc
		if err := json.Unmarshal(r.Data, &d); err != nil {
			return fmt.Errorf("vault: reading entry: %w", err)
		}
		d.ExpiresAt = expiresAt
		r.Data, _ = json.Marshal(d)
		if _, err := s.st.Update(ctx, r); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("vault: entry %s kept changing", token)
}

// DeleteExpired implements Store. It scans every entry: call it
// periodically, not per request.
func (s *RecordStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n := 0
	var token string
	for {
		recs, next, err := s.st.List(ctx, store.Query{Kind: recordKind, Ascending: true, Limit: 500, PageToken: token})
		if err != nil {
			return n, err
		}
		for _, r := range recs {
			var d entryDoc
			if err := json.Unmarshal(r.Data, &d); err != nil {
				return n, fmt.Errorf("vault: reading entry: %w", err)
			}
			if d.ExpiresAt.After(now) {
				continue
			}
			if err := s.st.Delete(ctx, r.Key(), r.Version); err == nil {
				n++
			} else if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
				return n, err
			}
		}
		if next == "" {
			return n, nil
		}
		token = next
	}
}
