package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
)

// load runs the tool with args and returns the JSON line it printed.
func load(t *testing.T, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append(args, "--progress=0"), &stdout, &stderr)
	if err != nil {
		t.Fatalf("parley-load %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one JSON line, got %q", stdout.String())
	}
	var res Result
	if err := json.Unmarshal([]byte(lines[0]), &res); err != nil {
		t.Fatalf("JSON line %q: %v", lines[0], err)
	}
	t.Logf("summary:\n%s", stderr.String())
	return res
}

func startParley(t *testing.T) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off", "--history-limit=off", "--signup-limit=off", "--room-create-limit=off", "--user-sockets=0"}})
}

// TestUserStreamsCount: beside a fan-out, user streams of members of
// every room who never read count each message once; their accounts
// span two source addresses (more than accountsPerAddr).
func TestUserStreamsCount(t *testing.T) {
	s := startParley(t)
	const streams = accountsPerAddr + 15
	res := load(t, "--url", s.URL, "--sockets=4", "--rooms=2", "--publishers=4", "--rate=50", "--messages=10",
		"--duration=10s", "--drain=20s", "--users=2", fmt.Sprint("--streams=", streams), "--check")
	st := res.Streams
	if st == nil {
		t.Fatal("no user_streams in the result")
	}
	if st.Streams != streams || st.Wrong != 0 || st.Closed != 0 {
		t.Errorf("streams %d, wrong %d, closed %d; want %d, 0, 0", st.Streams, st.Wrong, st.Closed, streams)
	}
	// Each stream hears of both rooms at least once, and of no message
	// more than once.
	if st.Frames < 2*streams || st.Frames > int64(streams)*res.Sent {
		t.Errorf("%d frames for %d streams and %d messages: want %d to %d", st.Frames, streams, res.Sent, 2*streams, int64(streams)*res.Sent)
	}
	if st.FramesPerMsg != float64(st.Frames)/float64(res.Sent) {
		t.Errorf("frames a message %v; want %v", st.FramesPerMsg, float64(st.Frames)/float64(res.Sent))
	}
}

func TestFanoutCountsEveryDelivery(t *testing.T) {
	s := startParley(t)
	for _, proto := range []string{"parley", "original"} {
		t.Run(proto, func(t *testing.T) {
			// Two rooms of ten sockets, two publishers each, ten messages
			// each: 2 × 10 × 10 deliveries a room.
			res := load(t, "--url", s.URL, "--proto", proto, "--sockets=20", "--rooms=2", "--publishers=4",
				"--rate=50", "--messages=10", "--duration=10s", "--drain=20s", "--users=2",
				fmt.Sprint("--pid=", os.Getpid()))
			if res.Scheduled != 40 || res.Sent != 40 || res.Unsent != 0 {
				t.Errorf("scheduled %d, sent %d, unsent %d; want 40, 40, 0", res.Scheduled, res.Sent, res.Unsent)
			}
			if res.Expected != 400 || res.Delivered != 400 || res.Lost != 0 || res.Duplicates != 0 {
				t.Errorf("expected %d, delivered %d, lost %d, duplicates %d; want 400, 400, 0, 0",
					res.Expected, res.Delivered, res.Lost, res.Duplicates)
			}
			if res.Errors != 0 || res.Disconnects != 0 {
				t.Errorf("errors %d, disconnects %d; want none", res.Errors, res.Disconnects)
			}
			l := res.Latency
			if l == nil || l.Count != 400 || l.Min <= 0 || l.Max > 20_000_000 || l.P50 > l.P99 {
				t.Errorf("latency %+v: want 400 values, all above 0 and below 20s", l)
			}
			if res.Server == nil || res.Server.RSSPeakKiB <= 0 || res.Load == nil {
				t.Errorf("no /proc samples: server %+v, load %+v", res.Server, res.Load)
			}
			if res.DelivPerS <= 0 || res.OfferedPerS != 2000 {
				t.Errorf("deliveries/s %v, offered %v; want > 0 and 2000", res.DelivPerS, res.OfferedPerS)
			}
		})
	}
}

// lossyServer is a plain broadcast chat server, like the gorilla/websocket
// example, that drops every dropEvery-th broadcast and sends every
// dupEvery-th one twice.
type lossyServer struct {
	want                int // sockets to wait for before broadcasting
	dropEvery, dupEvery int

	mu      sync.Mutex
	clients []*websocket.Conn
	full    chan struct{}
	n       int
}

func (s *lossyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	s.clients = append(s.clients, c)
	if len(s.clients) == s.want {
		close(s.full)
	}
	s.mu.Unlock()
	for {
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		select {
		case <-s.full:
		case <-time.After(10 * time.Second):
			return
		}
		s.mu.Lock()
		s.n++
		times := 1
		if s.dropEvery > 0 && s.n%s.dropEvery == 0 {
			times = 0
		}
		if s.dupEvery > 0 && s.n%s.dupEvery == 0 {
			times = 2
		}
		for range times {
			for _, o := range s.clients {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = o.Write(ctx, websocket.MessageText, data)
				cancel()
			}
		}
		s.mu.Unlock()
	}
}

// TestReactionStorm: reactions added and removed in turn reach every
// parley.v1 socket of the room, each once, as change frames.
func TestReactionStorm(t *testing.T) {
	s := startParley(t)
	res := load(t, "--scenario=reaction-storm", "--url", s.URL, "--sockets=20", "--publishers=3", "--users=3",
		"--rate=40", "--messages=12", "--duration=10s", "--drain=20s", fmt.Sprint("--pid=", os.Getpid()))
	if res.Send != "reactions" || res.Sent != 36 || res.Expected != 36*20 {
		t.Fatalf("send %q, sent %d, expected %d; want reactions, 36, 720", res.Send, res.Sent, res.Expected)
	}
	if res.Delivered != res.Expected || res.Lost != 0 || res.Duplicates != 0 || res.Errors != 0 || res.Disconnects != 0 {
		t.Errorf("delivered %d, lost %d, duplicates %d, errors %d, disconnects %d; want every change once",
			res.Delivered, res.Lost, res.Duplicates, res.Errors, res.Disconnects)
	}
	if l := res.Latency; l == nil || l.Count != res.Expected {
		t.Errorf("latency %+v", l)
	}
	// Every reaction was a change of the room's log: 36 after its message.
	var page struct{ Changes []json.RawMessage }
	tok := s.User(t, "checker")
	var rooms struct{ Rooms []struct{ Name string } }
	apptest.Do(t, "GET", s.URL+"/api/v1/rooms?q=load-"+res.Run, tok, nil, &rooms)
	if len(rooms.Rooms) != 1 {
		t.Fatalf("rooms of the run: %+v", rooms.Rooms)
	}
	apptest.Do(t, "GET", s.URL+"/api/v1/rooms/"+rooms.Rooms[0].Name+"/messages?after=1&limit=100", tok, nil, &page)
	if len(page.Changes) != 36 {
		t.Errorf("%d changes in the room's log, want 36", len(page.Changes))
	}

	var stderr bytes.Buffer
	for _, args := range [][]string{
		{"--scenario=reaction-storm", "--proto=original"},
		{"--scenario=reaction-storm", "--users=2", "--publishers=3"},
		{"--send=shouting"},
	} {
		if _, err := parseConfig(args, &stderr); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestLossAndDuplicatesAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name                string
		dropEvery, dupEvery int
		lost, dups          int64
	}{
		// 30 messages to 4 sockets: broadcasts 10, 20, 30 dropped.
		{"drop every 10th", 10, 0, 3 * 4, 0},
		// broadcasts 7, 14, 21, 28 sent twice.
		{"duplicate every 7th", 0, 7, 0, 4 * 4},
		{"none", 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &lossyServer{want: 4, dropEvery: tc.dropEvery, dupEvery: tc.dupEvery, full: make(chan struct{})}
			ts := httptest.NewServer(srv)
			t.Cleanup(ts.Close)
			res := load(t, "--url", ts.URL, "--proto=plain", "--sockets=4", "--publishers=1",
				"--rate=200", "--messages=30", "--duration=5s", "--drain=2s")
			if res.Sent != 30 || res.Expected != 120 {
				t.Fatalf("sent %d, expected %d; want 30, 120", res.Sent, res.Expected)
			}
			if res.Lost != tc.lost || res.Duplicates != tc.dups || res.Delivered != 120-tc.lost {
				t.Errorf("lost %d, duplicates %d, delivered %d; want %d, %d, %d",
					res.Lost, res.Duplicates, res.Delivered, tc.lost, tc.dups, 120-tc.lost)
			}
			if err := res.check(); (err != nil) != (tc.lost+tc.dups > 0) {
				t.Errorf("--check: %v", err)
			}
		})
	}
}

func TestIdlePersistenceHistory(t *testing.T) {
	s := startParley(t)
	pid := fmt.Sprint("--pid=", os.Getpid())

	idle := load(t, "--scenario=idle", "--url", s.URL, "--sockets=30", "--rooms=3", "--users=2", "--hold=100ms", pid)
	if idle.Idle == nil || idle.Idle.Held != 30 || idle.Connect.Sockets != 30 || idle.Connect.PerS <= 0 {
		t.Errorf("idle: %+v, connect %+v; want 30 held", idle.Idle, idle.Connect)
	}

	streams := load(t, "--scenario=idle-streams", "--url", s.URL, "--streams=12", "--rooms=2", "--users=3", "--hold=100ms", pid)
	if streams.Idle == nil || streams.Idle.Held != 12 || streams.Connect.Sockets != 12 || streams.Sockets != 12 {
		t.Errorf("idle streams: %+v, connect %+v; want 12 held", streams.Idle, streams.Connect)
	}

	per := load(t, "--scenario=persistence", "--url", s.URL, "--sockets=4", "--rooms=4", "--window=4",
		"--duration=1s", "--users=2", pid)
	if per.Sent == 0 || per.Delivered != per.Sent || per.Stored != per.Sent || per.Lost != 0 || per.Errors != 0 {
		t.Errorf("persistence: sent %d, acknowledged %d, stored %d, lost %d, errors %d; want all stored",
			per.Sent, per.Delivered, per.Stored, per.Lost, per.Errors)
	}
	if per.MsgsPerS <= 0 || per.Latency == nil || per.Latency.Count != per.Delivered {
		t.Errorf("persistence: %v msgs/s, latency %+v", per.MsgsPerS, per.Latency)
	}

	tok := s.User(t, "filler")
	c := s.Dial(t, "history", apptest.DialOptions{Token: tok})
	for i := range 30 {
		c.Post(fmt.Sprint("message ", i), fmt.Sprint("f", i))
	}
	for _, fetch := range []string{"latest", "before", "after"} {
		h := load(t, "--scenario=history", "--url", s.URL, "--room=history", "--fetch", fetch, "--limit=5",
			"--sockets=2", "--duration=300ms", pid)
		if h.Fetches == 0 || h.Errors != 0 || h.Latency == nil || h.Latency.Count != h.Fetches {
			t.Errorf("history %s: %d fetches, %d errors, latency %+v", fetch, h.Fetches, h.Errors, h.Latency)
		}
	}
}

func TestOnlyLoopback(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8000", true},
		{"http://127.1.2.3:8000", true},
		{"ws://localhost:8000", true},
		{"http://[::1]:8000", true},
		{"http://10.0.0.1:8000", false},
		{"http://192.168.1.10", false},
		{"http://example.com", false},
		{"https://127.0.0.1", false},
		{"http://0.0.0.0:8000", false},
	} {
		if err := checkLoopback(tc.url); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tc.url, err, tc.ok)
		}
	}
	var stderr bytes.Buffer
	if _, err := parseConfig([]string{"--url", "http://10.1.1.1:80"}, &stderr); err == nil {
		t.Error("a non-loopback --url was accepted")
	}
	if _, err := parseConfig([]string{"--scenario=cross-process", "--recv-url", "http://172.16.0.1"}, &stderr); err == nil {
		t.Error("a non-loopback --recv-url was accepted")
	}
}

func TestMarkers(t *testing.T) {
	var frame []byte
	frame = append(frame, `{"command":"messages","messages":[{"content":"`...)
	frame = appendContent(frame, "abc123", 3, 17, 1500*time.Millisecond, 64)
	frame = append(frame, `"},{"content":"~Labc123.9.x~"},{"content":"~Lzzzzzz.1.2.3~"},{"content":"`...)
	frame = appendContent(frame, "abc123", 0, 0, 0, 40)
	frame = append(frame, `"}]}`...)
	var got []marker
	scanMarkers(frame, markerPrefix("abc123"), func(m marker) { got = append(got, m) })
	want := []marker{{pub: 3, n: 17, due: 1500 * time.Millisecond}, {pub: 0, n: 0, due: 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("markers %v, want %v", got, want)
	}
	if c := appendContent(nil, "abc123", 1, 2, 3, 64); len(c) != 64 {
		t.Errorf("content is %d bytes, want 64", len(c))
	}
}

func TestPresetsAndFlags(t *testing.T) {
	var stderr bytes.Buffer
	c, err := parseConfig([]string{"--scenario=hot-room", "--sockets=50"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.Sockets != 50 || c.Publishers != 4 || c.Rate != 10 || c.Messages != 300 {
		t.Errorf("hot-room with --sockets=50: %+v", c)
	}
	if _, err := parseConfig([]string{"--scenario=nope"}, &stderr); err == nil {
		t.Error("an unknown scenario was accepted")
	}
	// The port a test server listens on is loopback too.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := checkLoopback("http://" + ln.Addr().String()); err != nil {
		t.Error(err)
	}
}
