package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFiles holds migrations/ENGINE/NNNN_name.sql, applied in the order
// of their numbers. A migration, once released, is never edited: a change
// to the schema is a new file with the next number.
//
//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	sql     string
}

func loadMigrations(engine string) ([]migration, error) {
	dir := path.Join("migrations", engine)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number", name)
		}
		b, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrateLockKey is the PostgreSQL advisory lock that serialises Migrate
// across processes (an arbitrary constant, "parley" in ASCII).
const migrateLockKey = 0x7061726c6579

// Migrate applies the embedded migrations that the database has not seen
// yet, in order, each in its own transaction, and records each in the
// schema_migrations table. It is idempotent. Several processes may migrate
// one database at once: on PostgreSQL they queue on an advisory lock, on
// SQLite on the database's write lock.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := loadMigrations(s.engine)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	h := s.write
	if s.pool != nil {
		// The advisory lock belongs to a session, so the whole migration
		// runs on one connection.
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		defer conn.Release()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrateLockKey)); err != nil {
			return fmt.Errorf("store: migrate: take lock: %w", err)
		}
		defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", int64(migrateLockKey))
		h = pgHandle{conn}
	}

	create := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL -- unix microseconds
	)`
	if _, err := h.exec(ctx, create); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, h, m); err != nil {
			return fmt.Errorf("store: migrate: %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, h handle, m migration) error {
	tx, err := h.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.rollback(ctx)
	// Checked inside the transaction: on SQLite it holds the write lock, so
	// another process cannot apply the same migration meanwhile.
	var n int64
	if err := tx.queryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.exec(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
		m.version, m.name, now().UnixMicro()); err != nil {
		return err
	}
	return tx.commit(ctx)
}
