package redisbroker_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/broker"
	"parley/internal/broker/brokertest"
	"parley/internal/broker/redisbroker"
	"parley/internal/chat"
	"parley/internal/testenv"
)

// redisURL returns the URL of the shared test server, skipping the test
// when none is set.
func redisURL(t testing.TB) string {
	t.Helper()
	return testenv.Need(t, testenv.Redis, "the Redis broker's tests")
}

var prefixes atomic.Int64

// uniquePrefix keeps the channels of one test apart from every other
// test's, in this process and in others on the same server.
func uniquePrefix() string {
	return "parleytest:" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(prefixes.Add(1), 10) + ":"
}

// open returns a broker on url, closed when t ends. It fails t, never
// skips, when the server cannot be reached.
func open(t testing.TB, url string, opts redisbroker.Options) *redisbroker.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := redisbroker.New(ctx, url, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// openPair returns two brokers on url that share a bus, as two processes.
func openPair(t testing.TB, url string, opts redisbroker.Options) (a, b *redisbroker.Redis) {
	t.Helper()
	opts.Prefix = uniquePrefix()
	opts.Origin = "a"
	a = open(t, url, opts)
	opts.Origin = "b"
	b = open(t, url, opts)
	return a, b
}

func TestRedis(t *testing.T) {
	url := redisURL(t)
	open(t, url, redisbroker.Options{}) // fails once here if the server is unreachable
	brokertest.Run(t, func(t *testing.T) (a, b broker.Broker) {
		return openPair(t, url, redisbroker.Options{})
	})
}

func TestRedisStampsOrigin(t *testing.T) {
	a, b := openPair(t, redisURL(t), redisbroker.Options{})
	r := brokertest.NewRecorder(2)
	if err := b.Subscribe(t.Context(), "room", r); err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"", "elsewhere"} {
		if err := a.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping, Origin: origin}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Next(t).Origin; got != "a" {
		t.Errorf("origin %q, want the publisher's, a", got)
	}
	if got := r.Next(t).Origin; got != "elsewhere" {
		t.Errorf("origin %q, want the one set, elsewhere", got)
	}
}

func TestRedisStats(t *testing.T) {
	url := redisURL(t)
	opts := redisbroker.Options{Prefix: uniquePrefix()}
	a, b := open(t, url, opts), open(t, url, opts)
	r := brokertest.NewRecorder(3)
	if err := b.Subscribe(t.Context(), "room", r); err != nil {
		t.Fatal(err)
	}
	// A message that is not an event, from outside the broker.
	raw := redis.NewClient(mustParseURL(t, url))
	defer raw.Close()
	if err := raw.Publish(t.Context(), opts.Prefix+"room:room", "{not json").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		r.Next(t)
	}
	// The publisher counts an event once Redis answered the pipeline,
	// which may be just after the subscriber had it.
	testenv.Eventually(t, brokertest.Wait, "3 published", func() bool { return a.Stats().Published >= 3 })
	if got := a.Stats(); got.Published != 3 || got.Failed != 0 {
		t.Errorf("publisher's stats %+v, want 3 published", got)
	}
	if got, want := b.Stats(), (redisbroker.Stats{Received: 4, DecodeErrors: 1}); got != want {
		t.Errorf("subscriber's stats %+v, want %+v", got, want)
	}
}

func mustParseURL(t testing.TB, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Close stops the receive goroutine. Close returns once the goroutine
// has closed its done channel, in its last deferred call, so its stack
// may be listed for a moment after, as may those of brokers the tests
// before this one closed: the test waits, bounded, for exactly a's and
// b's, then for b's alone.
func TestRedisCloseStopsGoroutine(t *testing.T) {
	url := redisURL(t)
	a, _ := openPair(t, url, redisbroker.Options{})
	if err := a.Subscribe(t.Context(), "room", brokertest.NewRecorder(1)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, brokertest.Wait, "the receive goroutines of a and b alone (the test looks for the right name)",
		func() bool { return receivers() == 2 })
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	testenv.Eventually(t, brokertest.Wait, "a's receive goroutine to end after Close", func() bool { return receivers() == 1 })
}

// receivers counts the goroutines running Redis.receive.
func receivers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "redisbroker.(*Redis).receive(")
		}
		buf = make([]byte, 2*len(buf))
	}
}

// TestRedisOwnEventsOnce: a process's own subscriber gets its events once,
// at publish; the copies Redis sends back are dropped. Another process's
// event stays an event whatever its message says.
func TestRedisOwnEventsOnce(t *testing.T) {
	a, b := openPair(t, redisURL(t), redisbroker.Options{})
	ra, rb := brokertest.NewRecorder(8), brokertest.NewRecorder(8)
	if err := a.Subscribe(t.Context(), "room", ra); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(t.Context(), "room", rb); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping, User: "ann"}); err != nil {
			t.Fatal(err)
		}
	}
	forged := chat.Message{Room: "room", Seq: 1, Author: "bob", Content: `"origin":"a"`}
	if err := b.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindMessage, Message: &forged}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ev := ra.Next(t); ev.User != "ann" {
			t.Fatalf("a got %+v first", ev)
		}
	}
	if ev := ra.Next(t); ev.Message == nil || ev.Message.Content != forged.Content {
		t.Fatalf("a got %+v, want b's message", ev)
	}
	// b has its own message at once, a's events when Redis brings them.
	typing, messages := 0, 0
	for range 4 {
		switch ev := rb.Next(t); {
		case ev.User == "ann":
			typing++
		case ev.Message != nil:
			messages++
		}
	}
	if typing != 3 || messages != 1 {
		t.Fatalf("b got %d typing events and %d messages, want 3 and 1", typing, messages)
	}
	testenv.Eventually(t, 5*time.Second, "own events dropped", func() bool { return a.Stats().Own >= 3 && b.Stats().Own >= 1 })
	ra.NoEvent(t)
	rb.NoEvent(t)
}

// Publish does not wait for Redis; Close sends what is still queued.
func TestRedisCloseSendsWhatIsQueued(t *testing.T) {
	url := redisURL(t)
	opts := redisbroker.Options{Prefix: uniquePrefix()}
	a, b := open(t, url, opts), open(t, url, opts)
	const n = 300
	r := brokertest.NewRecorder(n)
	if err := b.Subscribe(t.Context(), "room", r); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := a.Publish(t.Context(), broker.Event{Room: "room", Kind: broker.KindTyping, User: fmt.Sprint("u", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if ev := r.Next(t); ev.User != fmt.Sprint("u", i) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	if got := a.Stats(); got.Published != n || got.Failed != 0 {
		t.Errorf("stats %+v, want %d published", got, n)
	}
}

// The process-wide events travel on Prefix + "all", and a kind this
// process does not know, sent by a newer one, reaches the handler as
// KindUnknown: not a decoding error, and the events after it still come.
func TestRedisFromTheWire(t *testing.T) {
	url := redisURL(t)
	opts := redisbroker.Options{Prefix: uniquePrefix()}
	b := open(t, url, opts)
	all, room := brokertest.NewRecorder(10), brokertest.NewRecorder(10)
	if err := b.Subscribe(t.Context(), "", all); err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(t.Context(), "room", room); err != nil {
		t.Fatal(err)
	}
	raw := redis.NewClient(mustParseURL(t, url))
	defer raw.Close()
	for _, p := range []struct{ channel, payload string }{
		{opts.Prefix + "all", `{"room":"","kind":"session_ended","user":"ann","origin":"newer"}`},
		{opts.Prefix + "room:room", `{"via":"X","room":"room","kind":"reaction","user":"ann","origin":"newer","emoji":"👍"}`},
		{opts.Prefix + "all", `{"room":"","kind":"typing","user":"bob","origin":"newer"}`},
		{opts.Prefix + "room:room", `{"room":"room","kind":"typing","user":"bob","origin":"newer"}`},
	} {
		if err := raw.Publish(t.Context(), p.channel, p.payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		r    *brokertest.Recorder
		room string
	}{{all, ""}, {room, "room"}} {
		if ev := c.r.Next(t); ev.Kind != broker.KindUnknown || ev.Room != c.room || ev.User != "ann" {
			t.Errorf("got %+v, want an event of unknown kind in %q", ev, c.room)
		}
		if ev := c.r.Next(t); ev.Kind != broker.KindTyping || ev.Room != c.room || ev.User != "bob" {
			t.Errorf("got %+v, want bob typing in %q", ev, c.room)
		}
	}
	if got := b.Stats(); got.DecodeErrors != 0 || got.Received != 4 {
		t.Errorf("stats %+v, want 4 received, no decoding error", got)
	}
}
