package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
)

// rawConn runs statements on a driver connection directly, below
// database/sql. The SQLite writer uses it for message batches: for the short
// statements of an insert, database/sql's per-statement bookkeeping (locks,
// dependency tracking, wrappers, conversions) costs about as much as SQLite's
// own work, and the writer is one goroutine, so its cost per message bounds
// the throughput.
//
// A rawConn is used only inside (*sql.Conn).Raw, by one goroutine at a time.
type rawConn struct {
	conn  driver.Conn
	stmts map[string]driver.Stmt
}

func newRawConn(conn driver.Conn) *rawConn {
	return &rawConn{conn: conn, stmts: make(map[string]driver.Stmt)}
}

func (c *rawConn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = st
	return st, nil
}

// close finalises the prepared statements; the connection stays open.
func (c *rawConn) close() {
	for _, st := range c.stmts {
		_ = st.Close()
	}
	clear(c.stmts)
}

func namedArgs(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			a = int64(v)
		case nil, int64, string, []byte, bool:
		default:
			return nil, fmt.Errorf("store: unsupported argument type %T", a)
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv, nil
}

func (c *rawConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return 0, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, nv)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c *rawConn) insertID(ctx context.Context, query string, args ...any) (int64, bool, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return 0, false, err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return 0, false, err
	}
	return resultID(st.(driver.StmtExecContext).ExecContext(ctx, nv))
}

func (c *rawConn) query(ctx context.Context, query string, args ...any) (rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return nil, err
	}
	rs, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
	if err != nil {
		return nil, err
	}
	return &rawRows{rows: rs, vals: make([]driver.Value, len(rs.Columns()))}, nil
}

func (c *rawConn) queryRow(ctx context.Context, query string, args ...any) row {
	rs, err := c.query(ctx, query, args...)
	if err != nil {
		return errRow{err}
	}
	return rawRow{rs.(*rawRows)}
}

func (c *rawConn) begin(ctx context.Context) (txn, error) {
	tx, err := c.conn.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return nil, err
	}
	return rawTxn{c, tx}, nil
}

type rawTxn struct {
	*rawConn
	tx driver.Tx
}

func (t rawTxn) commit(context.Context) error   { return t.tx.Commit() }
func (t rawTxn) rollback(context.Context) error { return t.tx.Rollback() }

type rawRows struct {
	rows driver.Rows
	vals []driver.Value
	err  error
}

func (r *rawRows) Next() bool {
	if r.err != nil {
		return false
	}
	if err := r.rows.Next(r.vals); err != nil {
		if err != io.EOF {
			r.err = err
		}
		return false
	}
	return true
}

func (r *rawRows) Scan(dest ...any) error {
	if len(dest) != len(r.vals) {
		return fmt.Errorf("store: scan %d values into %d destinations", len(r.vals), len(dest))
	}
	for i, d := range dest {
		if err := assign(d, r.vals[i]); err != nil {
			return fmt.Errorf("store: scan column %d: %w", i, err)
		}
	}
	return nil
}

func (r *rawRows) Err() error { return r.err }
func (r *rawRows) Close()     { _ = r.rows.Close() }

type rawRow struct{ rs *rawRows }

func (r rawRow) Scan(dest ...any) error {
	defer r.rs.Close()
	if !r.rs.Next() {
		if r.rs.err != nil {
			return r.rs.err
		}
		return sql.ErrNoRows
	}
	return r.rs.Scan(dest...)
}

// assign stores a driver value in one of the destination types the store
// scans into.
func assign(dest any, src driver.Value) error {
	switch d := dest.(type) {
	case sql.Scanner:
		return d.Scan(src)
	case *int64:
		if v, ok := src.(int64); ok {
			*d = v
			return nil
		}
	case *bool:
		if v, ok := src.(int64); ok {
			*d = v != 0
			return nil
		}
	case *string:
		switch v := src.(type) {
		case string:
			*d = v
			return nil
		case []byte:
			*d = string(v)
			return nil
		}
	case **string:
		switch v := src.(type) {
		case nil:
			*d = nil
			return nil
		case string:
			*d = &v
			return nil
		case []byte:
			s := string(v)
			*d = &s
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in %T", src, dest)
}
