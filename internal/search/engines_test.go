package search_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"parley/internal/search"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// engine is a fresh database with the schema before the search migration
// (migrated by the store, the search migration undone) and the search
// migration (the store's migrations/ENGINE/0008_search.sql) on top, driven
// the way the store drives it.
type engine struct {
	name  string
	build func(search.Query, search.Options) (search.Fragment, error)
	exec  func(tb testing.TB, query string, args ...any)
	ids   func(tb testing.TB, query string, args ...any) []int64
	// texts is ids for a column of text (SQLite only).
	texts func(tb testing.TB, query string, args ...any) []string
	// insert stores a message as the store's insert will, and indexes
	// it: with search.SQLiteIndexNew, or a vector computed in Go
	// (PostgreSQL).
	insert func(tb testing.TB, m msg)
	// setContent edits a message's content (an erased one included).
	setContent func(tb testing.TB, id int64, content string)
	ts         func(time.Time) any
	// exec runs a statement that is allowed to fail.
	try func(query string, args ...any) error
	// common is the store's search.Options.Common for the engine's
	// messages, if a benchmark reads it.
	common map[string]bool
}

type msg struct {
	id      int64
	room    string
	author  string
	at      time.Time
	content string
}

// engines runs f on SQLite and, when PARLEY_TEST_POSTGRES is set, on
// PostgreSQL.
func engines(t *testing.T, f func(t *testing.T, e *engine)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteEngine(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresEngine(t, storetest.PostgresDSN(t))) })
}

// migrate gives a new database today's schema through the store's own
// migrations.
func migrate(tb testing.TB, dsn string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
}

// searchMigrations are the files of the store's search migrations: the
// tests apply them where they choose.
var searchMigrations = []string{"0008_search.sql", "0013_search_blocks.sql"}

// withoutSearch undoes the search migrations, which the store's Migrate
// applied (dropping search_vector drops its index).
var withoutSearch = map[string]string{
	"sqlite": `DROP TRIGGER messages_fts_update; DROP TRIGGER messages_fts_delete; DROP TABLE messages_fts;
		DELETE FROM schema_migrations WHERE version IN (8, 13)`,
	"postgres": `ALTER TABLE messages DROP COLUMN search_vector;
		DELETE FROM schema_migrations WHERE version IN (8, 13)`,
}

// proposal returns the search migrations' SQL for engine.
func proposal(tb testing.TB, engine string) string {
	tb.Helper()
	var sql []string
	for _, name := range searchMigrations {
		b, err := os.ReadFile(filepath.Join("..", "store", "migrations", engine, name))
		if err != nil {
			tb.Fatal(err)
		}
		sql = append(sql, string(b))
	}
	return strings.Join(sql, "\n")
}

// postgresSearchIndex is the statement of the search migrations that
// builds PostgreSQL's full-text index, messages_search.
func postgresSearchIndex(tb testing.TB) string {
	tb.Helper()
	sql := proposal(tb, "postgres")
	i := strings.LastIndex(sql, "CREATE INDEX messages_search ")
	j := strings.Index(sql[i+1:], ";")
	if i < 0 || j < 0 {
		tb.Fatal("the search migrations build no index messages_search")
	}
	return sql[i : i+1+j]
}

// sqliteDB returns a migrated SQLite database in tb.TempDir(), with its
// path, without the search migration.
func sqliteDB(tb testing.TB) (*sql.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "parley.db")
	migrate(tb, "sqlite:"+path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Exec(withoutSearch["sqlite"]); err != nil {
		tb.Fatal(err)
	}
	return db, path
}

func sqliteEngine(tb testing.TB) *engine {
	tb.Helper()
	db, _ := sqliteDB(tb)
	e := sqliteOn(db)
	e.exec(tb, proposal(tb, "sqlite"))
	return e
}

func sqliteOn(db *sql.DB) *engine {
	e := &engine{name: "sqlite", build: search.Query.SQLite, ts: func(t time.Time) any { return t.UnixMicro() }}
	e.try = func(query string, args ...any) error {
		_, err := db.Exec(query, args...)
		return err
	}
	e.exec = func(tb testing.TB, query string, args ...any) {
		tb.Helper()
		if err := e.try(query, args...); err != nil {
			tb.Fatalf("sqlite: %v\n%s", err, query)
		}
	}
	e.ids = func(tb testing.TB, query string, args ...any) []int64 {
		tb.Helper()
		return column[int64](tb, db, query, args...)
	}
	e.texts = func(tb testing.TB, query string, args ...any) []string {
		tb.Helper()
		return column[string](tb, db, query, args...)
	}
	e.insert = func(tb testing.TB, m msg) {
		tb.Helper()
		e.exec(tb, "INSERT INTO messages (id, room, seq, author, content, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			m.id, m.room, m.id, m.author, m.content, m.at.UnixMicro())
		e.exec(tb, search.SQLiteIndexNew, m.id)
	}
	e.setContent = func(tb testing.TB, id int64, content string) {
		tb.Helper()
		e.exec(tb, "UPDATE messages SET content = ? WHERE id = ?", content, id)
	}
	return e
}

// column returns the first column of a query's rows.
func column[T any](tb testing.TB, db *sql.DB, query string, args ...any) []T {
	tb.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		tb.Fatalf("sqlite: %v\n%s %v", err, query, args)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("sqlite: %v\n%s %v", err, query, args)
	}
	return out
}

// postgresConn connects to dsn's database, migrated by the store, without
// the search migration.
func postgresConn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	migrate(tb, dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, withoutSearch["postgres"]); err != nil {
		tb.Fatal(err)
	}
	return conn
}

func postgresEngine(tb testing.TB, dsn string) *engine {
	tb.Helper()
	e := postgresOn(postgresConn(tb, dsn))
	e.exec(tb, proposal(tb, "postgres"))
	return e
}

func postgresOn(conn *pgx.Conn) *engine {
	ctx := context.Background()
	e := &engine{name: "postgres", build: search.Query.Postgres, ts: func(t time.Time) any { return t }}
	e.try = func(query string, args ...any) error {
		_, err := conn.Exec(ctx, rebind(query), args...)
		return err
	}
	e.exec = func(tb testing.TB, query string, args ...any) {
		tb.Helper()
		if err := e.try(query, args...); err != nil {
			tb.Fatalf("postgres: %v\n%s", err, query)
		}
	}
	e.ids = func(tb testing.TB, query string, args ...any) []int64 {
		tb.Helper()
		// Planned with its arguments every time, as a search must be: a
		// cached generic plan cannot tell a rare word from a common one.
		rows, err := conn.Query(ctx, rebind(query), append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			tb.Fatalf("postgres: %v\n%s %v", err, query, args)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			tb.Fatalf("postgres: %v\n%s %v", err, query, args)
		}
		if ids == nil {
			ids = []int64{}
		}
		return ids
	}
	e.texts = func(tb testing.TB, query string, args ...any) []string {
		rows, err := conn.Query(ctx, rebind(query), append([]any{pgx.QueryExecModeExec}, args...)...)
		if err != nil {
			tb.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatal(err)
		}
		return lines
	}
	e.insert = func(tb testing.TB, m msg) {
		tb.Helper()
		e.exec(tb, `INSERT INTO messages (id, room, seq, author, content, created_at, search_vector)
			VALUES (?, ?, ?, ?, ?, ?, CAST(? AS tsvector))`,
			m.id, m.room, m.id, m.author, m.content, m.at, search.Vector(m.content))
	}
	e.setContent = func(tb testing.TB, id int64, content string) {
		tb.Helper()
		e.exec(tb, "UPDATE messages SET content = ?, search_vector = CAST(? AS tsvector) WHERE id = ?",
			content, search.Vector(content), id)
	}
	return e
}

// rebind rewrites the ? placeholders of the tests' own statements as $1,
// $2, ... for PostgreSQL; statements already numbered pass unchanged.
func rebind(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// find runs q as the store will: newest first, in windows of blocks
// where the engine reads it so.
func (e *engine) find(tb testing.TB, q search.Query, opt search.Options) []int64 {
	tb.Helper()
	f, err := e.build(q, opt)
	if err != nil {
		tb.Fatalf("%s: build: %v", e.name, err)
	}
	newest := func() (int64, error) {
		return e.ids(tb, "SELECT COALESCE(max(id), 0) FROM messages")[0], nil
	}
	ids := []int64{}
	err = f.Windows("m.id", 0, 1000, newest, func(query string, args []any) (int, error) {
		got := e.ids(tb, query, args...)
		ids = append(ids, got...)
		return len(got), nil
	})
	if err != nil {
		tb.Fatalf("%s: %v", e.name, err)
	}
	return ids
}
