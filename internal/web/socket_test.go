package web_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/apptest"
	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/hub"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
	"parley/internal/web"
	"parley/internal/wsock"
)

// timedServer is a real Parley server with short socket timings, and a
// bearer token of one of its users.
func timedServer(t *testing.T, timing wsock.Timings) (addr, token string) {
	t.Helper()
	return testServer(t, wsock.Options{Timings: timing})
}

// testServer is a real Parley server whose transport has the options
// given, and a bearer token of one of its users.
func testServer(t *testing.T, to wsock.Options) (addr, token string) {
	t.Helper()
	st := storetest.SQLite(t)
	b := broker.NewInProcess()
	h := hub.New(hub.Options{Broker: b, History: st, Wire: wsock.Text})
	t.Cleanup(h.Close)
	tr, err := wsock.NewTransport(to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	s, err := web.New(web.Options{Store: st, Hub: h, Broker: b, Transport: tr,
		Password: auth.Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	cred := `{"username":"timer","password":"a long enough password"}`
	for _, path := range []string{"/api/v1/signup", "/api/v1/tokens"} {
		resp, err := http.Post(hs.URL+path, "application/json", strings.NewReader(cred))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %s", path, resp.Status)
		}
		token = body.Token
	}
	return strings.TrimPrefix(hs.URL, "http://"), token
}

func rawDial(t *testing.T, addr, token string) (net.Conn, *bufio.Reader) {
	return apptest.RawDial(t, addr, "timing", token, nil)
}

var masked = apptest.Masked

// endOfStream reads until the server ends the connection, and fails if it
// does not within 10 s.
func endOfStream(t *testing.T, br *bufio.Reader) {
	t.Helper()
	for {
		if _, err := ws.ReadFrame(br); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept the connection open")
			}
			return
		}
	}
}

// sweeps is a transport's clock in a test: the sweeper, which pings
// silent sockets and drops dead ones, runs every 10 s of it.
type sweeps struct {
	t     *testing.T
	clock *testenv.Clock
	start time.Time
}

// started waits until the server serves the socket: a request answered.
// The sweeps run after it, or the socket may start after them.
func started(t *testing.T, conn net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := conn.Write(masked(ws.NewTextFrame([]byte(`{"command":"fetch_messages"}`)))); err != nil {
		t.Fatal(err)
	}
	if f, err := ws.ReadFrame(br); err != nil || !bytes.Contains(f.Payload, []byte(`"command":"messages"`)) {
		t.Fatalf("got %s %v", f.Payload, err)
	}
}

func newSweeps(t *testing.T) (*sweeps, wsock.Timings) {
	clk := testenv.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	return &sweeps{t: t, clock: clk, start: clk.Now()},
		wsock.Timings{PingAfter: 30 * time.Second, DropAfter: 50 * time.Second}
}

// at moves the clock to the sweep due at after (counted from the start),
// which runs then.
func (s *sweeps) at(after time.Duration) {
	s.t.Helper()
	at := s.start.Add(after)
	s.clock.WaitTimer(s.t, at)
	s.clock.Advance(at.Sub(s.clock.Now()))
}

func TestSilentSocketIsPingedThenDropped(t *testing.T) {
	sw, timing := newSweeps(t)
	addr, token := testServer(t, wsock.Options{Timings: timing, Clock: sw.clock})
	conn, br := rawDial(t, addr, token)
	started(t, conn, br)
	for _, after := range []time.Duration{10, 20, 30} {
		sw.at(after * time.Second)
	}
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpPing {
		t.Fatalf("got %v %v, want a ping", f.Header, err)
	}
	sw.at(40 * time.Second)
	sw.at(50 * time.Second)
	endOfStream(t, br) // never answered
}

func TestAnsweredPingsKeepTheSocket(t *testing.T) {
	sw, timing := newSweeps(t)
	addr, token := testServer(t, wsock.Options{Timings: timing, Clock: sw.clock})
	conn, br := rawDial(t, addr, token)
	started(t, conn, br)
	// Sweeps every 10 s for 3 minutes: pinged after every 30 s of silence,
	// answered each time.
	for after := 10 * time.Second; after <= 3*time.Minute; after += 10 * time.Second {
		sw.at(after)
		if after%(30*time.Second) != 0 {
			continue
		}
		f, err := ws.ReadFrame(br)
		if err != nil || f.Header.OpCode != ws.OpPing {
			t.Fatalf("after %v: got %v %v; want a ping", after, f.Header, err)
		}
		// The answer, then a request whose answer says the server read it.
		_, err = conn.Write(append(masked(ws.NewPongFrame(f.Payload)),
			masked(ws.NewTextFrame([]byte(`{"command":"fetch_messages"}`)))...))
		if err != nil {
			t.Fatal(err)
		}
		if f, err := ws.ReadFrame(br); err != nil || !bytes.Contains(f.Payload, []byte(`"command":"messages"`)) {
			t.Fatalf("after %v: got %s %v", after, f.Payload, err)
		}
	}
}

func TestStalledFrameIsCut(t *testing.T) {
	addr, token := timedServer(t, wsock.Timings{FrameWait: 200 * time.Millisecond})
	conn, br := rawDial(t, addr, token)
	// A masked text frame announcing 100 bytes, of which 10 come.
	head := []byte{0x81, 0x80 | 100, 1, 2, 3, 4}
	if _, err := conn.Write(append(head, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	endOfStream(t, br)
	// And a complete frame on another socket is read as usual.
	conn2, br2 := rawDial(t, addr, token)
	if _, err := conn2.Write(masked(ws.NewTextFrame([]byte(`{"command":"fetch_messages"}`)))); err != nil {
		t.Fatal(err)
	}
	if f, err := ws.ReadFrame(br2); err != nil || !bytes.Contains(f.Payload, []byte(`"messages"`)) {
		t.Fatalf("got %s, %v", f.Payload, err)
	}
}

// A socket that stops reading is dropped once its queue overflows, and
// the room goes on for the others: its sender is answered throughout.
func TestSlowSocketIsDroppedAndTheRoomGoesOn(t *testing.T) {
	addr, token := testServer(t, wsock.Options{Limits: wsock.Limits{QueueFrames: 64}}) // above the 16 one socket may have in flight
	slowConn, slow := rawDial(t, addr, token)
	conn, br := rawDial(t, addr, token)
	const n = 4000 // 16 MB: more than the kernel buffers between the server and slow
	content := strings.Repeat("x", 3900)
	acks := make(chan error, 1)
	window := make(chan struct{}, 32) // the sender keeps up with its own messages
	go func() {
		got := 0
		for got < n {
			f, err := ws.ReadFrame(br)
			if err != nil {
				acks <- fmt.Errorf("after %d of its messages back: %w", got, err)
				return
			}
			if bytes.Contains(f.Payload, []byte(`"command":"new_message"`)) {
				got++
				<-window
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			}
		}
		acks <- nil
	}()
	for i := range n {
		select {
		case window <- struct{}{}:
		case err := <-acks:
			t.Fatal(err)
		}
		frame := masked(ws.NewTextFrame([]byte(`{"command":"new_message","message":"` + content + `","client_id":"s` + strconv.Itoa(i) + `"}`)))
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write(frame); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := <-acks; err != nil {
		t.Fatal(err)
	}
	// What the slow socket was sent before it was dropped, then its end
	// (within 10 s from now: the sending took what it took).
	_ = slowConn.SetReadDeadline(time.Now().Add(10 * time.Second))
	endOfStream(t, slow)
}
