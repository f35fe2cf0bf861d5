package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
	"parley/internal/store"
	"parley/internal/store/storetest"
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
	hc, err := f.h.Join(context.Background(), room, user, ext)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(hc.Leave)
	c := &client{Client: hc, wake: make(chan struct{}, 1)}
	hc.Start(func() { c.wake <- struct{}{} })
	return c
}

// client is a hub client with a writer that hands its frames to the test.
type client struct {
	*hub.Client
	wake chan struct{} // has a value when the writer's turn starts
}

func (c *client) Wake() <-chan struct{} { return c.wake }

// Take takes frames until the queue is empty, which ends the turn.
func (c *client) Take() [][]byte {
	var all [][]byte
	for {
		frames, _ := c.Client.Take(nil)
		if len(frames) == 0 {
			return all
		}
		all = append(all, frames...)
	}
}

// seqs collects the seqs of the next n new_message frames c gets.
func seqs(t *testing.T, c *client, n int) []int64 {
	t.Helper()
	var got []int64
	deadline := time.After(5 * time.Second)
	for len(got) < n {
		select {
		case <-c.Wake():
			for _, fr := range c.Take() {
				var m struct {
					Command string
					Message chat.Message
				}
				if err := json.Unmarshal(fr, &m); err != nil {
					t.Fatal(err)
				}
				if m.Command == "new_message" {
					got = append(got, m.Message.Seq)
				}
			}
		case <-deadline:
			t.Fatalf("got seqs %v; waited for %d", got, n)
		}
	}
	return got
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
	f := newFixture(t, hub.Options{QueueLimit: 8})
	slow := f.join("r", "slow", false)
	slow.OnSlow(slow.Leave) // as a socket's end does: it leaves the room
	fast := f.join("r", "fast", false)
	var got []int64
	for i := 0; i < 50; i += 5 {
		for j := 0; j < 5; j++ {
			f.publish(f.store("r", fmt.Sprint(i+j)))
		}
		got = append(got, seqs(t, fast, 5)...) // the fast client keeps up
	}
	// The fan-out closed it as it overflowed (publish hands events to the
	// hub synchronously).
	if r := slow.Reason(); r != hub.ReasonSlow {
		t.Fatalf("the slow client was not closed for being slow: reason %d", r)
	}
	wantSeqs(t, got, 1, 50)
	if f.h.Stats().Drops != 1 {
		t.Fatalf("stats %+v", f.h.Stats())
	}
}

func TestLastLeaveUnsubscribes(t *testing.T) {
	f := newFixture(t, hub.Options{})
	a := f.join("r", "a", false)
	b := f.join("r", "b", false)
	if st := f.h.Stats(); st.Rooms != 1 || st.Clients != 2 {
		t.Fatalf("stats %+v", st)
	}
	a.Leave()
	b.Leave()
	if st := f.h.Stats(); st.Rooms != 0 || st.Clients != 0 {
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
			case <-c.Wake():
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
	case <-plain.Wake():
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

// MessageFrame writes the frame encoding/json writes for it.
func TestMessageFrameIsTheJSONOfTheFrame(t *testing.T) {
	m := chat.Message{ID: 7, Room: "lobby", Seq: 3, Author: "zoë", Content: "<b>\"hi\"</b>\n\u2028", ClientID: "c1",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 123456789, time.UTC)}
	want, err := json.Marshal(struct {
		Command string       `json:"command"`
		Message chat.Message `json:"message"`
	}{"new_message", m})
	if err != nil {
		t.Fatal(err)
	}
	if got := hub.MessageFrame(m); string(got) != string(want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
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
		case <-ext.Wake():
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
