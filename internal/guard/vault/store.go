package vault

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// MemStore is an in-memory Store.
type MemStore struct {
	mu      sync.Mutex
	byToken map[string]Entry  // +checklocks:mu
	byIndex map[string]string // index -> token; +checklocks:mu
}

var _ Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{byToken: map[string]Entry{}, byIndex: map[string]string{}}
}

func clone(e Entry) Entry {
	e.Index = bytes.Clone(e.Index)
	e.Ciphertext = bytes.Clone(e.Ciphertext)
	return e
}

// Put implements Store.
func (m *MemStore) Put(ctx context.Context, e Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byToken[e.Token]; ok {
		return ErrExists
	}
	if _, ok := m.byIndex[string(e.Index)]; ok {
		return ErrExists
	}
	m.byToken[e.Token] = clone(e)
	m.byIndex[string(e.Index)] = e.Token
	return nil
}

// ByIndex implements Store.
func (m *MemStore) ByIndex(ctx context.Context, index []byte) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tok, ok := m.byIndex[string(index)]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return clone(m.byToken[tok]), nil
}

// ByToken implements Store.
func (m *MemStore) ByToken(ctx context.Context, token string) (Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byToken[token]
	if !ok {
		return Entry{}, ErrNotFound
	}
	return clone(e), nil
}

// Touch implements Store.
func (m *MemStore) Touch(ctx context.Context, token string, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.byToken[token]
	if !ok {
		return ErrNotFound
	}
	e.ExpiresAt = expiresAt
	m.byToken[token] = e
	return nil
}

// DeleteExpired implements Store.
func (m *MemStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for tok, e := range m.byToken {
		if !now.Before(e.ExpiresAt) {
			delete(m.byToken, tok)
			delete(m.byIndex, string(e.Index))
			n++
		}
	}
	return n, nil
}

// SQLStore is a Store over database/sql. Its SQL is plain enough for SQLite
// and PostgreSQL ($n placeholders work in both).
type SQLStore struct {
	db *sql.DB
}

var _ Store = (*SQLStore)(nil)

// Schema creates the vault table; NewSQLStore runs it.
const Schema = `CREATE TABLE IF NOT EXISTS vault_tokens (
	token      TEXT PRIMARY KEY,
	idx        BLOB NOT NULL UNIQUE,
	ciphertext BLOB NOT NULL,
	brand      TEXT NOT NULL,
	last4      TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
)`

// NewSQLStore returns a SQLStore over db, creating its table if needed.
func NewSQLStore(ctx context.Context, db *sql.DB) (*SQLStore, error) {
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return nil, fmt.Errorf("creating vault table: %w", err)
	}
	return &SQLStore{db: db}, nil
}

// Put implements Store.
func (s *SQLStore) Put(ctx context.Context, e Entry) error {
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO vault_tokens (token, idx, ciphertext, brand, last4, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.Token, e.Index, e.Ciphertext, e.Brand, e.Last4, e.CreatedAt.UnixNano(), e.ExpiresAt.UnixNano())
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
		return fmt.Errorf("inserting token: %w", err)
	}
	return nil
}

// isUnique recognises a unique-constraint violation in SQLite's and
// PostgreSQL's error text, without importing either driver.
func isUnique(err error) bool {
	m := strings.ToLower(err.Error())
	return strings.Contains(m, "unique") || strings.Contains(m, "duplicate key") || strings.Contains(m, "constraint failed")
}

func (s *SQLStore) one(ctx context.Context, where string, arg any) (Entry, error) {
	var e Entry
	var created, expires int64
	err := s.db.QueryRowContext(ctx,
		`SELECT token, idx, ciphertext, brand, last4, created_at, expires_at FROM vault_tokens WHERE `+where+` = $1`, arg).
		Scan(&e.Token, &e.Index, &e.Ciphertext, &e.Brand, &e.Last4, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, fmt.Errorf("reading token: %w", err)
	}
	e.CreatedAt, e.ExpiresAt = time.Unix(0, created), time.Unix(0, expires)
	return e, nil
}

// ByIndex implements Store.
func (s *SQLStore) ByIndex(ctx context.Context, index []byte) (Entry, error) {
	return s.one(ctx, "idx", index)
}

// ByToken implements Store.
func (s *SQLStore) ByToken(ctx context.Context, token string) (Entry, error) {
	return s.one(ctx, "token", token)
}

// Touch implements Store.
func (s *SQLStore) Touch(ctx context.Context, token string, expiresAt time.Time) error {
	r, err := s.db.ExecContext(ctx, `UPDATE vault_tokens SET expires_at = $1 WHERE token = $2`, expiresAt.UnixNano(), token)
	if err != nil {
		return fmt.Errorf("updating token: %w", err)
	}
	if n, err := r.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteExpired implements Store.
func (s *SQLStore) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM vault_tokens WHERE expires_at <= $1`, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("deleting expired tokens: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("counting deleted tokens: %w", err)
	}
	return int(n), nil
}
