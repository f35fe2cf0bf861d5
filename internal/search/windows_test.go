package search_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"parley/internal/search"
	"parley/internal/store/storetest"
)

// TestWindowsAsOneStatement: a page read a window of blocks at a time
// (PostgreSQL, search.Fragment.Windows) is the page one statement reads,
// over messages spread over many blocks of ids, some full, some empty,
// for common and rare words, with a room, an excluded word, every page
// size and every page.
func TestWindowsAsOneStatement(t *testing.T) {
	engines(t, func(t *testing.T, e *engine) {
		load(t, e)
		g := newGenerator(5)
		var top int64
		for block := int64(1); block <= 60; block++ {
			n := 0
			switch {
			case block%7 == 0: // none
			case block%5 == 0:
				n = 40
			default:
				n = 3
			}
			for k := range n {
				m := g.message(k, 1)
				m.id = block<<search.BlockBits + int64(k*997)
				m.room, m.author = rooms[k%len(rooms)], users[k%len(users)]
				m.at = at(7, 0, 0).Add(time.Duration(block*100+int64(k)) * time.Minute)
				e.insert(t, m)
				top = m.id
			}
		}
		common, rare := g.vocab[2], g.vocab[40]
		queries := []string{
			common, rare, common + " " + g.vocab[3], common + " in:lobby", rare + " in:dev -" + common,
			common + " -" + g.vocab[3], `"` + common + `"`, common[:2] + "*", "hello", rare + " in:secret",
		}
		found := 0
		for _, who := range []string{"alice", "carol"} {
			for _, s := range queries {
				f, err := e.build(parse(t, s), as(who))
				if err != nil {
					t.Fatal(err)
				}
				all, args := f.Page("m.id", 0, 100000)
				want := e.ids(t, all, args...)
				for _, opt := range []search.Options{as(who), withCommon(as(who))} {
					if len(opt.Common) > 0 {
						opt.Common[common] = true
					}
					f, err := e.build(parse(t, s), opt)
					if err != nil {
						t.Fatal(err)
					}
					for _, limit := range []int{1, 7, limitMost} {
						if got := windowPages(t, e, f, top, limit); !slices.Equal(got, want) {
							t.Errorf("%s %s %q, pages of %d, common words %v:\n got %v\nwant %v", e.name, who, s, limit, opt.Common, got, want)
						}
					}
				}
				if len(want) > limitMost {
					found++
				}
			}
		}
		if found < len(queries) {
			t.Errorf("%d of the %d searches found more than a page of %d: the windows are not put to the test", found, 2*len(queries), limitMost)
		}
	})
}

// windowPages reads every page of f's results, of limit each, as
// search.Fragment.Windows reads them, top the newest message's id.
func windowPages(t *testing.T, e *engine, f search.Fragment, top int64, limit int) []int64 {
	t.Helper()
	var got []int64
	before := int64(0)
	for {
		var page []int64
		newest := func() (int64, error) { return top, nil }
		err := f.Windows("m.id", before, limit, newest, func(query string, args []any) (int, error) {
			ids := e.ids(t, query, args...)
			page = append(page, ids...)
			return len(ids), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > limit {
			t.Fatalf("a page of %d holds %d", limit, len(page))
		}
		got = append(got, page...)
		if len(page) < limit {
			return got
		}
		if len(got) > 100000 {
			t.Fatal("the pages do not end")
		}
		before = page[len(page)-1]
	}
}

// limitMost is the largest page TestWindowsAsOneStatement asks for.
const limitMost = 50

// TestPostgresUsesTheIndex: the statements of a search with words, its
// windows' too, are answered by the full-text index the store's
// migration builds: the expression they test is the index's, or
// PostgreSQL would read every message.
func TestPostgresUsesTheIndex(t *testing.T) {
	e := postgresEngine(t, storetest.PostgresDSN(t))
	load(t, e)
	// The corpus is small enough to read whole: only an index may
	// answer, and GIN answers bitmap scans alone.
	e.exec(t, "SET enable_seqscan = off")
	e.exec(t, "SET enable_indexscan = off")
	readable := search.Options{Readable: search.Filter{ // as the store writes it
		SQL: "(m.room || '') = ANY(ARRAY(SELECT room FROM room_members WHERE user_id = $1))", Args: []any{userID("alice")}}}
	for _, s := range []string{"hello", "plan in:lobby", "plan from:carol -secret", `"new york" after:2026-03-02`} {
		f, err := e.build(parse(t, s), readable)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []search.Fragment{f, f.InBlocks(1, 3)} {
			query, args := w.Page("m.id", 0, 50)
			plan := strings.Join(e.texts(t, "EXPLAIN "+query, args...), "\n")
			if !strings.Contains(plan, "messages_search") {
				t.Errorf("%q is not answered by the index messages_search:\n%s\n%s", s, query, plan)
			}
		}
	}
}

// TestWindowsStatements: a search with words reads windows of blocks
// (several statements where they find nothing); one with a prefix, whose
// every word GIN would read again for each, one statement.
func TestWindowsStatements(t *testing.T) {
	for _, c := range []struct {
		q    string
		many bool
	}{{"plan", true}, {"plan in:lobby -secret", true}, {"pla*", false}, {"plan pre*", false}, {"-plan", false}, {"from:alice", false}} {
		f, err := parse(t, c.q).Postgres(as("alice"))
		if err != nil {
			t.Fatal(err)
		}
		statements := 0
		newest := func() (int64, error) { return 40 << search.BlockBits, nil }
		err = f.Windows("m.id", 0, 50, newest, func(string, []any) (int, error) {
			statements++
			return 0, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if many := statements > 1; many != c.many {
			t.Errorf("%q: %d statements", c.q, statements)
		}
	}
}
