//go:build !linux

package wsock

import (
	"bufio"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// link is a started connection's socket: off Linux, the upgraded net.Conn
// itself, its waits the runtime's poller's.
type link struct {
	nc     net.Conn
	pollID atomic.Uint64
}

// attach keeps nc for the connection, and watches it if armed; c.mu
// held.
func (c *Conn) attach(nc net.Conn, armed bool) error {
	c.nc = nc
	if armed {
		go c.rearm()
	}
	return nil
}

// detach stops watching the connection and closes it; after end's
// unblock.
func (c *Conn) detach() {
	if id := c.pollID.Load(); id != 0 {
		c.t.poller.Remove(id)
	}
	if c.nc != nil {
		_ = c.nc.Close()
	}
}

// unblock has nothing to do: closing the connection ends its waits.
func (c *Conn) unblock() {}

// rearm asks the poller for the connection's next bytes.
func (c *Conn) rearm() {
	p := c.t.poller
	if id := c.pollID.Load(); id != 0 {
		p.Rearm(id)
		return
	}
	sys, ok := c.nc.(syscall.Conn)
	if !ok {
		c.end()
		return
	}
	id, err := p.Add(sys, c.readTurn)
	if err != nil {
		c.end()
		return
	}
	c.pollID.Store(id)
	if c.ended() {
		p.Remove(id) // end ran meanwhile, and saw no id
	}
}

// readWithin bounds the reader's waits for bytes.
func (c *Conn) readWithin(t time.Time) error { return c.nc.SetReadDeadline(t) }

// readSoon fills br: the poller reported bytes to read, or the peer gone.
// False if the connection is done reading.
func (c *Conn) readSoon(br *bufio.Reader) bool {
	_ = c.readWithin(time.Now().Add(c.t.opt.FrameWait))
	if _, err := br.Peek(1); err != nil {
		c.end()
		return false
	}
	return true
}

// input is what a read turn reads from.
func (c *Conn) input() io.Reader { return c.nc }

// writeWithin bounds the writer's waits.
func (c *Conn) writeWithin(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// write writes frames whole: one write for one frame, one writev for more.
func (c *Conn) write(frames [][]byte) error {
	if len(frames) == 1 {
		_, err := c.nc.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.nc)
	return err
}

// shutWrite tells the peer nothing more will be written.
func (c *Conn) shutWrite() {
	if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
}
