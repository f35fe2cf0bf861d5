package wsock

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// link is a started connection's socket, on Linux its own descriptor:
// Start takes a copy of the upgraded connection's and closes that
// connection, so the runtime keeps no poller record, deadline timers,
// finalizer or addresses for an idle socket (about 0.9 KiB of memory
// each, docs/BENCHMARKS.md). It is read and written with plain system
// calls; the waits of a turn (the rest of a frame, room to write to a
// peer slow to read) go through the transport's poller, bounded by
// FrameWait and WriteWait, and end when the connection does.
type link struct {
	fd int32
	// uses counts the system calls under way on fd, and has shutBit once
	// the connection ended: the last of them closes fd, so that its
	// number, reused, is never read or written for this connection.
	uses   atomic.Int32
	pollID uint64 // set by attach; 0 before
	// readBy bounds the reader's waits (unix ns; 0: do not wait): the
	// reader's own.
	readBy int64
	// Under Conn.mu: what the poller's next report is for. armed: the
	// connection waits, idle, for its next bytes; rwait, wwait: the reader
	// or the writer waits within its turn.
	armed        bool
	rwait, wwait chan struct{}
}

const shutBit = 1 << 30

// attach takes nc's descriptor for the connection and watches it, its
// reader armed if armed; c.mu held. nc is closed in any case.
func (c *Conn) attach(nc net.Conn, armed bool) error {
	fd, err := takeFD(nc)
	if err != nil {
		return err
	}
	var events uint32
	if armed {
		events = pollIn
	}
	id, err := c.t.poller.Add(fd, c, events)
	if err != nil {
		_ = unix.Close(fd)
		return err
	}
	c.fd, c.pollID, c.armed = int32(fd), id, armed // #nosec G115 -- descriptors are small non-negative ints
	return nil
}

// takeFD returns a copy of nc's descriptor, which shares its open file
// (non-blocking, as the net package made it), and closes nc.
func takeFD(nc net.Conn) (int, error) {
	defer func() { _ = nc.Close() }()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, errors.New("websocket: the connection has no file descriptor")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, derr
}

// detach stops watching the connection's descriptor and closes it once no
// system call uses it; after end's unblock.
func (c *Conn) detach() {
	c.mu.Lock()
	id := c.pollID
	c.mu.Unlock()
	if id == 0 {
		return // never started
	}
	c.t.poller.Remove(int(c.fd), id)
	if c.uses.Or(shutBit) == 0 {
		_ = unix.Close(int(c.fd))
	}
}

// use reports whether fd may be used (the connection has not ended), and
// counts the use; done ends it.
func (c *Conn) use() bool {
	for {
		n := c.uses.Load()
		if n&shutBit != 0 {
			return false
		}
		if c.uses.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (c *Conn) done() {
	if c.uses.Add(-1) == shutBit {
		_ = unix.Close(int(c.fd))
	}
}

// unblock ends the waits of the connection's turns: it has ended. c.mu
// held.
func (c *Conn) unblock() {
	c.armed = false
	for _, ch := range []*chan struct{}{&c.rwait, &c.wwait} {
		if *ch != nil {
			close(*ch)
			*ch = nil
		}
	}
}

// ask asks the poller for what the connection waits for; c.mu held.
func (c *Conn) ask() error {
	var events uint32
	if c.armed || c.rwait != nil {
		events |= pollIn
	}
	if c.wwait != nil {
		events |= pollOut
	}
	if events == 0 || c.state == stateEnded {
		return nil
	}
	if !c.use() {
		return net.ErrClosed
	}
	defer c.done()
	return c.t.poller.Modify(int(c.fd), c.pollID, events)
}

// ready is the poller's report: the reader is started, or a wait ends.
// One-shot, the descriptor is asked for again for what is still awaited.
func (c *Conn) ready(events uint32) {
	const failed = unix.EPOLLHUP | unix.EPOLLERR
	c.mu.Lock()
	start := false
	if events&(pollIn|failed) != 0 {
		if c.rwait != nil {
			close(c.rwait)
			c.rwait = nil
		} else if c.armed {
			c.armed, start = false, true
		}
	}
	if events&(pollOut|failed) != 0 && c.wwait != nil {
		close(c.wwait)
		c.wwait = nil
	}
	err := c.ask()
	c.mu.Unlock()
	switch {
	case err != nil:
		go c.end() // not on the poller's goroutine: the handler's Closed runs
	case start:
		go c.readTurn()
	}
}

// rearm asks for the connection's next bytes, once a read turn is done.
func (c *Conn) rearm() {
	c.mu.Lock()
	if c.state != stateEnded {
		c.armed = true
	}
	err := c.ask()
	c.mu.Unlock()
	if err != nil {
		c.end()
	}
}

// await waits until the poller reports the descriptor readable (or, with
// out, writable), the connection ends, or by (unix ns) passes.
func (c *Conn) await(out bool, by int64) error {
	wait := time.Duration(by - time.Now().UnixNano())
	if by == 0 || wait <= 0 {
		return os.ErrDeadlineExceeded
	}
	ch := make(chan struct{})
	slot := &c.rwait
	if out {
		slot = &c.wwait
	}
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return net.ErrClosed
	}
	*slot = ch
	err := c.ask()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		c.mu.Lock()
		if *slot == ch {
			*slot = nil
		}
		c.mu.Unlock()
		return os.ErrDeadlineExceeded
	}
}

// readWithin bounds the reader's waits for bytes; the zero time: none
// are expected.
func (c *Conn) readWithin(t time.Time) error {
	c.readBy = 0
	if !t.IsZero() {
		c.readBy = t.UnixNano()
	}
	return nil
}

// readSoon fills br with what has arrived, without waiting: false if the
// connection is done reading (the peer is gone).
func (c *Conn) readSoon(br *bufio.Reader) bool {
	c.readBy = 0
	if _, err := br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.end()
		return false
	}
	return true
}

// input is what a read turn reads from.
func (c *Conn) input() io.Reader { return (*fdReader)(c) }

type fdReader Conn

func (r *fdReader) Read(p []byte) (int, error) {
	c := (*Conn)(r)
	for {
		if !c.use() {
			return 0, net.ErrClosed
		}
		n, err := unix.Read(int(c.fd), p)
		c.done()
		switch {
		case err == nil && n == 0 && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := c.await(false, c.readBy); err != nil {
				return 0, err
			}
		default:
			return 0, os.NewSyscallError("read", err)
		}
	}
}

// writeWithin bounds the writer's waits: they end at c.deadline, which
// the writer keeps.
func (c *Conn) writeWithin(time.Time) error { return nil }

// iovecs are the writers' buffers of frame addresses for writev.
var iovecs = sync.Pool{New: func() any { return new([]unix.Iovec) }}

// iovMax is the most buffers one writev takes (IOV_MAX).
const iovMax = 1024

// write writes frames whole, with one write(2) for one frame (it costs the
// kernel less than a writev of one) and one writev(2) for more, waiting
// for room to write until c.deadline.
func (c *Conn) write(frames [][]byte) error {
	var iov []unix.Iovec
	if len(frames) > 1 {
		p := iovecs.Get().(*[]unix.Iovec)
		defer func() { *p = iov[:0]; iovecs.Put(p) }()
		iov = *p
	}
	for len(frames) > 0 {
		if !c.use() {
			return net.ErrClosed
		}
		var n int
		var err error
		if len(frames) == 1 {
			n, err = unix.Write(int(c.fd), frames[0])
		} else {
			n, iov, err = writev(int(c.fd), iov, frames)
		}
		c.done()
		switch {
		case err == nil:
			frames = advance(frames, n)
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			if err := c.await(true, c.deadline); err != nil {
				return err
			}
		default:
			return os.NewSyscallError("write", err)
		}
	}
	return nil
}

// writev writes the first iovMax of frames with one system call; iov is
// the buffer of their addresses, returned for the next call.
func writev(fd int, iov []unix.Iovec, frames [][]byte) (int, []unix.Iovec, error) {
	iov = iov[:0]
	for _, f := range frames[:min(len(frames), iovMax)] {
		v := unix.Iovec{Base: &f[0]}
		v.SetLen(len(f))
		iov = append(iov, v)
	}
	// #nosec G103 -- writev(2) takes the address of the iovec array, which iov keeps alive
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	if errno != 0 {
		return 0, iov, errno
	}
	return int(n), iov, nil
}

// advance drops n written bytes from the front of frames.
func advance(frames [][]byte, n int) [][]byte {
	for n > 0 && len(frames) > 0 {
		if n < len(frames[0]) {
			frames[0] = frames[0][n:]
			return frames
		}
		n -= len(frames[0])
		frames = frames[1:]
	}
	return frames
}

// shutWrite tells the peer nothing more will be written.
func (c *Conn) shutWrite() {
	if c.use() {
		_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
		c.done()
	}
}
