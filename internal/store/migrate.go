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
	step    migrationStep // nil for most
}

// A migrationStep is the part of a migration that SQL alone cannot write
// for both engines, such as Unicode normalisation. It runs in the
// migration's transaction, after the migration's file.
type migrationStep func(ctx context.Context, tx querier) error

// migrationSteps are the steps of the migrations that have one, by
// number, the same on both engines.
var migrationSteps = map[int64]migrationStep{
	2: backfillNameKeys,
	4: lowerCaseRooms,
}

// engineMigrationSteps are the steps of one engine's migrations alone,
// where the other engine's SQL does the same by itself (SQLite's search
// index rebuilds in SQL; PostgreSQL's vectors are written in Go).
var engineMigrationSteps = map[string]map[int64]migrationStep{
	EnginePostgres: {8: backfillSearchVectors},
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
		step := migrationSteps[v]
		if st, ok := engineMigrationSteps[engine][v]; ok {
			step = st
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b), step: step})
	}
	slices.SortFunc(ms, func(a, b migration) int { return int(a.version - b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same number", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// Migrate applies the embedded migrations that the database has not seen
// yet, in order, each in its own transaction, and records each in the
// schema_migrations table. It is idempotent. Several processes may migrate
// one database at once: each transaction takes a lock first (PostgreSQL: an
// advisory lock; SQLite: the database's write lock, from BEGIN IMMEDIATE
// on), so they queue up and a migration runs once.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, 0)
}

// migrateTo migrates up to migration to, or all of them for 0.
func (s *Store) migrateTo(ctx context.Context, to int64) error {
	ms, err := loadMigrations(s.engine)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	create := `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		name       TEXT   NOT NULL,
		applied_at BIGINT NOT NULL -- unix microseconds
	)`
	err = s.write.inTx(ctx, func(tx querier) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.exec(ctx, create)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range ms {
		if to > 0 && m.version > to {
			break
		}
		if err := s.write.inTx(ctx, func(tx querier) error { return s.applyMigration(ctx, tx, m) }); err != nil {
			return fmt.Errorf("store: migrate: %s: %w", m.name, err)
		}
	}
	return nil
}

func (s *Store) lockMigrations(ctx context.Context, tx querier) error {
	if s.sql.migrateLock == "" {
		return nil
	}
	if _, err := tx.exec(ctx, s.sql.migrateLock); err != nil {
		return fmt.Errorf("take lock: %w", err)
	}
	return nil
}

// applyMigration applies m inside tx, unless it is recorded as applied.
func (s *Store) applyMigration(ctx context.Context, tx querier, m migration) error {
	if err := s.lockMigrations(ctx, tx); err != nil {
		return err
	}
	// Checked after the lock: another process cannot apply the same
	// migration meanwhile.
	var n int64
	if err := tx.queryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = $1", m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.exec(ctx, m.sql); err != nil {
		return err
	}
	if m.step != nil {
		if err := m.step(ctx, tx); err != nil {
			return err
		}
	}
	_, err := tx.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
		m.version, m.name, now().UnixMicro())
	return err
}
