package redisbroker_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/broker/brokertest"
	"parley/internal/broker/redisbroker"
	"parley/internal/testsvc"
)

// logWatch is a slog.Handler that passes each record's message on a
// channel, so that a test can wait for the broker to notice something.
type logWatch chan string

func (w logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (w logWatch) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w logWatch) WithGroup(string) slog.Handler            { return w }
func (w logWatch) Handle(_ context.Context, r slog.Record) error {
	select {
	case w <- r.Message:
	default:
	}
	return nil
}

// waitLog waits for a log message that starts with prefix.
func (w logWatch) waitLog(t testing.TB, prefix string) {
	t.Helper()
	deadline := time.After(brokertest.Wait)
	for {
		select {
		case m := <-w:
			if strings.HasPrefix(m, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q within %v", prefix, brokertest.Wait)
		}
	}
}

// subscribeRooms subscribes b to n rooms and to the process-wide events
// (room "") and returns their recorders.
func subscribeRooms(t *testing.T, b broker.Broker, n int) map[string]*brokertest.Recorder {
	t.Helper()
	recs := make(map[string]*brokertest.Recorder)
	for i := range n + 1 {
		room := "room-" + strconv.Itoa(i)
		if i == n {
			room = ""
		}
		recs[room] = brokertest.NewRecorder(10)
		if err := b.Subscribe(t.Context(), room, recs[room]); err != nil {
			t.Fatalf("Subscribe(%q): %v", room, err)
		}
	}
	return recs
}

// checkDelivery publishes one event to each room on a and waits for it on
// its recorder.
func checkDelivery(t *testing.T, a broker.Broker, recs map[string]*brokertest.Recorder, user string) {
	t.Helper()
	for room, r := range recs {
		if err := a.Publish(t.Context(), broker.Event{Room: room, Kind: broker.KindTyping, User: user}); err != nil {
			t.Fatalf("Publish to %q: %v", room, err)
		}
		if ev := r.Next(t); ev.Room != room || ev.User != user {
			t.Fatalf("room %q got %+v, want typing of %q", room, ev, user)
		}
	}
}

// waitMissed waits for Missed on every room's recorder.
func waitMissed(t *testing.T, recs map[string]*brokertest.Recorder) {
	t.Helper()
	for room, r := range recs {
		if got := r.NextMissed(t); got != room {
			t.Fatalf("Missed(%q) on the handler of %q", got, room)
		}
	}
}

func TestRedisServerRestart(t *testing.T) {
	srv := testsvc.StartRedis(t)
	a, b := openPair(t, srv.URL, redisbroker.Options{PingInterval: 500 * time.Millisecond, Timeout: time.Second})
	recs := subscribeRooms(t, b, 5)
	checkDelivery(t, a, recs, "before")

	srv.Kill()

	ctx, cancel := context.WithTimeout(t.Context(), brokertest.Wait)
	defer cancel()
	// A publish with Redis down returns at once, and the event is counted
	// as not sent within the broker's timeout (and a retry's).
	start := time.Now()
	if err := a.Publish(ctx, broker.Event{Room: "room-0", Kind: broker.KindTyping, User: "down"}); err != nil {
		t.Fatalf("Publish with Redis down: %v", err)
	}
	for a.Failed() == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("the publish with Redis down not counted as failed after %v", time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the publish with Redis down failed after %v", time.Since(start).Round(time.Millisecond))
	if err := a.Ping(ctx); err == nil {
		t.Error("Ping with Redis down: no error")
	}
	// A room subscribed while Redis is down is not subscribed.
	sctx, scancel := context.WithTimeout(ctx, time.Second)
	err := b.Subscribe(sctx, "while-down", brokertest.NewRecorder(1))
	scancel()
	if err == nil {
		t.Error("Subscribe with Redis down: no error")
	}

	srv.Start()

	waitMissed(t, recs)
	if err := a.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	if err := b.Ping(ctx); err != nil {
		t.Errorf("Ping after restart: %v", err)
	}
	checkDelivery(t, a, recs, "after")
	for _, r := range recs {
		r.NoEvent(t)
		r.NoMissed(t)
	}
	if got := b.Stats().Reconnects; got < 1 {
		t.Errorf("subscriber counted %d reconnects, want at least 1", got)
	}
}

// A server that goes silent without closing the connection is noticed by
// the ping, and the connection is dialled again.
func TestRedisServerSilent(t *testing.T) {
	srv := testsvc.StartRedis(t)
	logs := make(logWatch, 100)
	opts := redisbroker.Options{
		Prefix:       uniquePrefix(),
		Logger:       slog.New(logs),
		PingInterval: 200 * time.Millisecond,
		Timeout:      500 * time.Millisecond,
	}
	a := open(t, srv.URL, opts)
	opts.Logger = nil
	b := open(t, srv.URL, opts)
	recs := subscribeRooms(t, a, 3)
	checkDelivery(t, b, recs, "before")

	srv.Pause()
	logs.waitLog(t, "redis subscriber connection lost")
	srv.Resume()

	waitMissed(t, recs)
	checkDelivery(t, b, recs, "after")
}

// Close returns promptly while Redis is down and the broker is redialling.
func TestRedisCloseWhileDown(t *testing.T) {
	srv := testsvc.StartRedis(t)
	logs := make(logWatch, 100)
	r := open(t, srv.URL, redisbroker.Options{Prefix: uniquePrefix(), Logger: slog.New(logs)})
	if err := r.Subscribe(t.Context(), "room", brokertest.NewRecorder(1)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	logs.waitLog(t, "redis subscriber connection lost")
	before := receivers()
	done := make(chan error)
	go func() { done <- r.Close() }()
	select {
	case <-done:
	case <-time.After(brokertest.Wait):
		t.Fatal("Close did not return")
	}
	if after := receivers(); after != before-1 {
		t.Errorf("receive goroutines: %d before Close, %d after", before, after)
	}
}

func TestNewUnreachable(t *testing.T) {
	port := testsvc.FreePort(t)
	start := time.Now()
	_, err := redisbroker.New(t.Context(), fmt.Sprintf("redis://127.0.0.1:%d/0", port), redisbroker.Options{})
	if err == nil {
		t.Fatal("New with nothing listening: no error")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("New took %v to fail", d)
	}
	want := fmt.Sprintf("redisbroker: cannot reach Redis at 127.0.0.1:%d: ", port)
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want it to start %q", err, want)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, url := range []string{
		"",
		"127.0.0.1:6379",
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/notadb",
		"redis://user:secret@[::1:6379/0",
	} {
		_, err := redisbroker.New(t.Context(), url, redisbroker.Options{})
		if err == nil {
			t.Errorf("New(%q): no error", url)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "redisbroker: bad Redis URL: ") || strings.Contains(msg, "secret") {
			t.Errorf("New(%q): error %q, want one saying the URL is bad, without its password", url, msg)
		}
	}
}
