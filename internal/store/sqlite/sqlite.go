// Package sqlite is the embedded implementation of store.Store, on SQLite
// through the pure-Go modernc.org/sqlite driver.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"strata/internal/store"
)

const schema = `
CREATE TABLE IF NOT EXISTS records (
	kind    TEXT NOT NULL,
	account TEXT NOT NULL,
	id      TEXT NOT NULL,
	name    TEXT,
	arn     TEXT,
	token   TEXT,
	status  TEXT NOT NULL DEFAULT '',
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	version INTEGER NOT NULL,
	data    BLOB,
	PRIMARY KEY (kind, account, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_name ON records (kind, account, name) WHERE name IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS records_arn ON records (arn) WHERE arn IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS records_token ON records (kind, account, token) WHERE token IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_created ON records (kind, account, created, id);
`

// DB is a store.Store in one SQLite file.
type DB struct {
	db *sql.DB
	// stmts holds the write path's statements, prepared once: SQLite
	// parses a statement in about as long as it takes to run an insert, and
	// the audit trail writes hundreds of records per transaction.
	stmts map[string]*sql.Stmt
}

// The statements of the write path, prepared at Open.
const (
	insertSQL = `INSERT INTO records (kind, account, id, name, arn, token, status, created, updated, version, data)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`
	selectSQL = "SELECT " + columns + " FROM records WHERE kind=? AND account=? AND id=?"
	updateSQL = `UPDATE records SET name=?, arn=?, status=?, updated=?, version=?, data=?
		WHERE kind=? AND account=? AND id=? AND version=?`
	deleteSQL  = "DELETE FROM records WHERE kind=? AND account=? AND id=?"
	versionSQL = "SELECT version FROM records WHERE kind=? AND account=? AND id=?"
)

var preparedSQL = []string{insertSQL, selectSQL, updateSQL, deleteSQL, versionSQL}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
	}
	// One writer at a time is SQLite's model; a small pool serves readers.
	db.SetMaxOpenConns(4)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating sqlite schema: %w", err)
	}
	d := &DB{db: db, stmts: make(map[string]*sql.Stmt, len(preparedSQL))}
	for _, q := range preparedSQL {
		s, err := db.PrepareContext(ctx, q)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("preparing %q: %w", q, err)
		}
		d.stmts[q] = s
	}
	return d, nil
}

// Close closes the database.
func (d *DB) Close() error {
	for _, s := range d.stmts {
		s.Close()
	}
	return d.db.Close()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const columns = `kind, account, id, coalesce(name,''), coalesce(arn,''), coalesce(token,''), status, created, updated, version, data`

func scan(row interface{ Scan(...any) error }) (store.Record, error) {
	var r store.Record
	var created, updated int64
	err := row.Scan(&r.Kind, &r.Account, &r.ID, &r.Name, &r.ARN, &r.Token, &r.Status, &created, &updated, &r.Version, &r.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Created = time.Unix(0, created).UTC()
	r.Updated = time.Unix(0, updated).UTC()
	return r, nil
}

// tx is the transaction create, update and del run in: a transaction that runs the prepared statements of its DB as such
// and any other query as text.
type tx struct {
	*sql.Tx
	stmts map[string]*sql.Stmt // the DB's
	bound map[string]*sql.Stmt // the DB's, bound to this transaction
}

// stmt returns the prepared statement for query bound to t, or nil.
func (t *tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if s, ok := t.bound[query]; ok {
		return s
	}
	s, ok := t.stmts[query]
	if !ok {
		return nil
	}
	if t.bound == nil {
		t.bound = make(map[string]*sql.Stmt, len(t.stmts))
	}
	s = t.StmtContext(ctx, s)
	t.bound[query] = s
	return s
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s := t.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if s := t.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

func conflictField(q *tx, ctx context.Context, r store.Record) error {
	checks := []struct {
		field, where string
		args         []any
		value        string
	}{
		{"id", "kind=? AND account=? AND id=?", []any{r.Kind, r.Account, r.ID}, r.ID},
		{"name", "kind=? AND account=? AND name=?", []any{r.Kind, r.Account, r.Name}, r.Name},
		{"arn", "arn=?", []any{r.ARN}, r.ARN},
		{"token", "kind=? AND account=? AND token=?", []any{r.Kind, r.Account, r.Token}, r.Token},
	}
	for _, c := range checks {
		if c.value == "" {
			continue
		}
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM records WHERE "+c.where, c.args...).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return &store.ConflictError{Field: c.field, Value: c.value}
		}
	}
	return nil
}

func create(ctx context.Context, q *tx, r store.Record) (store.Record, error) {
	if r.Kind == "" || r.ID == "" {
		return r, errors.New("store: record needs a kind and an id")
	}
	now := time.Now().UTC()
	if r.Created.IsZero() {
		r.Created = now
	}
	r.Created = r.Created.UTC()
	r.Updated = r.Created
	r.Version = 1
	_, err := q.ExecContext(ctx, insertSQL,
		r.Kind, r.Account, r.ID, nullable(r.Name), nullable(r.ARN), nullable(r.Token), r.Status,
		r.Created.UnixNano(), r.Updated.UnixNano(), r.Version, r.Data)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			// Name the field that conflicted; the insert was rolled back.
			if cerr := conflictField(q, ctx, r); cerr != nil {
				return r, cerr
			}
			return r, &store.ConflictError{Field: "id", Value: r.ID}
		}
		return r, fmt.Errorf("inserting %s %s: %w", r.Kind, r.ID, err)
	}
	return r, nil
}

func update(ctx context.Context, q *tx, r store.Record) (store.Record, error) {
	cur, err := scan(q.QueryRowContext(ctx, selectSQL, r.Kind, r.Account, r.ID))
	if err != nil {
		return r, err
	}
	if r.Version != 0 && r.Version != cur.Version {
		return r, &store.ConflictError{Field: "version", Value: fmt.Sprint(r.Version)}
	}
	if r.Name != cur.Name && r.Name != "" {
		if err := conflictField(q, ctx, store.Record{Kind: r.Kind, Account: r.Account, Name: r.Name}); err != nil {
			return r, err
		}
	}
	if r.ARN != cur.ARN && r.ARN != "" {
		if err := conflictField(q, ctx, store.Record{ARN: r.ARN}); err != nil {
			return r, err
		}
	}
	r.Created = cur.Created
	r.Updated = time.Now().UTC()
	if !r.Updated.After(cur.Updated) {
		r.Updated = cur.Updated.Add(time.Nanosecond)
	}
	r.Version = cur.Version + 1
	r.Token = cur.Token
	_, err = q.ExecContext(ctx, updateSQL,
		nullable(r.Name), nullable(r.ARN), r.Status, r.Updated.UnixNano(), r.Version, r.Data,
		r.Kind, r.Account, r.ID, cur.Version)
	if err != nil {
		return r, fmt.Errorf("updating %s %s: %w", r.Kind, r.ID, err)
	}
	return r, nil
}

func del(ctx context.Context, q *tx, k store.Key, version int64) error {
	args := []any{k.Kind, k.Account, k.ID}
	if version != 0 {
		var cur int64
		err := q.QueryRowContext(ctx, versionSQL, args...).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if cur != version {
			return &store.ConflictError{Field: "version", Value: fmt.Sprint(version)}
		}
	}
	res, err := q.ExecContext(ctx, deleteSQL, args...)
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", k.Kind, k.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inTx runs fn in an immediate (write-locking) transaction.
func (d *DB) inTx(ctx context.Context, fn func(t *tx) error) error {
	t, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(&tx{Tx: t, stmts: d.stmts}); err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Create implements store.Store.
func (d *DB) Create(ctx context.Context, r store.Record) (store.Record, error) {
	err := d.inTx(ctx, func(t *tx) error {
		var err error
		r, err = create(ctx, t, r)
		return err
	})
	return r, err
}

// Update implements store.Store.
func (d *DB) Update(ctx context.Context, r store.Record) (store.Record, error) {
	err := d.inTx(ctx, func(t *tx) error {
		var err error
		r, err = update(ctx, t, r)
		return err
	})
	return r, err
}

// Delete implements store.Store.
func (d *DB) Delete(ctx context.Context, k store.Key, version int64) error {
	return d.inTx(ctx, func(t *tx) error { return del(ctx, t, k, version) })
}

// Apply implements store.Store.
func (d *DB) Apply(ctx context.Context, ops []store.Op) error {
	return d.inTx(ctx, func(t *tx) error {
		for i, op := range ops {
			var err error
			switch {
			case op.Create != nil:
				_, err = create(ctx, t, *op.Create)
			case op.Update != nil:
				_, err = update(ctx, t, *op.Update)
			case op.Delete != nil:
				err = del(ctx, t, *op.Delete, 0)
			default:
				err = fmt.Errorf("store: op %d is empty", i)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// Get implements store.Store.
func (d *DB) Get(ctx context.Context, k store.Key) (store.Record, error) {
	return scan(d.db.QueryRowContext(ctx, "SELECT "+columns+" FROM records WHERE kind=? AND account=? AND id=?", k.Kind, k.Account, k.ID))
}

// GetByName implements store.Store.
func (d *DB) GetByName(ctx context.Context, kind, account, name string) (store.Record, error) {
	if name == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.db.QueryRowContext(ctx, "SELECT "+columns+" FROM records WHERE kind=? AND account=? AND name=?", kind, account, name))
}

// GetByARN implements store.Store.
func (d *DB) GetByARN(ctx context.Context, arn string) (store.Record, error) {
	if arn == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.db.QueryRowContext(ctx, "SELECT "+columns+" FROM records WHERE arn=?", arn))
}

// GetByToken implements store.Store.
func (d *DB) GetByToken(ctx context.Context, kind, account, token string) (store.Record, error) {
	if token == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.db.QueryRowContext(ctx, "SELECT "+columns+" FROM records WHERE kind=? AND account=? AND token=?", kind, account, token))
}

// List implements store.Store.
func (d *DB) List(ctx context.Context, q store.Query) ([]store.Record, string, error) {
	where := []string{"kind=?", "account=?"}
	args := []any{q.Kind, q.Account}
	if q.NameContains != "" {
		where = append(where, "instr(name, ?) > 0")
		args = append(args, q.NameContains)
	}
	if q.Status != "" {
		where = append(where, "status=?")
		args = append(args, q.Status)
	}
	if !q.CreatedAfter.IsZero() {
		where = append(where, "created>?")
		args = append(args, q.CreatedAfter.UnixNano())
	}
	if !q.CreatedBefore.IsZero() {
		where = append(where, "created<?")
		args = append(args, q.CreatedBefore.UnixNano())
	}
	order := "DESC"
	cmp := "<"
	if q.Ascending {
		order, cmp = "ASC", ">"
	}
	if q.PageToken != "" {
		pt, err := store.DecodePageToken(q.PageToken)
		if err != nil {
			return nil, "", err
		}
		where = append(where, fmt.Sprintf("(created %s ? OR (created = ? AND id %s ?))", cmp, cmp))
		args = append(args, pt.Created.UnixNano(), pt.Created.UnixNano(), pt.ID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	query := fmt.Sprintf("SELECT %s FROM records WHERE %s ORDER BY created %s, id %s LIMIT %d",
		columns, strings.Join(where, " AND "), order, order, limit+1)
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", q.Kind, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = store.EncodePageToken(out[limit-1])
	}
	return out, next, nil
}
