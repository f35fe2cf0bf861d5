package web

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"parley/internal/chat"
	"parley/internal/store"
)

// TestStreamStateSize: a stream holds a streamState for each room of its
// user, and an idle server holds many streams: it stays in 64 bytes.
func TestStreamStateSize(t *testing.T) {
	if n := unsafe.Sizeof(streamState{}); n > 64 {
		t.Errorf("streamState is %d bytes; want at most 64", n)
	}
}

// TestRegisteredSize: a user stream is a registry entry alone (128
// bytes), not a room socket (320, as before the entry was split from it).
func TestRegisteredSize(t *testing.T) {
	if n := unsafe.Sizeof(registered{}); n > 128 {
		t.Errorf("registered is %d bytes; want at most 128", n)
	}
	if n := unsafe.Sizeof(socket{}); n > 320 {
		t.Errorf("socket is %d bytes; want at most 320, its size class before", n)
	}
}

// TestStreamRooms: a stream's rooms are found by name as they are added
// and removed in any order, and a room's counts, kind, level and title
// are what the store read.
func TestStreamRooms(t *testing.T) {
	st := &userStream{}
	want := map[string]bool{}
	for _, i := range rand.Perm(200) {
		name := fmt.Sprint("r", i)
		st.addLocked(name)
		want[name] = true
		if i%3 == 0 {
			st.removeLocked(name)
			delete(want, name)
		}
	}
	for i := range 200 {
		name := fmt.Sprint("r", i)
		if rs := st.find(name); (rs != nil) != want[name] || rs != nil && rs.name.Value() != name {
			t.Fatalf("find(%q) = %v; want it there: %v", name, rs, want[name])
		}
	}
	if len(st.rooms) != len(want) {
		t.Fatalf("%d rooms; want %d", len(st.rooms), len(want))
	}

	for _, c := range []store.RoomCount{
		{Room: "r1", Kind: chat.RoomPublic, Title: "r1", LastSeq: 9, LastRead: 4, Unread: 5, Mentions: 1, Level: chat.LevelEvery},
		{Room: "r2", Kind: chat.RoomPrivate, Title: "r2", LastSeq: 1 << 40, Level: chat.LevelMentions},
		{Room: "r4", Kind: chat.RoomDirect, Title: "ann, bob", Level: chat.LevelMuted},
	} {
		rs := st.find(c.Room)
		st.settleLocked(rs, c)
		v := st.viewLocked(rs)
		if got := (store.RoomCount{Room: v.Room, Kind: chat.RoomKind(v.Kind), Title: v.Title, LastSeq: v.LastSeq,
			LastRead: v.LastRead, Unread: v.Unread, Mentions: v.Mentions, Level: v.Level}); got != c {
			t.Errorf("settled %+v; the stream has %+v", c, got)
		}
	}
	st.removeLocked("r4")
	if len(st.titles) != 0 {
		t.Errorf("titles %v after the direct conversation was removed", st.titles)
	}
}

// TestStreamEpochs: a room's counts keep the access epoch they were read
// under (clamped to the four bytes they have for it), and a removal's
// event moves the rooms of the other users' streams read under the epoch
// before on to the new one, and no other.
func TestStreamEpochs(t *testing.T) {
	if epochOf(-1) != 0 || epochOf(7) != 7 || epochOf(1<<40) != math.MaxUint32 {
		t.Fatalf("epochOf: %d, %d, %d", epochOf(-1), epochOf(7), epochOf(1<<40))
	}
	var x streamIndex
	stream := func(user string, epoch int64) *userStream {
		st := &userStream{sc: &registered{user: socketUser{Name: user}}}
		st.addLocked("plans")
		st.settleLocked(st.find("plans"), store.RoomCount{Room: "plans", Title: "plans", Epoch: epoch})
		x.byRoom.add("plans", st)
		return st
	}
	ann, bob, eve, old := stream("ann", 4), stream("bob", 4), stream("eve", 4), stream("old", 3)
	x.advance("plans", "eve", 5)
	for st, want := range map[*userStream]uint32{ann: 5, bob: 5, eve: 4, old: 3} {
		if got := st.find("plans").epoch; got != want {
			t.Errorf("%s's epoch %d after eve's removal made 5; want %d", st.sc.user.Name, got, want)
		}
	}
}
