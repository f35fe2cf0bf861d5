package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
	"parley/internal/store"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
)

type fixture struct {
	t  *testing.T
	st *store.Store
	b  *broker.InProcess
	h  *hub.Hub
}

func newFixture(t *testing.T, opt hub.Options) *fixture {
	f := &fixture{t: t, st: storetest.SQLite(t), b: broker.NewInProcess()}
	opt.Broker, opt.History = f.b, f.st
	if opt.GapWait == 0 {
		opt.GapWait = 20 * time.Millisecond
	}
	f.h = hub.New(opt)
	t.Cleanup(f.h.Close)
	return f
}

// store writes a message without publishing it, as a process that died
// between commit and publish would.
func (f *fixture) store(room, content string) chat.Message {
	f.t.Helper()
	m, _, err := f.st.InsertMessage(context.Background(), chat.NewMessage{Room: room, Author: "writer", Content: content})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func (f *fixture) publish(m chat.Message) {
	f.h.Event(broker.Event{Room: m.Room, Kind: broker.KindMessage, Message: &m})
}

func (f *fixture) join(room, user string, ext bool) *client {
	f.t.Helper()
	return f.joinLimited(room, user, ext, 0)
}

// joinLimited joins a member whose queue overflows past limit frames
// (0: never), as a socket that stops reading does.
func (f *fixture) joinLimited(room, user string, ext bool, limit int) *client {
	f.t.Helper()
	return f.joinWith(hub.Joining{Room: room, User: user, Extensions: ext}, limit)
}

// joinWith joins the member j describes, with a test queue of limit
// frames (0: unbounded).
func (f *fixture) joinWith(j hub.Joining, limit int) *client {
	f.t.Helper()
	c := &client{sink: &sink{limit: limit, woken: make(chan struct{}, 1)}}
	j.Sink = c.sink
	m, err := f.h.Join(context.Background(), j)
	if err != nil {
		f.t.Fatal(err)
	}
	c.Member = m
	f.t.Cleanup(m.Leave)
	return c
}

// client is a member with a queue that hands its frames to the test.
type client struct {
	*hub.Member
	*sink
}

// sink is a member's queue in the tests: the frames a socket's writer
// would write, handed to the test instead. Past its limit it overflows
// and, when woken, ends its member as the transport ends a socket that
// fell behind: it leaves the room.
type sink struct {
	mu      sync.Mutex
	frames  [][]byte
	limit   int
	waking  bool // Queue asked for a wake the test has not taken yet
	over    bool
	overDid bool
	woken   chan struct{} // has a value when frames wait
	member  *hub.Member
}

func (s *sink) Queue(frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return false
	}
	if s.limit > 0 && len(s.frames) >= s.limit {
		s.over, s.frames = true, nil
		return true
	}
	s.frames = append(s.frames, frame)
	if !s.waking {
		s.waking = true
		return true
	}
	return false
}

func (s *sink) Wake() {
	s.mu.Lock()
	end := s.over && !s.overDid
	s.overDid = s.overDid || s.over
	s.mu.Unlock()
	if end {
		s.member.Leave() // as a socket's end does
		return
	}
	select {
	case s.woken <- struct{}{}:
	default:
	}
}

func (s *sink) Wakes() <-chan struct{} { return s.woken }

// Take takes the queued frames.
func (s *sink) Take() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.frames
	s.frames, s.waking = nil, false
	return f
}

func (s *sink) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overDid
}

// frame is one frame a test client took, decoded.
type frame struct {
	Command string
	Message chat.Message
	Change  chat.Change
}

// collect reads the frames c gets until read has kept n of them, and
// returns what it kept.
func collect[T any](t *testing.T, c *client, n int, read func(frame) (T, bool)) []T {
	t.Helper()
	var got []T
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-c.Wakes():
			for _, fr := range c.Take() {
				var x frame
				if err := json.Unmarshal(fr, &x); err != nil {
					t.Fatal(err)
				}
				if v, ok := read(x); ok {
					got = append(got, v)
				}
			}
		case <-deadline:
			t.Fatalf("got %v; waited for %d", got, n)
		}
	}
	return got
}

// seqs collects the seqs of the next n new_message frames c gets.
func seqs(t *testing.T, c *client, n int) []int64 {
	t.Helper()
	return collect(t, c, n, func(x frame) (int64, bool) {
		return x.Message.Seq, x.Command == "new_message"
	})
}

func wantSeqs(t *testing.T, got []int64, from, to int64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("got seqs %v; want %d..%d", got, from, to)
	}
	for i, s := range got {
		if s != from+int64(i) {
			t.Fatalf("got seqs %v; want %d..%d", got, from, to)
		}
	}
}

func TestOutOfOrderIsReordered(t *testing.T) {
	f := newFixture(t, hub.Options{GapWait: time.Minute})
	c := f.join("r", "u", false)
	m1, m2, m3 := f.store("r", "1"), f.store("r", "2"), f.store("r", "3")
	f.publish(m3)
	f.publish(m1)
	f.publish(m2)
	f.publish(m2) // a duplicate is not sent twice
	wantSeqs(t, seqs(t, c, 3), 1, 3)
	if st := f.h.Stats(); st.Duplicates != 1 || st.Recovered != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGapIsRecoveredFromTheStore(t *testing.T) {
	f := newFixture(t, hub.Options{})
	c := f.join("r", "u", false)
	for i := 1; i <= 150; i++ {
		f.store("r", fmt.Sprint(i)) // never published, as if the broker lost them
	}
	last := f.store("r", "151")
	f.publish(last)
	wantSeqs(t, seqs(t, c, 151), 1, 151)
	if st := f.h.Stats(); st.Recovered != 150 {
		t.Fatalf("recovered %d; want 150", st.Recovered)
	}
}

func TestMissedRecoversTheTail(t *testing.T) {
	f := newFixture(t, hub.Options{})
	c := f.join("r", "u", false)
	f.publish(f.store("r", "1"))
	f.store("r", "2")
	f.store("r", "3")
	f.h.Missed("r") // the broker says it may have lost something
	wantSeqs(t, seqs(t, c, 3), 1, 3)
}

func TestJoinGetsOnlyLaterMessages(t *testing.T) {
	f := newFixture(t, hub.Options{})
	f.store("r", "before")
	c := f.join("r", "u", false)
	f.publish(f.store("r", "after"))
	wantSeqs(t, seqs(t, c, 1), 2, 2)
}

func TestSlowClientIsClosedAndOthersGoOn(t *testing.T) {
	f := newFixture(t, hub.Options{})
	slow := f.joinLimited("r", "slow", false, 8)
	slow.sink.member = slow.Member
	fast := f.join("r", "fast", false)
	var got []int64
	for i := 0; i < 50; i += 5 {
		for j := 0; j < 5; j++ {
			f.publish(f.store("r", fmt.Sprint(i+j)))
		}
		got = append(got, seqs(t, fast, 5)...) // the fast client keeps up
	}
	// The fan-out ended it as it overflowed (publish hands events to the
	// hub synchronously), once the room's lock was released: its end left
	// the room, which would deadlock under the lock.
	if !slow.ended() {
		t.Fatal("the slow client was not ended")
	}
	wantSeqs(t, got, 1, 50)
	if st := f.h.Stats(); st.Members != 1 {
		t.Fatalf("stats %+v; the slow client did not leave", st)
	}
}

func TestLastLeaveUnsubscribes(t *testing.T) {
	f := newFixture(t, hub.Options{})
	a := f.join("r", "a", false)
	b := f.join("r", "b", false)
	if st := f.h.Stats(); st.Rooms != 1 || st.Members != 2 {
		t.Fatalf("stats %+v", st)
	}
	a.Leave()
	b.Leave()
	if st := f.h.Stats(); st.Rooms != 0 || st.Members != 0 {
		t.Fatalf("after leaving: %+v", st)
	}
	// Re-entering subscribes again, from the latest seq.
	f.store("r", "x")
	c := f.join("r", "c", false)
	m := f.store("r", "y")
	if err := f.b.Publish(context.Background(), broker.Event{Room: "r", Kind: broker.KindMessage, Message: &m}); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, seqs(t, c, 1), 2, 2)
}

func TestPresenceAndTypingOnlyToExtensionClients(t *testing.T) {
	f := newFixture(t, hub.Options{})
	plain := f.join("r", "plain", false)
	ext := f.join("r", "ext", true)
	frames := func(c *client, want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case <-c.Wakes():
				for _, fr := range c.Take() {
					if string(fr) == want {
						return
					}
				}
			case <-deadline:
				t.Fatalf("no frame %s", want)
			}
		}
	}
	frames(ext, `{"command":"presence","users":["ext","plain"]}`)
	if err := f.h.Publish(context.Background(), broker.Event{Room: "r", Kind: broker.KindTyping, User: "plain"}); err != nil {
		t.Fatal(err)
	}
	frames(ext, `{"command":"typing","user":"plain"}`)
	select {
	case <-plain.Wakes():
		t.Fatalf("a plain client got %q", plain.Take())
	default:
	}
}

// TestQuietTailIsRecovered: a message stored but never published, in a room
// that then goes quiet, still reaches the sockets.
func TestQuietTailIsRecovered(t *testing.T) {
	f := newFixture(t, hub.Options{TailCheck: 20 * time.Millisecond})
	c := f.join("r", "u", false)
	f.store("r", "its publisher died") // no event will ever announce it
	wantSeqs(t, seqs(t, c, 1), 1, 1)
}

// MessageFrame writes the frame encoding/json writes for it: the
// original object, or Parley's, rev always.
func TestMessageFrameIsTheJSONOfTheFrame(t *testing.T) {
	m := chat.Message{ID: 7, Room: "lobby", Seq: 3, Author: "zoë", Content: "<b>\"hi\"</b>\n\u2028", ClientID: "c1",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 123456789, time.UTC)}
	frame := func(msg any) string {
		want, err := chat.EncodeJSON(struct {
			Command string `json:"command"`
			Message any    `json:"message"`
		}{"new_message", msg})
		if err != nil {
			t.Fatal(err)
		}
		return string(want)
	}
	wire := chat.WireMessage{ID: m.ID, Room: m.Room, Seq: m.Seq, Author: m.Author, Content: m.Content,
		Timestamp: "2026-11-25T22:00:00.123456Z", ClientID: m.ClientID}
	if got, want := hub.MessageFrame(m, false), frame(wire); string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	wire.Rev = 3
	if got, want := hub.MessageFrame(m, true), frame(wire); string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// A held member's first answer ends where its live messages begin: held
// messages the answer has are dropped, messages stored but not yet fanned
// out are left to come live, and nothing goes out before the answer.
func TestHeldMemberGetsHistoryThenLive(t *testing.T) {
	f := newFixture(t, hub.Options{HoldFor: time.Minute})
	for i := 1; i <= 5; i++ {
		f.publish(f.store("r", fmt.Sprint(i)))
	}
	c := f.joinWith(hub.Joining{Room: "r", User: "u", Hold: true}, 0)
	f.publish(f.store("r", "6"))
	f.publish(f.store("r", "7"))
	unpublished := f.store("r", "8") // committed, its event not yet here
	if got := c.Take(); len(got) != 0 {
		t.Fatalf("a held member got %q before its answer", got)
	}
	// Asked for the messages below it, the answer would lose nothing.
	if below, ok := c.HeldBelow(); !ok || below != 8 {
		t.Fatalf("HeldBelow = %d, %v; want 8 (7 fanned out), true", below, ok)
	}
	page, _, err := f.st.Messages(context.Background(), "r", store.Page{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	var answered []int64
	if !c.Release(page, func(msgs []chat.Message) []byte {
		for _, m := range msgs {
			answered = append(answered, m.Seq)
		}
		return []byte("answer")
	}) {
		t.Fatal("Release said the member was not held")
	}
	wantSeqs(t, answered, 1, 7)
	if got := c.Take(); len(got) != 1 || string(got[0]) != "answer" {
		t.Fatalf("after the release: %q; want the answer alone (6 and 7 are in it)", got)
	}
	f.publish(unpublished)
	wantSeqs(t, seqs(t, c, 1), 8, 8)
	if c.Release(nil, func([]chat.Message) []byte { return []byte("again") }) {
		t.Fatal("a second Release found the member held")
	}
	if below, ok := c.HeldBelow(); ok {
		t.Fatalf("HeldBelow = %d after the release; want not held", below)
	}
}

// A hold is bounded: after HoldFor the held messages go out on their own.
func TestHoldIsBoundedInTime(t *testing.T) {
	f := newFixture(t, hub.Options{HoldFor: 50 * time.Millisecond})
	c := f.joinWith(hub.Joining{Room: "r", User: "u", Hold: true}, 0)
	f.publish(f.store("r", "1"))
	f.publish(f.store("r", "2"))
	wantSeqs(t, seqs(t, c, 2), 1, 2)
}

// An event of a kind this process does not know (a newer process sent it),
// and an event about no room, reach no socket.
func TestUnknownKindIgnored(t *testing.T) {
	// No tail check: it would bring the stored message.
	f := newFixture(t, hub.Options{TailCheck: time.Hour})
	ext := f.join("r", "ext", true)
	m := f.store("r", "not announced this way")
	next := func() string {
		t.Helper()
		select {
		case <-ext.Wakes():
			frames := ext.Take()
			if len(frames) != 1 {
				t.Fatalf("frames %q, want one", frames)
			}
			return string(frames[0])
		case <-time.After(5 * time.Second):
			t.Fatal("no frame")
			return ""
		}
	}
	if got := next(); got != `{"command":"presence","users":["ext"]}` {
		t.Fatalf("first frame %s", got)
	}
	f.h.Event(broker.Event{Room: "r", Kind: broker.KindUnknown, User: "ann", Users: []string{"ann"}, Message: &m})
	f.h.Event(broker.Event{Kind: broker.KindTyping, User: "ann"})
	f.h.Event(broker.Event{Room: "r", Kind: broker.KindTyping, User: "bob"})
	if got := next(); got != `{"command":"typing","user":"bob"}` {
		t.Fatalf("got %s, want only bob's typing", got)
	}
}

// change applies a change in the store without publishing it.
func (f *fixture) change(c chat.NewChange) chat.Change {
	f.t.Helper()
	if c.Kind == chat.ChangeEdit {
		c.EditWindow = time.Hour
	}
	ch, _, err := f.st.ApplyChange(context.Background(), c)
	if err != nil {
		f.t.Fatal(err)
	}
	return ch
}

func (f *fixture) publishChange(c chat.Change) {
	f.h.Event(broker.Event{Room: c.Room, Kind: broker.KindChange, Change: &c})
}

// entries collects the next frames of c until it has had n log entries
// (new_message and change frames), and returns each as "seq:kind".
func entries(t *testing.T, c *client, n int) []string {
	t.Helper()
	return collect(t, c, n, func(x frame) (string, bool) {
		switch x.Command {
		case "new_message":
			kind := "msg"
			if x.Message.Deleted {
				kind = "tombstone"
			}
			return fmt.Sprintf("%d:%s:%s", x.Message.Seq, kind, x.Message.Content), true
		case "change":
			return fmt.Sprintf("%d:%s", x.Change.Seq, x.Change.Kind), true
		}
		return "", false
	})
}

// TestChangesInTheLog: changes are entries of the sequencer like messages:
// in order, gaps recovered from the store (changes included), to
// extension members only; a member without extensions gets the messages,
// in their state when they reach it, and no deleted one.
func TestChangesInTheLog(t *testing.T) {
	f := newFixture(t, hub.Options{})
	ext := f.join("r", "ext", true)
	plain := f.join("r", "plain", false)
	m1 := f.store("r", "one")
	f.publish(m1)
	e := f.change(chat.NewChange{Room: "r", Author: "writer", Kind: chat.ChangeEdit, Target: 1, Content: "one, edited"})
	r := f.change(chat.NewChange{Room: "r", Author: "ann", Kind: chat.ChangeReact, Target: 1, Emoji: "👍"})
	f.publishChange(r) // early: 2 is missing
	f.publishChange(e)
	// Stored, never published: recovered, in their current state.
	f.store("r", "three")
	f.change(chat.NewChange{Room: "r", Author: "writer", Kind: chat.ChangeDelete, Target: 4})
	f.change(chat.NewChange{Room: "r", Author: "writer", Kind: chat.ChangeEdit, Target: 1, Content: "one, again"})
	f.publish(f.store("r", "six"))
	want := []string{"1:msg:one", "2:edit", "3:react", "4:tombstone:", "5:delete", "6:edit", "7:msg:six"}
	if got := entries(t, ext, 7); !slices.Equal(got, want) {
		t.Fatalf("extension member got %v, want %v", got, want)
	}
	if got := entries(t, plain, 2); !slices.Equal(got, []string{"1:msg:one", "7:msg:six"}) {
		t.Fatalf("plain member got %v", got)
	}
	select {
	case <-plain.Wakes():
		t.Fatalf("a plain member got more: %q", plain.Take())
	default:
	}
}

// SendAfter holds an answer about an entry until the room has sent it.
func TestSendAfter(t *testing.T) {
	f := newFixture(t, hub.Options{GapWait: time.Minute})
	c := f.join("r", "u", true)
	m1, m2 := f.store("r", "1"), f.store("r", "2")
	c.SendAfter(m2.Seq, []byte("answer about 2"))
	f.publish(m1)
	f.publish(m2)
	c.SendAfter(m1.Seq, []byte("answer about 1"))
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 4 {
		select {
		case <-c.Wakes():
			for _, fr := range c.Take() {
				if s := string(fr); strings.HasPrefix(s, "answer") {
					got = append(got, s)
				} else if strings.Contains(s, "new_message") {
					got = append(got, "msg")
				}
			}
		case <-deadline:
			t.Fatalf("got %q", got)
		}
	}
	if !slices.Equal(got, []string{"msg", "msg", "answer about 2", "answer about 1"}) {
		t.Fatalf("got %q", got)
	}
}

// TestWatch: a watched room's entries reach its watcher in seq order,
// gaps filled from the store, with or without members; the room stays
// while watched after its last member leaves, and goes once unwatched.
func TestWatch(t *testing.T) {
	f := newFixture(t, hub.Options{})
	var mu sync.Mutex
	var seen []int64
	if err := f.h.Watch(context.Background(), "lobby", func(e chat.Entry) {
		mu.Lock()
		seen = append(seen, e.Seq())
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	got := func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	f.publish(f.store("lobby", "one"))
	f.store("lobby", "two") // lost by the broker: recovered
	f.publish(f.store("lobby", "three"))
	c := f.join("lobby", "ann", true)
	f.publish(f.store("lobby", "four"))
	testenv.Eventually(t, 5*time.Second, "the watcher to see 1 to 4", func() bool { return slices.Equal(got(), []int64{1, 2, 3, 4}) })
	c.Leave()
	if st := f.h.Stats(); st.Rooms != 1 || st.Members != 0 {
		t.Fatalf("stats %+v: a watched room stays without members", st)
	}
	f.publish(f.store("lobby", "five"))
	testenv.Eventually(t, 5*time.Second, "the watcher to see 1 to 5", func() bool { return slices.Equal(got(), []int64{1, 2, 3, 4, 5}) })
	f.h.Unwatch("lobby")
	if st := f.h.Stats(); st.Rooms != 0 {
		t.Fatalf("stats %+v: an unwatched room without members goes", st)
	}
}

// TestStaleMembersGetNothingNewer: an entry written after a change of who
// may read the room (a later access epoch) reaches only the members
// checked under that epoch: the others — checked before the change, its
// room_changed not yet here — are sent none of it, nor anything after,
// and told once. Checked and AdvanceEpoch keep a member checked since;
// entries recovered from the store, which keeps no epoch, take the
// room's current one. Covers says when an answer from the store up to a
// seq holds nothing newer than a member was checked under.
func TestStaleMembersGetNothingNewer(t *testing.T) {
	f := newFixture(t, hub.Options{HoldFor: time.Minute})
	ctx := context.Background()
	stale := make(chan string, 16)
	join := func(user string, epoch int64, hold bool) *client {
		return f.joinWith(hub.Joining{Room: "r", User: user, Extensions: !hold, Hold: hold, Epoch: epoch,
			Stale: func() { stale <- user }}, 0)
	}
	kind := func(k chat.RoomKind) {
		t.Helper()
		if _, err := f.st.ChangeRoom(ctx, "r", store.RoomChange{Kind: &k}); err != nil {
			t.Fatal(err)
		}
	}
	wantStale := func(users ...string) {
		t.Helper()
		var got []string
		for range users {
			select {
			case u := <-stale:
				got = append(got, u)
			case <-time.After(5 * time.Second):
				t.Fatalf("stale: %q; want %q", got, users)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, users) {
			t.Fatalf("stale: %q; want %q", got, users)
		}
		select {
		case u := <-stale:
			t.Fatalf("%s told again, or told too", u)
		default:
		}
	}
	nothing := func(cs ...*client) {
		t.Helper()
		for _, c := range cs {
			if got := c.Take(); len(got) != 0 {
				t.Fatalf("a stale member got %q", got)
			}
		}
	}

	f.publish(f.store("r", "public")) // seq 1, epoch 0
	ann, bob, eve, old := join("ann", 0, false), join("bob", 0, false), join("eve", 0, false), join("old", 0, true)
	kind(chat.RoomPrivate) // epoch 1; its room_changed has not come
	f.h.Checked("r", "ann", 1)
	if !ann.Covers(1) || !bob.Covers(1) || ann.Covers(2) {
		t.Fatal("Covers: the log up to 1 came through the fan-out, 2 did not")
	}
	m2 := f.store("r", "private") // seq 2, epoch 1
	if ann.Covers(2) {
		t.Fatal("Covers: seq 2, stored, not fanned out yet")
	}
	f.publish(m2)
	wantSeqs(t, seqs(t, ann, 1), 2, 2)
	wantStale("bob", "eve", "old")
	if !ann.Covers(2) || bob.Covers(1) {
		t.Fatal("Covers: ann checked under epoch 1 is covered to 2; bob, dropped, is not")
	}
	f.publish(f.store("r", "more")) // seq 3
	wantSeqs(t, seqs(t, ann, 1), 3, 3)
	nothing(bob, eve, old)
	if st := f.h.Stats(); st.Stale != 3 {
		t.Fatalf("stale count %d; want 3", st.Stale)
	}

	// A member gone: the others checked under the epoch before are as
	// checked under the new one; the one gone is not.
	dan := join("dan", 1, false)
	kind(chat.RoomPublic)
	kind(chat.RoomPrivate) // epoch 2
	f.h.AdvanceEpoch("r", "dan", 2)
	f.publish(f.store("r", "after dan")) // seq 4
	wantSeqs(t, seqs(t, ann, 1), 4, 4)
	wantStale("dan")
	nothing(dan)

	// Entries the broker lost come from the store with the room's epoch.
	kind(chat.RoomPublic)
	kind(chat.RoomPrivate) // epoch 3: ann still at 2
	gus := join("gus", 3, false)
	f.store("r", "lost")                  // seq 5, never published
	f.publish(f.store("r", "after lost")) // seq 6
	wantSeqs(t, seqs(t, gus, 2), 5, 6)
	wantStale("ann")
	nothing(ann)

	// A room this process starts on takes its epoch from the store: a
	// member checked before a change the store has is not covered.
	f.store("s", "public")
	private := chat.RoomPrivate
	if _, err := f.st.ChangeRoom(ctx, "s", store.RoomChange{Kind: &private}); err != nil {
		t.Fatal(err)
	}
	f.store("s", "private") // seq 2, epoch 1, never fanned out here
	before := f.joinWith(hub.Joining{Room: "s", User: "ann", Epoch: 0}, 0)
	after := f.joinWith(hub.Joining{Room: "s", User: "bob", Epoch: 1}, 0)
	if before.Covers(2) || !after.Covers(2) {
		t.Fatal("Covers: a room started after a change")
	}
}
