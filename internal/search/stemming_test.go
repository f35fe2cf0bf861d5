package search_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"parley/internal/store/storetest"
)

// TestStemmingDiffers holds the reason the index does not stem: SQLite's
// porter tokenizer (Porter's 1980 English stemmer) and PostgreSQL's english
// configuration (Snowball's English stemmer, with stop words) put different
// words together, so a stemmed search would find different messages on
// each engine. Each case is a query word, a message, and whether each
// engine's stemmed search finds the message.
func TestStemmingDiffers(t *testing.T) {
	cases := []struct {
		query, content string
		sqlite, pg     bool
	}{
		{"sky", "clear skies", false, true},
		{"die", "dying light", false, true},
		{"fair", "fairly done", false, true},
		{"news", "new", true, false},
		{"generous", "in general", true, false},
		{"to be or not to be", "to be or not to be", true, false}, // stop words only, to PostgreSQL
		{"running", "runs", true, true},
	}
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sq := sqliteEngine(t)
	sq.exec(t, "CREATE VIRTUAL TABLE stemmed USING fts5(c, tokenize = 'porter unicode61 remove_diacritics 2')")
	for _, c := range cases {
		sq.exec(t, "DELETE FROM stemmed")
		sq.exec(t, "INSERT INTO stemmed (rowid, c) VALUES (1, ?)", c.content)
		sqlite := len(sq.ids(t, "SELECT rowid FROM stemmed WHERE stemmed MATCH ?", `"`+c.query+`"`)) == 1
		var pg bool
		if err := conn.QueryRow(ctx, "SELECT to_tsvector('english', $1) @@ phraseto_tsquery('english', $2)",
			c.content, c.query).Scan(&pg); err != nil {
			t.Fatal(err)
		}
		if sqlite != c.sqlite || pg != c.pg {
			t.Errorf("%q in %q: SQLite porter %v, PostgreSQL english %v; want %v, %v", c.query, c.content, sqlite, pg, c.sqlite, c.pg)
		}
	}
}
