package search_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"parley/internal/search"
	"parley/internal/store/storetest"
)

func expect(t *testing.T, e *engine, q string, opt search.Options, want ...int64) {
	t.Helper()
	if want == nil {
		want = []int64{}
	}
	if got := e.find(t, parse(t, q), opt); !slices.Equal(got, want) {
		t.Errorf("%s: %q: got %v, want %v", e.name, q, got, want)
	}
}

// TestChanges: an edit is searched by its new words only, an erased
// content and a deleted message by none, from the statement that makes the
// change on.
func TestChanges(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		alice := as("alice")
		e.setContent(t, 1, "Goodbye moon")
		expect(t, e, "hello", alice, 2)
		expect(t, e, "goodbye moon", alice, 1)
		e.setContent(t, 1, "Goodbye moon") // the same content again
		expect(t, e, "goodbye", alice, 1)

		// A deletion that erases the content and keeps a tombstone.
		e.setContent(t, 2, "")
		expect(t, e, "hello", alice)
		expect(t, e, "world", alice)

		e.exec(t, "DELETE FROM messages WHERE id = ?", 7)
		expect(t, e, `"new york"`, alice)
		expect(t, e, "york", alice, 8)

		// Changes inside a transaction that is rolled back leave the
		// index as it was.
		e.exec(t, "BEGIN")
		e.setContent(t, 8, "rolled back")
		e.exec(t, "DELETE FROM messages WHERE id = ?", 13)
		e.exec(t, "ROLLBACK")
		expect(t, e, "york", alice, 8)
		expect(t, e, "rolled", alice)
		expect(t, e, "strasse", alice, 13)

		if e.name == "sqlite" {
			// The index agrees with messages.content, row for row.
			e.exec(t, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
		}
	})
}

// TestLongWords: a word longer than PostgreSQL keeps in a lexeme is cut in
// the vector, which still matches exactly what SQLite's whole word does.
func TestLongWords(t *testing.T) {
	long := strings.Repeat("z", 3000)
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		e.insert(t, msg{100, "lobby", "alice", at(7, 0, 0), "x " + long + " y"})
		e.insert(t, msg{101, "lobby", "alice", at(7, 0, 1), strings.Repeat("z", search.MaxQueryLength)})
		alice := as("alice")
		expect(t, e, strings.Repeat("z", search.MaxQueryLength), alice, 101)
		expect(t, e, strings.Repeat("z", search.MaxQueryLength-1)+"*", alice, 101, 100)
		expect(t, e, "zz*", alice, 101, 100)
		expect(t, e, `"x zz*"`, alice, 100)
	})
}

// TestRepeatedWords holds the one difference between the engines the
// package comment owns to: PostgreSQL keeps a word's first 256 positions
// in a message, so a phrase after its 256th repetition is found on SQLite
// only.
func TestRepeatedWords(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		e.insert(t, msg{100, "lobby", "alice", at(7, 0, 0), strings.Repeat("la ", 300) + "land"})
		e.insert(t, msg{101, "lobby", "alice", at(7, 0, 1), strings.Repeat("la ", 200) + "land"})
		alice := as("alice")
		expect(t, e, "la land", alice, 101, 100)
		if e.name == "sqlite" {
			expect(t, e, `"la land"`, alice, 101, 100)
		} else {
			expect(t, e, `"la land"`, alice, 101)
		}
	})
}

// TestAccess: a search sees only what the filter the caller gives lets
// through, read when the search runs: a member removed a moment ago sees
// nothing more.
func TestAccess(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		dave := as("dave")
		expect(t, e, "secret", dave)
		join(t, e, "dave", "secret")
		expect(t, e, "secret", dave, 24, 10)
		expect(t, e, "from:bob in:secret", dave, 24, 11)
		e.exec(t, "DELETE FROM room_members WHERE user_id = ? AND room = ?", userID("dave"), "secret")
		expect(t, e, "secret", dave)
		expect(t, e, "from:bob in:secret", dave)

		lobby := search.Options{Readable: search.RoomsIn([]string{"lobby"})}
		expect(t, e, "plan", lobby, 18, 12)
		expect(t, e, "plan in:secret", lobby)
		expect(t, e, "plan", search.Options{Readable: search.RoomsIn([]string{"lobby", "secret"})}, 18, 12, 11, 10)
		expect(t, e, "plan", search.Options{Readable: search.RoomsIn(nil)})
	})
}

func TestOptionsRequired(t *testing.T) {
	for _, build := range []func(search.Query, search.Options) (search.Fragment, error){search.Query.SQLite, search.Query.Postgres} {
		if _, err := build(parse(t, "plan"), search.Options{}); err == nil {
			t.Error("a search without Readable was built")
		}
		if _, err := build(parse(t, ""), search.Options{}); err == nil {
			t.Error("an empty search without Readable was built")
		}
		if _, err := build(parse(t, "is:mention"), search.Options{Readable: search.RoomsIn([]string{"a"})}); err == nil {
			t.Error("is:mention without Mentioned was built")
		}
		f, err := build(parse(t, "🎉"), search.Options{Readable: search.RoomsIn([]string{"a"})})
		if err != nil || f.Where != "FALSE" || len(f.Args) != 0 || f.From != "messages m" || f.ID != "m.id" {
			t.Errorf("an empty query gives %+v, %v; want FALSE", f, err)
		}
	}
}

// TestHostileTerms: terms built by hand, not by Parse, with whatever
// characters, still reach the engines only as quoted arguments.
func TestHostileTerms(t *testing.T) {
	hostile := []string{`'); DROP TABLE messages; --`, `"`, `""`, `'`, `\`, `\'`, `:*`, `&`, `|`, `!`, `<->`, `(`,
		`a b`, `a:*`, `NEAR(a b)`, `*`, `^a`, `'a' | 'b'`, "a\u0301", "\u0301", "", strings.Repeat("y", 3000)}
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		for _, w := range hostile {
			for _, q := range []search.Query{
				{Terms: []search.Term{{Words: []string{w}}}},
				{Terms: []search.Term{{Words: []string{"plan", w}, Prefix: true}}},
				{Terms: []search.Term{{Words: []string{"plan"}}}, Excluded: []search.Term{{Words: []string{w}}}},
				{Excluded: []search.Term{{Words: []string{w, w}}}, In: []string{"dev"}},
				{From: []string{w}, In: []string{w}},
			} {
				e.find(t, q, as("alice"))
			}
		}
		expect(t, e, "from:alice from:bob from:carol from:dave", as("alice"),
			25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
	})
}

// TestBackfill: messages stored before the migration are found once it
// has run: SQLite rebuilds the index in the migration itself, PostgreSQL's
// vectors are filled afterwards by the statements of the migration's step
// (the store's backfillSearchVectors).
func TestBackfill(t *testing.T) {
	before := corpus[:10]
	t.Run("sqlite", func(t *testing.T) {
		db, _ := sqliteDB(t)
		e := sqliteOn(db)
		loadWithout(t, e, before)
		e.exec(t, proposal(t, "sqlite"))
		expect(t, e, "hello", as("alice"), 2, 1)
		expect(t, e, `"new york"`, as("alice"), 7)
	})
	t.Run("postgres", func(t *testing.T) {
		conn := postgresConn(t, storetest.PostgresDSN(t))
		e := postgresOn(conn)
		loadWithout(t, e, before)
		e.exec(t, proposal(t, "postgres"))
		expect(t, e, "hello", as("alice"))
		expect(t, e, "from:alice", as("alice"), 10, 6, 4, 1)

		// The backfill, in batches of 3, newest first.
		ctx := context.Background()
		last := int64(1 << 62)
		for batches := 0; ; batches++ {
			if batches > len(before) {
				t.Fatal("the backfill does not end")
			}
			rows, err := conn.Query(ctx, `SELECT id, content FROM messages
				WHERE search_vector IS NULL AND id < $1 ORDER BY id DESC LIMIT 3`, last)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			var vectors []string
			for rows.Next() {
				var id int64
				var content string
				if err := rows.Scan(&id, &content); err != nil {
					t.Fatal(err)
				}
				ids, vectors = append(ids, id), append(vectors, search.Vector(content))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(ids) == 0 {
				break
			}
			last = ids[len(ids)-1]
			e.exec(t, `UPDATE messages SET search_vector = CAST(v.vector AS tsvector)
				FROM unnest($1::int8[], $2::text[]) AS v(id, vector) WHERE messages.id = v.id`, ids, vectors)
		}
		expect(t, e, "hello", as("alice"), 2, 1)
		expect(t, e, `"new york"`, as("alice"), 7)
	})
}

// loadWithout stores people, rooms and msgs with the store's schema alone.
func loadWithout(t *testing.T, e *engine, msgs []msg) {
	t.Helper()
	t0 := e.ts(at(1, 0, 0))
	for i, u := range users {
		e.exec(t, "INSERT INTO users (id, name, password_hash, admin, created_at) VALUES (?, ?, 'x', ?, ?)", i+1, u, false, t0)
	}
	for _, r := range rooms {
		e.exec(t, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES (?, 0, ?, ?)", r, t0, t0)
	}
	for _, u := range users {
		for _, r := range members[u] {
			join(t, e, u, r)
		}
	}
	for _, m := range msgs {
		e.exec(t, "INSERT INTO messages (id, room, seq, author, content, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			m.id, m.room, m.id, m.author, m.content, e.ts(m.at))
	}
}

// TestFilterPlaceholders: a caller's filter numbers its placeholders from
// $1, may use one twice, and keeps a quoted $1 as it is; the fragment
// renumbers it after its own arguments, and Page after the fragment's.
func TestFilterPlaceholders(t *testing.T) {
	opt := search.Options{Readable: search.Filter{
		SQL:  `(m.room = $1 OR m.room = $2 OR m.room = $1) AND m.content <> '$1' AND m.author <> "m"."room"`,
		Args: []any{"lobby", "secret"},
	}}
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		expect(t, e, "plan", opt, 18, 12, 11, 10)
		expect(t, e, "plan from:carol", opt, 18, 12)
		expect(t, e, "from:bob in:dev", opt)
		f, err := e.build(parse(t, "plan from:carol"), opt)
		if err != nil {
			t.Fatal(err)
		}
		// MATCH or @@ takes $1, the author $2: the filter's follow.
		if !strings.Contains(f.Where, `(m.room = $3 OR m.room = $4 OR m.room = $3) AND m.content <> '$1'`) || len(f.Args) != 4 {
			t.Errorf("%s: %s %v", e.name, f.Where, f.Args)
		}
		query, args := f.Page("m.id", 18, 10)
		if !strings.HasSuffix(query, "< $5 ORDER BY "+f.ID+" DESC LIMIT $6") || len(args) != 6 {
			t.Errorf("%s: %s %v", e.name, query, args)
		}
		if got := e.ids(t, query, args...); !slices.Equal(got, []int64{12}) {
			t.Errorf("%s: the page after 18: %v", e.name, got)
		}
	})
}
