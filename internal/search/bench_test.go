package search_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"parley/internal/search"
	"parley/internal/store/storetest"
)

// A generated chat history for the benchmarks: words drawn from a 20,000
// word vocabulary by Zipf's law (a few words very common, most rare), 3 to
// 25 words a message, one in ten with a link, 1,000 authors in 100 rooms,
// over the year before 2026-03-01.

const (
	genWords   = 20000
	genUsers   = 1000
	genRooms   = 100
	genReadble = 30 // rooms the searcher is a member of
)

var genEnd = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

type generator struct {
	r     *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newGenerator(seed uint64) *generator {
	r := rand.New(rand.NewPCG(seed, 1))
	g := &generator{r: r, zipf: rand.NewZipf(r, 1.07, 2, genWords-1)}
	syl := []string{"ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zu", "pe", "da", "gi", "ho", "ba", "fe", "ch", "st", "tr"}
	seen := map[string]bool{}
	for len(g.vocab) < genWords {
		n := 1 + r.IntN(4)
		var b strings.Builder
		for range n {
			b.WriteString(syl[r.IntN(len(syl))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			g.vocab = append(g.vocab, w)
		}
	}
	return g
}

func (g *generator) word() string { return g.vocab[g.zipf.Uint64()] }

func (g *generator) message(id, n int) msg {
	k := 3 + g.r.IntN(23)
	ws := make([]string, k)
	for i := range ws {
		ws[i] = g.word()
	}
	if g.r.IntN(10) == 0 {
		ws = append(ws, "https://example.com/"+g.word())
	}
	ws[0] = strings.ToUpper(ws[0][:1]) + ws[0][1:]
	return msg{
		id:      int64(id),
		room:    "r" + strconv.Itoa(g.r.IntN(genRooms)),
		author:  "u" + strconv.Itoa(g.r.IntN(genUsers)),
		at:      genEnd.Add(-time.Duration(n-id) * (365 * 24 * time.Hour / time.Duration(n))),
		content: strings.Join(ws, " ") + ".",
	}
}

// BenchmarkVector is the Go work PostgreSQL's index adds to an insert.
func BenchmarkVector(b *testing.B) {
	g := newGenerator(1)
	short := g.message(1, 1).content
	long := strings.Repeat(short+" ", 4000/(len(short)+1))
	for _, c := range []struct{ name, s string }{{"message", short}, {"4000chars", long}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				search.Vector(c.s)
			}
		})
	}
}

// BenchmarkIndexSQLite is the cost of the index per inserted message, in
// transactions of 64 messages as the store's group commit writes them:
// none; the search migration with SQLiteIndexNew after each insert (each)
// or once after the batch's (batch); or an AFTER INSERT trigger instead.
func BenchmarkIndexSQLite(b *testing.B) {
	const insertTrigger = `CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
		INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
	END`
	for _, how := range []string{"none", "each", "batch", "trigger"} {
		b.Run(how, func(b *testing.B) {
			db, _ := sqliteDB(b)
			e := sqliteOn(db)
			if how != "none" {
				e.exec(b, proposal(b, "sqlite"))
			}
			if how == "trigger" {
				e.exec(b, insertTrigger)
			}
			e.exec(b, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ('r', 0, 0, 0)")
			g := newGenerator(2)
			contents := make([]string, 1024)
			for i := range contents {
				contents[i] = g.message(i, 1).content
			}
			const batch = 64
			n := 0
			b.ResetTimer()
			for n < b.N {
				tx, err := db.Begin()
				if err != nil {
					b.Fatal(err)
				}
				ins, err := tx.Prepare("INSERT INTO messages (room, seq, author, content, created_at) VALUES ('r', ?, 'u', ?, 0)")
				if err != nil {
					b.Fatal(err)
				}
				var first int64
				for i := 0; i < batch && n < b.N; i++ {
					n++
					res, err := ins.Exec(n, contents[n%len(contents)])
					if err != nil {
						b.Fatal(err)
					}
					id, err := res.LastInsertId()
					if err != nil {
						b.Fatal(err)
					}
					if i == 0 {
						first = id
					}
					if how == "each" {
						if _, err := tx.Exec(search.SQLiteIndexNew, id); err != nil {
							b.Fatal(err)
						}
					}
				}
				if how == "batch" {
					if _, err := tx.Exec(search.SQLiteIndexNew, first); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndexPostgres is the cost of the index per inserted message on
// PostgreSQL, 64 messages a statement as the store's batch inserts them
// (unnest): none, or the vector (computed in Go) and its GIN index.
func BenchmarkIndexPostgres(b *testing.B) {
	for _, how := range []string{"none", "vector"} {
		b.Run(how, func(b *testing.B) {
			conn := postgresConn(b, storetest.PostgresDSN(b))
			e := postgresOn(conn)
			if how == "vector" {
				e.exec(b, proposal(b, "postgres"))
			}
			e.exec(b, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ('r', 0, now(), now())")
			g := newGenerator(2)
			contents := make([]string, 1024)
			for i := range contents {
				contents[i] = g.message(i, 1).content
			}
			const batch = 64
			ctx := context.Background()
			n := 0
			b.ResetTimer()
			for n < b.N {
				var seqs []int64
				var cs, vs []string
				for i := 0; i < batch && n < b.N; i++ {
					n++
					c := contents[n%len(contents)]
					seqs, cs = append(seqs, int64(n)), append(cs, c)
					if how == "vector" {
						vs = append(vs, search.Vector(c))
					}
				}
				var err error
				if how == "vector" {
					_, err = conn.Exec(ctx, `INSERT INTO messages (room, seq, author, content, created_at, search_vector)
						SELECT 'r', s, 'u', c, now(), CAST(v AS tsvector) FROM unnest($1::int8[], $2::text[], $3::text[]) AS x(s, c, v)`,
						seqs, cs, vs)
				} else {
					_, err = conn.Exec(ctx, `INSERT INTO messages (room, seq, author, content, created_at)
						SELECT 'r', s, 'u', c, now() FROM unnest($1::int8[], $2::text[]) AS x(s, c)`, seqs, cs)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSearch measures a page of results (50, newest first) over
// PARLEY_SEARCH_BENCH_MESSAGES generated messages (default 20,000), on
// each engine, for three kinds of query, each run over 100 different
// queries; it reports the latency's p50 and p99 (parsing and building
// included). Before it measures, it checks that both engines return the
// same page for every query. The corpus is built once
// per run: 1,000,000 messages take a few minutes on each engine.
//
//	PARLEY_SEARCH_BENCH_MESSAGES=1000000 go test -run '^$' -bench BenchmarkSearch -benchtime 400x ./internal/search
//
// PARLEY_SEARCH_BENCH_POSTGRES keeps the PostgreSQL corpus in a database
// of its own between runs (keptPostgresEnv).
func BenchmarkSearch(b *testing.B) {
	n := 20000
	if s := os.Getenv("PARLEY_SEARCH_BENCH_MESSAGES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("PARLEY_SEARCH_BENCH_MESSAGES=%q: want a number of messages, at least 1000", s)
		}
		n = v
	}
	g := newGenerator(3)
	msgs := make([]msg, n)
	for i := range msgs {
		msgs[i] = g.message(i+1, n)
	}
	queries := benchQueries(msgs)
	type built struct {
		name string
		e    *engine
	}
	var es []built
	start := time.Now()
	es = append(es, built{"sqlite", loadSQLite(b, msgs)})
	b.Logf("sqlite: %d messages loaded in %v", n, time.Since(start).Round(time.Second))
	if kept := os.Getenv(keptPostgresEnv); kept != "" {
		start = time.Now()
		es = append(es, built{"postgres", keptPostgres(b, kept, msgs)})
		b.Logf("postgres (kept): %d messages ready in %v", n, time.Since(start).Round(time.Second))
	} else if os.Getenv(storetest.PostgresEnv) != "" {
		start = time.Now()
		es = append(es, built{"postgres", loadPostgres(b, postgresConn(b, storetest.PostgresDSN(b)), msgs)})
		b.Logf("postgres: %d messages loaded in %v", n, time.Since(start).Round(time.Second))
	}
	for _, x := range es {
		if x.name == "postgres" {
			// The common words as the store reads them.
			x.e.common = map[string]bool{}
			for _, w := range x.e.texts(b, "SELECT word FROM ("+search.PostgresWordShares+") AS w WHERE share >= $1", search.PostgresCommon) {
				x.e.common[w] = true
			}
			b.Logf("postgres: %d common words", len(x.e.common))
		}
	}
	// The searcher's rooms: a list the store keeps in memory, a subquery
	// over room_members, or (PostgreSQL) that subquery run once, as an
	// array, compared to m.room || '' as the store writes it (no index on
	// room may answer it).
	var readable []string
	for i := range genReadble {
		readable = append(readable, "r"+strconv.Itoa(i))
	}
	shapes := []struct {
		name, only string
		opt        search.Options
	}{
		{"list", "", search.Options{Readable: search.RoomsIn(readable)}},
		{"subquery", "", search.Options{Readable: search.Filter{
			SQL: "m.room IN (SELECT room FROM room_members WHERE user_id = $1)", Args: []any{1}}}},
		{"array", "postgres", search.Options{Readable: search.Filter{
			SQL: "(m.room || '') = ANY(ARRAY(SELECT room FROM room_members WHERE user_id = $1))", Args: []any{1}}}},
	}
	page := func(e *engine, opt search.Options, s string) []int64 {
		opt.Common = e.common
		f, err := e.build(parse(b, s), opt)
		if err != nil {
			b.Fatal(err)
		}
		ids := []int64{}
		newest := func() (int64, error) { return int64(n), nil }
		err = f.Windows("m.id", 0, 50, newest, func(query string, args []any) (int, error) {
			got := e.ids(b, query, args...)
			ids = append(ids, got...)
			return len(got), nil
		})
		if err != nil {
			b.Fatal(err)
		}
		return ids
	}
	for kind, qs := range queries {
		found := 0
		for _, s := range qs {
			first := page(es[0].e, shapes[0].opt, s)
			found += len(first)
			for _, x := range es {
				for _, sh := range shapes {
					if sh.only != "" && sh.only != x.name {
						continue
					}
					if got := page(x.e, sh.opt, s); !slices.Equal(got, first) {
						b.Fatalf("%q: %s %v, %s/%s %v", s, es[0].name, first, x.name, sh.name, got)
					}
				}
			}
		}
		if kind == "words" && found < len(qs) {
			b.Fatalf("the %d word queries found %d messages; each should find one at least", len(qs), found)
		}
	}
	for _, x := range es {
		for _, sh := range shapes {
			if sh.only != "" && sh.only != x.name {
				continue
			}
			for _, kind := range []string{"words", "operators", "only-operators"} {
				b.Run(x.name+"/"+sh.name+"/"+kind, func(b *testing.B) {
					qs := queries[kind]
					var lat []time.Duration
					found := 0
					var slowest time.Duration
					var slowQuery string
					for i := 0; b.Loop(); i++ {
						s := qs[i%len(qs)]
						t0 := time.Now()
						found += len(page(x.e, sh.opt, s))
						d := time.Since(t0)
						lat = append(lat, d)
						if d > slowest {
							slowest, slowQuery = d, s
						}
					}
					b.Logf("slowest: %q, %v", slowQuery, slowest)
					slices.Sort(lat)
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
					b.ReportMetric(float64(found)/float64(len(lat)), "results/op")
				})
			}
		}
	}
}

// benchQueries makes 100 queries of each kind from the corpus: two words
// of one message the searcher may read (so that each finds it at least);
// the same with a room,
// a start date and an excluded word; an author and a room alone.
func benchQueries(msgs []msg) map[string][]string {
	r := rand.New(rand.NewPCG(4, 4))
	qs := map[string][]string{}
	for len(qs["words"]) < 100 {
		m := msgs[r.IntN(len(msgs))]
		if n, _ := strconv.Atoi(strings.TrimPrefix(m.room, "r")); n >= genReadble {
			continue // the searcher cannot read it
		}
		ws := strings.Fields(strings.ToLower(strings.TrimSuffix(m.content, ".")))
		a, c := ws[r.IntN(len(ws))], ws[r.IntN(len(ws))]
		if strings.Contains(a+c, ":") || a == c {
			continue
		}
		other := msgs[r.IntN(len(msgs))].content
		x := strings.Fields(strings.ToLower(strings.TrimSuffix(other, ".")))[0]
		room := "r" + strconv.Itoa(r.IntN(genReadble))
		qs["words"] = append(qs["words"], a+" "+c)
		qs["operators"] = append(qs["operators"], fmt.Sprintf("%s %s in:%s after:2025-09-01 -%s", a, c, room, x))
		qs["only-operators"] = append(qs["only-operators"], fmt.Sprintf("from:u%d in:%s", r.IntN(genUsers), room))
	}
	return qs
}

// benchSchema stores the corpus's rooms and users, the searcher (user 1)
// a member of the first genReadble rooms.
func benchSchema(b *testing.B, e *engine) {
	t0 := e.ts(genEnd)
	e.exec(b, "INSERT INTO users (id, name, password_hash, admin, created_at) VALUES (1, 'searcher', 'x', ?, ?)", false, t0)
	for i := range genRooms {
		r := "r" + strconv.Itoa(i)
		e.exec(b, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES (?, 0, ?, ?)", r, t0, t0)
		if i < genReadble {
			e.exec(b, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES (1, ?, 0, ?)", r, t0)
		}
	}
}

func loadSQLite(b *testing.B, msgs []msg) *engine {
	db, _ := sqliteDB(b)
	e := sqliteOn(db)
	e.exec(b, proposal(b, "sqlite"))
	benchSchema(b, e)
	for i := 0; i < len(msgs); i += 10000 {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		st, err := tx.Prepare("INSERT INTO messages (id, room, seq, author, content, created_at) VALUES (?, ?, ?, ?, ?, ?)")
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs[i:min(i+10000, len(msgs))] {
			if _, err := st.Exec(m.id, m.room, m.id, m.author, m.content, m.at.UnixMicro()); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := tx.Exec(search.SQLiteIndexNew, msgs[i].id); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	e.exec(b, "ANALYZE")
	return e
}

// keptPostgresEnv names a PostgreSQL database (a URL) where BenchmarkSearch
// keeps its corpus between runs, instead of loading it into a new
// database each run: 10,000,000 messages take about ten minutes to load.
// The database must be empty or hold the corpus of an earlier run of the
// same size; the benchmark never empties it.
const keptPostgresEnv = "PARLEY_SEARCH_BENCH_POSTGRES"

// keptPostgres returns the engine of the database at dsn, loading the
// corpus into it first if it does not hold it yet.
func keptPostgres(b *testing.B, dsn string, msgs []msg) *engine {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatalf("%s: %v", keptPostgresEnv, err)
	}
	var stored int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&stored)
	switch {
	case err == nil && stored == int64(len(msgs)):
		b.Cleanup(func() { conn.Close(context.Background()) })
		return postgresOn(conn)
	case err == nil:
		b.Fatalf("%s holds %d messages, not this run's %d: give it an empty database", keptPostgresEnv, stored, len(msgs))
	}
	conn.Close(context.Background())
	return loadPostgres(b, postgresConn(b, dsn), msgs)
}

// loadPostgres loads the corpus into conn's new database with the GIN
// index dropped and builds it afterwards, as the index of a bulk load is
// best built.
func loadPostgres(b *testing.B, conn *pgx.Conn, msgs []msg) *engine {
	e := postgresOn(conn)
	e.exec(b, proposal(b, "postgres"))
	benchSchema(b, e)
	e.exec(b, "DROP INDEX messages_search")
	ctx := context.Background()
	for i := 0; i < len(msgs); i += 5000 {
		var ids []int64
		var rooms, authors, contents, vectors []string
		var ats []time.Time
		for _, m := range msgs[i:min(i+5000, len(msgs))] {
			ids, rooms, authors = append(ids, m.id), append(rooms, m.room), append(authors, m.author)
			contents, vectors, ats = append(contents, m.content), append(vectors, search.Vector(m.content)), append(ats, m.at)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO messages (id, room, seq, author, content, created_at, search_vector)
			SELECT id, room, id, author, content, at, CAST(v AS tsvector)
			FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) AS x(id, room, author, content, at, v)`,
			ids, rooms, authors, contents, ats, vectors); err != nil {
			b.Fatal(err)
		}
	}
	e.exec(b, postgresSearchIndex(b))
	e.exec(b, "VACUUM ANALYZE messages")
	return e
}
