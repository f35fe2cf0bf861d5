package search_test

import (
	"testing"
	"time"

	"parley/internal/search"
)

// The shared corpus: one set of rooms, people and messages that both
// engines must answer alike.

var (
	users = []string{"alice", "bob", "carol", "dave"} // ids 1, 2, 3, 4
	rooms = []string{"lobby", "dev", "secret"}
	// members: secret is private to alice and bob.
	members = map[string][]string{
		"alice": {"lobby", "dev", "secret"},
		"bob":   {"lobby", "dev", "secret"},
		"carol": {"lobby", "dev"},
		"dave":  {"lobby", "dev"},
	}
	// mentioned: message id -> the people it mentions.
	mentioned = map[int64][]string{12: {"alice"}, 24: {"alice", "bob"}}
)

func at(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
}

var corpus = []msg{
	{1, "lobby", "alice", at(1, 10, 0), "Hello world"},
	{2, "lobby", "bob", at(1, 11, 0), "hello WORLD, again!"},
	{3, "lobby", "carol", at(2, 0, 0).Add(-time.Microsecond), "Le café est prêt"},
	{4, "lobby", "alice", at(2, 0, 0), "CAFE or cafe? Cafés!"},
	{5, "dev", "bob", at(2, 9, 0), "Deploy failed: see https://ci.example.com/build/42"},
	{6, "dev", "alice", at(2, 10, 0), "deployment done; deploying again tomorrow"},
	{7, "dev", "carol", at(3, 9, 0), "New York is big"},
	{8, "dev", "bob", at(3, 10, 0), "york new"},
	{9, "lobby", "dave", at(3, 11, 0), "email me at dave@example.com or visit HTTP://EXAMPLE.ORG"},
	{10, "secret", "alice", at(3, 12, 0), "the secret plan is ready"},
	{11, "secret", "bob", at(4, 9, 0), "plan B: <script>alert('x')</script> & more"},
	{12, "lobby", "carol", at(4, 10, 0), "@alice are you there? lunch plan"},
	{13, "lobby", "bob", at(4, 11, 0), "Straße und STRASSE"},
	{14, "lobby", "alice", at(4, 12, 0), "İstanbul ΣΊΣΥΦΟΣ σίσυφος"},
	{15, "dev", "dave", at(5, 9, 0), "v1.2.3 released, 3.14 is pi, foo_bar and foo-bar"},
	{16, "dev", "alice", at(5, 9, 10), "東京タワー 東京"},
	{17, "lobby", "bob", at(5, 9, 20), "🎉 party 🎉 🤔"},
	{18, "lobby", "carol", at(5, 9, 30), `NEAR AND OR NOT ^ * ( ) : " ' \ & | ! <-> plan`},
	{19, "lobby", "dave", at(5, 9, 40), "don't stop"},
	{20, "dev", "bob", at(5, 9, 50), "prefixes: preview prepare pre"},
	{21, "lobby", "alice", at(5, 10, 0), "naïve coöperate résumé"},
	{22, "lobby", "bob", at(5, 10, 10), "a link: http://example.com/x and text"},
	{23, "dev", "carol", at(5, 10, 20), "ﬁne ligature"},
	{24, "secret", "bob", at(5, 10, 30), "@bob @alice standup in the secret room"},
	{25, "lobby", "carol", at(6, 0, 0), "see www.example.com for more"},
}

// load stores the corpus's people, rooms, memberships, messages and
// mentions.
func load(tb testing.TB, e *engine) {
	tb.Helper()
	t0 := e.ts(at(1, 0, 0))
	for i, u := range users {
		e.exec(tb, "INSERT INTO users (id, name, password_hash, admin, created_at) VALUES (?, ?, 'x', ?, ?)", i+1, u, false, t0)
	}
	for _, r := range rooms {
		e.exec(tb, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES (?, 0, ?, ?)", r, t0, t0)
	}
	for _, u := range users {
		for _, r := range members[u] {
			join(tb, e, u, r)
		}
	}
	for _, m := range corpus {
		e.insert(tb, m)
	}
	for id, names := range mentioned {
		for _, u := range names {
			// The store's table of mentions (migration 0005), as its
			// writers fill it.
			e.exec(tb, "INSERT INTO mentions (room, seq, user_id, message_id) SELECT room, seq, ?, id FROM messages WHERE id = ?",
				userID(u), id)
		}
	}
}

func join(tb testing.TB, e *engine, user, room string) {
	tb.Helper()
	e.exec(tb, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES (?, ?, 0, ?)",
		userID(user), room, e.ts(at(1, 0, 0)))
}

func userID(name string) int64 {
	for i, u := range users {
		if u == name {
			return int64(i + 1)
		}
	}
	panic("no user " + name)
}

// as is what the store will pass for a searcher: the rooms they are a
// member of, read when the search runs, and their mentions.
func as(user string) search.Options {
	id := userID(user)
	return search.Options{
		Readable:  search.Filter{SQL: "m.room IN (SELECT room FROM room_members WHERE user_id = $1)", Args: []any{id}},
		Mentioned: search.Filter{SQL: "m.id IN (SELECT message_id FROM mentions WHERE user_id = $1)", Args: []any{id}},
	}
}
