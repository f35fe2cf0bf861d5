package store_test

import (
	"bytes"
	"slices"
	"strconv"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// Log-in by any spelling of a name's key finds the account; a name whose
// key is taken is a conflict.
func TestUserKeys(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "Alice")
		for _, spelling := range []string{"Alice", "alice", "ALICE", "ａｌｉｃｅ", "𝐚𝐥𝐢𝐜𝐞"} {
			u, _, err := s.UserByName(ctx, spelling)
			if err != nil || u != alice {
				t.Errorf("UserByName(%q) = %+v, %v; want %+v", spelling, u, err, alice)
			}
			_, err = s.CreateUser(ctx, spelling, "h", false)
			wantCode(t, err, chat.EConflict)
		}
		// A look-alike from another script is refused at sign-up, not
		// taken as the same name.
		_, err := s.CreateUser(ctx, "аlice", "h", false)
		wantCode(t, err, chat.EInvalid)
		_, _, err = s.UserByName(ctx, "аlice")
		wantCode(t, err, chat.ENotFound)
	})
}

// Migrating a database whose accounts' names collide by key keeps every
// account working: each by its exact name, the oldest by any spelling.
func TestNameKeyMigration(t *testing.T) {
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 1); err != nil {
			t.Fatal(err)
		}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, name := range []string{"Alice", "alice", "ALICE", "bob"} {
			if err := s.Exec(ctx, "INSERT INTO users (name, password_hash, admin, created_at) VALUES ($1, $2, $3, $4)",
				name, "hash-"+name, false, t0.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ typed, found string }{
			{"Alice", "Alice"}, {"alice", "alice"}, {"ALICE", "ALICE"}, // exact names
			{"aLiCe", "Alice"}, {"ａｌｉｃｅ", "Alice"}, // the oldest has the key
			{"BOB", "bob"},
		} {
			u, hash, err := s.UserByName(ctx, tc.typed)
			if err != nil || u.Name != tc.found || hash != "hash-"+tc.found {
				t.Errorf("UserByName(%q) = %q (%q), %v; want %q", tc.typed, u.Name, hash, err, tc.found)
			}
		}
		// The key stays taken.
		_, err := s.CreateUser(ctx, "alicE", "h", false)
		wantCode(t, err, chat.EConflict)
		if _, err := s.CreateUser(ctx, "carol", "h", false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestKnownDevices(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		dev := func(i int) []byte { return []byte{'d', byte(i)} }
		for i := range store.MaxKnownDevices + 3 {
			if err := s.AddKnownDevice(ctx, dev(i), alice.ID, t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				// Used since: kept past the others made before it.
				if err := s.UseKnownDevice(ctx, dev(0), t0.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
		}
		wantCode(t, s.AddKnownDevice(ctx, dev(5), alice.ID, t0), chat.EConflict)
		wantCode(t, s.AddKnownDevice(ctx, []byte("x"), 424242, t0), chat.ENotFound)
		var kept []int
		for i := range store.MaxKnownDevices + 3 {
			id, err := s.KnownDevice(ctx, dev(i))
			if err != nil {
				t.Fatal(err)
			}
			if id == alice.ID {
				kept = append(kept, i)
			} else if id != 0 {
				t.Fatalf("device %d belongs to %d", i, id)
			}
		}
		if len(kept) != store.MaxKnownDevices || kept[0] != 0 || slices.Contains(kept, 1) || slices.Contains(kept, 3) {
			t.Fatalf("kept devices %v; want %d: the one used lately and the newest", kept, store.MaxKnownDevices)
		}
	})
}

func TestTrimAndDeleteSessions(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		add := func(u int64, kind string, i int) []byte {
			h := []byte{kind[0], byte(u), byte(i)}
			if err := s.CreateSession(ctx, store.Session{Hash: h, UserID: u, Kind: kind,
				CreatedAt: t0.Add(time.Duration(i) * time.Minute), ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		var toks [][]byte
		for i := range 5 {
			toks = append(toks, add(alice.ID, store.KindToken, i))
		}
		sess := add(alice.ID, store.KindSession, 0)
		other := add(bob.ID, store.KindToken, 0)
		gone, err := s.TrimSessions(ctx, alice.ID, store.KindToken, 3)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(gone, bytes.Compare)
		if !slices.EqualFunc(gone, toks[:2], bytes.Equal) {
			t.Fatalf("trimmed %q; want the two oldest tokens", gone)
		}
		live, err := s.LiveSessions(ctx, [][]byte{toks[0], toks[4], sess, other}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if live[string(toks[0])] || !live[string(toks[4])] || !live[string(sess)] || !live[string(other)] {
			t.Fatalf("live %v", live)
		}
		// All of alice's tokens, her session kept.
		gone, err = s.DeleteUserSessions(ctx, alice.ID, store.KindToken, nil)
		if err != nil || len(gone) != 3 {
			t.Fatalf("deleted %q, %v; want alice's 3 tokens", gone, err)
		}
		// Everything of alice's but one.
		keep := add(alice.ID, store.KindToken, 9)
		gone, err = s.DeleteUserSessions(ctx, alice.ID, "", keep)
		if err != nil || len(gone) != 1 || !bytes.Equal(gone[0], sess) {
			t.Fatalf("deleted %q, %v; want her session alone", gone, err)
		}
		if _, err := s.SessionUser(ctx, keep, store.KindToken, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionUser(ctx, other, store.KindToken, t0); err != nil {
			t.Fatal(err)
		}
	})
}

// Migrating a database whose rooms' names collide when lower-cased keeps
// every room and message: the oldest takes the lower-cased name, each
// other one that name and a number not taken; every room is found by its
// words.
func TestRoomNameMigration(t *testing.T) {
	storetest.EnginesUnmigrated(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		if err := s.MigrateTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		// An account as migration 3 kept them (CreateUser writes later
		// columns).
		if err := s.Exec(ctx, "INSERT INTO users (name, name_key, password_hash, admin, created_at) VALUES ($1, $1, $2, $3, $4)",
			"alice", "h", false, time.Now()); err != nil {
			t.Fatal(err)
		}
		aliceID, err := s.Count(ctx, "SELECT id FROM users WHERE name = $1", "alice")
		if err != nil {
			t.Fatal(err)
		}
		alice := chat.User{ID: aliceID, Name: "alice"}
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		rooms := []struct {
			name     string
			messages int
		}{{"General", 2}, {"general", 3}, {"general-2", 1}, {"GENERAL", 0}, {"Lobby", 1}, {"quiet", 0}}
		for i, r := range rooms {
			at := t0.Add(time.Duration(i) * time.Hour)
			if err := s.Exec(ctx, "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ($1, $2, $3, $3)",
				r.name, r.messages, at); err != nil {
				t.Fatal(err)
			}
			for seq := 1; seq <= r.messages; seq++ {
				if err := s.Exec(ctx, "INSERT INTO messages (room, seq, author, content, created_at) VALUES ($1, $2, $3, $4, $5)",
					r.name, seq, "alice", r.name+" "+strconv.Itoa(seq), at); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Exec(ctx, "INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES ($1, $2, $3, $4)",
				alice.ID, r.name, r.messages, at); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for old, now := range map[string]string{"General": "general", "general": "general-3", "general-2": "general-2",
			"GENERAL": "general-4", "Lobby": "lobby", "quiet": "quiet"} {
			msgs, _, err := s.Messages(ctx, now, store.Page{FromStart: true, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range rooms {
				if r.name == old {
					for seq := 1; seq <= r.messages; seq++ {
						want = append(want, old+" "+strconv.Itoa(seq))
					}
				}
			}
			var got []string
			for i, m := range msgs {
				if m.Seq != int64(i+1) || m.Room != now {
					t.Errorf("%s: message %+v", now, m)
				}
				got = append(got, m.Content)
			}
			if !slices.Equal(got, want) {
				t.Errorf("room %q, once %q, holds %q; want %q", now, old, got, want)
			}
			if seq, member, err := s.ReadMarker(ctx, alice.ID, now); err != nil || !member || seq != int64(len(want)) {
				t.Errorf("alice's marker in %q: %d, %v, %v", now, seq, member, err)
			}
		}
		found, err := s.Rooms(ctx, "gen", 0)
		if err != nil || len(found) != 4 {
			t.Fatalf("Rooms(gen) = %+v, %v; want the 4 general rooms", found, err)
		}
		if _, err := s.Room(ctx, "General"); err != nil {
			t.Fatalf("Room(General) after the migration: %v", err)
		}
	})
}
