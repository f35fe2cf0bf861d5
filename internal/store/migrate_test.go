package store_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// mustExec runs statements that build what an older version stored.
func mustExec(t *testing.T, s *store.Store, query string, args ...any) {
	t.Helper()
	if err := s.Exec(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mustCount(t *testing.T, s *store.Store, query string, args ...any) int64 {
	t.Helper()
	n, err := s.Count(t.Context(), query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// A database migrated to the rooms migration (0004), or to none of the
// later ones, takes the events migration (0005) after it: its rooms,
// under their lower-case names, count their messages, are found by their
// words, and take changes as rooms made since do.
func TestEventsMigrationAfterRooms(t *testing.T) {
	for _, from := range []int64{1, 4} {
		t.Run(map[int64]string{1: "from 0001", 4: "from 0004"}[from], func(t *testing.T) {
			storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
				ctx := t.Context()
				if err := s.MigrateTo(ctx, from); err != nil {
					t.Fatal(err)
				}
				t0 := time.Now().Add(-time.Minute)
				mustExec(t, s, "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3)", "alice", "h", t0)
				aliceID := mustCount(t, s, "SELECT id FROM users WHERE name = $1", "alice")
				name := "Lobby" // as a version without lower-case names kept it
				if from >= 4 {
					// As 0004's version made it: lower-case, its maker and
					// words recorded.
					name = "lobby"
					mustExec(t, s, "INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by) VALUES ($1, 0, $2, $2, $3)",
						name, t0, aliceID)
					mustExec(t, s, "INSERT INTO room_words (word, room) VALUES ($1, $1)", name)
				} else {
					mustExec(t, s, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ($1, 0, $2, $2)", name, t0)
				}
				for seq, content := range []string{"one", "two", "three"} {
					mustExec(t, s, "INSERT INTO messages (room, seq, author, content, created_at) VALUES ($1, $2, $3, $4, $5)",
						name, seq+1, "alice", content, t0)
				}
				mustExec(t, s, "UPDATE rooms SET last_seq = 3 WHERE name = $1", name)
				mustExec(t, s, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES ($1, $2, 1, $3)", aliceID, name, t0)

				if err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				if r, err := s.Room(ctx, "lobby"); err != nil || r.Messages != 3 || r.LastSeq != 3 {
					t.Fatalf("Room = %+v, %v; want 3 messages, last seq 3", r, err)
				}
				if found, err := s.Rooms(ctx, "lob", 0); err != nil || len(found) != 1 || found[0].Name != "lobby" {
					t.Fatalf("Rooms(lob) = %+v, %v", found, err)
				}
				react, created, err := s.ApplyChange(ctx, chat.NewChange{Room: "lobby", Author: "alice", Kind: chat.ChangeReact, Target: 2, Emoji: "👍"})
				if err != nil || !created || react.Seq != 4 {
					t.Fatalf("react = %+v, %v, %v; want seq 4", react, created, err)
				}
				gone, _, err := s.ApplyChange(ctx, chat.NewChange{Room: "lobby", Author: "alice", Kind: chat.ChangeDelete, Target: 3})
				if err != nil || gone.Seq != 5 {
					t.Fatalf("delete = %+v, %v; want seq 5", gone, err)
				}
				m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "four"})
				if m.Seq != 6 {
					t.Fatalf("a new message took seq %d, want 6", m.Seq)
				}
				if r, err := s.Room(ctx, "lobby"); err != nil || r.Messages != 3 || r.LastSeq != 6 {
					t.Fatalf("Room = %+v, %v; want 3 messages (one deleted), last seq 6", r, err)
				}
				rooms, err := s.UserRooms(ctx, aliceID, 0)
				if err != nil || len(rooms) != 1 || rooms[0].LastRead != 1 || rooms[0].Unread != 2 {
					t.Fatalf("UserRooms = %+v, %v; want marker 1, 2 unread (two, four)", rooms, err)
				}
				msgs, _, err := s.Messages(ctx, "lobby", store.Page{Full: true})
				if err != nil || !slices.Equal(seqs(msgs), []int64{1, 2, 3, 6}) || !msgs[2].Deleted ||
					!reflect.DeepEqual(msgs[1].Reactions, []chat.Reaction{{Emoji: "👍", Count: 1, Users: []string{"alice"}}}) {
					t.Fatalf("Messages = %+v, %v", msgs, err)
				}
			})
		})
	}
}

// A database whose events migration (0005) ran before the rooms migration
// (0004) existed takes 0004 after it: renaming its rooms to lower case
// moves every row of their logs with them (changes, versions, reactions,
// mentions) and keeps their counts, so that each room reads as it did.
func TestRoomNamesMigrationAfterEvents(t *testing.T) {
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.MigrateOnly(ctx, 5); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		t1 := t0.Add(time.Minute)
		mustExec(t, s, "INSERT INTO users (name, password_hash, created_at) VALUES ($1, $2, $3)", "alice", "h", t0)
		aliceID := mustCount(t, s, "SELECT id FROM users WHERE name = $1", "alice")

		// "General", the older: alice's "hi @alice" with her 👍, and her
		// "typo" edited to "fixed".
		mustExec(t, s, `INSERT INTO rooms (name, last_seq, created_at, last_activity, msg_count, deleted_count)
			VALUES ('General', 4, $1, $1, 2, 0)`, t0)
		mustExec(t, s, `INSERT INTO messages (room, seq, num, author, content, created_at, rev, mentions, reactions)
			VALUES ('General', 1, 1, 'alice', 'hi @alice', $1, 4, 'alice', 1)`, t0)
		mustExec(t, s, `INSERT INTO messages (room, seq, num, author, content, created_at, rev, edited_at)
			VALUES ('General', 2, 2, 'alice', 'fixed', $1, 3, $2)`, t0, t1)
		mustExec(t, s, `INSERT INTO changes (room, seq, kind, target, author, content, created_at)
			VALUES ('General', 3, 'edit', 2, 'alice', 'fixed', $1)`, t1)
		mustExec(t, s, `INSERT INTO changes (room, seq, kind, target, author, emoji, created_at)
			VALUES ('General', 4, 'react', 1, 'alice', '👍', $1)`, t1)
		mustExec(t, s, "INSERT INTO message_versions (room, seq, rev, content, created_at) VALUES ('General', 2, 2, 'typo', $1)", t0)
		mustExec(t, s, "INSERT INTO message_versions (room, seq, rev, content, created_at) VALUES ('General', 2, 3, 'fixed', $1)", t1)
		mustExec(t, s, "INSERT INTO reactions (room, target, emoji, author, present, seq) VALUES ('General', 1, '👍', 'alice', $1, 4)", true)
		firstID := mustCount(t, s, "SELECT id FROM messages WHERE room = 'General' AND seq = 1")
		mustExec(t, s, "INSERT INTO mentions (room, seq, user_id, message_id) VALUES ('General', 1, $1, $2)", aliceID, firstID)
		mustExec(t, s, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES ($1, 'General', 1, $2)", aliceID, t0)

		// "general", the newer: "one", and a message deleted.
		mustExec(t, s, `INSERT INTO rooms (name, last_seq, created_at, last_activity, msg_count, deleted_count)
			VALUES ('general', 3, $1, $1, 2, 1)`, t1)
		mustExec(t, s, "INSERT INTO messages (room, seq, num, author, content, created_at) VALUES ('general', 1, 1, 'alice', 'one', $1)", t1)
		mustExec(t, s, `INSERT INTO messages (room, seq, num, author, content, created_at, rev, deleted_at)
			VALUES ('general', 2, 2, 'alice', '', $1, 3, $1)`, t1)
		mustExec(t, s, "INSERT INTO changes (room, seq, kind, target, author, created_at) VALUES ('general', 3, 'delete', 2, 'alice', $1)", t1)
		mustExec(t, s, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES ($1, 'general', 0, $2)", aliceID, t1)

		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}

		for _, table := range []string{"rooms", "messages", "changes", "message_versions", "reactions", "mentions", "room_members"} {
			col := "room"
			if table == "rooms" {
				col = "name"
			}
			if n := mustCount(t, s, "SELECT count(*) FROM "+table+" WHERE "+col+" = 'General'"); n != 0 {
				t.Errorf("%s keeps %d rows of the room's old name", table, n)
			}
		}
		if r, err := s.Room(ctx, "general"); err != nil || r.Messages != 2 || r.LastSeq != 4 {
			t.Fatalf("Room(general) = %+v, %v; want 2 messages, last seq 4", r, err)
		}
		if r, err := s.Room(ctx, "general-2"); err != nil || r.Messages != 1 || r.LastSeq != 3 {
			t.Fatalf("Room(general-2) = %+v, %v; want 1 message, last seq 3", r, err)
		}

		msgs, _, err := s.Messages(ctx, "general", store.Page{Full: true})
		if err != nil || len(msgs) != 2 {
			t.Fatalf("Messages(general) = %+v, %v", msgs, err)
		}
		if m := msgs[0]; m.Content != "hi @alice" || m.Rev != 4 || !slices.Equal(m.Mentions, []string{"alice"}) ||
			!reflect.DeepEqual(m.Reactions, []chat.Reaction{{Emoji: "👍", Count: 1, Users: []string{"alice"}}}) {
			t.Errorf("general's first message: %+v", m)
		}
		if m := msgs[1]; m.Content != "fixed" || m.Rev != 3 || m.Edited.IsZero() {
			t.Errorf("general's second message: %+v", m)
		}
		v, err := s.Versions(ctx, "general", 2)
		if err != nil || len(v) != 2 || v[0].Content != "typo" || v[1].Content != "fixed" {
			t.Fatalf("Versions(general, 2) = %+v, %v", v, err)
		}
		if n := mustCount(t, s, "SELECT count(*) FROM mentions WHERE room = 'general' AND user_id = $1", aliceID); n != 1 {
			t.Errorf("alice's mentions in general: %d, want 1", n)
		}
		log, more, err := s.Log(ctx, "general", 0, 0)
		if err != nil || more || len(log) != 4 || log[2].Change == nil || log[2].Change.Kind != chat.ChangeEdit ||
			log[3].Change == nil || log[3].Change.Kind != chat.ChangeReact || log[3].Change.Room != "general" {
			t.Fatalf("Log(general) = %+v, %v, %v", log, more, err)
		}

		msgs, _, err = s.Messages(ctx, "general-2", store.Page{Full: true})
		if err != nil || !slices.Equal(seqs(msgs), []int64{1, 2}) || msgs[0].Content != "one" || !msgs[1].Deleted {
			t.Fatalf("Messages(general-2) = %+v, %v", msgs, err)
		}
		log, _, err = s.Log(ctx, "general-2", 2, 0)
		if err != nil || len(log) != 1 || log[0].Change == nil || log[0].Change.Kind != chat.ChangeDelete {
			t.Fatalf("Log(general-2, after 2) = %+v, %v", log, err)
		}

		rooms, err := s.UserRooms(ctx, aliceID, 0)
		if err != nil || len(rooms) != 2 {
			t.Fatalf("UserRooms = %+v, %v", rooms, err)
		}
		unread := map[string]int64{}
		for _, r := range rooms {
			unread[r.Name] = r.Unread
		}
		if want := map[string]int64{"general": 1, "general-2": 1}; !reflect.DeepEqual(unread, want) {
			t.Errorf("unread %v, want %v", unread, want)
		}

		// The rooms go on: the next change and message take the next seqs.
		c, _, err := s.ApplyChange(ctx, chat.NewChange{Room: "general", Author: "alice", Kind: chat.ChangeUnreact, Target: 1, Emoji: "👍"})
		if err != nil || c.Seq != 5 {
			t.Fatalf("unreact = %+v, %v; want seq 5", c, err)
		}
		if m, _ := mustInsert(t, s, chat.NewMessage{Room: "general-2", Author: "alice", Content: "two"}); m.Seq != 4 {
			t.Fatalf("a new message in general-2 took seq %d, want 4", m.Seq)
		}
		if found, err := s.Rooms(context.Background(), "general", 0); err != nil || len(found) != 2 {
			t.Fatalf("Rooms(general) = %+v, %v", found, err)
		}
	})
}
