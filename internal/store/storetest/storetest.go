// Package storetest gives tests real, fresh, migrated databases: a SQLite
// file in the test's temporary directory, and, where PARLEY_TEST_POSTGRES
// names a server, a PostgreSQL database of its own that is dropped when the
// test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"parley/internal/store"
	"parley/internal/testenv"
)

// PostgresEnv is the environment variable that names the PostgreSQL server
// for tests, as a URL such as
// postgres://root@127.0.0.1:5432/test?sslmode=disable. The user must be
// allowed to create databases.
const PostgresEnv = "PARLEY_TEST_POSTGRES"

// SQLite returns a migrated store on a new SQLite file in tb.TempDir(),
// closed when the test ends.
func SQLite(tb testing.TB) *store.Store {
	tb.Helper()
	return open(tb, "sqlite:"+filepath.Join(tb.TempDir(), "parley.db"), true)
}

// Postgres returns a migrated store on a new PostgreSQL database of its own
// (see PostgresDSN), closed when the test ends.
func Postgres(tb testing.TB) *store.Store {
	tb.Helper()
	return open(tb, PostgresDSN(tb), true)
}

func open(tb testing.TB, dsn string, migrate bool) *store.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("storetest: close: %v", err)
		}
	})
	if !migrate {
		return s
	}
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	return s
}

// PostgresDSN creates a new, empty database, parley_test_<random>, on the
// server PARLEY_TEST_POSTGRES names, drops it when the test ends, and
// returns its URL. Without PARLEY_TEST_POSTGRES the test is skipped; with
// it, a server that cannot be reached fails the test.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	admin := testenv.Need(tb, PostgresEnv, "PostgreSQL tests")
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("storetest: %s is not a postgres:// URL", PostgresEnv)
	}

	var b [8]byte
	rand.Read(b[:])
	name := "parley_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// pgxpool's settings (pool_max_conns, ...) mean nothing to a single
	// connection; they stay in the returned URL.
	adminURL := *u
	q := adminURL.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	adminURL.RawQuery = q.Encode()
	admin = adminURL.String()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("storetest: cannot reach the PostgreSQL server of %s: %v", PostgresEnv, err)
	}
	defer conn.Close(context.Background())
	// The name is ours, made of [a-z0-9_]: safe to put in the statement.
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("storetest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("storetest: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// Engines runs f as the subtest "sqlite" on a fresh SQLite store and as the
// subtest "postgres" on a fresh PostgreSQL store; the latter is skipped
// when PARLEY_TEST_POSTGRES is not set.
func Engines(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, Postgres(t)) })
}

// EnginesUnmigrated is Engines with stores that are not migrated: for
// tests of a migration, which migrate them step by step.
func EnginesUnmigrated(t *testing.T, f func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, open(t, "sqlite:"+filepath.Join(t.TempDir(), "parley.db"), false)) })
	t.Run("postgres", func(t *testing.T) { f(t, open(t, PostgresDSN(t), false)) })
}
