// Package store keeps Parley's users, sessions, rooms and messages in SQLite
// (embedded, the default) or PostgreSQL (several processes). It holds all of
// Parley's SQL; both engines share one Store type and one set of logic, and
// each has its own numbered migrations, embedded in the binary.
//
// Every room numbers its messages 1, 2, 3, ... without gaps (seq). Sending
// the same (room, author, client_id) twice stores one message. Concurrent
// message inserts are committed together (group commit), so that one commit
// carries many messages. On SQLite all writes go through one connection.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"parley/internal/chat"
)

// The engines a Store runs on, as Engine reports them.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// errClosed is returned by calls on a closed Store.
var errClosed = errors.New("store: closed")

// Store is Parley's database. It is safe for concurrent use.
type Store struct {
	engine string
	sql    dialectSQL

	// write runs writes and read runs queries. On SQLite write is a single
	// connection and read a pool of read-only ones; on PostgreSQL both are
	// the same pool.
	write handle
	read  handle

	// SQLite only.
	writeDB      *sqlHandle
	readDB       *sqlHandle
	batcher      *batcher
	checkpointer *checkpointer

	// PostgreSQL only.
	pool *pgxpool.Pool

	closeOnce sync.Once
	closeErr  error
}

// Open connects to the database that dsn names and checks that it answers.
// dsn is "sqlite:PATH" (a file, created if absent) or a PostgreSQL URL,
// "postgres://..." or "postgresql://...", passed to pgx as it is (so
// connect_timeout, pool_max_conns and the like work). Any other dsn is a
// *chat.Error with code chat.EInvalid. Open does not migrate: call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	case dsn == "":
		return nil, chat.Errorf(chat.EInvalid, "No database given: use sqlite:PATH or postgres://...")
	default:
		return nil, chat.Errorf(chat.EInvalid, "Unknown database %q: use sqlite:PATH or postgres://...", redactDSN(dsn))
	}
}

// redactDSN keeps a password that a mistyped URL may hold out of messages.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "@"); i >= 0 {
		if j := strings.Index(dsn, "://"); j >= 0 && j < i {
			return dsn[:j+3] + "…" + dsn[i:]
		}
	}
	return dsn
}

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
const (
	sqliteCommon = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)"
	sqliteWriter = sqliteCommon + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate" +
		"&_pragma=wal_autocheckpoint(10000)&_pragma=journal_size_limit(67108864)"
	sqliteReader = sqliteCommon + "&_pragma=query_only(1)"
)

func openSQLite(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, chat.Errorf(chat.EInvalid, "No SQLite file given: use sqlite:PATH, for example sqlite:parley.db")
	}
	if path == ":memory:" || strings.HasPrefix(path, "file::memory:") || strings.Contains(path, "mode=memory") {
		// Every connection would get its own empty database.
		return nil, chat.Errorf(chat.EInvalid, "An in-memory SQLite database is not supported: give a file path, for example sqlite:parley.db")
	}
	uri := sqliteURI(path)

	wdb, err := sql.Open("sqlite", uri+"?"+sqliteWriter)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite database %q: %w", path, err)
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := wdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("store: cannot open sqlite database %q: %w", path, err)
	}

	rdb, err := sql.Open("sqlite", uri+"?"+sqliteReader)
	if err != nil {
		_ = wdb.Close()
		return nil, fmt.Errorf("store: open sqlite database %q: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	rdb.SetMaxOpenConns(n)
	rdb.SetMaxIdleConns(n)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	if err := rdb.PingContext(ctx); err != nil {
		_ = wdb.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("store: cannot open sqlite database %q: %w", path, err)
	}

	cdb, err := sql.Open("sqlite", uri+"?"+sqliteCommon)
	if err != nil {
		_ = wdb.Close()
		_ = rdb.Close()
		return nil, fmt.Errorf("store: open sqlite database %q: %w", path, err)
	}
	cdb.SetMaxOpenConns(1)

	s := &Store{engine: EngineSQLite, sql: newDialectSQL(EngineSQLite), writeDB: newSQLHandle(wdb), readDB: newSQLHandle(rdb),
		checkpointer: newCheckpointer(cdb)}
	s.write, s.read = s.writeDB, s.readDB
	w := &sqliteBatchWriter{s: s}
	s.batcher = newBatcher(1, w.write, w.stop)
	return s, nil
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

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message names the faulty part and hides the password.
		return nil, chat.Errorf(chat.EInvalid, "The PostgreSQL URL is not valid: %v", err)
	}
	where := fmt.Sprintf("%s at %s:%d", cfg.ConnConfig.Database, cfg.ConnConfig.Host, cfg.ConnConfig.Port)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres database %s: %w", where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: cannot reach postgres database %s: %w", where, err)
	}
	h := pgHandle{pool}
	s := &Store{engine: EnginePostgres, sql: newDialectSQL(EnginePostgres), write: h, read: h, pool: pool}
	// Each worker holds a pool connection while it writes a batch; the
	// rest of the pool stays free for everything else.
	workers := max(1, int(cfg.MaxConns)/2)
	s.batcher = newBatcher(workers, func(msgs []chat.NewMessage, results []insertResult) error {
		s.writeBatch(h, msgs, results)
		return nil
	}, nil)
	return s, nil
}

// Engine reports which database the store runs on: EngineSQLite or
// EnginePostgres.
func (s *Store) Engine() string { return s.engine }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var err error
	if s.pool != nil {
		err = s.pool.Ping(ctx)
	} else {
		err = s.readDB.db.PingContext(ctx)
	}
	if err != nil {
		return fmt.Errorf("store: ping %s: %w", s.engine, err)
	}
	return nil
}

// Close stops the message writers, answering the inserts still waiting with
// an error, and closes the database connections. Inserts already being
// written are committed (or not) before Close returns. Close is safe to call
// more than once; other calls after Close fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.batcher.close()
		if s.pool != nil {
			s.pool.Close()
			return
		}
		s.closeErr = errors.Join(s.checkpointer.close(), s.readDB.close(), s.writeDB.close())
	})
	return s.closeErr
}

// dialectSQL holds the statements whose text differs between the engines.
type dialectSQL struct {
	markRead string
}

func newDialectSQL(engine string) dialectSQL {
	r := strings.NewReplacer("{ts}", "?", "{least}", "min", "{greatest}", "max")
	if engine == EnginePostgres {
		// PostgreSQL cannot infer the type of a parameter in a SELECT list.
		r = strings.NewReplacer("{ts}", "CAST(? AS timestamptz)", "{least}", "LEAST", "{greatest}", "GREATEST")
	}
	return dialectSQL{
		// ? = user id, seq, now, room
		markRead: r.Replace(`
			INSERT INTO room_members (user_id, room, last_read, entered_at)
			SELECT CAST(? AS BIGINT), name, {least}(CAST(? AS BIGINT), last_seq), {ts} FROM rooms WHERE name = ?
			ON CONFLICT (user_id, room) DO UPDATE SET last_read = {greatest}(room_members.last_read, excluded.last_read)`),
	}
}

// now is the current time as the store keeps it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// ts is t as a query argument for the engine's timestamp columns: unix
// microseconds in SQLite, timestamptz in PostgreSQL.
func (s *Store) ts(t time.Time) any {
	if s.engine == EngineSQLite {
		return t.UnixMicro()
	}
	return t.UTC().Truncate(time.Microsecond)
}

// timeCol scans a timestamp column of either engine into a UTC time.Time
// with microsecond precision.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.t = time.UnixMicro(v).UTC()
	case time.Time:
		*c.t = v.UTC().Truncate(time.Microsecond)
	default:
		return fmt.Errorf("store: cannot scan %T into a time", src)
	}
	return nil
}
