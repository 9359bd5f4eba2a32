// Package postgres is the scale-out implementation of store.Store on
// PostgreSQL (through pgx), shared by every strata replica.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

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
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	version BIGINT NOT NULL,
	data    BYTEA,
	CONSTRAINT records_pkey PRIMARY KEY (kind, account, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS records_name ON records (kind, account, name) WHERE name IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS records_arn ON records (arn) WHERE arn IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS records_token ON records (kind, account, token) WHERE token IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_created ON records (kind, account, created, id);
`

// DB is a store.Store in a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or DSN) and
// creates the schema if needed.
func Open(ctx context.Context, url string) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	// Concurrent replicas may race to create the schema; serialize with an
	// advisory lock.
	tx, err := pool.Begin(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to postgres: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(7461636174)"); err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := tx.Exec(ctx, schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("creating postgres schema: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool}, nil
}

// Close closes the pool.
func (d *DB) Close() error {
	d.pool.Close()
	return nil
}

// querier is what the record functions need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const columns = `kind, account, id, coalesce(name,''), coalesce(arn,''), coalesce(token,''), status, created, updated, version, data`

func scan(row pgx.Row) (store.Record, error) {
	var r store.Record
	var created, updated int64
	err := row.Scan(&r.Kind, &r.Account, &r.ID, &r.Name, &r.ARN, &r.Token, &r.Status, &created, &updated, &r.Version, &r.Data)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Created = time.Unix(0, created).UTC()
	r.Updated = time.Unix(0, updated).UTC()
	return r, nil
}

// conflict maps a unique violation to the field it concerns.
func conflict(err error, r store.Record) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		return err
	}
	switch pe.ConstraintName {
	case "records_name":
		return &store.ConflictError{Field: "name", Value: r.Name}
	case "records_arn":
		return &store.ConflictError{Field: "arn", Value: r.ARN}
	case "records_token":
		return &store.ConflictError{Field: "token", Value: r.Token}
	}
	return &store.ConflictError{Field: "id", Value: r.ID}
}

func create(ctx context.Context, q querier, r store.Record) (store.Record, error) {
	if r.Kind == "" || r.ID == "" {
		return r, errors.New("store: record needs a kind and an id")
	}
	if r.Created.IsZero() {
		r.Created = time.Now()
	}
	r.Created = r.Created.UTC()
	r.Updated, r.Version = r.Created, 1
	_, err := q.Exec(ctx, `INSERT INTO records (kind, account, id, name, arn, token, status, created, updated, version, data)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
		r.Kind, r.Account, r.ID, nullable(r.Name), nullable(r.ARN), nullable(r.Token), r.Status,
		r.Created.UnixNano(), r.Updated.UnixNano(), r.Version, r.Data)
	if err != nil {
		return r, conflict(err, r)
	}
	return r, nil
}

func update(ctx context.Context, q querier, r store.Record) (store.Record, error) {
	cur, err := scan(q.QueryRow(ctx, "SELECT "+columns+" FROM records WHERE kind=$1 AND account=$2 AND id=$3 FOR UPDATE", r.Kind, r.Account, r.ID))
	if err != nil {
		return r, err
	}
	if r.Version != 0 && r.Version != cur.Version {
		return r, &store.ConflictError{Field: "version", Value: fmt.Sprint(r.Version)}
	}
	r.Created, r.Token = cur.Created, cur.Token
	r.Updated = time.Now().UTC()
	if !r.Updated.After(cur.Updated) {
		r.Updated = cur.Updated.Add(time.Nanosecond)
	}
	r.Version = cur.Version + 1
	tag, err := q.Exec(ctx, `UPDATE records SET name=$1, arn=$2, status=$3, updated=$4, version=$5, data=$6
		WHERE kind=$7 AND account=$8 AND id=$9 AND version=$10`,
		nullable(r.Name), nullable(r.ARN), r.Status, r.Updated.UnixNano(), r.Version, r.Data,
		r.Kind, r.Account, r.ID, cur.Version)
	if err != nil {
		return r, conflict(err, r)
	}
	if tag.RowsAffected() == 0 {
		return r, &store.ConflictError{Field: "version", Value: fmt.Sprint(cur.Version)}
	}
	return r, nil
}

func del(ctx context.Context, q querier, k store.Key, version int64) error {
	sql := "DELETE FROM records WHERE kind=$1 AND account=$2 AND id=$3"
	args := []any{k.Kind, k.Account, k.ID}
	if version != 0 {
		sql += " AND version=$4"
		args = append(args, version)
	}
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", k.Kind, k.ID, err)
	}
	if tag.RowsAffected() == 0 {
		var n int
		q.QueryRow(ctx, "SELECT count(*) FROM records WHERE kind=$1 AND account=$2 AND id=$3", k.Kind, k.Account, k.ID).Scan(&n)
		if n > 0 {
			return &store.ConflictError{Field: "version", Value: fmt.Sprint(version)}
		}
		return store.ErrNotFound
	}
	return nil
}

func (d *DB) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Create implements store.Store.
func (d *DB) Create(ctx context.Context, r store.Record) (store.Record, error) {
	return create(ctx, d.pool, r)
}

// Update implements store.Store.
func (d *DB) Update(ctx context.Context, r store.Record) (store.Record, error) {
	err := d.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = update(ctx, tx, r)
		return err
	})
	return r, err
}

// Delete implements store.Store.
func (d *DB) Delete(ctx context.Context, k store.Key, version int64) error {
	return del(ctx, d.pool, k, version)
}

// Apply implements store.Store.
func (d *DB) Apply(ctx context.Context, ops []store.Op) error {
	return d.inTx(ctx, func(tx pgx.Tx) error {
		for i, op := range ops {
			var err error
			switch {
			case op.Create != nil:
				_, err = create(ctx, tx, *op.Create)
			case op.Update != nil:
				_, err = update(ctx, tx, *op.Update)
			case op.Delete != nil:
				err = del(ctx, tx, *op.Delete, 0)
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
	return scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM records WHERE kind=$1 AND account=$2 AND id=$3", k.Kind, k.Account, k.ID))
}

// GetByName implements store.Store.
func (d *DB) GetByName(ctx context.Context, kind, account, name string) (store.Record, error) {
	if name == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM records WHERE kind=$1 AND account=$2 AND name=$3", kind, account, name))
}

// GetByARN implements store.Store.
func (d *DB) GetByARN(ctx context.Context, arn string) (store.Record, error) {
	if arn == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM records WHERE arn=$1", arn))
}

// GetByToken implements store.Store.
func (d *DB) GetByToken(ctx context.Context, kind, account, token string) (store.Record, error) {
	if token == "" {
		return store.Record{}, store.ErrNotFound
	}
	return scan(d.pool.QueryRow(ctx, "SELECT "+columns+" FROM records WHERE kind=$1 AND account=$2 AND token=$3", kind, account, token))
}

// List implements store.Store.
func (d *DB) List(ctx context.Context, q store.Query) ([]store.Record, string, error) {
	args := []any{q.Kind, q.Account}
	where := []string{"kind=$1", "account=$2"}
	add := func(cond string, v ...any) {
		for _, x := range v {
			args = append(args, x)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, cond)
	}
	if q.NameContains != "" {
		add("strpos(name, ?) > 0", q.NameContains)
	}
	if q.Status != "" {
		add("status=?", q.Status)
	}
	if !q.CreatedAfter.IsZero() {
		add("created>?", q.CreatedAfter.UnixNano())
	}
	if !q.CreatedBefore.IsZero() {
		add("created<?", q.CreatedBefore.UnixNano())
	}
	order, cmp := "DESC", "<"
	if q.Ascending {
		order, cmp = "ASC", ">"
	}
	if q.PageToken != "" {
		pt, err := store.DecodePageToken(q.PageToken)
		if err != nil {
			return nil, "", err
		}
		add(fmt.Sprintf("(created, id) %s (?, ?)", cmp), pt.Created.UnixNano(), pt.ID)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
	}
	sql := fmt.Sprintf("SELECT %s FROM records WHERE %s ORDER BY created %s, id %s LIMIT %d",
		columns, strings.Join(where, " AND "), order, order, limit+1)
	rows, err := d.pool.Query(ctx, sql, args...)
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
