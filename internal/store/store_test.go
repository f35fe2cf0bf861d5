package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := chat.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func mustUser(t *testing.T, s *store.Store, name string) chat.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), name, "hash-of-"+name, false)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustInsert(t testing.TB, s *store.Store, m chat.NewMessage) (chat.Message, bool) {
	t.Helper()
	msg, created, err := s.InsertMessage(context.Background(), m)
	if err != nil {
		t.Fatalf("insert %+v: %v", m, err)
	}
	return msg, created
}

func seqs(msgs []chat.Message) []int64 {
	var s []int64
	for _, m := range msgs {
		s = append(s, m.Seq)
	}
	return s
}

func seqRange(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		// storetest has migrated once already.
		for range 2 {
			if err := s.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateUser(t.Context(), "alice", "h", false); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMigrateConcurrently(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- s.Migrate(t.Context()) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestMigrateFreshPostgresFromSeveralProcesses(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			// A store each, as separate processes would have.
			s, err := store.Open(t.Context(), dsn)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(t.Context())
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestEngine(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		if got, want := s.Engine(), t.Name()[len(t.Name())-len(s.Engine()):]; got != want {
			t.Fatalf("Engine() = %q in subtest %q", got, t.Name())
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUsers(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		before := time.Now().UTC().Add(-time.Second)
		alice, err := s.CreateUser(ctx, "alice", "argon2id$alice", true)
		if err != nil {
			t.Fatal(err)
		}
		if alice.ID == 0 || alice.Name != "alice" || alice.Role != chat.RoleAdmin || alice.CreatedAt.Before(before) {
			t.Fatalf("created %+v", alice)
		}

		_, err = s.CreateUser(ctx, "alice", "other", false)
		wantCode(t, err, chat.EConflict)
		if msg := chat.ErrorMessage(err); msg != "That username is taken." {
			t.Fatalf("message %q", msg)
		}
		// Names are one name whatever their case or width.
		for _, name := range []string{"Alice", "ＡＬＩＣＥ"} {
			_, err = s.CreateUser(ctx, name, "h", false)
			wantCode(t, err, chat.EConflict)
		}
		_, err = s.CreateUser(ctx, "no spaces", "h", false)
		wantCode(t, err, chat.EInvalid)

		got, hash, err := s.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if got != alice || hash != "argon2id$alice" {
			t.Fatalf("UserByName = %+v, %q; want %+v", got, hash, alice)
		}
		_, _, err = s.UserByName(ctx, "bob")
		wantCode(t, err, chat.ENotFound)
		_, _, err = s.UserByName(ctx, "alice\x00") // PostgreSQL's text cannot hold NUL
		wantCode(t, err, chat.ENotFound)

		if err := s.SetPasswordHash(ctx, alice.ID, "argon2id$new"); err != nil {
			t.Fatal(err)
		}
		if _, hash, _ := s.UserByName(ctx, "alice"); hash != "argon2id$new" {
			t.Fatalf("hash %q after SetPasswordHash", hash)
		}
		wantCode(t, s.SetPasswordHash(ctx, 999999, "x"), chat.ENotFound)
	})
}

func TestSessions(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		now := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
		sess := store.Session{Hash: []byte("\x00session-hash\xff"), UserID: alice.ID, Kind: store.KindSession,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		tok := store.Session{Hash: []byte("token-hash"), UserID: alice.ID, Kind: store.KindToken,
			CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
		for _, x := range []store.Session{sess, tok} {
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, s.CreateSession(ctx, sess), chat.EConflict)
		wantCode(t, s.CreateSession(ctx, store.Session{Hash: []byte("x"), UserID: 424242, Kind: store.KindToken,
			ExpiresAt: now}), chat.ENotFound)
		wantCode(t, s.CreateSession(ctx, store.Session{Hash: []byte("y"), UserID: alice.ID, Kind: "cookie",
			ExpiresAt: now}), chat.EInvalid)

		u, err := s.SessionUser(ctx, sess.Hash, store.KindSession, now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if u != alice {
			t.Fatalf("SessionUser = %+v, want %+v", u, alice)
		}
		// A session hash is not a token, and the other way round.
		_, err = s.SessionUser(ctx, sess.Hash, store.KindToken, now)
		wantCode(t, err, chat.EUnauthorized)
		if _, err := s.SessionUser(ctx, tok.Hash, store.KindToken, now); err != nil {
			t.Fatal(err)
		}
		// Expired at ExpiresAt.
		_, err = s.SessionUser(ctx, sess.Hash, store.KindSession, sess.ExpiresAt)
		wantCode(t, err, chat.EUnauthorized)
		_, err = s.SessionUser(ctx, []byte("unknown"), store.KindSession, now)
		wantCode(t, err, chat.EUnauthorized)

		n, err := s.DeleteExpiredSessions(ctx, now.Add(2*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
		}
		for i := range 2 {
			existed, err := s.DeleteSession(ctx, tok.Hash)
			if err != nil || existed != (i == 0) {
				t.Fatalf("DeleteSession #%d = %v, %v", i+1, existed, err)
			}
		}
		_, err = s.SessionUser(ctx, tok.Hash, store.KindToken, now)
		wantCode(t, err, chat.EUnauthorized)
	})
}

func TestRooms(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		r, created, err := s.CreateRoom(ctx, "Lobby", alice.ID)
		if err != nil || !created {
			t.Fatalf("CreateRoom = %+v, %v, %v", r, created, err)
		}
		if r.Name != "lobby" || r.Messages != 0 || r.LastActivity.IsZero() {
			t.Fatalf("CreateRoom = %+v; want lobby, lower-cased, empty", r)
		}
		if again, created, err := s.CreateRoom(ctx, "lobby", 0); err != nil || created || again != r {
			t.Fatalf("CreateRoom again = %+v, %v, %v; want %+v, not created", again, created, err, r)
		}
		for _, name := range []string{"lobby", "LOBBY"} {
			if got, err := s.Room(ctx, name); err != nil || got != r {
				t.Fatalf("Room(%q) = %+v, %v; want %+v", name, got, err, r)
			}
		}
		_, err = s.Room(ctx, "nowhere")
		wantCode(t, err, chat.ENotFound)
		_, err = s.Room(ctx, "bad name!")
		wantCode(t, err, chat.ENotFound)
		_, _, err = s.CreateRoom(ctx, "bad name!", 0)
		wantCode(t, err, chat.EInvalid)

		for _, name := range []string{"go_lang", "goxlang", "go-nuts", "rust", "dev-ops_team", "devops"} {
			if _, _, err := s.CreateRoom(ctx, name, alice.ID); err != nil {
				t.Fatal(err)
			}
		}
		mustInsert(t, s, chat.NewMessage{Room: "goxlang", Author: "alice", Content: "x"})
		mustInsert(t, s, chat.NewMessage{Room: "go_lang", Author: "alice", Content: "x"})
		mustInsert(t, s, chat.NewMessage{Room: "Go_Lang", Author: "alice", Content: "y"})

		names := func(rooms []chat.Room) []string {
			var n []string
			for _, r := range rooms {
				n = append(n, r.Name)
			}
			return n
		}
		for _, tc := range []struct {
			query string
			limit int
			want  []string
		}{
			// A prefix of the name or of a word of it; most recently
			// active first, then by name.
			{"go", 0, []string{"go_lang", "goxlang", "go-nuts"}},
			{"GO", 2, []string{"go_lang", "goxlang"}},
			{"lang", 0, []string{"go_lang"}},
			{"o_l", 0, nil}, // not a word's start
			{"ops", 0, []string{"dev-ops_team"}},
			{"team", 0, []string{"dev-ops_team"}},
			{"ops_t", 0, []string{"dev-ops_team"}},
			{"dev", 0, []string{"devops", "dev-ops_team"}},
			{"devo", 0, []string{"devops"}},
			{"Dev Ops", 0, []string{"dev-ops_team"}}, // taken as the name it suggests, dev-ops
			{"nuts!", 0, []string{"go-nuts"}},
			{"%", 0, nil},
			{`\`, 0, nil},
			{"go\x00", 0, []string{"go_lang", "goxlang", "go-nuts"}},
			{"\xff", 0, nil},
			// No query: the rooms with a message, by their last one.
			{"", 0, []string{"go_lang", "goxlang"}},
		} {
			got, err := s.Rooms(ctx, tc.query, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names(got), tc.want) {
				t.Errorf("Rooms(%q, %d) = %v, want %v", tc.query, tc.limit, names(got), tc.want)
			}
		}
		got, _ := s.Rooms(ctx, "go_lang", 1)
		if len(got) != 1 || got[0].Messages != 2 {
			t.Fatalf("Rooms(go_lang) = %+v, want 2 messages", got)
		}
	})
}

// A message makes its room if it may (SubmitMessage), recording its
// author as the room's maker, and fails with ErrNoRoom into a room that
// does not exist if it may not (SubmitToRoom), storing nothing; in one
// batch, the one that may make the room lets the others in.
func TestMessagesMakeRooms(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustUser(t, s, "alice")
		_, _, err := s.SubmitToRoom(ctx, chat.NewMessage{Room: "later", Author: "alice", Content: "x"}).Wait()
		if !errors.Is(err, store.ErrNoRoom) {
			t.Fatalf("a message to no room: %v; want ErrNoRoom", err)
		}
		if _, err := s.Room(ctx, "later"); chat.ErrorCode(err) != chat.ENotFound {
			t.Fatalf("the room was made: %v", err)
		}
		// Submitted together: the first makes the room, the rest follow.
		first := s.SubmitMessage(ctx, chat.NewMessage{Room: "Later", Author: "alice", Content: "1"})
		var rest []*store.Pending
		for i := range 5 {
			rest = append(rest, s.SubmitToRoom(ctx, chat.NewMessage{Room: "later", Author: "alice", Content: fmt.Sprint(i)}))
		}
		if m, created, err := first.Wait(); err != nil || !created || m.Room != "later" || m.Seq != 1 {
			t.Fatalf("the first message: %+v, %v, %v", m, created, err)
		}
		for i, p := range rest {
			if m, _, err := p.Wait(); err != nil || m.Seq != int64(i+2) {
				t.Fatalf("message %d after it: %+v, %v", i, m, err)
			}
		}
		if got, _ := s.Rooms(ctx, "lat", 0); len(got) != 1 || got[0].Name != "later" {
			t.Fatalf("the room made by a message is not found by its prefix: %+v", got)
		}
	})
}

func TestInsertMessageSeqAndIdempotency(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustUser(t, s, "alice")
		mustUser(t, s, "bob")
		for i := int64(1); i <= 5; i++ {
			m, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: fmt.Sprint("m", i)})
			if !created || m.Seq != i || m.ID == 0 || m.Room != "lobby" || m.Author != "alice" || m.Content != fmt.Sprint("m", i) {
				t.Fatalf("insert %d = %+v, created %v", i, m, created)
			}
		}

		first, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "hello", ClientID: "c-1"})
		if !created || first.Seq != 6 || first.ClientID != "c-1" {
			t.Fatalf("first = %+v, %v", first, created)
		}
		again, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "hello (resent)", ClientID: "c-1"})
		if created || !reflect.DeepEqual(again, first) {
			t.Fatalf("resend = %+v created %v; want %+v, false", again, created, first)
		}
		next, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "next"})
		if next.Seq != 7 {
			t.Fatalf("seq after a resend = %d, want 7 (no hole)", next.Seq)
		}
		// The same client_id from another author, or in another room, is
		// another message.
		bobs, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "hello", ClientID: "c-1"})
		if !created || bobs.Seq != 8 {
			t.Fatalf("bob's = %+v, %v", bobs, created)
		}
		other, created := mustInsert(t, s, chat.NewMessage{Room: "other", Author: "alice", Content: "hello", ClientID: "c-1"})
		if !created || other.Seq != 1 {
			t.Fatalf("other room = %+v, %v", other, created)
		}

		r, err := s.Room(ctx, "lobby")
		if err != nil || r.Messages != 8 {
			t.Fatalf("Room = %+v, %v; want 8 messages", r, err)
		}
		if n, err := s.MessageCount(ctx); err != nil || n != 9 {
			t.Fatalf("MessageCount = %d, %v; want 9", n, err)
		}

		_, _, err = s.InsertMessage(ctx, chat.NewMessage{Room: "no/such", Author: "alice", Content: "x"})
		wantCode(t, err, chat.EInvalid)

		msgs, _, err := s.Messages(ctx, "lobby", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(msgs), seqRange(1, 8)) {
			t.Fatalf("seqs %v", seqs(msgs))
		}
		if !reflect.DeepEqual(msgs[5], first) {
			t.Fatalf("stored %+v, want %+v", msgs[5], first)
		}
	})
}

func TestContentIsStoredVerbatim(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		contents := []string{
			`<script>alert("x")</script>`,
			`<b onclick='1'>&amp; ' " \ %s %d ?</b>`,
			"naïve 日本語 👋\nsecond line",
			"'; DROP TABLE messages; --",
		}
		for _, c := range contents {
			mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "mallory", Content: c, ClientID: c[:5]})
		}
		msgs, _, err := s.Messages(t.Context(), "lobby", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range msgs {
			if m.Content != contents[i] || m.ClientID != contents[i][:5] {
				t.Errorf("message %d = %q (client_id %q), want %q", i, m.Content, m.ClientID, contents[i])
			}
		}
	})
}

func TestTimestampsAreUTCMicroseconds(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		before := time.Now().Truncate(time.Microsecond)
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "a", Content: "x"})
		after := time.Now()
		msgs, _, err := s.Messages(t.Context(), "lobby", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range []time.Time{m.Timestamp, msgs[0].Timestamp} {
			if ts.Location() != time.UTC || ts.Nanosecond()%1000 != 0 || ts.Before(before) || ts.After(after) {
				t.Fatalf("timestamp %v (%s) not UTC microseconds between %v and %v", ts, ts.Location(), before, after)
			}
		}
		if !msgs[0].Timestamp.Equal(m.Timestamp) {
			t.Fatalf("stored %v, returned %v", msgs[0].Timestamp, m.Timestamp)
		}
		r, _ := s.Room(t.Context(), "lobby")
		if !r.LastActivity.Equal(m.Timestamp) || r.LastActivity.Location() != time.UTC {
			t.Fatalf("last activity %v, want %v", r.LastActivity, m.Timestamp)
		}
	})
}

func TestConcurrentInsertsTakeGaplessSeqs(t *testing.T) {
	for _, n := range []int{20, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			storetest.Engines(t, func(t *testing.T, s *store.Store) {
				const perSender = 5
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for g := range n {
					wg.Go(func() {
						for i := range perSender {
							m := chat.NewMessage{Room: "busy", Author: fmt.Sprint("u", g), Content: fmt.Sprint(i)}
							if i%2 == 0 {
								m.ClientID = fmt.Sprint("c", i)
							}
							if _, _, err := s.InsertMessage(context.Background(), m); err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				total := int64(n * perSender)
				got := allSeqs(t, s, "busy")
				if !slices.Equal(got, seqRange(1, total)) {
					t.Fatalf("%d seqs, want 1..%d without gap or duplicate", len(got), total)
				}
				if r, _ := s.Room(t.Context(), "busy"); r.Messages != total {
					t.Fatalf("room has %d messages, want %d", r.Messages, total)
				}
			})
		})
	}
}

func TestConcurrentSameClientIDStoresOne(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		mustInsert(t, s, chat.NewMessage{Room: "race", Author: "alice", Content: "before"})
		const n = 30
		for round := range 5 {
			clientID := fmt.Sprint("dup-", round)
			results := make([]chat.Message, n)
			createdCount := 0
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					m, created, err := s.InsertMessage(context.Background(),
						chat.NewMessage{Room: "race", Author: "alice", Content: "same", ClientID: clientID})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					results[i] = m
					if created {
						createdCount++
					}
					mu.Unlock()
				})
			}
			close(start)
			wg.Wait()
			if createdCount != 1 {
				t.Fatalf("round %d: %d callers created, want 1", round, createdCount)
			}
			for _, m := range results[1:] {
				if !reflect.DeepEqual(m, results[0]) {
					t.Fatalf("round %d: callers got %+v and %+v", round, results[0], m)
				}
			}
			if results[0].Seq != int64(round)+2 {
				t.Fatalf("round %d: seq %d", round, results[0].Seq)
			}
		}
		if r, _ := s.Room(t.Context(), "race"); r.Messages != 6 {
			t.Fatalf("room has %d messages, want 6", r.Messages)
		}
		next, _ := mustInsert(t, s, chat.NewMessage{Room: "race", Author: "alice", Content: "after"})
		if next.Seq != 7 {
			t.Fatalf("next seq %d, want 7", next.Seq)
		}
	})
}

func TestMessagesPaging(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i := range 250 {
			mustInsert(t, s, chat.NewMessage{Room: "history", Author: "a", Content: fmt.Sprint("m", i+1)})
		}
		for _, tc := range []struct {
			name     string
			page     store.Page
			from, to int64
			more     bool
		}{
			{"latest default", store.Page{}, 231, 250, true},
			{"latest 100", store.Page{Limit: 100}, 151, 250, true},
			{"limit clamped to 100", store.Page{Limit: 1000}, 151, 250, true},
			{"limit at least 1", store.Page{Limit: -5}, 250, 250, true},
			{"before", store.Page{Before: 101, Limit: 10}, 91, 100, true},
			{"before reaching the start", store.Page{Before: 11, Limit: 10}, 1, 10, false},
			{"before, short of the start", store.Page{Before: 5, Limit: 10}, 1, 4, false},
			{"before the first", store.Page{Before: 1}, 0, 0, false},
			{"before past the end", store.Page{Before: 1000, Limit: 5}, 246, 250, true},
			{"after", store.Page{After: 100, Limit: 10}, 101, 110, true},
			{"after reaching the end", store.Page{After: 240, Limit: 10}, 241, 250, false},
			{"after, short of the end", store.Page{After: 245, Limit: 10}, 246, 250, false},
			{"after the last", store.Page{After: 250}, 0, 0, false},
			{"from the start", store.Page{FromStart: true}, 1, 20, true},
			{"from the start, all", store.Page{FromStart: true, Limit: 100}, 1, 100, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				msgs, more, err := s.Messages(ctx, "history", tc.page)
				if err != nil {
					t.Fatal(err)
				}
				var want []int64
				if tc.from > 0 {
					want = seqRange(tc.from, tc.to)
				}
				if !slices.Equal(seqs(msgs), want) || more != tc.more {
					t.Fatalf("Messages(%+v) = %v, more %v; want %d..%d, more %v", tc.page, seqs(msgs), more, tc.from, tc.to, tc.more)
				}
				for _, m := range msgs {
					if m.Content != fmt.Sprint("m", m.Seq) || m.Room != "history" {
						t.Fatalf("message %+v", m)
					}
				}
			})
		}

		msgs, more, err := s.Messages(ctx, "empty-or-unknown", store.Page{})
		if err != nil || len(msgs) != 0 || more || msgs == nil {
			t.Fatalf("unknown room: %v, %v, %v", msgs, more, err)
		}
		_, _, err = s.Messages(ctx, "history", store.Page{Before: 5, After: 2})
		wantCode(t, err, chat.EInvalid)
		_, _, err = s.Messages(ctx, "history", store.Page{After: -1})
		wantCode(t, err, chat.EInvalid)
	})
}

func TestUserRoomsAndUnread(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		bob := mustUser(t, s, "bob")

		// Entering makes no room.
		if exists, err := s.EnterRoom(ctx, alice.ID, "quiet"); err != nil || exists {
			t.Fatalf("EnterRoom of no room = %v, %v", exists, err)
		}
		for _, name := range []string{"quiet", "lobby"} {
			if _, _, err := s.CreateRoom(ctx, name, 0); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			if exists, err := s.EnterRoom(ctx, alice.ID, "Quiet"); err != nil || !exists {
				t.Fatalf("EnterRoom = %v, %v", exists, err)
			}
		}
		if exists, err := s.EnterRoom(ctx, alice.ID, "bad name"); err != nil || exists {
			t.Fatalf("EnterRoom of a bad name = %v, %v", exists, err)
		}
		_, err := s.EnterRoom(ctx, 987654, "quiet")
		wantCode(t, err, chat.ENotFound)
		if _, err := s.EnterRoom(ctx, alice.ID, "lobby"); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: fmt.Sprint(i)})
		}
		// Bob posted there, so lobby is his room too, all read.
		unread := func(u chat.User) map[string]int64 {
			t.Helper()
			rooms, err := s.UserRooms(ctx, u.ID, 0)
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]int64{}
			var order []string
			for _, r := range rooms {
				m[r.Name] = r.Messages - r.LastRead
				order = append(order, r.Name)
			}
			m["order:"+fmt.Sprint(order)] = 0
			return m
		}
		if got := unread(bob); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"lobby": 0, "order:[lobby]": 0}) {
			t.Fatalf("bob's rooms %v", got)
		}
		if got := unread(alice); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"lobby": 5, "quiet": 0, "order:[lobby quiet]": 0}) {
			t.Fatalf("alice's rooms %v", got)
		}

		if err := s.MarkRead(ctx, alice.ID, "lobby", 3); err != nil {
			t.Fatal(err)
		}
		if got := unread(alice)["lobby"]; got != 2 {
			t.Fatalf("unread after MarkRead 3: %d, want 2", got)
		}
		// Never back, never past the latest message.
		if err := s.MarkRead(ctx, alice.ID, "lobby", 1); err != nil {
			t.Fatal(err)
		}
		if got := unread(alice)["lobby"]; got != 2 {
			t.Fatalf("unread after MarkRead 1: %d, want 2", got)
		}
		if err := s.MarkRead(ctx, alice.ID, "lobby", 1000); err != nil {
			t.Fatal(err)
		}
		if got := unread(alice)["lobby"]; got != 0 {
			t.Fatalf("unread after MarkRead 1000: %d, want 0", got)
		}
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "new"})
		if got := unread(alice)["lobby"]; got != 1 {
			t.Fatalf("unread after a new message: %d, want 1", got)
		}
		// Entering again keeps the read marker.
		if _, err := s.EnterRoom(ctx, alice.ID, "lobby"); err != nil {
			t.Fatal(err)
		}
		if got := unread(alice)["lobby"]; got != 1 {
			t.Fatalf("unread after EnterRoom: %d, want 1", got)
		}
		// A newcomer has read what was said before they came.
		dave := mustUser(t, s, "dave")
		if _, err := s.EnterRoom(ctx, dave.ID, "lobby"); err != nil {
			t.Fatal(err)
		}
		if got := unread(dave); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"lobby": 0, "order:[lobby]": 0}) {
			t.Fatalf("dave's rooms after entering %v; want lobby, all read", got)
		}
		// Leaving takes the room out of one's rooms; entering brings it
		// back.
		for range 2 {
			if _, err := s.LeaveRoom(ctx, dave.ID, "Lobby"); err != nil {
				t.Fatal(err)
			}
		}
		if got := unread(dave); fmt.Sprint(got) != fmt.Sprint(map[string]int64{"order:[]": 0}) {
			t.Fatalf("dave's rooms after leaving %v; want none", got)
		}
		if _, err := s.EnterRoom(ctx, dave.ID, "lobby"); err != nil {
			t.Fatal(err)
		}
		if got := unread(dave); len(got) != 2 {
			t.Fatalf("dave's rooms after entering again %v", got)
		}

		// MarkRead creates the membership.
		carol := mustUser(t, s, "carol")
		if err := s.MarkRead(ctx, carol.ID, "lobby", 4); err != nil {
			t.Fatal(err)
		}
		if got := unread(carol)["lobby"]; got != 2 {
			t.Fatalf("carol's unread: %d, want 2", got)
		}
		wantCode(t, s.MarkRead(ctx, carol.ID, "nowhere", 1), chat.ENotFound)

		// The read marker of one room, as the room page opens at it.
		for _, tc := range []struct {
			user   chat.User
			room   string
			seq    int64
			member bool
		}{
			{alice, "lobby", 5, true},
			{alice, "quiet", 0, true},
			{carol, "lobby", 4, true},
			{bob, "lobby", 6, true}, // his own message "new"
			{carol, "quiet", 0, false},
			{alice, "nowhere", 0, false},
		} {
			seq, member, err := s.ReadMarker(ctx, tc.user.ID, tc.room)
			if err != nil || seq != tc.seq || member != tc.member {
				t.Errorf("ReadMarker(%s, %s) = %d, %v, %v; want %d, %v", tc.user.Name, tc.room, seq, member, err, tc.seq, tc.member)
			}
		}

		rooms, err := s.UserRooms(ctx, alice.ID, 1)
		if err != nil || len(rooms) != 1 || rooms[0].Name != "lobby" {
			t.Fatalf("UserRooms limit 1 = %+v, %v", rooms, err)
		}
		if rooms, err := s.UserRooms(ctx, 424242, 0); err != nil || len(rooms) != 0 {
			t.Fatalf("UserRooms of nobody = %+v, %v", rooms, err)
		}
	})
}

func TestReopenKeepsMessages(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	ctx := t.Context()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for i := range 50 {
				mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: fmt.Sprint("u", g), Content: fmt.Sprint(i)})
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, _, err = s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "late", Content: "x"})
	if err == nil {
		t.Fatal("insert after Close succeeded")
	}

	s, err = store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.MessageCount(ctx); err != nil || n != 500 {
		t.Fatalf("MessageCount after reopen = %d, %v; want 500", n, err)
	}
	msgs, more, err := s.Messages(ctx, "lobby", store.Page{Limit: 3})
	if err != nil || more != true || !slices.Equal(seqs(msgs), []int64{498, 499, 500}) {
		t.Fatalf("latest after reopen = %v, %v, %v", seqs(msgs), more, err)
	}
}

func TestCloseAnswersWaitingInserts(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stored := make(chan chat.Message, 1000)
	for g := range 50 {
		wg.Go(func() {
			for i := 0; ; i++ {
				m, _, err := s.InsertMessage(context.Background(),
					chat.NewMessage{Room: "lobby", Author: fmt.Sprint("u", g), Content: fmt.Sprint(i)})
				if err != nil {
					return // closed
				}
				select {
				case stored <- m:
				default:
				}
			}
		})
	}
	// Close while the senders are busy; every sender must return.
	<-stored
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// And the store's own goroutines end.
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("the goroutines after Close to go back to the %d before Open", before),
		func() bool { return runtime.NumGoroutine() <= before })
}

func TestInsertWithDoneContext(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "a", Content: "x"})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n, _ := s.MessageCount(t.Context()); n != 0 {
			t.Fatalf("%d messages stored, want 0", n)
		}
	})
}

func TestOpenRejectsBadDSNs(t *testing.T) {
	ctx := t.Context()
	for _, dsn := range []string{"", "mysql://x", "parley.db", "sqlite:", "sqlite::memory:", "redis://localhost"} {
		s, err := store.Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		wantCode(t, err, chat.EInvalid)
	}
	// A directory that does not exist.
	_, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "missing", "dir", "p.db"))
	if err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

func TestOpenUnreachablePostgresFailsFast(t *testing.T) {
	start := time.Now()
	_, err := store.Open(t.Context(), "postgres://parley:secret@127.0.0.1:1/parley?connect_timeout=2&sslmode=disable")
	if err == nil {
		t.Fatal("Open succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %v", d)
	}
	for _, want := range []string{"cannot reach postgres database", "127.0.0.1:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestSQLitePathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%d")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(t.Context(), "sqlite:"+filepath.Join(dir, "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p.db")); err != nil {
		t.Fatal("database file not created at the given path")
	}
}

// TestSeveralProcesses runs two stores on one database, as two processes
// would, sending to the same rooms at once.
func TestSeveralProcesses(t *testing.T) {
	dsns := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "p.db") },
		"postgres": func(t *testing.T) string { return storetest.PostgresDSN(t) },
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dsn := dsns[engine](t)
			var stores []*store.Store
			for range 2 {
				s, err := store.Open(t.Context(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if err := s.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				stores = append(stores, s)
			}

			// Each round's rooms are new, so both processes also create
			// them at once.
			const rounds, senders, perSender = 4, 10, 20
			var rooms []string
			for round := range rounds {
				roundRooms := []string{}
				for r := range 5 {
					roundRooms = append(roundRooms, fmt.Sprintf("r%d-%d", round, r))
				}
				rooms = append(rooms, roundRooms...)
				var wg sync.WaitGroup
				for p, s := range stores {
					for g := range senders {
						wg.Go(func() {
							for i := range perSender {
								// Each sender's messages also arrive through
								// the other process: the client_id keeps them
								// single.
								m := chat.NewMessage{Room: roundRooms[(g+i)%len(roundRooms)], Author: fmt.Sprint("u", g),
									Content: fmt.Sprint(i), ClientID: fmt.Sprint("c", i)}
								if _, _, err := s.InsertMessage(context.Background(), m); err != nil {
									t.Errorf("process %d: %v", p, err)
									return
								}
							}
						})
					}
				}
				wg.Wait()
			}

			var total int64
			for _, room := range rooms {
				got := allSeqs(t, stores[0], room)
				if !slices.Equal(got, seqRange(1, int64(len(got)))) {
					t.Fatalf("room %s: seqs %v", room, got)
				}
				total += int64(len(got))
			}
			if total != rounds*senders*perSender {
				t.Fatalf("%d messages stored, want %d", total, rounds*senders*perSender)
			}
		})
	}
}

// TestBadMessageFailsAlone sends, among many good messages written in the
// same batches, one that PostgreSQL refuses (text with a NUL character;
// SQLite stores it). The good ones must be stored all the same.
func TestBadMessageFailsAlone(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		const n = 50
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				m := chat.NewMessage{Room: "lobby", Author: fmt.Sprint("u", i), Content: "fine"}
				if i == n/2 {
					m.Content = "bad\x00"
				}
				<-start
				_, _, errs[i] = s.InsertMessage(context.Background(), m)
			})
		}
		close(start)
		wg.Wait()
		stored := int64(n)
		for i, err := range errs {
			if i == n/2 && s.Engine() == store.EnginePostgres {
				wantCode(t, err, chat.EInvalid)
				stored--
				continue
			}
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
		}
		msgs, _, err := s.Messages(t.Context(), "lobby", store.Page{Limit: n})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(msgs), seqRange(1, stored)) {
			t.Fatalf("seqs %v, want 1..%d", seqs(msgs), stored)
		}
	})
}

// allSeqs reads every seq of room, oldest first, a page at a time.
func allSeqs(t *testing.T, s *store.Store, room string) []int64 {
	t.Helper()
	var got []int64
	for p := (store.Page{FromStart: true, Limit: chat.MaxFetchLimit}); ; {
		msgs, more, err := s.Messages(t.Context(), room, p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, seqs(msgs)...)
		if !more {
			return got
		}
		p.After = msgs[len(msgs)-1].Seq
	}
}
