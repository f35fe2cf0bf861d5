package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The store's logic is written once against the small interfaces below;
// sqlHandle adapts database/sql (SQLite) and pgHandle adapts pgx
// (PostgreSQL). SQL is written with ? placeholders; pgHandle rewrites them
// to $1, $2, ... for PostgreSQL.

type querier interface {
	exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	// insertID runs an INSERT into a table with an id column and returns
	// the new row's id, or ok false if it inserted no row (ON CONFLICT DO
	// NOTHING). SQLite reports the id without a RETURNING clause, which
	// saves reading a result row; PostgreSQL needs one, which pgHandle adds.
	insertID(ctx context.Context, query string, args ...any) (id int64, ok bool, err error)
	queryRow(ctx context.Context, query string, args ...any) row
	query(ctx context.Context, query string, args ...any) (rows, error)
}

type handle interface {
	querier
	begin(ctx context.Context) (txn, error)
}

type txn interface {
	querier
	commit(ctx context.Context) error
	rollback(ctx context.Context) error
}

type row interface {
	Scan(dest ...any) error
}

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// sqlHandle runs statements on a database/sql pool, each prepared once per
// connection and kept: preparing costs more than running for the short
// statements of the hot path.
type sqlHandle struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newSQLHandle(db *sql.DB) *sqlHandle {
	return &sqlHandle{db: db, stmts: make(map[string]*sql.Stmt)}
}

func (h *sqlHandle) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	h.mu.Lock()
	st, ok := h.stmts[query]
	h.mu.Unlock()
	if ok {
		return st, nil
	}
	// Not under mu: preparing may wait for a connection that a transaction
	// holds, and that transaction needs mu to find its statements.
	st, err := h.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if prev, ok := h.stmts[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	if h.stmts == nil { // closed meanwhile
		_ = st.Close()
		return nil, errClosed
	}
	h.stmts[query] = st
	return st, nil
}

func (h *sqlHandle) close() error {
	h.mu.Lock()
	for _, st := range h.stmts {
		_ = st.Close()
	}
	h.stmts = nil
	h.mu.Unlock()
	return h.db.Close()
}

func (h *sqlHandle) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return execVia(ctx, h.db, h, query, args)
}

func (h *sqlHandle) insertID(ctx context.Context, query string, args ...any) (int64, bool, error) {
	return insertIDVia(ctx, h, query, args)
}

// stmtCache is what keeps prepared statements: the pool or a transaction.
type stmtCache interface {
	stmt(ctx context.Context, query string) (*sql.Stmt, error)
}

// execVia runs a statement with arguments through the cache of prepared
// statements, and a script or one-off statement (no arguments: a
// migration) directly, as it is not worth keeping.
func execVia(ctx context.Context, direct interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, cache stmtCache, query string, args []any) (int64, error) {
	var res sql.Result
	var err error
	if len(args) == 0 {
		res, err = direct.ExecContext(ctx, query)
	} else {
		var st *sql.Stmt
		if st, err = cache.stmt(ctx, query); err != nil {
			return 0, err
		}
		res, err = st.ExecContext(ctx, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func queryRowVia(ctx context.Context, cache stmtCache, query string, args []any) row {
	st, err := cache.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func queryVia(ctx context.Context, cache stmtCache, query string, args []any) (rows, error) {
	st, err := cache.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rs}, nil
}

func insertIDVia(ctx context.Context, cache stmtCache, query string, args []any) (int64, bool, error) {
	st, err := cache.stmt(ctx, query)
	if err != nil {
		return 0, false, err
	}
	return resultID(st.ExecContext(ctx, args...))
}

// resultID is the id an INSERT made, if it made a row (a driver.Result
// serves too).
func resultID(res sql.Result, err error) (int64, bool, error) {
	if err != nil {
		return 0, false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, false, err
	}
	id, err := res.LastInsertId()
	return id, err == nil, err
}

func (h *sqlHandle) queryRow(ctx context.Context, query string, args ...any) row {
	return queryRowVia(ctx, h, query, args)
}

func (h *sqlHandle) query(ctx context.Context, query string, args ...any) (rows, error) {
	return queryVia(ctx, h, query, args)
}

func (h *sqlHandle) begin(ctx context.Context) (txn, error) {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlTxn{h: h, tx: tx}, nil
}

type sqlTxn struct {
	h  *sqlHandle
	tx *sql.Tx
	// missed are statements not yet prepared on the pool, to be prepared
	// once the transaction has given its connection back: preparing on the
	// pool now would wait for a free connection, and SQLite's writer pool
	// has only the one this transaction holds.
	missed []string
}

func (t *sqlTxn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	t.h.mu.Lock()
	st, ok := t.h.stmts[query]
	t.h.mu.Unlock()
	if ok {
		// StmtContext reuses the statement already prepared on the
		// transaction's connection.
		return t.tx.StmtContext(ctx, st), nil
	}
	t.missed = append(t.missed, query)
	return t.tx.PrepareContext(ctx, query)
}

// end prepares the statements the transaction missed.
func (t *sqlTxn) end() {
	for _, q := range t.missed {
		_, _ = t.h.stmt(context.Background(), q) // an error here shows again at the next use
	}
	t.missed = nil
}

func (t *sqlTxn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	return execVia(ctx, t.tx, t, query, args)
}

func (t *sqlTxn) insertID(ctx context.Context, query string, args ...any) (int64, bool, error) {
	return insertIDVia(ctx, t, query, args)
}

func (t *sqlTxn) queryRow(ctx context.Context, query string, args ...any) row {
	return queryRowVia(ctx, t, query, args)
}

func (t *sqlTxn) query(ctx context.Context, query string, args ...any) (rows, error) {
	return queryVia(ctx, t, query, args)
}

func (t *sqlTxn) commit(context.Context) error {
	err := t.tx.Commit()
	t.end()
	return err
}

func (t *sqlTxn) rollback(context.Context) error {
	err := t.tx.Rollback()
	t.end()
	return err
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// pgx is what a pgxpool.Pool, a *pgxpool.Conn and a pgx.Tx have in common.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Begin(ctx context.Context) (pgx.Tx, error)
}

var (
	_ pgxQuerier = (*pgxpool.Pool)(nil)
	_ pgxQuerier = (*pgxpool.Conn)(nil)
	_ pgxQuerier = (pgx.Tx)(nil)
)

type pgHandle struct {
	q pgxQuerier
}

func (h pgHandle) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := h.q.Exec(ctx, rebind(query), args...)
	return tag.RowsAffected(), err
}

func (h pgHandle) insertID(ctx context.Context, query string, args ...any) (int64, bool, error) {
	var id int64
	err := h.q.QueryRow(ctx, rebind(query+" RETURNING id"), args...).Scan(&id)
	if isNoRows(err) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (h pgHandle) queryRow(ctx context.Context, query string, args ...any) row {
	return h.q.QueryRow(ctx, rebind(query), args...)
}

func (h pgHandle) query(ctx context.Context, query string, args ...any) (rows, error) {
	return h.q.Query(ctx, rebind(query), args...)
}

func (h pgHandle) begin(ctx context.Context) (txn, error) {
	tx, err := h.q.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgTxn{pgHandle{tx}, tx}, nil
}

type pgTxn struct {
	pgHandle
	tx pgx.Tx
}

func (t pgTxn) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// rollback uses a fresh context: a transaction must be ended even when the
// caller's context is already done.
func (t pgTxn) rollback(context.Context) error { return t.tx.Rollback(context.Background()) }

// rebind rewrites the ? placeholders of query to PostgreSQL's $1, $2, ...
// The store's SQL has no ? inside string literals, so a plain scan is
// enough.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Constraint violations, as both engines report them.

func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKeyViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// isDataException reports a value the database refuses to store, such as
// text that is not valid in its encoding (PostgreSQL's class 22).
func isDataException(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && strings.HasPrefix(pe.Code, "22")
}

func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows)
}
