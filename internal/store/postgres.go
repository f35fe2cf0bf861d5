package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"parley/internal/chat"
)

// pgDialect is the PostgreSQL text of the statements that differ between
// the engines.
var pgDialect = dialect{
	msgCols: pgMsgCols,
	// $1 = user id, $2 = seq, $3 = now, $4 = room. PostgreSQL cannot infer
	// the type of a parameter in a SELECT list.
	roomMention: "m.mentions_room",
	markRead: `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT CAST($1 AS BIGINT), name, LEAST(CAST($2 AS BIGINT), last_seq), CAST($3 AS timestamptz) FROM rooms WHERE name = $4
			AND (kind = 'public' OR EXISTS (SELECT 1 FROM room_members x WHERE x.user_id = $1 AND x.room = rooms.name))
		ON CONFLICT (user_id, room) DO UPDATE SET last_read = GREATEST(room_members.last_read, excluded.last_read)`,
	// Taken at the start of each migration's transaction and released at
	// its end; the key is arbitrary ("parley" in ASCII, 0x7061726c6579).
	migrateLock: "SELECT pg_advisory_xact_lock(123563833845113)",
	usersLock:   "SELECT pg_advisory_xact_lock(123563833845114)",
}

// openPostgres connects a pgx pool to the database dsn names. Every query,
// write and message batch takes a connection of the pool.
func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message names the faulty part and hides the password.
		return nil, chat.Errorf(chat.EInvalid, "The PostgreSQL URL is not valid: %v", err)
	}
	// No JIT compilation (unless the URL asks for it): Parley's queries
	// read a few rows by an index, but a statement prepared with its
	// LIMIT as a parameter is estimated at a tenth of a large table, which
	// passes jit_above_cost, and compiling then takes 100 ms or more — on
	// a history page (measured at 100,000 and 10 million messages).
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
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
	db := pgDB{pgQuerier{pool}, pool}
	return &Store{
		engine: EnginePostgres,
		sql:    pgDialect,
		read:   db,
		write:  db,
		// Each worker holds a pool connection while it writes a batch; the
		// rest of the pool stays free for everything else.
		batches: newBatcher(max(1, int(cfg.MaxConns)/2), pgBatchWriter{pool}),
		closeConns: func() error {
			pool.Close()
			return nil
		},
	}, nil
}

// pgDB is the query API on a pgx pool. pgx prepares and keeps each
// statement on each connection by itself.
type pgDB struct {
	pgQuerier
	pool *pgxpool.Pool
}

var _ db = pgDB{}

func (d pgDB) ping(ctx context.Context) error { return d.pool.Ping(ctx) }

func (d pgDB) inTx(ctx context.Context, f func(querier) error) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := f(pgQuerier{tx}); err != nil {
		// A fresh context: the transaction must end even when ctx is done.
		_ = tx.Rollback(context.Background())
		return err
	}
	return tx.Commit(ctx)
}

// pgQuerier runs statements through what a pool and a transaction have in
// common.
type pgQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (p pgQuerier) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (p pgQuerier) queryRow(ctx context.Context, query string, args ...any) row {
	return p.q.QueryRow(ctx, query, args...)
}

func (p pgQuerier) query(ctx context.Context, query string, args ...any) (rows, error) {
	return p.q.Query(ctx, query, args...)
}
