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
		if err := s.LeaveRoom(ctx, other.ID, "secret"); err != nil {
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
