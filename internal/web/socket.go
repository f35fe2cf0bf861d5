package web

import (
	"bufio"
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/chat"
	"parley/internal/hub"
	"parley/internal/wsock"
)

const (
	// closeWait is how long a closing socket waits for the peer's close
	// frame before it drops the connection.
	closeWait = 3 * time.Second
	// readBufferSize is a reader's buffer, lent to a socket only while it
	// reads: an idle socket holds none.
	readBufferSize = 4 << 10
)

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufferSize) }}
	batches = sync.Pool{New: func() any { return new([][]byte) }}
)

// sockets is the process's poller and the register of its open sockets,
// which a sweeper visits to ping the silent ones and drop the dead.
type sockets struct {
	once   sync.Once
	err    error
	poller *wsock.Poller
	live   sync.Map // *socket -> struct{}
	stop   chan struct{}
	done   chan struct{}
}

// startSockets starts the poller and the sweeper, at the first socket.
func (s *Server) startSockets() error {
	ss := &s.socks
	ss.once.Do(func() {
		ss.poller, ss.err = wsock.NewPoller()
		if ss.err != nil {
			return
		}
		ss.stop, ss.done = make(chan struct{}), make(chan struct{})
		go s.sweep()
	})
	return ss.err
}

// stopSockets stops the poller and the sweeper; sockets still open are
// no longer read.
func (s *Server) stopSockets() {
	ss := &s.socks
	ss.once.Do(func() {}) // none may start from now on
	if ss.poller == nil {
		return
	}
	select {
	case <-ss.stop:
		return
	default:
	}
	close(ss.stop)
	<-ss.done
	ss.poller.Close()
}

// open starts serving an upgraded connection: its writer starts when its
// client has frames, its reader when it has bytes to read.
func (s *Server) open(conn net.Conn, first *bufio.Reader, c *hub.Client, u chat.User, release func()) error {
	sc := &socket{s: s, conn: conn, c: c, user: u, room: c.Room(), release: release, first: first}
	sc.rd.Limit = maxFrameBytes
	sc.ackIdle.L = &sc.ackMu
	sc.ctx, sc.cancel = context.WithCancel(context.Background())
	sc.lastRead.Store(time.Now().UnixNano())
	s.conns.Add(1)
	if err := s.startSockets(); err != nil {
		sc.finish()
		return err
	}
	s.socks.live.Store(sc, struct{}{})
	// A slow socket is cut at once, so that a writer blocked on a peer
	// that does not read gives up.
	c.OnSlow(sc.finish)
	c.Start(func() { go sc.writeTurn() })
	if first != nil {
		go sc.readTurn() // the client wrote before it saw the answer
		return nil
	}
	return sc.arm()
}

// arm asks the poller for the socket's next bytes: it is watched from its
// first turn on.
func (sc *socket) arm() error {
	p := sc.s.socks.poller
	if id := sc.pollID.Load(); id != 0 {
		p.Rearm(id)
		return nil
	}
	sys, ok := sc.conn.(syscall.Conn)
	if !ok {
		sc.finish()
		return errors.New("websocket: the connection has no file descriptor")
	}
	id, err := p.Add(sys, sc.readTurn)
	if err != nil {
		sc.finish()
		return err
	}
	sc.pollID.Store(id)
	if sc.ended.Load() {
		p.Remove(id) // finish ran meanwhile, and saw no id
	}
	return nil
}

// readTurn reads and handles what the client sent, and arms the socket
// again when nothing is left to read.
func (sc *socket) readTurn() {
	br := sc.first
	pooled := br == nil
	if pooled {
		br = readers.Get().(*bufio.Reader)
		br.Reset(sc.conn)
	}
	sc.first = nil
	_ = sc.conn.SetReadDeadline(time.Now().Add(sc.s.opt.Sockets.FrameWait))
	more := sc.readAvailable(br)
	if pooled {
		br.Reset(nil)
		readers.Put(br)
	}
	if more {
		_ = sc.conn.SetReadDeadline(time.Time{})
		_ = sc.arm()
	}
}

// readAvailable handles messages until no byte is left to read. It
// reports false when the socket is done reading.
func (sc *socket) readAvailable(br *bufio.Reader) bool {
	for {
		m, err := sc.rd.Next(br)
		if err != nil {
			sc.readFailed(br, err)
			return false
		}
		sc.lastRead.Store(time.Now().UnixNano())
		sc.pinged.Store(false)
		if !sc.onMessage(m) {
			return false
		}
		if br.Buffered() == 0 {
			return true
		}
	}
}

// onMessage acts on one message or control frame; false ends the reading.
func (sc *socket) onMessage(m wsock.Message) bool {
	switch m.Op {
	case ws.OpText, ws.OpBinary:
		sc.s.metrics.framesIn.Inc()
		if sc.c.Reason() != hub.ReasonNone {
			return true // closing: the peer's close frame is awaited
		}
		if m.Op == ws.OpBinary {
			sc.sendError("bad_request", "Frames are JSON text.", "")
			return true
		}
		sc.handle(sc.ctx, m.Data)
	case ws.OpPing:
		sc.c.Send(wsock.Pong(m.Data))
	case ws.OpClose:
		if sc.closeSent.Load() {
			sc.finish() // the close handshake is complete
			return false
		}
		sc.closeWith(m.Code, "", true)
		return false
	}
	return true
}

// readFailed ends the reading: on a protocol breach with a close frame
// that says why, else (the peer gone, a frame stalled) at once.
func (sc *socket) readFailed(br *bufio.Reader, err error) {
	var ce *wsock.CloseError
	if !errors.As(err, &ce) {
		sc.finish()
		return
	}
	sc.s.metrics.wsErrors.WithLabelValues("protocol_closed").Inc()
	sc.closeWith(ce.Code, ce.Reason, false)
	// Read on (and drop) what the peer still sends — the rest of a frame
	// too big — so that the close frame is not lost to a reset.
	_ = sc.conn.SetReadDeadline(time.Now().Add(closeWait))
	_, _ = br.WriteTo(discard{})
	sc.finish()
}

// discard is io.Discard without the ReaderFrom that would bypass br.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// closeWith closes the socket with a close frame of code, after the
// frames already queued. peerClosed says it answers the peer's close.
func (sc *socket) closeWith(code int, reason string, peerClosed bool) {
	sc.closeMu.Lock()
	if sc.closeCode == 0 {
		sc.closeCode, sc.closeReason, sc.peerClosed = code, reason, peerClosed
	}
	sc.closeMu.Unlock()
	sc.c.Kick(hub.ReasonClosed)
	time.AfterFunc(closeWait, sc.finish)
}

// send queues a frame for this socket alone.
func (sc *socket) send(frame []byte) { sc.c.Send(wsock.Text(frame)) }

// writeTurn writes the queued frames, all at once, until none is left.
func (sc *socket) writeTurn() {
	bp := batches.Get().(*[][]byte)
	defer batches.Put(bp)
	for {
		frames, reason := sc.c.Take(*bp)
		*bp = frames[:0]
		if len(frames) == 0 {
			if reason != hub.ReasonNone {
				sc.kicked(reason)
			}
			return
		}
		var err error
		if len(frames) == 1 {
			_, err = sc.conn.Write(frames[0]) // write(2) costs the kernel less than a writev of one
		} else {
			bufs := net.Buffers(frames)
			_, err = bufs.WriteTo(sc.conn) // one writev for the whole queue
		}
		clear(frames)
		if err != nil {
			sc.finish()
			return
		}
		sc.s.metrics.framesOut.Add(float64(len(frames)))
	}
}

// kicked ends a socket the hub closed: at shutdown with 1001 after its
// queue is flushed, when too slow at once (it recovers with after).
func (sc *socket) kicked(reason int) {
	var frame []byte
	switch reason {
	case hub.ReasonShutdown:
		frame = wsock.Close(wsock.StatusGoingAway, "server shutting down")
	case hub.ReasonPolicy:
		frame = wsock.Close(wsock.StatusPolicyViolation, "sending too fast")
	case hub.ReasonClosed:
		sc.closeMu.Lock()
		frame = wsock.Close(sc.closeCode, sc.closeReason)
		peerClosed := sc.peerClosed
		sc.closeMu.Unlock()
		_, _ = sc.conn.Write(frame)
		if peerClosed {
			sc.finish() // the handshake is complete
			return
		}
		// A breach: nothing more is said, and the peer sees the end of
		// the stream after the close frame; the reader drops what it
		// still sends until it hangs up.
		if tc, ok := sc.conn.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		return
	case hub.ReasonSlow:
		sc.s.metrics.wsErrors.WithLabelValues("slow_closed").Inc()
		sc.finish()
		return
	default:
		return // the socket is ending already
	}
	if _, err := sc.conn.Write(frame); err != nil {
		sc.finish()
		return
	}
	sc.closeSent.Store(true)
	time.AfterFunc(closeWait, sc.finish)
}

// finish closes the connection and, once the socket's messages are
// settled, ends its context and takes it out of its room and of the counts.
func (sc *socket) finish() {
	sc.finished.Do(func() {
		sc.ended.Store(true)
		ss := &sc.s.socks
		if id := sc.pollID.Load(); id != 0 {
			ss.poller.Remove(id)
		}
		ss.live.Delete(sc)
		_ = sc.conn.Close()
		// The messages the socket sent are stored and published still:
		// its context ends with them.
		sc.afterAcks(func() {
			sc.cancel()
			sc.c.Leave()
			sc.release()
			sc.s.conns.Done()
		})
	})
}

// sweep, every third of PingAfter, pings the sockets silent for PingAfter
// and drops those silent for DropAfter.
func (s *Server) sweep() {
	ss := &s.socks
	defer close(ss.done)
	timing := s.opt.Sockets
	t := time.NewTicker(timing.PingAfter / 3)
	defer t.Stop()
	for {
		select {
		case <-ss.stop:
			return
		case now := <-t.C:
			ss.live.Range(func(k, _ any) bool {
				sc := k.(*socket)
				silent := time.Duration(now.UnixNano() - sc.lastRead.Load())
				switch {
				case silent >= timing.DropAfter:
					s.metrics.wsErrors.WithLabelValues("ping_timeout").Inc()
					sc.finish()
				case silent >= timing.PingAfter && !sc.pinged.Swap(true):
					sc.c.Send(wsock.Ping)
				}
				return true
			})
		}
	}
}
