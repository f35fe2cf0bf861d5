package store_test

import (
	"testing"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// TestRoomCounts: a user's rooms with unread and mention counts (by name
// and by @room, each message once, never their own), and their level.
func TestRoomCounts(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		mustUser(t, s, "bob")
		for _, r := range []string{"lobby", "ops"} {
			if _, _, err := s.CreateRoom(ctx, r, alice.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := s.EnterRoom(ctx, alice.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		// Posting reads the room up to one's own message: alice's comes first.
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "@room mine"})
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "hi"})
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "@alice look"})
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "@room and @alice"})
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "@alice again"})
		mustInsert(t, s, chat.NewMessage{Room: "ops", Author: "bob", Content: "@room deploy"})
		counts := func(room string) map[string]store.RoomCount {
			t.Helper()
			cs, err := s.RoomCounts(ctx, alice.ID, "alice", room)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]store.RoomCount{}
			for _, c := range cs {
				out[c.Room] = c
			}
			return out
		}
		got := counts("")
		if c := got["lobby"]; len(got) != 2 || c.Unread != 4 || c.Mentions != 3 || c.LastSeq != 5 || c.LastRead != 1 || c.Level != chat.LevelEvery {
			t.Fatalf("counts = %+v; want lobby 4 unread, 3 mentions, every", got)
		}
		if c := got["ops"]; c.Unread != 1 || c.Mentions != 1 {
			t.Fatalf("ops = %+v; want 1 unread, 1 mention", c)
		}
		if err := s.MarkRead(ctx, alice.ID, "lobby", 3); err != nil {
			t.Fatal(err)
		}
		if c := counts("lobby")["lobby"]; c.Unread != 2 || c.Mentions != 2 || c.LastRead != 3 {
			t.Fatalf("after reading to 3: %+v; want 2 unread, 2 mentions", c)
		}
		if err := s.SetLevel(ctx, alice.ID, "ops", chat.LevelMuted); err != nil {
			t.Fatal(err)
		}
		if l, err := s.Level(ctx, alice.ID, "ops"); err != nil || l != chat.LevelMuted {
			t.Fatalf("Level = %q, %v; want muted", l, err)
		}
		if c := counts("ops"); len(c) != 1 || c["ops"].Level != chat.LevelMuted {
			t.Fatalf("counts of ops = %+v", c)
		}
		wantCode(t, s.SetLevel(ctx, alice.ID, "nowhere", chat.LevelMuted), chat.ENotFound)
	})
}

// TestNotifyTargets: a message notifies the members it mentions who have
// not muted the room and have not read it, never its author.
func TestNotifyTargets(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")
		carol := mustUser(t, s, "carol")
		if _, _, err := s.CreateRoom(ctx, "lobby", alice.ID); err != nil {
			t.Fatal(err)
		}
		for _, u := range []chat.User{alice, bob, carol} {
			if _, err := s.EnterRoom(ctx, u.ID, "lobby"); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SetLevel(ctx, carol.ID, "lobby", chat.LevelMuted); err != nil {
			t.Fatal(err)
		}
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "@room @alice @bob @carol"})
		ts, err := s.NotifyTargets(ctx, &m, false)
		if err != nil || len(ts) != 1 || ts[0].Name != "bob" {
			t.Fatalf("NotifyTargets = %+v, %v; want bob alone", ts, err)
		}
		if err := s.MarkRead(ctx, bob.ID, "lobby", m.Seq); err != nil {
			t.Fatal(err)
		}
		if ts, err := s.NotifyTargets(ctx, &m, false); err != nil || len(ts) != 0 {
			t.Fatalf("NotifyTargets after bob read it = %+v, %v", ts, err)
		}
	})
}
