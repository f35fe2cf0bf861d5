package wsock

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/testenv"
)

// recorder is a Handler that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	msgs   []string
	closed chan struct{}
}

func newRecorder() *recorder { return &recorder{closed: make(chan struct{})} }

func (r *recorder) Message(_ *Conn, _ bool, data []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(data))
	r.mu.Unlock()
}

func (r *recorder) Closed(*Conn) { close(r.closed) }

func (r *recorder) waitClosed(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(within):
		t.Fatalf("the connection did not end within %v", within)
	}
}

func newTransport(t *testing.T, opt Options) *Transport {
	t.Helper()
	tr, err := NewTransport(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	return tr
}

// servedPair returns a started server connection and the client's end of it,
// over real loopback TCP (the poller needs a file descriptor).
func servedPair(t *testing.T, tr *Transport, h Handler) (*Conn, net.Conn) {
	t.Helper()
	c := tr.NewConn(h)
	return c, start(t, c)
}

func start(t *testing.T, c *Conn) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(server, nil); err != nil {
		t.Fatal(err)
	}
	return client
}

// readText reads the next frame, which must be want.
func readText(t *testing.T, br *bufio.Reader, want string) {
	t.Helper()
	f, err := ws.ReadFrame(br)
	if err != nil || string(f.Payload) != want {
		t.Fatalf("got %q, %v; want %q", f.Payload, err, want)
	}
}

// readClose reads the next frame, which must be a close frame, and
// returns its code and reason.
func readClose(t *testing.T, br *bufio.Reader) (ws.StatusCode, string) {
	t.Helper()
	f, err := ws.ReadFrame(br)
	if err != nil || f.Header.OpCode != ws.OpClose {
		t.Fatalf("got %v %v; want the close frame", f.Header, err)
	}
	return ws.ParseCloseFrameData(f.Payload)
}

func masked(f ws.Frame) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrame(f))
	return b.Bytes()
}

// Frames queued before Start are written once it starts, in order.
func TestQueuedBeforeStartAreWrittenInOrder(t *testing.T) {
	tr := newTransport(t, Options{})
	c := tr.NewConn(newRecorder())
	for _, s := range []string{"one", "two", "three"} {
		if c.Queue(Text([]byte(s))) {
			t.Fatal("a connection not started asked to be woken")
		}
	}
	client := start(t, c)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	for _, want := range []string{"one", "two", "three"} {
		readText(t, br, want)
	}
}

// The queue is bounded in bytes as well as in frames: past either the
// connection ends, and what it held is let go.
func TestQueueIsBoundedInBytesAndFrames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limits Limits
		frame  int // payload bytes
		fits   int // frames that fit
	}{
		{"bytes", Limits{QueueFrames: 1000, QueueBytes: 10_000}, 3000, 3},
		{"frames", Limits{QueueFrames: 4, QueueBytes: 1 << 20}, 10, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cuts []Cause
			tr := newTransport(t, Options{Limits: tc.limits, OnCut: func(c Cause) { cuts = append(cuts, c) }})
			rec := newRecorder()
			c := tr.NewConn(rec) // not started: nothing drains the queue
			payload := Text(make([]byte, tc.frame))
			for i := range tc.fits {
				if c.Queue(payload) {
					t.Fatalf("frame %d: asked to be woken", i+1)
				}
			}
			if !c.Queue(payload) {
				t.Fatal("the overflowing frame did not ask for a wake")
			}
			if c.queue != nil || c.queued != 0 {
				t.Fatalf("the overflowing queue still holds %d frames, %d bytes", len(c.queue), c.queued)
			}
			c.Wake()
			rec.waitClosed(t, time.Second)
			if len(cuts) != 1 || cuts[0] != CauseSlow {
				t.Fatalf("cuts %v; want one slow", cuts)
			}
			if c.Queue(payload) {
				t.Fatal("an ended connection took a frame")
			}
		})
	}
}

// A writer blocked on a peer that reads nothing gives up after WriteWait,
// though the queue never overflows.
func TestStuckWriterGivesUp(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{WriteWait: 300 * time.Millisecond},
		Limits: Limits{QueueFrames: 1 << 20, QueueBytes: 1 << 30}})
	rec := newRecorder()
	c, _ := servedPair(t, tr, rec) // the client never reads
	big := Text(make([]byte, 1<<20))
	for range 64 { // more than the kernel's buffers hold on loopback
		c.Send(big)
	}
	rec.waitClosed(t, 10*time.Second)
	if !c.ended() {
		t.Fatal("not ended")
	}
}

// Pings go to silent peers; only a pong that echoes the ping counts as a
// sign of life, so a client that sends pongs unasked and reads nothing is
// dropped all the same. Time is the test's: the sweeper runs when the
// clock is moved past its next run.
func TestOnlyAnsweredPingsKeepAPeer(t *testing.T) {
	var mu sync.Mutex
	var cuts []Cause
	clk := testenv.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	tr := newTransport(t, Options{Clock: clk, Timings: Timings{PingAfter: 30 * time.Second, DropAfter: 50 * time.Second},
		OnCut: func(c Cause) { mu.Lock(); cuts = append(cuts, c); mu.Unlock() }})
	// sweepAt moves the clock to the sweep due at, which runs then.
	sweepAt := func(at time.Time) {
		t.Helper()
		clk.WaitTimer(t, at)
		clk.Advance(at.Sub(clk.Now()))
	}
	start := clk.Now()

	// A peer that answers every ping, and one that sends pongs unasked.
	answering := newRecorder()
	answerer, client := servedPair(t, tr, answering)
	br := bufio.NewReader(client)
	faking := newRecorder()
	_, client2 := servedPair(t, tr, faking)
	br2 := bufio.NewReader(client2)
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	_ = client2.SetDeadline(time.Now().Add(10 * time.Second))

	sweepAt(start.Add(10 * time.Second)) // silent 10 s: nothing
	sweepAt(start.Add(20 * time.Second))
	sweepAt(start.Add(30 * time.Second)) // silent 30 s: pinged
	for _, c := range []struct {
		conn net.Conn
		br   *bufio.Reader
		pong []byte
	}{{client, br, nil}, {client2, br2, []byte("alive")}} {
		f, err := ws.ReadFrame(c.br)
		if err != nil || f.Header.OpCode != ws.OpPing || len(f.Payload) != 8 {
			t.Fatalf("got %v %q %v; want a ping with a nonce", f.Header, f.Payload, err)
		}
		if c.pong != nil { // a pong of its own, which shows nothing
			if _, err := c.conn.Write(masked(ws.NewPongFrame(c.pong))); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := c.conn.Write(masked(ws.NewPongFrame(f.Payload))); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 5*time.Second, "the answer to be read", func() bool { return answerer.pinged.Load() == 0 })
	}
	sweepAt(start.Add(40 * time.Second))
	sweepAt(start.Add(50 * time.Second)) // the faker, silent 50 s (its ping says so): dropped
	faking.waitClosed(t, 5*time.Second)
	select {
	case <-answering.closed:
		t.Fatal("a peer that answered its ping was dropped")
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cuts) != 1 || cuts[0] != CauseSilent {
		t.Fatalf("cuts %v; want one ping timeout", cuts)
	}
}

// Close writes what is queued, then the close frame, and ends when the
// peer answers; the peer's messages after it are dropped.
func TestCloseFlushesThenHandshakes(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{CloseWait: 5 * time.Second}})
	rec := newRecorder()
	c, client := servedPair(t, tr, rec)
	c.Send(Text([]byte("last words")))
	c.Close(StatusGoingAway, "bye")
	if c.Queue(Text([]byte("too late"))) || !c.Closing() {
		t.Fatal("a closing connection took a frame")
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	readText(t, br, "last words")
	if code, reason := readClose(t, br); code != StatusGoingAway || reason != "bye" {
		t.Fatalf("close %d %q", code, reason)
	}
	select {
	case <-rec.closed:
		t.Fatal("ended before the peer answered")
	default:
	}
	// A message the peer sent before it saw the close is dropped.
	if _, err := client.Write(masked(ws.NewTextFrame([]byte("ignored")))); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Write(masked(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "")))); err != nil {
		t.Fatal(err)
	}
	rec.waitClosed(t, 2*time.Second)
	if len(rec.msgs) != 0 {
		t.Fatalf("messages after the close were handled: %q", rec.msgs)
	}
}

// The peer's close is answered with its code, after what was queued, and
// the connection ends; a silent peer after our close is cut after
// CloseWait.
func TestPeerCloseAndCloseWait(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{CloseWait: 200 * time.Millisecond}})
	rec := newRecorder()
	_, client := servedPair(t, tr, rec)
	if _, err := client.Write(masked(ws.NewCloseFrame(ws.NewCloseFrameBody(4001, "mine")))); err != nil {
		t.Fatal(err)
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	if code, _ := readClose(t, bufio.NewReader(client)); code != 4001 {
		t.Fatalf("answered with %d", code)
	}
	rec.waitClosed(t, 2*time.Second)

	rec2 := newRecorder()
	c2, _ := servedPair(t, tr, rec2) // never answers
	c2.Close(StatusNormal, "")
	rec2.waitClosed(t, 2*time.Second)
}

// A message too big is refused with 1009 before its payload is read, and
// what the peer still sends is read and dropped so that the close frame
// is not lost to a reset.
func TestBreachClosesWithItsCode(t *testing.T) {
	tr := newTransport(t, Options{Limits: Limits{MaxMessage: 1000}, Timings: Timings{CloseWait: time.Second}})
	rec := newRecorder()
	_, client := servedPair(t, tr, rec)
	if _, err := client.Write(masked(ws.NewTextFrame([]byte(strings.Repeat("x", 5000))))); err != nil {
		t.Fatal(err)
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	if code, _ := readClose(t, br); code != StatusMessageTooBig {
		t.Fatalf("closed with %d", code)
	}
	// The write side is shut: the stream ends after the close frame.
	if _, err := ws.ReadFrame(br); err == nil {
		t.Fatal("a frame after the close frame")
	}
	rec.waitClosed(t, 3*time.Second)
}

// A connection closed before it started (a socket revoked while its
// upgrade was answered) writes what was queued, then its close frame,
// once started, and ends when the peer answers: the client learns the
// code instead of seeing the connection dropped.
func TestCloseBeforeStart(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{CloseWait: 5 * time.Second}})
	rec := newRecorder()
	c := tr.NewConn(rec)
	c.Queue(Text([]byte("welcome")))
	c.Close(4401, "credentials revoked")
	if c.Queue(Text([]byte("too late"))) {
		t.Fatal("a connection closed before it started asked to be woken")
	}
	select {
	case <-rec.closed:
		t.Fatal("closed before it started, it ended at once")
	default:
	}
	client := start(t, c)
	if !c.Closing() {
		t.Fatal("started after a Close, it is not closing")
	}
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(client)
	readText(t, br, "welcome") // what was queued before the close
	if code, reason := readClose(t, br); code != 4401 || reason != "credentials revoked" {
		t.Fatalf("close %d %q", code, reason)
	}
	if _, err := client.Write(masked(ws.NewCloseFrame(ws.NewCloseFrameBody(4401, "")))); err != nil {
		t.Fatal(err)
	}
	rec.waitClosed(t, 2*time.Second)
}

// A connection closed before it started, and never started, ends after
// CloseWait.
func TestCloseBeforeStartNeverStarted(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{CloseWait: 50 * time.Millisecond}})
	rec := newRecorder()
	c := tr.NewConn(rec)
	c.Close(StatusGoingAway, "bye")
	rec.waitClosed(t, 2*time.Second)
	if tr.Stats().Conns != 0 {
		t.Fatalf("the transport counts %d connections", tr.Stats().Conns)
	}
}

// Abort ends a connection that never started, and Start after it fails.
func TestAbortBeforeStart(t *testing.T) {
	tr := newTransport(t, Options{})
	rec := newRecorder()
	c := tr.NewConn(rec)
	c.Abort()
	rec.waitClosed(t, time.Second)
	a, b := net.Pipe()
	defer b.Close()
	if err := c.Start(a, nil); err == nil {
		t.Fatal("Start after Abort succeeded")
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("Start left its connection open: %v", err)
	}
	if tr.Stats().Conns != 0 {
		t.Fatalf("the transport counts %d connections", tr.Stats().Conns)
	}
}

// WaitWritten returns once what was queued before it is written, and when
// the connection ends instead.
func TestWaitWritten(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{WriteWait: 300 * time.Millisecond},
		Limits: Limits{QueueFrames: 1 << 20, QueueBytes: 1 << 30}})
	rec := newRecorder()
	c, client := servedPair(t, tr, rec)
	c.Send(Text([]byte("small")))
	c.WaitWritten()
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	readText(t, bufio.NewReader(client), "small")
	// The client stops reading: the wait ends when the stuck write does.
	for range 64 {
		c.Send(Text(make([]byte, 1<<20)))
	}
	done := make(chan struct{})
	go func() { c.WaitWritten(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WaitWritten did not return when the connection ended")
	}
	rec.waitClosed(t, time.Second)
}

// A frame that arrives in pieces is read whole, however long the pauses
// between them within FrameWait; a client that begins a frame and stops
// is cut once FrameWait has passed.
func TestFrameInPieces(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{FrameWait: 500 * time.Millisecond}})
	rec := newRecorder()
	_, client := servedPair(t, tr, rec)
	frame := masked(ws.NewTextFrame([]byte(strings.Repeat("piece", 2000))))
	for i := 0; i < len(frame); i += 3000 {
		if _, err := client.Write(frame[i:min(i+3000, len(frame))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the reader waits within its turn
	}
	testenv.Eventually(t, 5*time.Second, "the message", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.msgs) == 1 && rec.msgs[0] == strings.Repeat("piece", 2000)
	})

	if _, err := client.Write(frame[:100]); err != nil {
		t.Fatal(err)
	}
	rec.waitClosed(t, 5*time.Second)
}

// A peer slow to read gets every frame, whole and in order, once it
// reads: the writer waits for room rather than failing.
func TestSlowReaderGetsEverything(t *testing.T) {
	tr := newTransport(t, Options{Limits: Limits{QueueFrames: 1 << 10, QueueBytes: 1 << 30}})
	rec := newRecorder()
	c, client := servedPair(t, tr, rec)
	const n = 200
	for i := range n {
		c.Send(Text([]byte(strings.Repeat(string(rune('a'+i%26)), 40<<10))))
	}
	time.Sleep(200 * time.Millisecond) // the kernel's buffers fill up
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(client)
	for i := range n {
		readText(t, br, strings.Repeat(string(rune('a'+i%26)), 40<<10))
	}
	if c.Closing() {
		t.Fatal("the connection ended")
	}
}

// Pings go out a batch at a time, and every silent peer gets its own.
func TestPingsInBatches(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	tr := newTransport(t, Options{Clock: clk, Timings: Timings{PingAfter: 30 * time.Second, DropAfter: 50 * time.Second}})
	tr.pingBatch = 2
	var clients []net.Conn
	for range 5 {
		_, client := servedPair(t, tr, newRecorder())
		clients = append(clients, client)
	}
	start := clk.Now()
	for _, at := range []time.Duration{10, 20, 30} {
		clk.WaitTimer(t, start.Add(at*time.Second))
		clk.Advance(start.Add(at * time.Second).Sub(clk.Now()))
	}
	for i, client := range clients {
		_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := ws.ReadFrame(bufio.NewReader(client))
		if err != nil || f.Header.OpCode != ws.OpPing || len(f.Payload) != 8 {
			t.Fatalf("peer %d: got %v %v; want its ping", i, f.Header, err)
		}
	}
}
