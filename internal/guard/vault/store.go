package vault

import (
	"bytes"
	"context"
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
