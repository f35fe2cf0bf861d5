package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

func mustChange(t testing.TB, s *store.Store, c chat.NewChange) (chat.Change, bool) {
	t.Helper()
	if c.Kind == chat.ChangeEdit && c.EditWindow == 0 {
		c.EditWindow = time.Hour
	}
	ch, created, err := s.ApplyChange(context.Background(), c)
	if err != nil {
		t.Fatalf("change %+v: %v", c, err)
	}
	return ch, created
}

func changeErr(t testing.TB, s *store.Store, c chat.NewChange) error {
	t.Helper()
	if c.Kind == chat.ChangeEdit && c.EditWindow == 0 {
		c.EditWindow = time.Hour
	}
	_, _, err := s.ApplyChange(context.Background(), c)
	return err
}

func edit(room, author string, target int64, content string) chat.NewChange {
	return chat.NewChange{Room: room, Author: author, Kind: chat.ChangeEdit, Target: target, Content: content}
}

func react(kind chat.ChangeKind, room, author string, target int64, emoji string) chat.NewChange {
	return chat.NewChange{Room: room, Author: author, Kind: kind, Target: target, Emoji: emoji}
}

func del(room, author string, target int64) chat.NewChange {
	return chat.NewChange{Room: room, Author: author, Kind: chat.ChangeDelete, Target: target}
}

// logOf reads a room's whole log and checks that it holds every seq from
// 1 to the room's latest once, in order.
func logOf(t *testing.T, s *store.Store, room string) []chat.Entry {
	t.Helper()
	var all []chat.Entry
	var after int64
	for range 10_000 {
		page, more, err := s.Log(t.Context(), room, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if !more {
			break
		}
		after = page[len(page)-1].Seq()
	}
	last, err := s.LastSeq(t.Context(), room)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range all {
		if e.Seq() != int64(i+1) {
			t.Fatalf("log entry %d has seq %d: the log has a gap or a repeat", i, e.Seq())
		}
	}
	if int64(len(all)) != last {
		t.Fatalf("log has %d entries, the room's latest seq is %d", len(all), last)
	}
	return all
}

// TestChangesAreEntries: edits, deletions and reactions take the room's
// next seqs between messages; the log holds each once; messages read back
// in their current state; the original view leaves out deleted ones.
func TestChangesAreEntries(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, n := range []string{"alice", "bob"} {
			mustUser(t, s, n)
		}
		m1, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "helo"})
		m2, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "hi alice"})
		e, created := mustChange(t, s, edit("lobby", "alice", m1.Seq, "hello"))
		if !created || e.Seq != 3 || e.Kind != chat.ChangeEdit || e.Target != 1 || e.Content != "hello" || e.Author != "alice" {
			t.Fatalf("edit = %+v, %v", e, created)
		}
		r1, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m1.Seq, "👍"))
		r2, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "alice", m1.Seq, "👍"))
		r3, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "alice", m1.Seq, "🎉"))
		if r1.Seq != 4 || r2.Seq != 5 || r3.Seq != 6 {
			t.Fatalf("reactions took seqs %d %d %d", r1.Seq, r2.Seq, r3.Seq)
		}
		d, _ := mustChange(t, s, del("lobby", "bob", m2.Seq))
		m3, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "third"})
		if d.Seq != 7 || m3.Seq != 8 {
			t.Fatalf("delete seq %d, next message %d", d.Seq, m3.Seq)
		}

		log := logOf(t, s, "lobby")
		kinds := make([]string, len(log))
		for i, e := range log {
			if e.Message != nil {
				kinds[i] = "msg"
			} else {
				kinds[i] = string(e.Change.Kind)
			}
		}
		if want := []string{"msg", "msg", "edit", "react", "react", "react", "delete", "msg"}; !slices.Equal(kinds, want) {
			t.Fatalf("log kinds %v, want %v", kinds, want)
		}
		first := log[0].Message
		wantReactions := []chat.Reaction{{Emoji: "👍", Count: 2, Users: []string{"bob", "alice"}}, {Emoji: "🎉", Count: 1, Users: []string{"alice"}}}
		if first.Content != "hello" || first.Rev != 6 || first.Edited.IsZero() || !reflect.DeepEqual(first.Reactions, wantReactions) {
			t.Fatalf("message 1 in the log: %+v", first)
		}
		if tomb := log[1].Message; !tomb.Deleted || tomb.Content != "" || tomb.Rev != 7 || tomb.Author != "bob" || tomb.Seq != 2 {
			t.Fatalf("message 2 in the log: %+v, want a tombstone", tomb)
		}

		full, _, err := s.Messages(ctx, "lobby", store.Page{Full: true})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(full), []int64{1, 2, 8}) || !full[1].Deleted || !reflect.DeepEqual(full[0], *first) {
			t.Fatalf("full page %+v", full)
		}
		plain, _, err := s.Messages(ctx, "lobby", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(seqs(plain), []int64{1, 8}) || plain[0].Content != "hello" {
			t.Fatalf("original view %+v, want 1 (edited) and 8", plain)
		}
		// Counts are of messages: not changes, not deleted ones.
		r, err := s.Room(ctx, "lobby")
		if err != nil || r.Messages != 2 || r.LastSeq != 8 {
			t.Fatalf("room %+v, %v; want 2 messages, latest seq 8", r, err)
		}
		if n, _ := s.MessageCount(ctx); n != 2 {
			t.Fatalf("MessageCount %d, want 2", n)
		}

		// Removing a reaction, and the log's pages from the middle.
		u, created := mustChange(t, s, react(chat.ChangeUnreact, "lobby", "bob", m1.Seq, "👍"))
		if !created || u.Seq != 9 {
			t.Fatalf("unreact %+v %v", u, created)
		}
		page, more, err := s.Log(ctx, "lobby", 6, 2)
		if err != nil || more != true || len(page) != 2 || page[0].Seq() != 7 || page[1].Seq() != 8 {
			t.Fatalf("Log(after 6, 2) = %v, more %v, %v", page, more, err)
		}
		page, more, err = s.Log(ctx, "lobby", 8, 100)
		if err != nil || more || len(page) != 1 || page[0].Change == nil || page[0].Change.Kind != chat.ChangeUnreact {
			t.Fatalf("Log(after 8) = %v, more %v, %v", page, more, err)
		}
		if page, more, err := s.Log(ctx, "lobby", 9, 100); err != nil || more || len(page) != 0 {
			t.Fatalf("Log(after the end) = %v, %v, %v", page, more, err)
		}
		latest, _, _ := s.Messages(ctx, "lobby", store.Page{Full: true})
		if got := latest[0].Reactions; !reflect.DeepEqual(got, []chat.Reaction{{Emoji: "👍", Count: 1, Users: []string{"alice"}},
			{Emoji: "🎉", Count: 1, Users: []string{"alice"}}}) || latest[0].Rev != 9 {
			t.Fatalf("after bob's unreact: %+v rev %d", got, latest[0].Rev)
		}
	})
}

// TestChangeRules: who may do what, to which message, and what a refusal
// leaves (no seq taken).
func TestChangeRules(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "mine"})
		mustInsert(t, s, chat.NewMessage{Room: "other", Author: "alice", Content: "elsewhere"})

		wantCode(t, changeErr(t, s, edit("lobby", "bob", m.Seq, "not yours")), chat.EForbidden)
		wantCode(t, changeErr(t, s, del("lobby", "bob", m.Seq)), chat.EForbidden)
		wantCode(t, changeErr(t, s, edit("lobby", "alice", 99, "x")), chat.ENotFound)
		wantCode(t, changeErr(t, s, react(chat.ChangeReact, "lobby", "bob", 99, "👍")), chat.ENotFound)
		wantCode(t, changeErr(t, s, react(chat.ChangeUnreact, "lobby", "bob", m.Seq, "👍")), chat.ENotFound)
		wantCode(t, changeErr(t, s, edit("nowhere", "alice", 1, "x")), chat.ENotFound)
		// The edit window: a message older than it can no longer be edited.
		late := edit("lobby", "alice", m.Seq, "too late")
		late.EditWindow = time.Nanosecond
		wantCode(t, changeErr(t, s, late), chat.EForbidden)

		// A change to a seq that is itself a change names no message.
		r, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m.Seq, "👍"))
		wantCode(t, changeErr(t, s, react(chat.ChangeReact, "lobby", "bob", r.Seq, "👍")), chat.ENotFound)

		// At most MaxReactionKinds emoji on one message.
		emoji := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚"}
		for _, e := range emoji {
			mustChange(t, s, react(chat.ChangeReact, "lobby", "carol", m.Seq, e))
		}
		wantCode(t, changeErr(t, s, react(chat.ChangeReact, "lobby", "carol", m.Seq, "🙂")), chat.EInvalid)
		// ... while one more user of an emoji there is fine.
		mustChange(t, s, react(chat.ChangeReact, "lobby", "dave", m.Seq, "😀"))

		d, _ := mustChange(t, s, del("lobby", "alice", m.Seq))
		wantCode(t, changeErr(t, s, edit("lobby", "alice", m.Seq, "after")), chat.ENotFound)
		wantCode(t, changeErr(t, s, react(chat.ChangeReact, "lobby", "bob", m.Seq, "🎉")), chat.ENotFound)
		// Deleting again is the deletion that was.
		again, created, err := s.ApplyChange(ctx, del("lobby", "alice", m.Seq))
		if err != nil || created || !reflect.DeepEqual(again, d) {
			t.Fatalf("delete again = %+v, %v, %v; want %+v", again, created, err, d)
		}
		logOf(t, s, "lobby")
		if last, _ := s.LastSeq(ctx, "lobby"); last != d.Seq {
			t.Fatalf("refusals took seqs: latest %d, the deletion %d", last, d.Seq)
		}
	})
}

// TestChangeIdempotency: a change repeated with its client_id is the
// stored one; a reaction added twice, or removed twice, is one.
func TestChangeIdempotency(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "one"})
		for _, c := range []chat.NewChange{
			edit("lobby", "alice", m.Seq, "two"),
			react(chat.ChangeReact, "lobby", "bob", m.Seq, "👍"),
			react(chat.ChangeUnreact, "lobby", "bob", m.Seq, "👍"),
			del("lobby", "alice", m.Seq),
		} {
			c.ClientID = "c-" + string(c.Kind)
			first, created := mustChange(t, s, c)
			if !created || first.ClientID != c.ClientID {
				t.Fatalf("%s: %+v, %v", c.Kind, first, created)
			}
			c.Content = "something else" // a retry is the stored change, whatever it says
			for range 2 {
				again, created := mustChange(t, s, c)
				if created || !reflect.DeepEqual(again, first) {
					t.Fatalf("%s again: %+v, %v; want %+v", c.Kind, again, created, first)
				}
			}
		}
		logOf(t, s, "lobby")
		if last, _ := s.LastSeq(ctx, "lobby"); last != 5 {
			t.Fatalf("latest seq %d, want 5", last)
		}

		// Without client_ids: the second add of an emoji, and the second
		// removal, are the first.
		m2, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "two"})
		add, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m2.Seq, "🎉"))
		again, created := mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m2.Seq, "🎉"))
		if created || !reflect.DeepEqual(again, add) {
			t.Fatalf("second add %+v, %v; want %+v", again, created, add)
		}
		// A message sent again is the stored one, as it is now.
		m3, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "three", ClientID: "m3"})
		r3, _ := mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m3.Seq, "👀"))
		resent, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "three", ClientID: "m3"})
		if created || resent.Rev != r3.Seq || !reflect.DeepEqual(resent.Reactions, []chat.Reaction{{Emoji: "👀", Count: 1, Users: []string{"bob"}}}) {
			t.Fatalf("sent again: %+v, %v", resent, created)
		}
		rm, _ := mustChange(t, s, react(chat.ChangeUnreact, "lobby", "bob", m2.Seq, "🎉"))
		again, created = mustChange(t, s, react(chat.ChangeUnreact, "lobby", "bob", m2.Seq, "🎉"))
		if created || !reflect.DeepEqual(again, rm) {
			t.Fatalf("second removal %+v, %v; want %+v", again, created, rm)
		}
		logOf(t, s, "lobby")
	})
}

// TestDeletionErases: the content of a deleted message is gone from the
// database, with its versions, the content of its edits, its reactions
// and its mentions; a tombstone keeps its place.
func TestDeletionErases(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		mustUser(t, s, "bob")
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "secret plan, @bob"})
		mustChange(t, s, edit("lobby", "alice", m.Seq, "secret plan v2, @bob"))
		mustChange(t, s, edit("lobby", "alice", m.Seq, "secret plan v3, @bob"))
		mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", m.Seq, "👀"))
		keep, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "a secret of mine, @bob"})
		versions, err := s.Versions(ctx, "lobby", m.Seq)
		if err != nil || len(versions) != 3 || versions[0].Content != "secret plan, @bob" || versions[2].Content != "secret plan v3, @bob" {
			t.Fatalf("versions %+v, %v", versions, err)
		}
		mustChange(t, s, del("lobby", "alice", m.Seq))

		for q, want := range map[string]int64{
			"SELECT count(*) FROM messages WHERE content LIKE '%secret plan%'":            0,
			"SELECT count(*) FROM changes WHERE content LIKE '%secret%'":                  0,
			"SELECT count(*) FROM message_versions":                                       0,
			"SELECT count(*) FROM reactions":                                              0,
			"SELECT count(*) FROM mentions":                                               1, // the other message's
			"SELECT count(*) FROM messages WHERE deleted_at IS NOT NULL AND content = ''": 1,
		} {
			if n, err := s.Count(ctx, q); err != nil || n != want {
				t.Errorf("%s: %d, %v; want %d", q, n, err, want)
			}
		}
		_, err = s.Versions(ctx, "lobby", m.Seq)
		wantCode(t, err, chat.ENotFound)
		log := logOf(t, s, "lobby")
		for _, e := range log {
			if c := e.Change; c != nil && c.Kind == chat.ChangeEdit && (c.Content != "" || c.Mentions != nil) {
				t.Fatalf("an edit of a deleted message still says %+v", c)
			}
		}
		msgs, _, _ := s.Messages(ctx, "lobby", store.Page{Full: true})
		if len(msgs) != 2 || !msgs[0].Deleted || msgs[0].Author != "alice" || msgs[1].Seq != keep.Seq {
			t.Fatalf("page after the deletion: %+v", msgs)
		}
	})
}

// TestEditsKeepVersions: every version of an edited message, in order,
// for anyone to read; two edits at once end in the later one, both kept.
func TestEditsKeepVersions(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		m, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: "v1"})
		v, err := s.Versions(ctx, "lobby", m.Seq)
		if err != nil || len(v) != 1 || v[0].Rev != m.Seq || v[0].Content != "v1" || !v[0].Timestamp.Equal(m.Timestamp) {
			t.Fatalf("versions of an unedited message: %+v, %v", v, err)
		}
		e2, _ := mustChange(t, s, edit("lobby", "alice", m.Seq, "v2"))

		// Concurrent edits: each is applied, in some order; the message
		// ends with the one with the higher seq, and every one is a
		// version.
		const n = 8
		var wg sync.WaitGroup
		got := make([]chat.Change, n)
		for i := range n {
			wg.Go(func() {
				c, _, err := s.ApplyChange(context.Background(), chat.NewChange{Room: "lobby", Author: "alice",
					Kind: chat.ChangeEdit, Target: m.Seq, Content: fmt.Sprint("racer ", i), EditWindow: time.Hour})
				if err != nil {
					t.Error(err)
				}
				got[i] = c
			})
		}
		wg.Wait()
		last := slices.MaxFunc(got, func(a, b chat.Change) int { return int(a.Seq - b.Seq) })
		msgs, _, _ := s.Messages(ctx, "lobby", store.Page{Full: true})
		if msgs[0].Content != last.Content || msgs[0].Rev != last.Seq || !msgs[0].Edited.Equal(last.Timestamp) {
			t.Fatalf("after concurrent edits: %+v; the last committed was %+v", msgs[0], last)
		}
		v, err = s.Versions(ctx, "lobby", m.Seq)
		if err != nil || len(v) != n+2 {
			t.Fatalf("versions %+v, %v; want %d", v, err, n+2)
		}
		if v[0].Content != "v1" || v[1].Content != "v2" || v[1].Rev != e2.Seq || v[len(v)-1].Content != last.Content {
			t.Fatalf("versions %+v", v)
		}
		for i := 1; i < len(v); i++ {
			if v[i].Rev <= v[i-1].Rev {
				t.Fatalf("versions out of order: %+v", v)
			}
		}
		logOf(t, s, "lobby")
	})
}

// TestRepliesAndMentions: a reply carries what it answers, as it is when
// read; mentions are of users, and follow edits.
func TestRepliesAndMentions(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		bob := mustUser(t, s, "bob")
		mustUser(t, s, "carol.d")
		long := strings.Repeat("é", chat.ExcerptLength+10)
		orig, _ := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: long})
		reply, created := mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "yes, @carol.d. cc @bob, @nobody, x@bob @room",
			ReplyTo: orig.Seq, ClientID: "r1"})
		want := &chat.Reply{Seq: orig.Seq, Author: "alice", Excerpt: strings.Repeat("é", chat.ExcerptLength) + "…"}
		if !created || !reflect.DeepEqual(reply.ReplyTo, want) {
			t.Fatalf("reply %+v, want reply_to %+v", reply.ReplyTo, want)
		}
		if !slices.Equal(reply.Mentions, []string{"carol.d", "bob"}) || !reply.MentionsRoom {
			t.Fatalf("mentions %v, room %v", reply.Mentions, reply.MentionsRoom)
		}
		if n, _ := s.Count(ctx, "SELECT count(*) FROM mentions WHERE user_id = $1 AND room = 'lobby' AND seq = $2", bob.ID, reply.Seq); n != 1 {
			t.Fatalf("bob's mentions: %d", n)
		}
		_, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "bob", Content: "?", ReplyTo: 99})
		wantCode(t, err, chat.ENotFound)

		mustChange(t, s, edit("lobby", "alice", orig.Seq, "short now"))
		msgs, _, _ := s.Messages(ctx, "lobby", store.Page{Full: true})
		if got := msgs[1].ReplyTo; got == nil || got.Excerpt != "short now" {
			t.Fatalf("reply after its original's edit: %+v", got)
		}
		mustChange(t, s, edit("lobby", "bob", reply.Seq, "only @bob now"))
		if n, _ := s.Count(ctx, "SELECT count(*) FROM mentions WHERE room = 'lobby' AND seq = $1", reply.Seq); n != 1 {
			t.Fatalf("mentions after the edit: %d, want 1", n)
		}
		mustChange(t, s, del("lobby", "alice", orig.Seq))
		msgs, _, _ = s.Messages(ctx, "lobby", store.Page{Full: true})
		if got := msgs[1].ReplyTo; got == nil || !got.Deleted || got.Excerpt != "" || got.Author != "alice" {
			t.Fatalf("reply after its original's deletion: %+v", got)
		}
		if !slices.Equal(msgs[1].Mentions, []string{"bob"}) || msgs[1].MentionsRoom {
			t.Fatalf("mentions after the edit: %v %v", msgs[1].Mentions, msgs[1].MentionsRoom)
		}
		_, _, err = s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "bob", Content: "?", ReplyTo: orig.Seq})
		wantCode(t, err, chat.ENotFound)
		// A retried reply is its stored message, whatever happened since.
		again, created, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "bob", Content: "x", ReplyTo: orig.Seq, ClientID: "r1"})
		if err != nil || created || again.Seq != reply.Seq {
			t.Fatalf("retried reply: %+v, %v, %v", again, created, err)
		}
	})
}

// TestAround: a message with those before and after it, in both views.
func TestAround(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for i := range 30 {
			mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "alice", Content: fmt.Sprint(i + 1)})
		}
		mustChange(t, s, del("lobby", "alice", 14))
		msgs, older, newer, err := s.Around(ctx, "lobby", 15, 10, true)
		if err != nil || !slices.Equal(seqs(msgs), seqRange(10, 19)) || !older || !newer {
			t.Fatalf("Around(15, 10, full) = %v %v %v %v", seqs(msgs), older, newer, err)
		}
		msgs, _, _, err = s.Around(ctx, "lobby", 15, 10, false)
		if err != nil || !slices.Equal(seqs(msgs), []int64{9, 10, 11, 12, 13, 15, 16, 17, 18, 19}) {
			t.Fatalf("Around(15, 10) = %v %v", seqs(msgs), err)
		}
		msgs, older, newer, err = s.Around(ctx, "lobby", 2, 0, false)
		if err != nil || !slices.Equal(seqs(msgs), seqRange(1, 11)) || older || !newer {
			t.Fatalf("Around(2) = %v %v %v %v", seqs(msgs), older, newer, err)
		}
		msgs, older, newer, err = s.Around(ctx, "lobby", 30, 1, false)
		if err != nil || !slices.Equal(seqs(msgs), []int64{30}) || !older || newer {
			t.Fatalf("Around(30, 1) = %v %v %v %v", seqs(msgs), older, newer, err)
		}
		for _, seq := range []int64{0, 31, 99} {
			_, _, _, err = s.Around(ctx, "lobby", seq, 10, true)
			wantCode(t, err, chat.ENotFound)
		}
		_, _, _, err = s.Around(ctx, "lobby", 14, 10, false) // deleted: not in the original view
		wantCode(t, err, chat.ENotFound)
		msgs, _, _, err = s.Around(ctx, "lobby", 14, 3, true)
		if err != nil || !slices.Equal(seqs(msgs), []int64{13, 14, 15}) || !msgs[1].Deleted {
			t.Fatalf("Around(14, 3, full) = %+v %v", msgs, err)
		}
	})
}

// TestUnreadCountsMessages: unread counts are of messages after the read
// marker, not of changes, and not of deleted messages.
func TestUnreadCountsMessages(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		alice := mustUser(t, s, "alice")
		mustUser(t, s, "bob")
		if _, _, err := s.CreateRoom(ctx, "lobby", alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EnterRoom(ctx, alice.ID, "lobby"); err != nil {
			t.Fatal(err)
		}
		unread := func() int64 {
			t.Helper()
			rooms, err := s.UserRooms(ctx, alice.ID, 0)
			if err != nil || len(rooms) != 1 {
				t.Fatalf("UserRooms = %+v, %v", rooms, err)
			}
			return rooms[0].Unread
		}
		for i := range 4 {
			mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: fmt.Sprint(i)})
		}
		mustChange(t, s, react(chat.ChangeReact, "lobby", "bob", 1, "👍"))
		mustChange(t, s, edit("lobby", "bob", 2, "edited"))
		if got := unread(); got != 4 {
			t.Fatalf("unread %d, want 4 (changes are not messages)", got)
		}
		mustChange(t, s, del("lobby", "bob", 4))
		if got := unread(); got != 3 {
			t.Fatalf("unread %d after a deletion, want 3", got)
		}
		if err := s.MarkRead(ctx, alice.ID, "lobby", 2); err != nil {
			t.Fatal(err)
		}
		if got := unread(); got != 1 {
			t.Fatalf("unread %d after reading to 2, want 1", got)
		}
		mustChange(t, s, del("lobby", "bob", 1)) // before the marker: nothing changes
		mustInsert(t, s, chat.NewMessage{Room: "lobby", Author: "bob", Content: "new"})
		if got := unread(); got != 2 {
			t.Fatalf("unread %d, want 2", got)
		}
		last, _ := s.LastSeq(ctx, "lobby")
		if err := s.MarkRead(ctx, alice.ID, "lobby", last); err != nil {
			t.Fatal(err)
		}
		if got := unread(); got != 0 {
			t.Fatalf("unread %d after reading all, want 0", got)
		}
	})
}

// TestLogGaplessWithChanges: messages and changes of many senders at once
// take every seq once; reactions by one user from many goroutines at once
// are one reaction.
func TestLogGaplessWithChanges(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const senders, each = 12, 20
		for i := range 10 {
			mustInsert(t, s, chat.NewMessage{Room: "busy", Author: fmt.Sprint("u", i), Content: "seed"})
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range senders {
			wg.Go(func() {
				<-start
				author := fmt.Sprint("u", g%10)
				for i := range each {
					var err error
					switch i % 4 {
					case 0:
						_, _, err = s.InsertMessage(ctx, chat.NewMessage{Room: "busy", Author: author, Content: "m", ClientID: fmt.Sprint("m", g, i)})
					case 1:
						_, _, err = s.ApplyChange(ctx, chat.NewChange{Room: "busy", Author: author, Kind: chat.ChangeReact,
							Target: int64(i%10 + 1), Emoji: "👍", ClientID: fmt.Sprint("r", g, i)})
					case 2:
						_, _, err = s.ApplyChange(ctx, chat.NewChange{Room: "busy", Author: author, Kind: chat.ChangeUnreact,
							Target: int64(i%10 + 1), Emoji: "👍"})
						if chat.ErrorCode(err) == chat.ENotFound {
							err = nil // never added: refused, and no seq taken
						}
					case 3:
						_, _, err = s.ApplyChange(ctx, chat.NewChange{Room: "busy", Author: author, Kind: chat.ChangeEdit,
							Target: int64(g%10 + 1), Content: fmt.Sprint("edit ", i), EditWindow: time.Hour})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		// One user adds the same reaction from many places at once.
		var added sync.Map
		for range 8 {
			wg.Go(func() {
				<-start
				c, created, err := s.ApplyChange(ctx, react(chat.ChangeReact, "busy", "zoe", 10, "🎉"))
				if err != nil {
					t.Error(err)
					return
				}
				if created {
					added.Store(c.Seq, true)
				}
			})
		}
		// A reader follows the log while it is written, as a client
		// catching up does: every page goes on from the last without a
		// hole, whatever commits meanwhile.
		done := make(chan struct{})
		var followed int64
		var rg sync.WaitGroup
		rg.Go(func() {
			for i := 0; i < 100_000; i++ {
				// Whether the writers were done before this page was read.
				finished := false
				select {
				case <-done:
					finished = true
				default:
				}
				page, _, err := s.Log(ctx, "busy", followed, 7)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range page {
					if e.Seq() != followed+1 {
						t.Errorf("after %d the log gave %d", followed, e.Seq())
						return
					}
					followed = e.Seq()
				}
				if finished && len(page) == 0 {
					return
				}
			}
		})
		close(start)
		wg.Wait()
		close(done)
		rg.Wait()
		if last, _ := s.LastSeq(ctx, "busy"); followed != last {
			t.Fatalf("the reader followed the log to %d of %d", followed, last)
		}
		logOf(t, s, "busy")
		n := 0
		added.Range(func(any, any) bool { n++; return true })
		if n != 1 {
			t.Fatalf("zoe's reaction was added %d times", n)
		}
		msgs, _, _ := s.Messages(ctx, "busy", store.Page{Full: true, FromStart: true})
		for _, r := range msgs[9].Reactions {
			if r.Emoji == "🎉" && (r.Count != 1 || !slices.Equal(r.Users, []string{"zoe"})) {
				t.Fatalf("🎉 on message 10: %+v", r)
			}
		}
	})
}

// TestChangeMakesNoRoom: a room is made by its first message, never by a
// change: one to a room that does not exist fails (ErrNoRoom), takes no
// seq and leaves no room behind, on its own or in a batch with messages.
func TestChangeMakesNoRoom(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		err := changeErr(t, s, react(chat.ChangeReact, "nowhere", "alice", 1, "👍"))
		if !errors.Is(err, store.ErrNoRoom) {
			t.Fatalf("a change to no room: %v; want ErrNoRoom", err)
		}
		if _, err := s.Room(ctx, "nowhere"); chat.ErrorCode(err) != chat.ENotFound {
			t.Fatalf("Room(nowhere) after a change = %v; want not found", err)
		}
		// In one batch with a message that may make its room, the change
		// after the message finds the room the message made.
		pm := s.SubmitMessage(ctx, chat.NewMessage{Room: "later", Author: "alice", Content: "first"})
		pc := s.SubmitChange(ctx, react(chat.ChangeReact, "Later", "alice", 1, "👍"))
		if m, created, err := pm.Wait(); err != nil || !created || m.Seq != 1 {
			t.Fatalf("first message = %+v, %v, %v", m, created, err)
		}
		if c, created, err := pc.WaitChange(); err != nil || !created || c.Seq != 2 || c.Room != "later" {
			t.Fatalf("change after it = %+v, %v, %v", c, created, err)
		}
	})
}

// TestLastSeqs: the hub's one read of every room's latest seq, in
// statements of 500 rooms, agrees with LastSeq room by room; a room that
// does not exist is left out.
func TestLastSeqs(t *testing.T) {
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		var rooms []string
		want := map[string]int64{}
		for i := range 520 {
			r := fmt.Sprintf("room-%03d", i)
			rooms = append(rooms, r)
			if _, _, err := s.CreateRoom(ctx, r, 0); err != nil {
				t.Fatal(err)
			}
			want[r] = 0
		}
		for i, r := range []string{"room-000", "room-499", "room-500", "room-519", "room-519"} {
			m, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: r, Author: "writer", Content: fmt.Sprint("m", i)})
			if err != nil {
				t.Fatal(err)
			}
			want[r] = m.Seq
		}
		got, err := s.LastSeqs(ctx, append(rooms, "no-such-room"))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("LastSeqs: %d rooms, room-519 %d; want %d rooms, room-519 %d", len(got), got["room-519"], len(want), want["room-519"])
		}
		for _, r := range []string{"room-000", "room-500", "room-519", "room-007"} {
			if last, err := s.LastSeq(ctx, r); err != nil || last != got[r] {
				t.Fatalf("LastSeq(%s) = %d, %v; LastSeqs says %d", r, last, err, got[r])
			}
		}
		if got, err := s.LastSeqs(ctx, nil); err != nil || len(got) != 0 {
			t.Fatalf("LastSeqs of no room: %v, %v", got, err)
		}
	})
}
