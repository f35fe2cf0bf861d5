package wsock

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Handler is what a connection hands its messages to.
type Handler interface {
	// Message is one whole message from the client: text, or binary if
	// binary is set. Calls come one at a time, in order, from the
	// connection's read turns; the next frame is not read until it
	// returns, which is how a handler slows a client down.
	Message(c *Conn, binary bool, data []byte)
	// Closed is told once, when the connection has ended (whatever ended
	// it). Nothing is written or read after it.
	Closed(c *Conn)
}

// Conn is one WebSocket connection, server side. It holds no goroutine and
// no buffer while idle: a reader runs when the transport's poller reports
// bytes to read, and a writer while its queue holds frames.
//
// Its life, every step taken under its lock:
//
//	new ──Start──► open ──Close, the peer's close, a breach──► closing ──► ended
//	 │ │             │                                            ▲          ▲
//	 │ │             └── a failed read or write, an overflowing ──┼──────────┤
//	 │ │                 queue, a silent peer, Abort ─────────────┘          │
//	 │ └── Close, then Start ──────────────────────────────────────┘          │
//	 └── Abort (the upgrade failed) ─────────────────────────────────────────┘
//
// In each state:
//
//   - new: frames queue; nothing is written until Start hands it its
//     connection (a socket joins its room before the upgrade is answered).
//     A Close meanwhile is kept: Start then goes to closing, and the close
//     frame follows what was queued (a socket revoked while its upgrade
//     was answered gets its code, not a dropped connection).
//   - open: frames are written as they come, all that is queued with one
//     writev; every write must finish within Timings.WriteWait. Messages
//     go to the Handler.
//   - closing: the close frame is written after what was queued, and
//     nothing is queued after it; messages still arriving are dropped.
//     The peer's close frame, or Timings.CloseWait, ends it.
//   - ended: the connection is closed and out of the poller and the
//     transport; the Handler's Closed runs. Every path ends in end.
type Conn struct {
	t *Transport
	h Handler

	link // the socket, set by Start: link_linux.go, link_other.go
	// lastHeard is when the peer last showed it is alive (unix ns): a
	// message, a ping or close frame, or the pong answering our ping (its
	// payload echoes the ping's nonce). pinged is the nonce of the ping out,
	// unanswered, or 0.
	lastHeard atomic.Int64
	pinged    atomic.Uint64

	// The reader's state: one read turn runs at a time.
	first *bufio.Reader // what the client sent with its handshake
	rd    Reader

	mu     sync.Mutex
	queue  [][]byte
	queued int // bytes in queue
	// added and written count frames since the connection was made: those
	// queued and those the writer wrote. A WaitWritten under way waits on
	// wrote (made for it) until written reaches waitFor.
	added, written uint64
	waitFor        uint64
	wrote          chan struct{}
	// closing: the close frame to write once the queue is empty, whether
	// it is written, and what follows it.
	closeFrame []byte
	state      state
	writer     writer
	cut        bool // the queue overflowed: Wake ends the connection
	closeTaken bool // the writer has it
	closeSent  bool // it is written
	answering  bool // it answers the peer's close: the handshake ends with it
	breached   bool // the peer broke the protocol: shut the write side after it

	// The writer's own: one writer runs at a time. A write gives up at
	// deadline (unix ns).
	deadline int64
}

type state uint8

const (
	stateNew state = iota
	stateOpen
	stateClosing
	stateEnded
)

type writer uint8

const (
	writerIdle    writer = iota
	writerPending        // Queue asked for one; Wake starts it
	writerRunning
)

// Queue appends frame (a whole WebSocket frame: Text, Pong, …) to the
// connection's outgoing queue without blocking, and reports whether Wake
// must be called, once the caller holds no lock: to start a writer, or to
// end a connection whose queue overflowed (Limits.QueueFrames or
// QueueBytes; its client recovers what it missed on reconnect). A frame
// queued on a closing or ended connection is dropped.
func (c *Conn) Queue(frame []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state >= stateClosing || c.cut || c.closeFrame != nil {
		return false // closing, or to close once started
	}
	lim := &c.t.opt.Limits
	if len(c.queue) >= lim.QueueFrames || c.queued+len(frame) > lim.QueueBytes {
		c.cut = true
		c.queue, c.queued = nil, 0
		c.wokeWaiter(true)
		return true
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	c.added++
	if c.state == stateOpen && c.writer == writerIdle {
		c.writer = writerPending
		return true
	}
	return false
}

// Wake does what Queue left to do: it starts the writer, or ends a
// connection whose queue overflowed.
func (c *Conn) Wake() {
	c.mu.Lock()
	cut := c.cut
	start := !cut && c.writer == writerPending
	if start {
		c.writer = writerRunning
	}
	c.mu.Unlock()
	switch {
	case cut:
		c.t.cut(CauseSlow)
		c.end()
	case start:
		go c.writeTurn()
	}
}

// Send queues frame and wakes the connection: for a caller that holds no
// lock.
func (c *Conn) Send(frame []byte) {
	if c.Queue(frame) {
		c.Wake()
	}
}

// WaitWritten waits until every frame queued so far has been written, or
// the connection has ended (a write that stalls ends it after
// Timings.WriteWait): a handler that answers with large frames answers one
// at a time, and a client that does not read stops being read. One
// goroutine at a time may wait (the Handler's, in its read turn).
func (c *Conn) WaitWritten() {
	c.mu.Lock()
	if c.written >= c.added || c.state == stateEnded || c.cut {
		c.mu.Unlock()
		return
	}
	c.waitFor = c.added
	c.wrote = make(chan struct{})
	wrote := c.wrote
	c.mu.Unlock()
	<-wrote
}

// wokeWaiter ends a WaitWritten whose frames are written, or all, when
// the connection ends; c.mu held.
func (c *Conn) wokeWaiter(all bool) {
	if c.wrote != nil && (all || c.written >= c.waitFor) {
		close(c.wrote)
		c.wrote = nil
	}
}

// Start serves the connection nc, upgraded: what was queued is written,
// and its reader is armed (or started at once if the client sent bytes
// with its handshake, which first holds). On error the connection has
// ended.
func (c *Conn) Start(nc net.Conn, first *bufio.Reader) error {
	c.mu.Lock()
	if c.state != stateNew {
		c.mu.Unlock()
		_ = nc.Close()
		return errors.New("websocket: the connection ended before it started")
	}
	if err := c.attach(nc, first == nil); err != nil {
		c.mu.Unlock()
		c.end()
		return err
	}
	c.first, c.state = first, stateOpen
	if c.closeFrame != nil {
		c.state = stateClosing // closed before it started
	}
	c.lastHeard.Store(c.t.now())
	start := (len(c.queue) > 0 || c.state == stateClosing) && c.writer == writerIdle
	if start {
		c.writer = writerRunning
	}
	c.mu.Unlock()
	c.t.watch(c)
	if start {
		go c.writeTurn()
	}
	if first != nil {
		go c.readTurn()
	}
	return nil
}

// Close closes the connection with a close frame of code and reason,
// written after the frames already queued, and ends it when the peer
// answers or after Timings.CloseWait. A connection not yet started writes
// it once started, and ends after Timings.CloseWait if it never is.
func (c *Conn) Close(code int, reason string) {
	c.closeWith(code, reason, false, false)
}

// Abort ends the connection at once, saying nothing.
func (c *Conn) Abort() { c.end() }

// closeWith moves an open connection to closing: the one way to it.
// answering says it answers the peer's close frame, breached that the
// peer broke the protocol.
func (c *Conn) closeWith(code int, reason string, answering, breached bool) {
	c.mu.Lock()
	switch {
	case c.state == stateNew:
		if c.closeFrame == nil {
			c.closeFrame = CloseFrame(code, reason) // Start writes it
			time.AfterFunc(c.t.opt.CloseWait, c.end)
		}
		c.mu.Unlock()
		return
	case c.state == stateClosing && answering:
		// Both sides closed at once: ours, when written, ends it.
		c.answering = true
		c.mu.Unlock()
		return
	case c.state != stateOpen:
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	c.closeFrame = CloseFrame(code, reason)
	c.answering, c.breached = answering, breached
	start := c.writer == writerIdle
	if start {
		c.writer = writerRunning
	}
	c.mu.Unlock()
	if start {
		go c.writeTurn()
	}
	time.AfterFunc(c.t.opt.CloseWait, c.end)
}

// end closes the connection: the one way to ended.
func (c *Conn) end() {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return
	}
	c.state = stateEnded
	clear(c.queue)
	c.queue, c.queued = nil, 0
	c.wokeWaiter(true)
	c.unblock()
	c.mu.Unlock()
	c.t.forget(c)
	c.detach()
	c.h.Closed(c)
}

// ended reports whether the connection has ended.
func (c *Conn) ended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateEnded
}

// Closing reports whether the connection is closing or has ended: it
// takes no more frames.
func (c *Conn) Closing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state >= stateClosing
}

var batches = sync.Pool{New: func() any { return new([][]byte) }}

// writeTurn writes what is queued, all at once, until nothing is left,
// then the close frame if the connection is closing.
func (c *Conn) writeTurn() {
	bp := batches.Get().(*[][]byte)
	defer batches.Put(bp)
	done := 0 // frames the last turn wrote
	for {
		frames, closing := c.take((*bp)[:0], done)
		*bp = frames[:0]
		if len(frames) == 0 && closing == nil {
			return
		}
		if !c.extendDeadline() {
			return
		}
		done = len(frames)
		err := c.write(frames) // one writev for the whole queue
		clear(frames)
		if err != nil {
			c.end()
			return
		}
		c.t.framesOut.Add(uint64(done))
		if closing != nil {
			c.wroteClose(closing)
			return
		}
	}
}

// take returns every queued frame, oldest first, emptying the queue, or,
// once the queue is empty on a closing connection, its close frame; with
// neither, the writer's turn ends. wrote is how many frames the writer
// wrote since it last took.
func (c *Conn) take(buf [][]byte, wrote int) (frames [][]byte, closing []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if wrote > 0 {
		c.written += uint64(wrote)
		c.wokeWaiter(false)
	}
	if c.state == stateEnded || c.cut {
		c.writer = writerIdle
		return buf, nil
	}
	if len(c.queue) == 0 {
		if c.state == stateClosing && !c.closeTaken {
			c.closeTaken = true
			return buf, c.closeFrame
		}
		c.writer = writerIdle
		return buf, nil
	}
	buf = append(buf, c.queue...)
	clear(c.queue)
	if cap(c.queue) > 64 {
		c.queue = nil // give a burst's memory back while idle
	} else {
		c.queue = c.queue[:0]
	}
	c.queued = 0
	return buf, nil
}

// extendDeadline bounds the next write: a writer blocked on a peer that
// does not read gives up after WriteWait. The deadline is moved only when
// half of it is spent, not at every write.
func (c *Conn) extendDeadline() bool {
	wait := int64(c.t.opt.WriteWait)
	now := time.Now().UnixNano()
	if now+wait/2 < c.deadline {
		return true
	}
	c.deadline = now + wait
	if err := c.writeWithin(time.Unix(0, c.deadline)); err != nil {
		c.end()
		return false
	}
	return true
}

// wroteClose follows the close frame: the handshake is complete if it
// answered the peer's; after a breach the peer is told the stream ended;
// else the peer's answer is awaited (the reader sees it; CloseWait bounds
// the wait).
func (c *Conn) wroteClose(frame []byte) {
	if err := c.write([][]byte{frame}); err != nil {
		c.end()
		return
	}
	c.mu.Lock()
	c.closeSent = true
	answering, breached := c.answering, c.breached
	c.writer = writerIdle
	c.mu.Unlock()
	switch {
	case answering:
		c.end()
	case breached:
		c.shutWrite()
	}
}

// readBufferSize is a reader's buffer, lent to a connection only while it
// reads: an idle one holds none.
const readBufferSize = 4 << 10

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}

// readTurn reads and handles what the client sent, and asks the poller
// for the connection's next bytes when nothing is left to read. A turn
// that finds nothing to read (a report the bytes of an earlier turn
// answered) asks again at once; once a frame has begun, the rest of it
// has FrameWait to arrive.
func (c *Conn) readTurn() {
	br := c.first
	pooled := br == nil
	if pooled {
		br = readers.Get().(*bufio.Reader)
		br.Reset(c.input())
	}
	c.first = nil
	more := true
	if br.Buffered() == 0 {
		more = c.readSoon(br)
	}
	if more && br.Buffered() > 0 {
		_ = c.readWithin(time.Now().Add(c.t.opt.FrameWait))
		more = c.readAvailable(br)
	}
	if pooled {
		br.Reset(nil)
		readers.Put(br)
	}
	if more {
		_ = c.readWithin(time.Time{})
		c.rearm()
	}
}

// readAvailable handles messages until no byte is left to read. It
// reports false when the connection is done reading.
func (c *Conn) readAvailable(br *bufio.Reader) bool {
	for {
		m, err := c.rd.Next(br)
		if err != nil {
			c.readFailed(br, err)
			return false
		}
		if !c.onMessage(m) {
			return false
		}
		if br.Buffered() == 0 {
			return true
		}
	}
}

// heard records a sign of life from the peer.
func (c *Conn) heard() {
	c.lastHeard.Store(c.t.now())
	c.pinged.Store(0)
}

// ping asks the peer for a sign of life, unless a ping is out already.
func (c *Conn) ping(nonce uint64) {
	if nonce == 0 || !c.pinged.CompareAndSwap(0, nonce) {
		return
	}
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], nonce)
	c.Send(frame(ws.OpPing, p[:]))
}

// answers reports whether a pong's payload answers the ping out.
func (c *Conn) answers(payload []byte) bool {
	n := c.pinged.Load()
	return n != 0 && len(payload) == 8 && binary.BigEndian.Uint64(payload) == n
}

// onMessage acts on one message or control frame; false ends the reading.
func (c *Conn) onMessage(m Message) bool {
	switch m.Op {
	case ws.OpText, ws.OpBinary:
		c.heard()
		c.t.framesIn.Add(1)
		if c.Closing() {
			return true // closing: the peer's close frame is awaited
		}
		c.h.Message(c, m.Op == ws.OpBinary, m.Data)
	case ws.OpPing:
		c.heard()
		c.Send(Pong(m.Data))
	case ws.OpPong:
		// Only the answer to our ping shows the peer is alive: a client
		// that sends pongs unasked, reading nothing, is still dropped.
		if c.answers(m.Data) {
			c.heard()
		}
	case ws.OpClose:
		c.mu.Lock()
		sent := c.closeSent
		c.mu.Unlock()
		if sent {
			c.end() // the close handshake is complete
			return false
		}
		c.closeWith(m.Code, "", true, false)
		return false
	}
	return true
}

// readFailed ends the reading: on a protocol breach with a close frame
// that says why, else (the peer gone, a frame stalled) at once.
func (c *Conn) readFailed(br *bufio.Reader, err error) {
	var ce *CloseError
	if !errors.As(err, &ce) {
		c.end()
		return
	}
	c.t.cut(CauseProtocol)
	c.closeWith(ce.Code, ce.Reason, false, true)
	// Read on (and drop) what the peer still sends — the rest of a frame
	// too big — so that the close frame is not lost to a reset.
	_ = c.readWithin(time.Now().Add(c.t.opt.CloseWait))
	_, _ = br.WriteTo(discard{})
	c.end()
}

// discard is io.Discard without the ReaderFrom that would bypass br.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
