package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"time"
)

// rawConn runs statements on a driver connection directly, below
// database/sql. The SQLite batch writer uses it: for the short statements
// of an insert, database/sql's per-statement bookkeeping (locks, dependency
// tracking, wrappers, conversions) is a measurable part of the writer's
// time, and the writer is one goroutine, so its cost per message bounds
// the throughput (docs/decisions/sqlite-raw-connection.md).
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

func (c *rawConn) begin(ctx context.Context) (driver.Tx, error) {
	return c.conn.(driver.ConnBeginTx).BeginTx(ctx, driver.TxOptions{})
}

func namedArgs(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			a = int64(v)
		case nil, int64, string, []byte, bool, time.Time:
		default:
			return nil, fmt.Errorf("store: unsupported argument type %T", a)
		}
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv, nil
}

func (c *rawConn) exec(ctx context.Context, query string, args ...any) (driver.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return nil, err
	}
	return st.(driver.StmtExecContext).ExecContext(ctx, nv)
}

// queryRow runs a query and scans its first row, if any, as
// (*sql.Row).Scan does.
func (c *rawConn) queryRow(ctx context.Context, query string, args ...any) row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	nv, err := namedArgs(args)
	if err != nil {
		return errRow{err}
	}
	rs, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
	if err != nil {
		return errRow{err}
	}
	return rawRow{rs}
}

// queryEach runs a query and scans each of its rows into dest, calling
// each after every row.
func (c *rawConn) queryEach(ctx context.Context, query string, args []any, dest []any, each func() error) error {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return err
	}
	nv, err := namedArgs(args)
	if err != nil {
		return err
	}
	rs, err := st.(driver.StmtQueryContext).QueryContext(ctx, nv)
	if err != nil {
		return err
	}
	defer rs.Close()
	vals := make([]driver.Value, len(rs.Columns()))
	if len(dest) != len(vals) {
		return fmt.Errorf("store: scan %d values into %d destinations", len(vals), len(dest))
	}
	for {
		if err := rs.Next(vals); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		for i, d := range dest {
			if err := assign(d, vals[i]); err != nil {
				return fmt.Errorf("store: scan column %d: %w", i, err)
			}
		}
		if err := each(); err != nil {
			return err
		}
	}
}

type rawRow struct{ rs driver.Rows }

func (r rawRow) Scan(dest ...any) error {
	defer r.rs.Close()
	vals := make([]driver.Value, len(r.rs.Columns()))
	if err := r.rs.Next(vals); err != nil {
		if err == io.EOF {
			return sql.ErrNoRows
		}
		return err
	}
	if len(dest) != len(vals) {
		return fmt.Errorf("store: scan %d values into %d destinations", len(vals), len(dest))
	}
	for i, d := range dest {
		if err := assign(d, vals[i]); err != nil {
			return fmt.Errorf("store: scan column %d: %w", i, err)
		}
	}
	return nil
}

// assign stores a driver value in one of the destination types the writer
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
	case *string:
		switch v := src.(type) {
		case string:
			*d = v
			return nil
		case []byte:
			*d = string(v)
			return nil
		}
	}
	return fmt.Errorf("cannot store %T in %T", src, dest)
}
