// Package store keeps Parley's users, sessions, rooms and messages in SQLite
// (embedded, the default) or PostgreSQL (several processes). It holds all of
// Parley's SQL, and each engine's numbered migrations, embedded in the
// binary.
//
// Every room numbers its messages 1, 2, 3, ... without gaps (seq). Sending
// the same (room, author, client_id) twice stores one message. Concurrent
// message inserts are committed together (group commit), so that one commit
// carries many messages.
//
// # One Store, two engines
//
// Both engines share the Store type and its methods. What differs between
// them lives in two places:
//
//   - The query API (query.go). Every method except the message inserts
//     runs its SQL, written once with $1, $2, ... placeholders, through a
//     db: sqliteDB on database/sql (sqlite.go) or pgDB on pgx
//     (postgres.go). The few statements whose text differs are in the
//     engine's dialect.
//   - The batch writer (batch.go). The group commit's queues and workers,
//     and the retry of a failed batch one change at a time, are shared;
//     each engine writes a batch in one transaction with a batchWriter of
//     its own, on its driver: sqliteBatchWriter (sqlite_batch.go) runs a
//     few statements per message on the one writer connection, below
//     database/sql (rawconn.go), as a statement costs no round trip there;
//     pgBatchWriter (postgres_batch.go) runs two pipelines whose
//     statements take the whole batch as arrays, so that neither round
//     trips nor statements grow with the batch.
//
// Opening an engine (openSQLite, openPostgres) builds the two and the
// connections under them; the Store holds nothing else of an engine.
//
// # What a batch carries
//
// A batch is a list of changes, each to one room, applied in order in one
// transaction. A change that the room's history shows takes the room's
// next seq (batchRoom.take), and each room's last_seq moves once per
// batch. Today the one kind of change is a new message. Another kind (an
// edit, a deletion, a reaction) is a field of change set instead of msg, a
// Store method that submits it, what its caller waits for in result, and
// in each batchWriter a step beside the messages' that applies it and
// takes its seq; the queues, the room locks, the seqs and the retry of a
// failed batch stay as they are. Whatever must stay in step with the
// rooms' history, such as a full-text index, is written by the same
// writers in the same transaction.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

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
	sql    dialect

	// read runs queries and write runs writes and transactions. On SQLite
	// write is the one writer connection and read a pool of read-only
	// ones; on PostgreSQL both are the one pool.
	read, write db

	// batches is the group commit of messages, written by the engine's
	// batchWriter.
	batches *batcher

	// common is what search takes for common words (PostgreSQL).
	common commonWords

	// closeConns closes the engine's connections, once batches has
	// stopped.
	closeConns func() error
	closeOnce  sync.Once
	closeErr   error
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

// Engine reports which database the store runs on: EngineSQLite or
// EnginePostgres.
func (s *Store) Engine() string { return s.engine }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.ping(ctx); err != nil {
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
		s.batches.close()
		s.closeErr = s.closeConns()
	})
	return s.closeErr
}

// dialect holds the statements whose text differs between the engines.
type dialect struct {
	// msgCols are the columns of a message in its current state, as
	// msgScan reads them.
	msgCols  string
	markRead string
	// roomMention is the condition of a message that mentions @room
	// (messages m), as the engine's partial index has it.
	roomMention string
	// migrateLock, if not empty, runs first in each migration's
	// transaction, so that processes migrating at once queue up.
	migrateLock string
	// usersLock, if not empty, runs first in each transaction that
	// decides by the accounts that exist (the first account is an admin;
	// the last admin stays one), so that two such transactions queue up.
	// SQLite needs none: its write transactions queue up from BEGIN on.
	usersLock string
}

// now is the current time as the store keeps it: UTC, microseconds.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

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

// nullTimeCol scans a timestamp column that may be NULL: the zero time.
type nullTimeCol struct{ t *time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.t = time.Time{}
		return nil
	}
	return timeCol(c).Scan(src)
}

// boolCol scans a boolean column of either engine: SQLite's INTEGER 0 or
// 1, PostgreSQL's boolean.
type boolCol struct{ b *bool }

func (c boolCol) Scan(src any) error {
	switch v := src.(type) {
	case bool:
		*c.b = v
	case int64:
		*c.b = v != 0
	default:
		return fmt.Errorf("store: cannot scan %T into a bool", src)
	}
	return nil
}

// intCol scans an integer column that may be NULL, which reads as 0.
type intCol struct{ n *int64 }

func (c intCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.n = 0
	case int64:
		*c.n = v
	case int32:
		*c.n = int64(v)
	default:
		return fmt.Errorf("store: cannot scan %T into an integer", src)
	}
	return nil
}

// textCol scans a text column that may be NULL, which reads as "".
type textCol struct{ s *string }

func (c textCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.s = ""
	case string:
		*c.s = v
	case []byte:
		*c.s = string(v)
	default:
		return fmt.Errorf("store: cannot scan %T into text", src)
	}
	return nil
}
