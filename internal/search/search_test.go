package search_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"parley/internal/search"
	"parley/internal/store/storetest"
)

// now is the search's clock in the tests: today is 2026-03-06.
var now = at(6, 12, 0)

func parse(tb testing.TB, q string) search.Query {
	tb.Helper()
	pq, err := search.ParseAt(q, now)
	if err != nil {
		tb.Fatalf("Parse(%q): %v", q, err)
	}
	return pq
}

func ids(v ...int64) []int64 { return append([]int64{}, v...) }

// operatorTable is every operator and matching rule over the corpus, as
// alice (a member of every room) unless user says otherwise. want is in
// result order: newest first.
var operatorTable = []struct {
	q    string
	user string
	want []int64
}{
	// Words: whole words, any order, case and accents folded.
	{q: "hello", want: ids(2, 1)},
	{q: "HELLO world", want: ids(2, 1)},
	{q: "world hello", want: ids(2, 1)},
	{q: "cafe", want: ids(4, 3)},
	{q: "café", want: ids(4, 3)},
	{q: "CAFÉS", want: ids(4)},
	{q: "deploy", want: ids(5)},
	{q: "naive cooperate resume", want: ids(21)},
	{q: "istanbul", want: ids(14)},
	{q: "σίσυφος", want: ids(14)},
	{q: "strasse", want: ids(13)},
	{q: "straße -strasse", want: ids()},
	{q: "fine", want: ids()}, // ﬁ is no f and i to unicode61
	{q: "ﬁne", want: ids(23)},
	{q: "東京", want: ids(16)},
	{q: "タワー", want: ids()}, // no word breaks inside CJK text
	{q: "🤔", want: ids(17)}, // a letter to SQLite's Unicode tables
	{q: "🎉 party", want: ids(17)},
	{q: "v1", want: ids(15)},
	{q: "example", want: ids(25, 22, 9, 5)},
	{q: "alice", want: ids(24, 12)},
	{q: "script alert", want: ids(11)},
	// Prefixes.
	{q: "deploy*", want: ids(6, 5)},
	{q: "pre*", want: ids(20, 3)},
	{q: "p*", want: ids()}, // shorter than MinPrefix: the whole word p
	{q: `"new yo*"`, want: ids(7)},
	// Phrases.
	{q: `"hello world"`, want: ids(2, 1)},
	{q: `"world hello"`, want: ids()},
	{q: `"new york"`, want: ids(7)},
	{q: "new york", want: ids(8, 7)},
	{q: "foo-bar", want: ids(15)},
	{q: "3.14", want: ids(15)},
	{q: "don't", want: ids(19)},
	{q: `"unclosed plan`, want: ids()},
	{q: `"lunch plan`, want: ids(12)},
	// Exclusions.
	{q: "plan", want: ids(18, 12, 11, 10)},
	{q: "plan -secret", want: ids(18, 12, 11)},
	{q: `plan -"lunch plan"`, want: ids(18, 11, 10)},
	{q: "new -york", want: ids()},
	{q: "plan -plan", want: ids()},
	{q: `"lunch plan" -plan`, want: ids()},
	{q: `"lunch plan" -lun*`, want: ids()},
	{q: `"lunch plan" -"lunch plan" in:lobby`, want: ids()},
	{q: "-plan in:dev", want: ids(23, 20, 16, 15, 8, 7, 6, 5)},
	{q: "-york -deploy* in:dev", want: ids(23, 20, 16, 15)},
	// from: and in:, any of each.
	{q: "from:bob", want: ids(24, 22, 20, 17, 13, 11, 8, 5, 2)},
	{q: "from:@bob plan", want: ids(11)},
	{q: "FROM:carol IN:dev", want: ids(23, 7)},
	{q: "from:alice from:dave in:lobby", want: ids(21, 19, 14, 9, 4, 1)},
	{q: "plan in:secret", want: ids(11, 10)},
	{q: "plan in:#secret in:lobby", want: ids(18, 12, 11, 10)},
	{q: "from:nobody", want: ids()},
	{q: "in:nowhere", want: ids()},
	// Dates, in UTC: before: and after: leave the day out, on: is the day.
	{q: "before:2026-03-02", want: ids(3, 2, 1)},
	{q: "after:2026-03-04", want: ids(25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15)},
	{q: "on:2026-03-02", want: ids(6, 5, 4)},
	{q: "after:2026-03-01 before:2026-03-03", want: ids(6, 5, 4)},
	{q: "on:today", want: ids(25)},
	{q: "on:yesterday from:carol", want: ids(23, 18)},
	{q: "after:yesterday", want: ids(25)},
	{q: "before:2026-03-02 before:2026-03-03", want: ids(3, 2, 1)},
	{q: "after:2026-03-05 before:2026-03-05", want: ids()},
	// has:link: http:// or https://, in any case.
	{q: "has:link", want: ids(22, 9, 5)},
	{q: "HAS:LINK example", want: ids(22, 9, 5)},
	{q: "has:link -https", want: ids(22, 9)},
	// is:mention: the searcher's mentions.
	{q: "is:mention", want: ids(24, 12)},
	{q: "is:mention standup", want: ids(24)},
	{q: "is:mention", user: "bob", want: ids(24)},
	{q: "is:mention", user: "dave", want: ids()},
	// Access: dave is in lobby and dev only.
	{q: "secret", want: ids(24, 10)},
	{q: "secret", user: "dave", want: ids()},
	{q: "plan", user: "dave", want: ids(18, 12)},
	{q: "from:bob in:secret", user: "dave", want: ids()},
	// FTS syntax is searched as words, never obeyed.
	{q: "near", want: ids(18)},
	{q: "AND", want: ids(22, 18, 15)},
	{q: `"NOT"`, want: ids(18)},
	{q: "OR plan", want: ids(18)},
	{q: "NEAR(plan)", want: ids()},
	{q: `near "or not"`, want: ids(18)},
	// Unknown operators are words: xyz:abc is the phrase "xyz abc".
	{q: "http://example.com", want: ids(22)},
	{q: "link:", want: ids(22)},
	// Nothing to search for: nothing found.
	{q: "", want: ids()},
	{q: "🎉", want: ids()},
	{q: `"" * - !`, want: ids()},
}

func TestOperators(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		for _, c := range operatorTable {
			user := cmp(c.user, "alice")
			got := e.find(t, parse(t, c.q), as(user))
			if !slices.Equal(got, c.want) {
				t.Errorf("%s as %s: got %v, want %v", c.q, user, got, c.want)
			}
			// The same with words tested on the rows, not indexed.
			got = e.find(t, parse(t, c.q), withCommon(as(user)))
			if !slices.Equal(got, c.want) {
				t.Errorf("%s as %s, with common words: got %v, want %v", c.q, user, got, c.want)
			}
		}
	})
}

// TestContradictions: a query that excludes a term it requires is not
// sent to the engines, which would read every match of its words to find
// nothing; one that only seems to is.
func TestContradictions(t *testing.T) {
	opt := search.Options{Readable: search.RoomsIn([]string{"lobby"})}
	for _, c := range []struct {
		q       string
		nothing bool
	}{
		{"plan -plan", true},
		{"Plan -PLAN", true},
		{`"lunch plan" -plan`, true},
		{`"lunch plan" -"lunch plan"`, true},
		{`"lunch plan" -lun*`, true},
		{`"a b c" -"b c"`, true},
		{`plan from:bob -plan`, true},
		{"plan -plans", false},
		{`plan -"lunch plan"`, false},
		{`"a b c" -"a c"`, false},
		{"plan* -plan", false},  // plans matches
		{"plan* -plan*", false}, // the start of a word is not read as a word
		{"plan -pla", false},
		{"plan -plan*x", false},
	} {
		q := parse(t, c.q)
		for name, build := range map[string]func(search.Query, search.Options) (search.Fragment, error){
			"sqlite": search.Query.SQLite, "postgres": search.Query.Postgres} {
			f, err := build(q, opt)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Where == "FALSE"; got != c.nothing {
				t.Errorf("%s: %q: nothing = %v, want %v", name, c.q, got, c.nothing)
			}
		}
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestHighlightMarksResults checks the highlighting against the engines: in
// every message a query finds, each of its terms is marked.
func TestHighlightMarksResults(t *testing.T) {
	content := make(map[int64]string)
	for _, m := range corpus {
		content[m.id] = m.content
	}
	marked := 0
	for _, c := range operatorTable {
		q := parse(t, c.q)
		for _, id := range c.want {
			for _, term := range q.Terms {
				if !marks(search.Query{Terms: []search.Term{term}}, content[id]) {
					t.Errorf("%s: message %d (%q) has no mark for %q", c.q, id, content[id], term.Text)
				}
				marked++
			}
		}
	}
	if marked < 50 {
		t.Fatalf("only %d marks checked", marked)
	}
}

// TestOddQueries: whatever is typed is answered, on both engines alike,
// without an SQL error, and leaves the database as it was.
func TestOddQueries(t *testing.T) {
	odd := []string{
		`"`, `""`, `"""`, `" "`, `*`, `**`, `-`, `--`, `- -`, `-"`, `-""`, `(`, `)`, `()`, `^`, `^plan`,
		`:`, `::`, `a:`, `:a`, `NEAR`, `NEAR/2`, `NEAR(a b, 3)`, `AND`, `OR`, `NOT`, `a AND b`,
		`plan OR hello`, `NOT plan`, `&`, `|`, `!`, `!plan`, `<->`, `a <-> b`, `\`, `\\`, `\'`,
		`'`, `''`, `' OR 1=1 --`, `"; DROP TABLE messages; --`, `'); DROP TABLE messages; --`,
		`%`, `_`, `%_%`, `plan%`, `{}`, `[]`, `$1`, `?`, `??`, `@`, `@@`, `#`, `x:y:z`,
		"\x00", "plan\x00hello", "\xff\xfe", "tab\tplan", "new\nyork", "\u200b", "\u0301", "é\u0301",
		`😀`, `👍🏽`, `🇫🇷`, `e*`, `pre**`, `*pre`, `"pre*"`, `-pre*`, `-"new york"*`,
		`'plan'`, `"it's"`, `col:plan`, `content:plan`, `messages_fts:plan`, `rank:1`, `rowid:1`,
		strings.Repeat("a", search.MaxQueryLength), strings.Repeat("é", search.MaxQueryLength),
		strings.Repeat("a ", search.MaxTerms), strings.Repeat(`"a" `, search.MaxTerms),
		strings.Repeat("-a ", search.MaxTerms), strings.Repeat("ab* ", search.MaxTerms),
	}
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		for _, s := range odd {
			q, err := search.ParseAt(s, now)
			if err != nil {
				t.Errorf("Parse(%q): %v", s, err)
				continue
			}
			e.find(t, q, as("alice"))
			e.find(t, q, withCommon(as("alice")))
		}
		if got := e.find(t, parse(t, "from:alice from:bob from:carol from:dave"), as("alice")); len(got) != len(corpus) {
			t.Fatalf("after the odd queries, %d messages of %d are found", len(got), len(corpus))
		}
	})
}

// TestSameResults runs many queries built from the corpus's words on both
// engines and compares the answers.
func TestSameResults(t *testing.T) {
	sq, pg := sqliteEngine(t), postgresEngine(t, storetest.PostgresDSN(t))
	load(t, sq)
	load(t, pg)
	var pieces []string
	for _, m := range corpus {
		pieces = append(pieces, strings.Fields(m.content)...)
	}
	ops := []string{"from:bob", "in:lobby", "after:2026-03-03", "before:2026-03-05", "has:link", "is:mention"}
	n := 0
	for i, a := range pieces {
		b := pieces[(i*7+3)%len(pieces)]
		c := pieces[(i*13+5)%len(pieces)]
		for _, s := range []string{a, a + " " + b, `"` + a + " " + b + `"`, a + " -" + b,
			a + "*", "-" + a + " " + ops[i%len(ops)], c + " " + ops[(i+1)%len(ops)]} {
			q, err := search.ParseAt(s, now)
			if err != nil {
				t.Errorf("Parse(%q): %v", s, err)
				continue
			}
			x, y := sq.find(t, q, as("alice")), pg.find(t, q, as("alice"))
			if !slices.Equal(x, y) {
				t.Errorf("%q: sqlite %v, postgres %v", s, x, y)
			}
			n++
		}
	}
	t.Logf("%d queries compared", n)
}

func ExampleQuery_HighlightHTML() {
	q, _ := search.Parse(`cafe "new york"`)
	fmt.Println(q.HighlightHTML(`<b>Café</b> in New  York & new york`))
	// Output: &lt;b&gt;<mark>Café</mark>&lt;/b&gt; in <mark>New  York</mark> &amp; <mark>new york</mark>
}

// marks reports whether q marks anything in content.
func marks(q search.Query, content string) bool {
	for _, s := range q.Highlight(content) {
		if s.Match {
			return true
		}
	}
	return false
}

// TestPages: a page after another goes on where it stopped, whether the
// index or the messages table orders the results.
func TestPages(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		for q, want := range map[string][][]int64{
			"from:bob":     {{24, 22, 20}, {17, 13, 11}, {8, 5, 2}, {}},
			"plan":         {{18, 12, 11}, {10}},
			"plan -new":    {{18, 12, 11}, {10}},
			"-plan in:dev": {{23, 20, 16}, {15, 8, 7}, {6, 5}},
		} {
			f, err := e.build(parse(t, q), as("alice"))
			if err != nil {
				t.Fatal(err)
			}
			before := int64(0)
			for i, page := range want {
				query, args := f.Page("m.id", before, 3)
				got := e.ids(t, query, args...)
				if !slices.Equal(got, page) {
					t.Errorf("%s: %q page %d: got %v, want %v", e.name, q, i+1, got, page)
					break
				}
				if len(got) > 0 {
					before = got[len(got)-1]
				}
			}
		}
	})
}

// withCommon returns opt with many of the corpus's words common
// (search.Options.Common): PostgreSQL tests them on the rows instead of
// giving them to its index, where the query has other words.
func withCommon(opt search.Options) search.Options {
	opt.Common = map[string]bool{}
	for _, w := range strings.Fields("hello world plan new york example cafe the secret a and deploy alice http com pre see") {
		opt.Common[w] = true
	}
	return opt
}
