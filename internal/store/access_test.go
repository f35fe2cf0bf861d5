package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// TestRoomPlace: a room's kind, owner, archive, membership and mute, as
// one query reads them for chat.Can, and the lists that leave a private
// room out for anyone not in it.
func TestRoomPlace(t *testing.T) {
	t.Parallel()
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		owner, other := mustUser(t, s, "owner"), mustUser(t, s, "other")
		if p, err := s.RoomPlace(ctx, "nowhere", owner.ID); err != nil || p.Exists || p.Kind != chat.RoomPublic {
			t.Fatalf("a room not made: %+v %v", p, err)
		}
		if _, _, err := s.CreateRoomKind(ctx, "secret", owner.ID, chat.RoomPrivate); err != nil {
			t.Fatal(err)
		}
		p, err := s.RoomPlace(ctx, "secret", owner.ID)
		if err != nil || !p.Exists || p.Kind != chat.RoomPrivate || !p.Member || p.Owner != owner.ID || p.Archived {
			t.Fatalf("owner's place: %+v %v", p, err)
		}
		if p, _ := s.RoomPlace(ctx, "secret", other.ID); p.Member {
			t.Fatalf("other is a member: %+v", p)
		}
		// Entering and marking read never make a member of a private room.
		if _, err := s.EnterRoom(ctx, other.ID, "secret"); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkRead(ctx, other.ID, "secret", 1); chat.ErrorCode(err) != chat.ENotFound {
			t.Fatalf("mark read of a non-member: %v", err)
		}
		if p, _ := s.RoomPlace(ctx, "secret", other.ID); p.Member {
			t.Fatal("entering made a member of a private room")
		}
		for _, found := range [][]chat.Room{must(s.RoomsFor(ctx, other.ID, "sec", 0)), must(s.Rooms(ctx, "secret", 0))} {
			if len(found) != 0 {
				t.Fatalf("a private room listed to a non-member: %+v", found)
			}
		}
		if found := must(s.RoomsFor(ctx, owner.ID, "sec", 0)); len(found) != 1 || found[0].Kind != chat.RoomPrivate {
			t.Fatalf("a member's search: %+v", found)
		}
		if err := s.AddRoomMember(ctx, "secret", other.ID); err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		if err := s.Mute(ctx, "secret", other.ID, until, owner.ID); err != nil {
			t.Fatal(err)
		}
		archived := true
		if _, err := s.ChangeRoom(ctx, "secret", store.RoomChange{Archived: &archived}); err != nil {
			t.Fatal(err)
		}
		p, err = s.RoomPlace(ctx, "secret", other.ID)
		if err != nil || !p.Member || !p.MutedUntil.Equal(until) || !p.Archived {
			t.Fatalf("member, muted, archived: %+v %v", p, err)
		}
		set, err := s.RoomSettings(ctx, "secret", time.Now())
		if err != nil || set.Owner != "owner" || len(set.Members) != 2 || len(set.Mutes) != 1 || !set.Archived {
			t.Fatalf("settings: %+v %v", set, err)
		}
		if err := s.Unmute(ctx, "secret", other.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LeaveRoom(ctx, other.ID, "secret"); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.RoomPlace(ctx, "secret", other.ID); p.Member || !p.MutedUntil.IsZero() {
			t.Fatalf("removed and unmuted: %+v", p)
		}
		// A message of theirs still on its way when they were removed
		// does not bring them back; the owner's keeps them in.
		for _, u := range []chat.User{other, owner} {
			if _, _, err := s.SubmitToRoom(ctx, chat.NewMessage{Room: "secret", Author: u.Name, Content: "late"}).Wait(); err != nil {
				t.Fatal(err)
			}
		}
		if p, _ := s.RoomPlace(ctx, "secret", other.ID); p.Member {
			t.Fatal("a message made its removed author a member again")
		}
		if p, _ := s.RoomPlace(ctx, "secret", owner.ID); !p.Member {
			t.Fatal("the owner's message took them out of the room")
		}
		// In a public room a message makes its author a member.
		if _, _, err := s.CreateRoom(ctx, "square", owner.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SubmitToRoom(ctx, chat.NewMessage{Room: "square", Author: other.Name, Content: "hi"}).Wait(); err != nil {
			t.Fatal(err)
		}
		if p, _ := s.RoomPlace(ctx, "square", other.ID); !p.Member {
			t.Fatal("a message to a public room did not make its author a member")
		}
	})
}

// TestAccessEpoch: a room's access epoch moves on at every change that
// may take someone's right to read it, and at no other; every entry the
// writers store after it, a message or a change, new or sent again,
// carries the epoch it was written under, as the hub reads it to keep the
// entry from sockets not checked since.
func TestAccessEpoch(t *testing.T) {
	t.Parallel()
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		owner, other := mustUser(t, s, "owner"), mustUser(t, s, "other")
		epoch := func(room string) int64 {
			t.Helper()
			p, err := s.RoomPlace(ctx, room, owner.ID)
			e, err2 := s.AccessEpoch(ctx, room)
			if err != nil || err2 != nil || e != p.Epoch {
				t.Fatalf("%s: place %+v, epoch %d: %v %v", room, p, e, err, err2)
			}
			return e
		}
		post := func(room, author, clientID string) chat.Message {
			t.Helper()
			m, _, err := s.SubmitMessage(ctx, chat.NewMessage{Room: room, Author: author, Content: "hi", ClientID: clientID}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		// A public room, made by a message or by hand, is at 0, and
		// stays there whoever leaves it.
		if m := post("square", owner.Name, ""); m.Epoch != 0 || epoch("square") != 0 {
			t.Fatalf("a public room's message: epoch %d", m.Epoch)
		}
		post("square", other.Name, "")
		if e, err := s.LeaveRoom(ctx, other.ID, "square"); err != nil || e != 0 || epoch("square") != 0 {
			t.Fatalf("leaving a public room: %d %v", e, err)
		}
		// Made private: 1, as a socket open on its name before saw
		// epoch 0 of a room not made yet.
		if epoch("secret") != 0 {
			t.Fatal("a room not made has an epoch")
		}
		if _, _, err := s.CreateRoomKind(ctx, "secret", owner.ID, chat.RoomPrivate); err != nil {
			t.Fatal(err)
		}
		if m := post("secret", owner.Name, "c1"); m.Epoch != 1 || epoch("secret") != 1 {
			t.Fatalf("a private room's first message: epoch %d", m.Epoch)
		}
		// Adding a member, muting them and archiving take nothing.
		if err := s.AddRoomMember(ctx, "secret", other.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Mute(ctx, "secret", other.ID, time.Now().Add(time.Hour), owner.ID); err != nil {
			t.Fatal(err)
		}
		archived := false
		if _, err := s.ChangeRoom(ctx, "secret", store.RoomChange{Archived: &archived}); err != nil {
			t.Fatal(err)
		}
		if epoch("secret") != 1 {
			t.Fatal("a change that takes nobody's access moved the epoch")
		}
		// A member gone moves it; leaving again does not.
		if e, err := s.LeaveRoom(ctx, other.ID, "secret"); err != nil || e != 2 || epoch("secret") != 2 {
			t.Fatalf("a member gone: %d %v", e, err)
		}
		if e, err := s.LeaveRoom(ctx, other.ID, "secret"); err != nil || e != 0 || epoch("secret") != 2 {
			t.Fatalf("gone again: %d %v", e, err)
		}
		// Entries written after carry the new epoch: a message, one sent
		// again, a change.
		m := post("secret", owner.Name, "c2")
		if again := post("secret", owner.Name, "c1"); m.Epoch != 2 || again.Epoch != 2 {
			t.Fatalf("after a member went: epochs %d, %d again", m.Epoch, again.Epoch)
		}
		c, _, err := s.SubmitChange(ctx, chat.NewChange{Room: "secret", Author: owner.Name, Kind: chat.ChangeEdit, Target: m.Seq, Content: "hello", EditWindow: time.Hour}).WaitChange()
		if err != nil || c.Epoch != 2 {
			t.Fatalf("an edit: %+v %v", c, err)
		}
		// Made public and private again: private moves it, public not.
		for _, k := range []chat.RoomKind{chat.RoomPublic, chat.RoomPublic, chat.RoomPrivate, chat.RoomPrivate} {
			if _, err := s.ChangeRoom(ctx, "secret", store.RoomChange{Kind: &k}); err != nil {
				t.Fatal(err)
			}
		}
		if epoch("secret") != 3 {
			t.Fatalf("public, public, private, private: epoch %d, want 3", epoch("secret"))
		}
		// A direct conversation is made at 1.
		dm, _, err := s.OpenDirect(ctx, []int64{owner.ID, other.ID}, owner.ID)
		if err != nil || epoch(dm.Name) != 1 {
			t.Fatalf("a direct conversation: %v", err)
		}
	})
}

// TestOpenDirect: the same people open one conversation, however many
// open it at once and in whatever order they are named.
func TestOpenDirect(t *testing.T) {
	t.Parallel()
	storetest.Engines(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, b := mustUser(t, s, "ann"), mustUser(t, s, "bob")
		var wg sync.WaitGroup
		names := make([]string, 16)
		made := make([]bool, 16)
		for i := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids := []int64{a.ID, b.ID}
				if i%2 == 1 {
					ids = []int64{b.ID, a.ID}
				}
				r, created, err := s.OpenDirect(ctx, ids, ids[0])
				if err != nil {
					t.Error(err)
					return
				}
				names[i], made[i] = r.Name, created
			}()
		}
		wg.Wait()
		n := 0
		for i := range names {
			if names[i] != names[0] {
				t.Fatalf("two conversations: %q and %q", names[0], names[i])
			}
			if made[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d opens made the room", n)
		}
		if got := must(s.RoomMembers(ctx, names[0])); len(got) != 2 {
			t.Fatalf("members: %v", got)
		}
		if dn := must(s.DirectNames(ctx, a.ID)); len(dn[names[0]]) != 1 || dn[names[0]][0] != "bob" {
			t.Fatalf("direct names: %v", dn)
		}
		if found := must(s.RoomsFor(ctx, a.ID, "dm", 0)); len(found) != 0 {
			t.Fatalf("a direct conversation listed: %+v", found)
		}
		if _, _, err := s.OpenDirect(ctx, []int64{a.ID, a.ID}, a.ID); chat.ErrorCode(err) != chat.EInvalid {
			t.Fatalf("one person: %v", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
