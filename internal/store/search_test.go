package store_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/search"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// find runs a search of text by user and returns the (room, seq) of each
// result as "room/seq", newest first.
func find(t *testing.T, s *store.Store, user chat.User, text string) []string {
	t.Helper()
	res := mustSearch(t, s, user, text, store.SearchPage{Limit: store.MaxSearchLimit})
	out := []string{}
	for _, r := range res.Results {
		out = append(out, r.Room+"/"+strconv.FormatInt(r.Seq, 10))
	}
	return out
}

func mustSearch(t *testing.T, s *store.Store, user chat.User, text string, p store.SearchPage) store.SearchResults {
	t.Helper()
	q, err := search.Parse(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	res, err := s.Search(t.Context(), user, q, p)
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	return res
}

func wantFound(t *testing.T, s *store.Store, user chat.User, text string, want ...string) {
	t.Helper()
	got := find(t, s, user, text)
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s searches %q: %v, want %v", user.Name, text, got, want)
	}
}

// indexHolds reports how many messages the engine's index finds for a
// word, below the search: what it still keeps of a message.
func indexHolds(t *testing.T, s *store.Store, word string) int64 {
	t.Helper()
	q := "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH $1"
	if s.Engine() == store.EnginePostgres {
		q = "SELECT count(*) FROM messages WHERE search_vector @@ CAST($1 AS tsquery)"
	}
	return mustCount(t, s, q, word)
}

// checkIndex runs SQLite's own check of the full-text index against the
// messages: a row's words removed that were never indexed, or left in,
// fail it.
func checkIndex(t *testing.T, s *store.Store) {
	t.Helper()
	if s.Engine() != store.EngineSQLite {
		return
	}
	mustExec(t, s, "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
}

// TestSearchIndexesEveryWrite: a new message is found by its words, an
// edited one by its new words only, a reaction changes nothing, and a
// deleted one is found by nothing, its words gone from the index.
func TestSearchIndexesEveryWrite(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "The quick brown Fox"})
		mustInsert(t, s, chat.NewMessage{Room: "dev", Author: "bob", Content: "a lazy dog"})
		wantFound(t, s, bob, "fox", "lobby/1")
		wantFound(t, s, bob, "FOX quick", "lobby/1")

		res := mustSearch(t, s, bob, "fox", store.SearchPage{})
		if len(res.Results) != 1 {
			t.Fatalf("results %+v", res)
		}
		r := res.Results[0]
		if r.Room != "lobby" || r.Seq != m.Seq || r.Author != "alice" || r.Content != m.Content || !r.Timestamp.Equal(m.Timestamp) || r.ID != m.ID {
			t.Errorf("result %+v, message %+v", r, m)
		}
		if want := []search.Segment{{Text: "The quick brown "}, {Text: "Fox", Match: true}}; !reflect.DeepEqual(r.Highlights, want) {
			t.Errorf("highlights %+v, want %+v", r.Highlights, want)
		}

		mustChange(t, s, edit("lobby", "alice", m.Seq, "a slow turtle"))
		wantFound(t, s, bob, "fox")
		wantFound(t, s, bob, "turtle", "lobby/1")
		if n := indexHolds(t, s, "fox"); n != 0 {
			t.Errorf("the index still holds the edited-out word in %d messages", n)
		}
		mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m.Seq, "🐢"))
		wantFound(t, s, bob, "turtle", "lobby/1")

		mustChange(t, s, del("lobby", "alice", m.Seq))
		wantFound(t, s, bob, "turtle")
		wantFound(t, s, alice, "from:alice")
		wantFound(t, s, alice, "in:lobby")
		for _, w := range []string{"turtle", "slow", "fox"} {
			if n := indexHolds(t, s, w); n != 0 {
				t.Errorf("the index still holds %q of a deleted message (%d)", w, n)
			}
		}
		wantFound(t, s, alice, "dog", "dev/1")
		checkIndex(t, s)
	})
}

// TestSearchIndexesChangesInOneBatch: a message edited and deleted in the
// batch that inserts it leaves the index as the messages are.
func TestSearchIndexesChangesInOneBatch(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		u := mustUser(t, s, "alice")
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "first"})
		// Submitted at once, behind messages to another room that keep
		// the writer busy, so that they share batches: messages 2, 3, 4,
		// an edit of 2, messages 6, 7, a deletion of 3, message 9.
		var fill []*store.Pending
		for i := range 200 {
			fill = append(fill, s.SubmitMessage(ctx, chat.NewMessage{Room: "filler", Author: "alice", Content: "filler " + strconv.Itoa(i)}))
		}
		var ps []*store.Pending
		for _, c := range []string{"apple one", "banana two", "cherry three"} {
			ps = append(ps, s.SubmitMessage(ctx, chat.NewMessage{Room: "lobby", Author: "alice", Content: c}))
		}
		e := edit("lobby", "alice", 2, "apricot one")
		e.EditWindow = time.Hour
		ps = append(ps, s.SubmitChange(ctx, e))
		for _, c := range []string{"date four", "elder five"} {
			ps = append(ps, s.SubmitMessage(ctx, chat.NewMessage{Room: "lobby", Author: "alice", Content: c}))
		}
		ps = append(ps, s.SubmitChange(ctx, del("lobby", "alice", 3)))
		ps = append(ps, s.SubmitMessage(ctx, chat.NewMessage{Room: "lobby", Author: "alice", Content: "fig six"}))
		for _, p := range fill {
			if _, _, err := p.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		for i, p := range ps {
			var err error
			if i == 3 || i == 6 {
				_, _, err = p.WaitChange()
			} else {
				_, _, err = p.Wait()
			}
			if err != nil {
				t.Fatalf("change %d: %v", i, err)
			}
		}
		wantFound(t, s, u, "apple")
		wantFound(t, s, u, "apricot", "lobby/2")
		wantFound(t, s, u, "banana")
		if n := s.FailedBatches(); n != 0 {
			t.Errorf("%d batches failed and were written again a change at a time", n)
		}
		wantFound(t, s, u, "two")
		wantFound(t, s, u, "one", "lobby/2")
		wantFound(t, s, u, "cherry", "lobby/4")
		wantFound(t, s, u, "fig", "lobby/9")
		wantFound(t, s, u, "from:alice in:lobby", "lobby/9", "lobby/7", "lobby/6", "lobby/4", "lobby/2", "lobby/1")
		checkIndex(t, s)
	})
}

// TestSearchPaging: newest first, a page at a time, each page's Next
// leading to the one after, the last with none; bad pages are refused.
func TestSearchPaging(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		for i := 1; i <= 25; i++ {
			room := "lobby"
			if i%2 == 0 {
				room = "dev"
			}
			mustInsert(t, s, chat.NewMessage{Room: room, Author: "alice", Content: "ping number " + strconv.Itoa(i)})
		}
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "pong"})
		var got []string
		var sizes []int
		p := store.SearchPage{Limit: 10}
		for range 10 {
			res := mustSearch(t, s, u, "ping", p)
			sizes = append(sizes, len(res.Results))
			for _, r := range res.Results {
				got = append(got, strings.TrimPrefix(r.Content, "ping number "))
			}
			if res.Next == 0 {
				break
			}
			p.Before = res.Next
		}
		if !reflect.DeepEqual(sizes, []int{10, 10, 5}) {
			t.Errorf("page sizes %v", sizes)
		}
		var want []string
		for i := 25; i >= 1; i-- {
			want = append(want, strconv.Itoa(i))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("paged results %v, want %v", got, want)
		}
		if res := mustSearch(t, s, u, "ping", store.SearchPage{}); len(res.Results) != store.DefaultSearchLimit || res.Next == 0 {
			t.Errorf("default page: %d results, next %d", len(res.Results), res.Next)
		}
		q, _ := search.Parse("ping")
		for _, bad := range []store.SearchPage{{Limit: -1}, {Limit: store.MaxSearchLimit + 1}, {Before: -5}} {
			_, err := s.Search(t.Context(), u, q, bad)
			wantCode(t, err, chat.EInvalid)
		}
		if res := mustSearch(t, s, u, "", store.SearchPage{}); len(res.Results) != 0 || res.Results == nil {
			t.Errorf("an empty query found %+v", res.Results)
		}
	})
}

// TestSearchCommonWords: a word in most messages, which PostgreSQL's
// statistics then call common, is tested on the rows the other words
// find (search.Options.Common), and the results are the same as when it
// was not.
func TestSearchCommonWords(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		u := mustUser(t, s, "alice")
		for i := 1; i <= 200; i++ {
			content := "fe number " + strconv.Itoa(i)
			if i%40 == 0 {
				content = "gitr fe " + strconv.Itoa(i)
			}
			mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: content})
		}
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "gitr alone"})
		check := func() {
			t.Helper()
			wantFound(t, s, u, "gitr fe", "lobby/200", "lobby/160", "lobby/120", "lobby/80", "lobby/40")
			wantFound(t, s, u, `"fe 160"`, "lobby/160")
			wantFound(t, s, u, `"gitr fe" -160 -200`, "lobby/120", "lobby/80", "lobby/40")
			wantFound(t, s, u, "gitr -fe", "lobby/201")
			wantFound(t, s, u, "fe 7", "lobby/7")
		}
		check()
		mustExec(t, s, "ANALYZE messages")
		if s.Engine() == store.EnginePostgres {
			common, err := s.CommonWords(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !common["fe"] || !common["number"] || common["gitr"] {
				t.Fatalf("the common words after ANALYZE are %v, want fe and number, not gitr", common)
			}
		}
		check()
	})
}

// TestSearchOperators: the query language's operators through the store,
// is:mention from the mentions its writers record.
func TestSearchOperators(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		for _, m := range []chat.NewMessage{
			{Room: "lobby", Author: "alice", Content: "deploy failed again"},                     // lobby/1
			{Room: "dev", Author: "bob", Content: "deploy done, see https://ci.example.com/1"},   // dev/1
			{Room: "dev", Author: "alice", Content: "@bob the new york deploy is spam"},          // dev/2
			{Room: "lobby", Author: "bob", Content: "York new: @alice look, HTTP://EXAMPLE.ORG"}, // lobby/2
			{Room: "lobby", Author: "bob", Content: "Café crème, naïve"},                         // lobby/3
		} {
			mustInsert(t, s, m)
		}
		prepared := s.PreparedReads()
		wantFound(t, s, alice, "deploy", "dev/2", "dev/1", "lobby/1")
		wantFound(t, s, alice, "deploy from:bob", "dev/1")
		wantFound(t, s, alice, "deploy from:@alice from:bob", "dev/2", "dev/1", "lobby/1")
		wantFound(t, s, alice, "deploy in:#lobby", "lobby/1")
		wantFound(t, s, alice, "deploy in:LOBBY", "lobby/1")
		wantFound(t, s, alice, "deploy -spam", "dev/1", "lobby/1")
		wantFound(t, s, alice, `"new york"`, "dev/2")
		wantFound(t, s, alice, "york new", "lobby/2", "dev/2")
		wantFound(t, s, alice, "has:link", "lobby/2", "dev/1")
		wantFound(t, s, alice, "is:mention", "lobby/2")
		wantFound(t, s, bob, "is:mention", "dev/2")
		wantFound(t, s, bob, "cafe CREME naive", "lobby/3")
		wantFound(t, s, bob, "depl*", "dev/2", "dev/1", "lobby/1")
		wantFound(t, s, bob, "deploy after:yesterday", "dev/2", "dev/1", "lobby/1")
		wantFound(t, s, bob, "deploy before:today")
		// Each shape of query is a statement of its own: none is kept.
		if n := s.PreparedReads(); n != prepared {
			t.Errorf("searches left %d statements prepared, %d before", n, prepared)
		}
	})
}

// corpus are messages whose words the two engines could read differently
// (internal/search's corpus_test.go has the full set and what each
// finds): both find the same through the store.
var corpus = []chat.NewMessage{
	{Room: "lobby", Author: "alice", Content: "Hello world"},
	{Room: "lobby", Author: "bob", Content: "hello WORLD, again!"},
	{Room: "lobby", Author: "carol", Content: "Le café est prêt"},
	{Room: "lobby", Author: "alice", Content: "CAFE or cafe? Cafés!"},
	{Room: "dev", Author: "bob", Content: "Deploy failed: see https://ci.example.com/build/42"},
	{Room: "dev", Author: "alice", Content: "deployment done; deploying again tomorrow"},
	{Room: "dev", Author: "carol", Content: "New York is big"},
	{Room: "dev", Author: "bob", Content: "york new"},
	{Room: "lobby", Author: "dave", Content: "email me at dave@example.com or visit HTTP://EXAMPLE.ORG"},
	{Room: "secret", Author: "alice", Content: "the secret plan is ready"},
	{Room: "secret", Author: "bob", Content: "plan B: <script>alert('x')</script> & more"},
	{Room: "lobby", Author: "carol", Content: "@alice are you there? lunch plan"},
	{Room: "lobby", Author: "bob", Content: "Straße und STRASSE"},
	{Room: "lobby", Author: "alice", Content: "İstanbul ΣΊΣΥΦΟΣ σίσυφος"},
	{Room: "dev", Author: "dave", Content: "v1.2.3 released, 3.14 is pi, foo_bar and foo-bar"},
	{Room: "dev", Author: "alice", Content: "東京タワー 東京"},
	{Room: "lobby", Author: "bob", Content: "🎉 party 🎉 🤔"},
	{Room: "lobby", Author: "carol", Content: `NEAR AND OR NOT ^ * ( ) : " ' \ & | ! <-> plan`},
	{Room: "lobby", Author: "dave", Content: "don't stop"},
	{Room: "dev", Author: "bob", Content: "prefixes: preview prepare pre"},
	{Room: "lobby", Author: "alice", Content: "naïve coöperate résumé"},
	{Room: "lobby", Author: "bob", Content: "a link: http://example.com/x and text"},
	{Room: "dev", Author: "carol", Content: "ﬁne ligature"},
	{Room: "secret", Author: "bob", Content: "@bob @alice standup in the secret room"},
	{Room: "lobby", Author: "carol", Content: "see www.example.com for more"},
}

// TestSearchSameOnBothEngines: the corpus, stored through each engine's
// writer, answers every query alike, and as expected.
func TestSearchSameOnBothEngines(t *testing.T) {
	stores := map[string]*store.Store{"sqlite": storetest.SQLite(t), "postgres": storetest.Postgres(t)}
	queries := map[string][]string{
		"hello":                   {"lobby/2", "lobby/1"},
		"cafe":                    {"lobby/4", "lobby/3"},
		`"new york"`:              {"dev/3"},
		"york new":                {"dev/4", "dev/3"},
		"example":                 {"lobby/14", "lobby/13", "lobby/5", "dev/1"},
		"has:link":                {"lobby/13", "lobby/5", "dev/1"},
		"plan":                    {"lobby/10", "lobby/6", "secret/2", "secret/1"},
		"plan -secret":            {"lobby/10", "lobby/6", "secret/2"},
		"pre*":                    {"dev/7", "lobby/3"},
		"foo-bar":                 {"dev/5"},
		"東京":                      {"dev/6"},
		"🤔":                       {"lobby/9"},
		"σίσυφος":                 {"lobby/8"},
		"strasse":                 {"lobby/7"},
		"is:mention":              {"secret/3", "lobby/6"},
		"from:carol in:lobby":     {"lobby/14", "lobby/10", "lobby/6", "lobby/3"},
		`near and or not`:         {"lobby/10"},
		"don":                     {"lobby/11"},
		"script alert":            {"secret/2"},
		"fine":                    {},
		"deploy* -deployment":     {"dev/1"},
		"resume cooperate":        {"lobby/12"},
		`"secret room" from:bob`:  {"secret/3"},
		"standup in:secret":       {"secret/3"},
		"again from:alice":        {"dev/2"},
		"again from:bob in:lobby": {"lobby/2"},
	}
	got := map[string]map[string][]string{}
	for name, s := range stores {
		var alice chat.User
		for _, n := range []string{"alice", "bob", "carol", "dave"} {
			u := mustUser(t, s, n)
			if n == "alice" {
				alice = u
			}
		}
		for _, m := range corpus {
			mustInsert(t, s, m)
		}
		got[name] = map[string][]string{}
		for q := range queries {
			got[name][q] = find(t, s, alice, q)
		}
	}
	for q, want := range queries {
		if !reflect.DeepEqual(got["sqlite"][q], got["postgres"][q]) {
			t.Errorf("%q: SQLite finds %v, PostgreSQL %v", q, got["sqlite"][q], got["postgres"][q])
		}
		if want == nil {
			want = []string{}
		}
		if !reflect.DeepEqual(got["sqlite"][q], want) {
			t.Errorf("%q finds %v, want %v", q, got["sqlite"][q], want)
		}
	}
}

// TestSearchAfterLeavingAPrivateRoom: the rule of readable rooms keeps a
// private room's messages from those who are not its members, and from a
// member once removed.
func TestSearchAfterLeavingAPrivateRoom(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		alice, bob, carol := mustUser(t, s, "alice"), mustUser(t, s, "bob"), mustUser(t, s, "carol")
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "carol", Content: "launch plan, public"})
		mustInsert(t, s, chat.NewMessage{Room: "secret", Author: "alice", Content: "launch plan, private"})
		mustExec(t, s, "UPDATE rooms SET kind = 'private' WHERE name = 'secret'")
		if err := s.AddRoomMember(t.Context(), "secret", bob.ID); err != nil {
			t.Fatal(err)
		}
		wantFound(t, s, alice, "launch", "secret/1", "lobby/1")
		wantFound(t, s, bob, "launch", "secret/1", "lobby/1")
		wantFound(t, s, carol, "launch", "lobby/1")
		wantFound(t, s, carol, "in:secret")

		if _, err := s.LeaveRoom(t.Context(), bob.ID, "secret"); err != nil {
			t.Fatal(err)
		}
		wantFound(t, s, bob, "launch", "lobby/1")
		wantFound(t, s, bob, "from:alice")
		wantFound(t, s, alice, "plan private", "secret/1")
	})
}

// TestReadableRuleIsCan: the rule of readable rooms in SQL agrees with
// chat.Can for reading, for every kind of room, member or not.
func TestReadableRuleIsCan(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		mustUser(t, s, "owner")
		for _, kind := range []chat.RoomKind{chat.RoomPublic, chat.RoomPrivate, chat.RoomDirect} {
			mustInsert(t, s, chat.NewMessage{Room: string(kind), Author: "owner", Content: "hello " + string(kind)})
			mustExec(t, s, "UPDATE rooms SET kind = $1 WHERE name = $2", string(kind), string(kind))
		}
		for _, member := range []bool{false, true} {
			u := mustUser(t, s, "reader-"+strconv.FormatBool(member))
			for _, kind := range []chat.RoomKind{chat.RoomPublic, chat.RoomPrivate, chat.RoomDirect} {
				if member {
					if err := s.AddRoomMember(t.Context(), string(kind), u.ID); err != nil {
						t.Fatal(err)
					}
				}
				can := chat.Can(chat.Actor{ID: u.ID, Role: chat.RoleMember}, chat.Place{Kind: kind, Exists: true, Member: member},
					chat.ActRead, chat.Target{}, time.Now()) == nil
				found := len(find(t, s, u, "hello in:"+string(kind))) == 1
				if found != can {
					t.Errorf("a %s room, member %v: search finds its message %v, chat.Can lets read %v", kind, member, found, can)
				}
			}
		}
	})
}

// TestSearchMigrationIndexesStoredMessages: messages stored before the
// search migration are found once it has run, a deleted one never.
func TestSearchMigrationIndexesStoredMessages(t *testing.T) {
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 7); err != nil {
			t.Fatal(err)
		}
		u := mustUser(t, s, "alice")
		// As the version before the search migration stored them, the
		// third deleted: erased.
		t0 := time.Now().Add(-time.Minute)
		mustExec(t, s, "INSERT INTO rooms (name, last_seq, msg_count, deleted_count, created_at, last_activity) VALUES ('lobby', 3, 3, 1, $1, $1)", t0)
		for i, c := range []string{"old news", "older news", ""} {
			var deleted any
			if c == "" {
				deleted = t0
			}
			mustExec(t, s, "INSERT INTO messages (room, seq, num, author, content, created_at, deleted_at) VALUES ('lobby', $1, $1, 'alice', $2, $3, $4)",
				i+1, c, t0, deleted)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		wantFound(t, s, u, "news", "lobby/2", "lobby/1")
		wantFound(t, s, u, "older", "lobby/2")
		wantFound(t, s, u, "gone")
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "fresh news"})
		wantFound(t, s, u, "news", "lobby/4", "lobby/2", "lobby/1")
		checkIndex(t, s)
	})
}
