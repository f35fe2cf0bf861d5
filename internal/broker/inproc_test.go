package broker_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/broker/brokertest"
	"parley/internal/chat"
)

func TestInProcess(t *testing.T) {
	brokertest.Run(t, func(t *testing.T) (a, b broker.Broker) {
		bus := broker.NewInProcess()
		t.Cleanup(func() { bus.Close() })
		return bus, bus
	})
}

func TestInProcessNeverMisses(t *testing.T) {
	bus := broker.NewInProcess()
	defer bus.Close()
	r := brokertest.NewRecorder(1)
	if err := bus.Subscribe(t.Context(), "room", r); err != nil {
		t.Fatal(err)
	}
	if err := bus.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := bus.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping, User: "ann"}); err != nil {
		t.Fatal(err)
	}
	r.Next(t)
	r.NoMissed(t)
}

// A handler may use the broker from inside Event: no lock is held then.
func TestInProcessReentrant(t *testing.T) {
	bus := broker.NewInProcess()
	defer bus.Close()
	echo := brokertest.NewRecorder(1)
	h := handlerFunc(func(ev broker.Event) {
		bus.Unsubscribe(context.Background(), ev.Room)
		bus.Subscribe(context.Background(), "echo", echo)
		bus.Publish(context.Background(), broker.Event{Room: "echo", Kind: ev.Kind})
	})
	if err := bus.Subscribe(t.Context(), "room", h); err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping}); err != nil {
		t.Fatal(err)
	}
	if ev := echo.Next(t); ev.Room != "echo" {
		t.Fatalf("got %+v", ev)
	}
}

type handlerFunc func(broker.Event)

func (f handlerFunc) Event(ev broker.Event) { f(ev) }
func (f handlerFunc) Missed(string)         {}

type discard struct{}

func (discard) Event(broker.Event) {}
func (discard) Missed(string)      {}

func BenchmarkInProcessPublish(b *testing.B) {
	bus := broker.NewInProcess()
	defer bus.Close()
	ctx := context.Background()
	if err := bus.Subscribe(ctx, "room", discard{}); err != nil {
		b.Fatal(err)
	}
	ev := broker.Event{Room: "room", Kind: broker.KindTyping, User: "ann"}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := bus.Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := bus.Publish(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

func TestInProcessPublishDoesNotAllocate(t *testing.T) {
	bus := broker.NewInProcess()
	defer bus.Close()
	ctx := context.Background()
	if err := bus.Subscribe(ctx, "room", discard{}); err != nil {
		t.Fatal(err)
	}
	ev := broker.Event{Room: "room", Kind: broker.KindTyping, User: "ann"}
	allocs := testing.AllocsPerRun(100, func() { bus.Publish(ctx, ev) })
	if allocs != 0 {
		t.Errorf("Publish allocates %v times, want 0", allocs)
	}
}

// AppendEvent, unmarked, writes what encoding/json writes for an event,
// and it reads back as the event.
func TestEventAppendJSON(t *testing.T) {
	m := chat.Message{ID: 9, Room: "r&d", Seq: 4, Author: "zoë", Content: "<script>\"x\"</script>",
		Timestamp: time.Date(2026, 11, 25, 22, 0, 0, 5000, time.UTC)}
	for _, ev := range []broker.Event{
		{Room: "r&d", Kind: broker.KindMessage, Message: &m, Origin: "p-1"},
		{Room: "lobby", Kind: broker.KindTyping, User: "ann"},
		{Room: "lobby", Kind: broker.KindPresence, Users: []string{"ann", "bo\"b"}, Origin: "p-2"},
		{Room: "lobby", Kind: broker.KindPresence, Users: []string{}},
	} {
		want, err := chat.EncodeJSON(ev)
		if err != nil {
			t.Fatal(err)
		}
		got := broker.AppendEvent(nil, ev, broker.Mark{})
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		var back broker.Event
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if len(ev.Users) == 0 {
			ev.Users = nil // omitted, as encoding/json omits it: read back as none
		}
		if !brokertest.SameEvent(back, ev) {
			t.Errorf("read back %+v, want %+v", back, ev)
		}
	}
}

// BenchmarkEventJSON measures a message event's way through a shared
// broker's wire: encoded by the publishing process, decoded by each other.
func BenchmarkEventJSON(b *testing.B) {
	m := chat.Message{ID: 1042, Room: "lobby", Seq: 17, Author: "alice", Content: "hi there, how are you?",
		Timestamp: time.Now(), ClientID: "c-7f3a"}
	ev := broker.Event{Room: "lobby", Kind: broker.KindMessage, Message: &m, Origin: "p-1"}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = broker.AppendEvent(buf[:0], ev, broker.Mark{})
		}
	})
	b.Run("decode", func(b *testing.B) {
		payload := broker.AppendEvent(nil, ev, broker.Mark{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := broker.DecodeEvent(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
