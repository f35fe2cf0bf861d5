package wsock

import (
	"cmp"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/clock"
)

// Timings bound how long a connection may stay silent, stall or block.
type Timings struct {
	// PingAfter is how long a peer may be silent before it is pinged.
	// Default 30 s.
	PingAfter time.Duration
	// DropAfter is how long a peer may be silent before it is dropped.
	// Default 50 s.
	DropAfter time.Duration
	// FrameWait bounds reading a frame once its first bytes arrived: a
	// client that starts a frame and stalls is cut. Default 20 s.
	FrameWait time.Duration
	// WriteWait bounds each write: a peer that stops reading until the
	// kernel's buffers are full is cut after it. Default 10 s.
	WriteWait time.Duration
	// CloseWait is how long a closing connection waits for the peer's
	// close frame. Default 3 s.
	CloseWait time.Duration
}

// Limits bound what one connection may hold.
type Limits struct {
	// MaxMessage is the largest message read, in bytes; a larger one
	// closes the connection with 1009. Default 64 KiB.
	MaxMessage int
	// QueueFrames and QueueBytes bound the frames waiting to be written;
	// past either the connection is ended (its client recovers what it
	// missed when it reconnects). Defaults 512 frames, 4 MiB.
	QueueFrames int
	QueueBytes  int
}

// Cause is why the transport itself ended or closed a connection.
type Cause uint8

// Causes, for metrics.
const (
	CauseSlow     Cause = iota + 1 // its queue overflowed
	CauseSilent                    // it did not answer pings
	CauseProtocol                  // it broke the protocol
)

func (c Cause) String() string {
	switch c {
	case CauseSlow:
		return "slow_closed"
	case CauseSilent:
		return "ping_timeout"
	case CauseProtocol:
		return "protocol_closed"
	}
	return "unknown"
}

// Options configure a Transport; zero fields take the defaults.
type Options struct {
	Timings
	Limits
	// Clock is the time silence is measured by and the sweeper runs on.
	// Default: the system's.
	Clock clock.Clock
	// OnCut, if set, is told each time the transport ends or closes a
	// connection on its own (Cause), for metrics.
	OnCut func(Cause)
}

// Stats are a transport's counters.
type Stats struct {
	// Conns are the connections started and not ended.
	Conns               int
	FramesIn, FramesOut uint64
}

// Transport is the process's WebSocket machinery: one poller that starts
// the connections' readers, one sweeper that pings silent peers and drops
// dead ones, and the set of started connections they visit. The program
// makes one, and closes it after its connections have ended.
type Transport struct {
	opt    Options
	poller *Poller

	mu        sync.Mutex
	conns     map[*Conn]struct{} // started, not ended: what the sweeper visits
	closed    bool
	stopSweep func() bool    // the next sweep's timer
	sweeping  sync.WaitGroup // a sweep under way
	quit      chan struct{}  // closed by Close: a sweep's pauses end
	pingBatch int            // pings sent at once, pingGap apart

	framesIn, framesOut atomic.Uint64
}

// NewTransport starts a transport: its poller and its sweeper.
func NewTransport(opt Options) (*Transport, error) {
	t := &opt.Timings
	t.PingAfter = cmp.Or(t.PingAfter, 30*time.Second)
	t.DropAfter = cmp.Or(t.DropAfter, 50*time.Second)
	t.FrameWait = cmp.Or(t.FrameWait, 20*time.Second)
	t.WriteWait = cmp.Or(t.WriteWait, 10*time.Second)
	t.CloseWait = cmp.Or(t.CloseWait, 3*time.Second)
	l := &opt.Limits
	l.MaxMessage = cmp.Or(l.MaxMessage, 64<<10)
	l.QueueFrames = cmp.Or(l.QueueFrames, 512)
	l.QueueBytes = cmp.Or(l.QueueBytes, 4<<20)
	p, err := NewPoller()
	if err != nil {
		return nil, err
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	tr := &Transport{opt: opt, poller: p, conns: make(map[*Conn]struct{}), quit: make(chan struct{}), pingBatch: pingBatch}
	tr.mu.Lock()
	tr.scheduleSweep()
	tr.mu.Unlock()
	return tr, nil
}

// NewConn returns a connection not yet started: frames queue on it until
// Start hands it the upgraded connection. h receives its messages.
func (t *Transport) NewConn(h Handler) *Conn {
	c := &Conn{t: t, h: h}
	c.rd.Limit = t.opt.MaxMessage
	return c
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	t.mu.Lock()
	n := len(t.conns)
	t.mu.Unlock()
	return Stats{Conns: n, FramesIn: t.framesIn.Load(), FramesOut: t.framesOut.Load()}
}

// Close stops the poller and the sweeper. Connections still open are no
// longer read or pinged: close them first.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.stopSweep()
	close(t.quit)
	t.mu.Unlock()
	t.sweeping.Wait()
	t.poller.Close()
}

// now is the transport's time, in unix nanoseconds.
func (t *Transport) now() int64 { return t.opt.Clock.Now().UnixNano() }

func (t *Transport) watch(c *Conn) {
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
}

func (t *Transport) forget(c *Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

func (t *Transport) cut(why Cause) {
	if t.opt.OnCut != nil {
		t.opt.OnCut(why)
	}
}

// scheduleSweep sets the next sweep, a third of PingAfter from now;
// t.mu held.
func (t *Transport) scheduleSweep() {
	t.stopSweep = t.opt.Clock.AfterFunc(t.opt.PingAfter/3, func() {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return
		}
		t.sweeping.Add(1)
		t.mu.Unlock()
		defer t.sweeping.Done()
		t.sweep()
		t.mu.Lock()
		if !t.closed {
			t.scheduleSweep()
		}
		t.mu.Unlock()
	})
}

// Pings go out pingBatch at a time, pingGap apart: sockets that came
// together (a burst of connects, a restart's reconnects) fall silent
// together, and their pings and pongs, taken all at once, would start a
// writer and a reader for each of them at the same moment, goroutines and
// buffers the heap keeps room for long after (docs/BENCHMARKS.md).
const (
	pingBatch = 500
	pingGap   = 20 * time.Millisecond
)

// sweep pings the peers silent for PingAfter and drops those silent for
// DropAfter.
func (t *Transport) sweep() {
	now := t.now()
	var drop, ping []*Conn
	t.mu.Lock()
	for c := range t.conns {
		silent := time.Duration(now - c.lastHeard.Load())
		switch {
		case silent >= t.opt.DropAfter:
			drop = append(drop, c)
		case silent >= t.opt.PingAfter && c.pinged.Load() == 0:
			ping = append(ping, c)
		}
	}
	t.mu.Unlock()
	// Acted on without the lock: a connection's end takes it.
	for _, c := range drop {
		t.cut(CauseSilent)
		c.end()
	}
	for i, c := range ping {
		if i > 0 && i%t.pingBatch == 0 && !clock.Pause(pingGap, t.quit) {
			return // closed
		}
		// A nonce a peer that does not read cannot guess; never 0, which
		// means no ping out.
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.ping(binary.NativeEndian.Uint64(b[:]) | 1)
	}
}
