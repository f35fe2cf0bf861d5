// Package brokertest is the contract every broker.Broker passes: one suite,
// run against the in-process broker and against Redis.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
)

// Wait bounds every wait for an event in the suite. It is generous so that a
// slow machine running with -race does not fail; a passing test never waits
// for it.
const Wait = 10 * time.Second

// Run runs the contract suite. newBroker returns two brokers that share a
// bus, as two processes would: a publishes, b subscribes, and each must see
// the other's events. For a broker confined to one process both may be the
// same value. newBroker is called once per case and must close what it opens
// in t.Cleanup; Close may be called again by the suite.
func Run(t *testing.T, newBroker func(t *testing.T) (a, b broker.Broker)) {
	cases := []struct {
		name string
		test func(t *testing.T, a, b broker.Broker)
	}{
		{"OnlySubscribedRoom", testOnlySubscribedRoom},
		{"DeliveredAfterSubscribe", testDeliveredAfterSubscribe},
		{"OwnProcessReceives", testOwnProcessReceives},
		{"OrderFromOnePublisher", testOrder},
		{"UnsubscribeStops", testUnsubscribe},
		{"Resubscribe", testResubscribe},
		{"SubscribeReplacesHandler", testSubscribeReplaces},
		{"MessageRoundTrip", testMessageRoundTrip},
		{"TypingAndPresence", testTypingAndPresence},
		{"ManyRooms", testManyRooms},
		{"ConcurrentPublishers", testConcurrentPublishers},
		{"ProcessWide", testProcessWide},
		{"UnknownKindRefused", testUnknownKindRefused},
		{"Close", testClose},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := newBroker(t)
			c.test(t, a, b)
		})
	}
}

// Recorder is a Handler that puts what it receives on buffered channels, so
// that a test can wait for it with a deadline.
type Recorder struct {
	Events chan broker.Event
	Misses chan string
	// overflow records an event that found its channel full: the handler
	// must not block the broker, so it drops and the test fails.
	overflow atomic.Bool
}

var _ broker.Handler = (*Recorder)(nil)

// NewRecorder returns a Recorder that holds up to n events and n misses.
func NewRecorder(n int) *Recorder {
	return &Recorder{Events: make(chan broker.Event, n), Misses: make(chan string, n)}
}

// Event records ev.
func (r *Recorder) Event(ev broker.Event) {
	select {
	case r.Events <- ev:
	default:
		r.overflow.Store(true)
	}
}

// Missed records room.
func (r *Recorder) Missed(room string) {
	select {
	case r.Misses <- room:
	default:
		r.overflow.Store(true)
	}
}

// Next returns the next event, failing t if none comes within Wait.
func (r *Recorder) Next(t testing.TB) broker.Event {
	t.Helper()
	select {
	case ev := <-r.Events:
		return ev
	case <-time.After(Wait):
		r.checkOverflow(t)
		t.Fatalf("no event within %v", Wait)
		return broker.Event{}
	}
}

// NextMissed returns the next room reported missed, failing t if none is
// within Wait.
func (r *Recorder) NextMissed(t testing.TB) string {
	t.Helper()
	select {
	case room := <-r.Misses:
		return room
	case <-time.After(Wait):
		r.checkOverflow(t)
		t.Fatalf("no Missed call within %v", Wait)
		return ""
	}
}

// NoEvent fails t if an event is waiting. Call it only once the event would
// have arrived, such as after a later event on the same bus was received.
func (r *Recorder) NoEvent(t testing.TB) {
	t.Helper()
	r.checkOverflow(t)
	select {
	case ev := <-r.Events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// NoMissed fails t if a Missed call is waiting.
func (r *Recorder) NoMissed(t testing.TB) {
	t.Helper()
	select {
	case room := <-r.Misses:
		t.Fatalf("unexpected Missed(%q)", room)
	default:
	}
}

func (r *Recorder) checkOverflow(t testing.TB) {
	t.Helper()
	if r.overflow.Load() {
		t.Fatal("recorder overflowed: more events came than the test expected")
	}
}

// SameEvent reports whether two events carry the same data. Timestamps are
// compared as instants.
func SameEvent(x, y broker.Event) bool {
	if x.Room != y.Room || x.Kind != y.Kind || x.User != y.User || x.Origin != y.Origin ||
		!reflect.DeepEqual(x.Users, y.Users) || !reflect.DeepEqual(x.Credentials, y.Credentials) ||
		x.Keep != y.Keep || x.Subject != y.Subject || x.Seq != y.Seq || (x.Message == nil) != (y.Message == nil) || (x.Change == nil) != (y.Change == nil) {
		return false
	}
	if x.Change != nil {
		c, d := *x.Change, *y.Change
		if !c.Timestamp.Equal(d.Timestamp) {
			return false
		}
		c.Timestamp, d.Timestamp = time.Time{}, time.Time{}
		if !reflect.DeepEqual(c, d) {
			return false
		}
	}
	if x.Message == nil {
		return true
	}
	m, n := *x.Message, *y.Message
	if !m.Timestamp.Equal(n.Timestamp) || !m.Edited.Equal(n.Edited) {
		return false
	}
	m.Timestamp, n.Timestamp, m.Edited, n.Edited = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	m.Rev, n.Rev = m.CurrentRev(), n.CurrentRev() // 0 is the seq
	return reflect.DeepEqual(m, n)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), Wait)
	t.Cleanup(cancel)
	return c
}

func subscribe(t *testing.T, b broker.Broker, room string, h broker.Handler) {
	t.Helper()
	if err := b.Subscribe(ctx(t), room, h); err != nil {
		t.Fatalf("Subscribe(%q): %v", room, err)
	}
}

func publish(t testing.TB, c context.Context, b broker.Broker, ev broker.Event) {
	t.Helper()
	if err := b.Publish(c, ev); err != nil {
		t.Fatalf("Publish(%+v): %v", ev, err)
	}
}

func message(room, author string, seq int64) broker.Event {
	return broker.Event{Room: room, Kind: broker.KindMessage, Origin: "test", Message: &chat.Message{
		ID: seq, Room: room, Seq: seq, Author: author, Content: "message " + strconv.FormatInt(seq, 10),
		Timestamp: time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC),
	}}
}

func wantEvent(t *testing.T, r *Recorder, want broker.Event) {
	t.Helper()
	got := r.Next(t)
	if !SameEvent(got, want) {
		t.Fatalf("got event %s\nwant %s", show(got), show(want))
	}
}

func show(ev broker.Event) string {
	if ev.Message == nil {
		return fmt.Sprintf("%+v", ev)
	}
	return fmt.Sprintf("%+v with message %+v", ev, *ev.Message)
}

func testOnlySubscribedRoom(t *testing.T, a, b broker.Broker) {
	one, two := NewRecorder(10), NewRecorder(10)
	subscribe(t, b, "one", one)
	subscribe(t, b, "two", two)
	c := ctx(t)
	publish(t, c, a, message("nobody", "ann", 1))
	publish(t, c, a, message("one", "ann", 2))
	publish(t, c, a, message("two", "ann", 3))
	wantEvent(t, one, message("one", "ann", 2))
	wantEvent(t, two, message("two", "ann", 3))
	// The event of "two" was published last, so everything published
	// before it has been handed out by now.
	one.NoEvent(t)
	two.NoEvent(t)
}

func testDeliveredAfterSubscribe(t *testing.T, a, b broker.Broker) {
	for i := range 20 {
		room := "fresh-" + strconv.Itoa(i)
		r := NewRecorder(1)
		subscribe(t, b, room, r)
		publish(t, ctx(t), a, message(room, "ann", int64(i)))
		wantEvent(t, r, message(room, "ann", int64(i)))
	}
}

func testOwnProcessReceives(t *testing.T, a, b broker.Broker) {
	for _, x := range []broker.Broker{a, b} {
		r := NewRecorder(1)
		subscribe(t, x, "own", r)
		publish(t, ctx(t), x, message("own", "ann", 1))
		wantEvent(t, r, message("own", "ann", 1))
	}
}

func testOrder(t *testing.T, a, b broker.Broker) {
	const n = 1000
	r := NewRecorder(n)
	subscribe(t, b, "order", r)
	c := ctx(t)
	for i := range int64(n) {
		publish(t, c, a, message("order", "ann", i))
	}
	for i := range int64(n) {
		ev := r.Next(t)
		if ev.Message == nil || ev.Message.Seq != i {
			t.Fatalf("event %d: got %s", i, show(ev))
		}
	}
	r.NoEvent(t)
}

func testUnsubscribe(t *testing.T, a, b broker.Broker) {
	gone, marker := NewRecorder(10), NewRecorder(10)
	subscribe(t, b, "gone", gone)
	subscribe(t, b, "marker", marker)
	c := ctx(t)
	publish(t, c, a, message("gone", "ann", 1))
	wantEvent(t, gone, message("gone", "ann", 1))
	if err := b.Unsubscribe(c, "gone"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if err := b.Unsubscribe(c, "never-subscribed"); err != nil {
		t.Fatalf("Unsubscribe of a room never subscribed: %v", err)
	}
	publish(t, c, a, message("gone", "ann", 2))
	publish(t, c, a, message("marker", "ann", 3))
	wantEvent(t, marker, message("marker", "ann", 3))
	gone.NoEvent(t)
}

func testResubscribe(t *testing.T, a, b broker.Broker) {
	c := ctx(t)
	for i := range int64(5) {
		r := NewRecorder(1)
		subscribe(t, b, "again", r)
		publish(t, c, a, message("again", "ann", i))
		wantEvent(t, r, message("again", "ann", i))
		if err := b.Unsubscribe(c, "again"); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
	}
}

func testSubscribeReplaces(t *testing.T, a, b broker.Broker) {
	first, second := NewRecorder(10), NewRecorder(10)
	subscribe(t, b, "replace", first)
	subscribe(t, b, "replace", second)
	c := ctx(t)
	publish(t, c, a, message("replace", "ann", 1))
	wantEvent(t, second, message("replace", "ann", 1))
	first.NoEvent(t)
}

func testMessageRoundTrip(t *testing.T, a, b broker.Broker) {
	r := NewRecorder(10)
	subscribe(t, b, "exact", r)
	want := broker.Event{Room: "exact", Kind: broker.KindMessage, Origin: "proc-1", Message: &chat.Message{
		ID:        9007199254740993, // beyond float64's exact integers
		Room:      "exact",
		Seq:       42,
		Author:    "zoë.o'neil+bot@example",
		Content:   `<script>alert("x&y")</script> \ "quoted" 日本語 🎉 e\u0301 ` + "tab\tnewline\n\u2028 nul\x00",
		Timestamp: time.Date(2031, 12, 31, 23, 59, 59, 999999000, time.UTC),
		ClientID:  "c-7f3a\u00e9",
	}}
	publish(t, ctx(t), a, want)
	got := r.Next(t)
	if !SameEvent(got, want) {
		t.Fatalf("got %s\nwant %s", show(got), show(want))
	}
	if got.Message.Timestamp.Location() != time.UTC {
		t.Errorf("timestamp location %v, want UTC", got.Message.Timestamp.Location())
	}
}

func testTypingAndPresence(t *testing.T, a, b broker.Broker) {
	r := NewRecorder(10)
	subscribe(t, b, "lobby", r)
	events := []broker.Event{
		{Room: "lobby", Kind: broker.KindTyping, User: "ann", Origin: "proc-2"},
		{Room: "lobby", Kind: broker.KindPresence, Origin: "proc-2", Users: []string{"ann", "böb", "<c>"}},
	}
	c := ctx(t)
	for _, ev := range events {
		publish(t, c, a, ev)
	}
	for _, want := range events {
		wantEvent(t, r, want)
	}
}

func testManyRooms(t *testing.T, a, b broker.Broker) {
	const rooms, each = 100, 3
	recs := make([]*Recorder, rooms)
	for i := range recs {
		recs[i] = NewRecorder(each)
		subscribe(t, b, "many-"+strconv.Itoa(i), recs[i])
	}
	c := ctx(t)
	for j := range int64(each) {
		for i := range recs {
			publish(t, c, a, message("many-"+strconv.Itoa(i), "ann", j))
		}
	}
	for i, r := range recs {
		for j := range int64(each) {
			wantEvent(t, r, message("many-"+strconv.Itoa(i), "ann", j))
		}
	}
	for _, r := range recs {
		r.NoEvent(t)
	}
}

func testConcurrentPublishers(t *testing.T, a, b broker.Broker) {
	const publishers, each = 8, 200
	r := NewRecorder(publishers * each)
	subscribe(t, b, "busy", r)
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		via := a
		if p%2 == 1 {
			via = b
		}
		wg.Go(func() {
			for i := range int64(each) {
				if err := via.Publish(c, message("busy", "p"+strconv.Itoa(p), i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	next := make(map[string]int64)
	for range publishers * each {
		m := r.Next(t).Message
		if m == nil || m.Seq != next[m.Author] {
			t.Fatalf("got message %+v, want seq %d from its publisher", m, next[m.Author])
		}
		next[m.Author]++
	}
	r.NoEvent(t)
}

// The process-wide topic, room "", is a topic like a room's: its events
// reach every broker subscribed to it, this process's subscriber before
// Publish returns; they reach no room, not even one named like the
// process-wide channel, and no room's events reach them.
func testProcessWide(t *testing.T, a, b broker.Broker) {
	brokers := []broker.Broker{a}
	if b != a {
		brokers = append(brokers, b)
	}
	recs := make([]*Recorder, len(brokers))
	for i, x := range brokers {
		recs[i] = NewRecorder(10)
		subscribe(t, x, "", recs[i])
	}
	named := NewRecorder(10)
	subscribe(t, b, "all", named)
	c := ctx(t)
	for i, x := range brokers {
		ev := broker.Event{Kind: broker.KindTyping, User: "ann", Origin: "proc-" + strconv.Itoa(i)}
		publish(t, c, x, ev)
		select {
		case got := <-recs[i].Events:
			if !SameEvent(got, ev) {
				t.Fatalf("publisher's own subscriber got %s\nwant %s", show(got), show(ev))
			}
		default:
			t.Fatalf("Publish returned before the publisher's own subscriber had the process-wide event")
		}
		for j, r := range recs {
			if j != i {
				wantEvent(t, r, ev)
			}
		}
	}

	// The revocations travel whole.
	for _, ev := range []broker.Event{
		{Kind: broker.KindRevoked, Credentials: []string{"00ff", "a1b2"}, Origin: "proc-0"},
		{Kind: broker.KindUserRevoked, User: "ann", Keep: "00ff", Origin: "proc-0"},
		{Kind: broker.KindUserChanged, User: "ann", Origin: "proc-0"},
		{Kind: broker.KindRead, User: "ann", Subject: "lobby", Seq: 42, Origin: "proc-0"},
		{Kind: broker.KindRooms, User: "ann", Subject: "lobby", Origin: "proc-0"},
	} {
		publish(t, c, a, ev)
		for _, r := range recs {
			wantEvent(t, r, ev)
		}
	}

	publish(t, c, a, message("all", "ann", 1))
	marker := broker.Event{Kind: broker.KindTyping, User: "marker", Origin: "proc-0"}
	publish(t, c, a, marker)
	wantEvent(t, named, message("all", "ann", 1))
	for _, r := range recs {
		wantEvent(t, r, marker) // and not the room's message before it
	}
	named.NoEvent(t)

	// Unsubscribing from it stops its events.
	if err := b.Unsubscribe(c, ""); err != nil {
		t.Fatalf("Unsubscribe(\"\"): %v", err)
	}
	publish(t, c, a, broker.Event{Kind: broker.KindTyping, User: "gone", Origin: "proc-0"})
	publish(t, c, a, message("all", "ann", 2))
	wantEvent(t, named, message("all", "ann", 2))
	recs[len(recs)-1].NoEvent(t)
}

// An event whose kind the broker does not know is refused, and reaches no
// one.
func testUnknownKindRefused(t *testing.T, a, b broker.Broker) {
	ra, rb := NewRecorder(10), NewRecorder(10)
	subscribe(t, b, "kinds", rb)
	if b != a {
		subscribe(t, a, "kinds", ra)
	}
	c := ctx(t)
	for _, k := range []broker.Kind{broker.KindUnknown, broker.Kind(200)} {
		err := a.Publish(c, broker.Event{Room: "kinds", Kind: k, User: "ann"})
		if !errors.Is(err, broker.ErrUnknownKind) {
			t.Errorf("Publish of kind %d: error %v, want ErrUnknownKind", k, err)
		}
	}
	marker := broker.Event{Room: "kinds", Kind: broker.KindTyping, User: "marker", Origin: "proc-1"}
	publish(t, c, a, marker)
	wantEvent(t, rb, marker)
	rb.NoEvent(t)
	if b != a {
		wantEvent(t, ra, marker)
		ra.NoEvent(t)
	}
}

func testClose(t *testing.T, a, b broker.Broker) {
	r := NewRecorder(1)
	subscribe(t, b, "closing", r)
	for _, x := range []broker.Broker{a, b, a} {
		if err := x.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	c := ctx(t)
	if err := a.Publish(c, message("closing", "ann", 1)); err == nil {
		t.Error("Publish after Close: no error")
	}
	if err := b.Subscribe(c, "closing", r); err == nil {
		t.Error("Subscribe after Close: no error")
	}
	if err := b.Ping(c); err == nil {
		t.Error("Ping after Close: no error")
	}
	r.NoEvent(t)
}
