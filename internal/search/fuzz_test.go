package search_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"parley/internal/chat"
	"parley/internal/search"
	"parley/internal/store/storetest"
)

// fuzzEngines returns the engines a fuzz target runs queries on: SQLite,
// and PostgreSQL when PARLEY_TEST_POSTGRES is set (required under CI).
func fuzzEngines(f *testing.F) []*engine {
	es := []*engine{sqliteEngine(f)}
	if os.Getenv(storetest.PostgresEnv) != "" {
		es = append(es, postgresEngine(f, storetest.PostgresDSN(f)))
	} else if os.Getenv("CI") != "" {
		f.Fatalf("%s is not set", storetest.PostgresEnv)
	} else {
		f.Logf("%s not set: fuzzing on SQLite alone", storetest.PostgresEnv)
	}
	return es
}

// FuzzSearch: Parse never panics and refuses only with an invalid error;
// what it accepts runs on both engines without an error, with the same
// results; highlighting keeps the content.
func FuzzSearch(f *testing.F) {
	for _, c := range operatorTable {
		f.Add(c.q)
	}
	for _, s := range []string{`"`, `-`, `*`, `NEAR(a b)`, `a:b:c`, `' OR 1=1 --`, `\`, `<->`, "\x00", "\xff",
		`-"a b"*`, `from:`, `in:#`, `before:2026-02-30`, `"from:alice"`, `plan -plan`, `😀 🤔`} {
		f.Add(s)
	}
	es := fuzzEngines(f)
	for _, e := range es {
		load(f, e)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := search.ParseAt(s, now)
		if err != nil {
			if chat.ErrorCode(err) != chat.EInvalid || chat.ErrorMessage(err) == "" {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			return
		}
		var first []int64
		for i, e := range es {
			got := e.find(t, q, as("alice"))
			if i == 0 {
				first = got
			} else if !slices.Equal(got, first) {
				t.Fatalf("%q: %s %v, %s %v", s, es[0].name, first, e.name, got)
			}
		}
		for _, content := range []string{s, corpus[17].content, corpus[13].content} {
			var b strings.Builder
			for _, seg := range q.Highlight(content) {
				b.WriteString(seg.Text)
			}
			if b.String() != content {
				t.Fatalf("%q: highlighting %q gives %q", s, content, b.String())
			}
			q.HighlightHTML(content)
		}
	})
}

// FuzzTokens: the words Go finds in a text are the words SQLite's index
// holds for it, in order, and PostgreSQL takes its vector.
func FuzzTokens(f *testing.F) {
	for _, m := range corpus {
		f.Add(m.content)
	}
	for _, s := range []string{"", "a\u0301b", "\u0301", "x \u0301 y", "ǅ", "İı", "ﬀ", "Ⅻ", "①", "²", "a_b-c.d", "\xff",
		"\u200d", "👩‍👩‍👧", "ᾈ", "ǰ", strings.Repeat("é", 700)} {
		f.Add(s)
	}
	es := fuzzEngines(f)
	sq := es[0]
	sq.exec(f, "CREATE VIRTUAL TABLE probe USING fts5(c, tokenize = 'unicode61 remove_diacritics 2')")
	sq.exec(f, "CREATE VIRTUAL TABLE probe_words USING fts5vocab(probe, 'instance')")
	f.Fuzz(func(t *testing.T, s string) {
		if !validContent(s) {
			return // messages are checked before they are stored
		}
		sq.exec(t, "DELETE FROM probe")
		sq.exec(t, "INSERT INTO probe (rowid, c) VALUES (1, ?)", s)
		want := sqliteWords(t, sq)
		got := search.Words(s)
		if !slices.Equal(got, want) {
			t.Fatalf("%q: Go reads %q, SQLite %q", s, got, want)
		}
		for _, e := range es[1:] {
			if err := e.try("SELECT CAST(? AS tsvector)", search.Vector(s)); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
		}
	})
}

func validContent(s string) bool {
	_, err := chat.CleanContent(s)
	return err == nil
}

// sqliteWords returns the words of the probe table's one row, in order.
func sqliteWords(t *testing.T, e *engine) []string {
	t.Helper()
	return e.texts(t, `SELECT term FROM probe_words ORDER BY "offset"`)
}
