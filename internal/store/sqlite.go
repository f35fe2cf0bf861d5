package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"parley/internal/chat"
)

// SQLite settings, per connection (modernc.org/sqlite runs each _pragma on
// every new connection):
//   - WAL lets readers run while the writer writes.
//   - synchronous=NORMAL in WAL mode syncs the log at checkpoints, not at
//     every commit: a committed transaction survives a crash of the process,
//     but the last commits before a power failure or an OS crash may be lost.
//     Parley takes that trade for write throughput; a deployment that cannot
//     lose any acknowledged message on power loss should run PostgreSQL.
//   - busy_timeout waits for another process's lock instead of failing.
//   - the writer leaves checkpoints to the checkpointer (see there) and
//     steps in only when the log passes 10,000 pages (SQLite's default is
//     1,000); a log grown past 64 MiB is truncated when it is rewound.
//   - _txlock=immediate takes the write lock at BEGIN, so two processes on
//     one file queue up instead of failing to upgrade a read lock.
//   - _time_integer_format stores a time.Time argument as unix
//     microseconds, as the INTEGER timestamp columns hold them.
const (
	sqliteCommon = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_time_integer_format=unix_micro"
	sqliteWriter = sqliteCommon + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate" +
		"&_pragma=wal_autocheckpoint(10000)&_pragma=journal_size_limit(67108864)"
	sqliteReader = sqliteCommon + "&_pragma=query_only(1)"
)

// sqliteDialect is the SQLite text of the statements that differ between
// the engines.
var sqliteDialect = dialect{
	msgCols: sqliteMsgCols,
	// $1 = user id, $2 = seq, $3 = now, $4 = room
	roomMention: "m.mentions_room = 1",
	markRead: `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT CAST($1 AS BIGINT), name, min(CAST($2 AS BIGINT), last_seq), $3 FROM rooms WHERE name = $4
			AND (kind = 'public' OR EXISTS (SELECT 1 FROM room_members x WHERE x.user_id = $1 AND x.room = rooms.name))
		ON CONFLICT (user_id, room) DO UPDATE SET last_read = max(room_members.last_read, excluded.last_read)`,
}

// openSQLite opens the SQLite file at path with three pools: one writer
// connection, which every write and every message batch goes through (SQLite
// has one writer at a time anyway, and one connection keeps its statements
// prepared), a pool of read-only connections for queries, and a connection
// for the checkpointer.
func openSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, chat.Errorf(chat.EInvalid, "No SQLite file given: use sqlite:PATH, for example sqlite:parley.db")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") || strings.Contains(path, "mode=memory") {
		// Every connection would get its own empty database.
		return nil, chat.Errorf(chat.EInvalid, "An in-memory SQLite database is not supported: give a file path, for example sqlite:parley.db")
	}
	uri := sqliteURI(path)
	var opened []*sql.DB
	open := func(settings string, conns int) (*sql.DB, error) {
		db, err := sql.Open("sqlite", uri+"?"+settings)
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite database %q: %w", path, err)
		}
		opened = append(opened, db)
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("store: cannot open sqlite database %q: %w", path, err)
		}
		return db, nil
	}
	wdb, err := open(sqliteWriter, 1)
	if err != nil {
		return nil, err
	}
	rdb, err := open(sqliteReader, max(4, 2*runtime.GOMAXPROCS(0)))
	if err != nil {
		closeAll(opened)
		return nil, err
	}
	cdb, err := open(sqliteCommon, 1)
	if err != nil {
		closeAll(opened)
		return nil, err
	}

	write, read, cp := newSQLiteDB(wdb), newSQLiteDB(rdb), newCheckpointer(cdb)
	return &Store{
		engine:  EngineSQLite,
		sql:     sqliteDialect,
		read:    read,
		write:   write,
		batches: newBatcher(1, &sqliteBatchWriter{db: wdb, checkpointer: cp}),
		closeConns: func() error {
			return errors.Join(cp.close(), read.close(), write.close())
		},
	}, nil
}

func closeAll(dbs []*sql.DB) {
	for _, db := range dbs {
		_ = db.Close()
	}
}

// sqliteURI turns a path into the file: URI that SQLite opens, escaping the
// characters that URIs give a meaning.
func sqliteURI(path string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	path = r.Replace(path)
	if strings.HasPrefix(path, "/") {
		return "file://" + path
	}
	return "file:" + path
}

// sqliteDB is the query API on a database/sql pool of SQLite connections.
// A statement with arguments is prepared once per connection and kept:
// for the short statements of the hot path, preparing costs more than
// running.
type sqliteDB struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // nil once closed
}

var _ db = (*sqliteDB)(nil)

func newSQLiteDB(db *sql.DB) *sqliteDB {
	return &sqliteDB{db: db, stmts: make(map[string]*sql.Stmt)}
}

// prepared returns the statement for query if the pool has prepared it.
func (d *sqliteDB) prepared(query string) *sql.Stmt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stmts[query]
}

// stmt returns the statement for query, preparing it if needed.
func (d *sqliteDB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st := d.prepared(query); st != nil {
		return st, nil
	}
	// Not under mu: preparing may wait for the connection that a
	// transaction holds, and that transaction needs mu to find its
	// statements.
	st, err := d.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if prev, ok := d.stmts[query]; ok {
		_ = st.Close()
		return prev, nil
	}
	if d.stmts == nil { // closed meanwhile
		_ = st.Close()
		return nil, errClosed
	}
	d.stmts[query] = st
	return st, nil
}

func (d *sqliteDB) close() error {
	d.mu.Lock()
	for _, st := range d.stmts {
		_ = st.Close()
	}
	d.stmts = nil
	d.mu.Unlock()
	return d.db.Close()
}

func (d *sqliteDB) ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// exec runs a statement with arguments prepared, and one without (a
// migration's script) directly, as it is not worth keeping.
func (d *sqliteDB) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if len(args) == 0 {
		return rowsAffected(d.db.ExecContext(ctx, query))
	}
	st, err := d.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	return rowsAffected(st.ExecContext(ctx, args...))
}

func (d *sqliteDB) queryRow(ctx context.Context, query string, args ...any) row {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func (d *sqliteDB) query(ctx context.Context, query string, args ...any) (rows, error) {
	st, err := d.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return sqlRows(st.QueryContext(ctx, args...))
}

// queryOnce runs a query without keeping its statement: for statements
// whose text varies with what a user asks (a search, with its operators),
// which would fill the pool's statements without bound.
func (d *sqliteDB) queryOnce(ctx context.Context, query string, args ...any) (rows, error) {
	return sqlRows(d.db.QueryContext(ctx, query, args...))
}

func (d *sqliteDB) inTx(ctx context.Context, f func(querier) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &sqliteTx{tx: tx, d: d}
	if err = f(t); err == nil {
		err = tx.Commit()
	} else {
		_ = tx.Rollback()
	}
	// The transaction has given its connection back: now the pool can
	// prepare what it ran unprepared. An error here shows again at the
	// statement's next use.
	for _, q := range t.unprepared {
		_, _ = d.stmt(context.Background(), q)
	}
	return err
}

// sqliteTx is a transaction of a sqliteDB. It runs the statements the pool
// has prepared on its own connection. One the pool has not prepared yet it
// runs unprepared, and has the pool prepare it after the transaction:
// preparing it on the pool now would wait for a free connection, and the
// writer's pool has only the one this transaction holds.
type sqliteTx struct {
	tx         *sql.Tx
	d          *sqliteDB
	unprepared []string
}

func (t *sqliteTx) stmt(ctx context.Context, query string, args []any) *sql.Stmt {
	if len(args) == 0 {
		return nil
	}
	if st := t.d.prepared(query); st != nil {
		// StmtContext reuses the statement already prepared on the
		// transaction's connection.
		return t.tx.StmtContext(ctx, st)
	}
	t.unprepared = append(t.unprepared, query)
	return nil
}

func (t *sqliteTx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if st := t.stmt(ctx, query, args); st != nil {
		return rowsAffected(st.ExecContext(ctx, args...))
	}
	return rowsAffected(t.tx.ExecContext(ctx, query, args...))
}

func (t *sqliteTx) queryRow(ctx context.Context, query string, args ...any) row {
	if st := t.stmt(ctx, query, args); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t *sqliteTx) query(ctx context.Context, query string, args ...any) (rows, error) {
	if st := t.stmt(ctx, query, args); st != nil {
		return sqlRows(st.QueryContext(ctx, args...))
	}
	return sqlRows(t.tx.QueryContext(ctx, query, args...))
}

func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlRowsCloser adapts *sql.Rows, whose Close returns an error, to rows.
type sqlRowsCloser struct{ *sql.Rows }

func (r sqlRowsCloser) Close() { _ = r.Rows.Close() }

func sqlRows(rs *sql.Rows, err error) (rows, error) {
	if err != nil {
		return nil, err
	}
	return sqlRowsCloser{rs}, nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
