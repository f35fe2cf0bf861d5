package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// wsConn is the tool's WebSocket client: as little as a client can do per
// frame, so that the tool's own cost per delivery stays small next to the
// server's it measures. It reads whole messages, answers pings and
// reports a close as an error; writes are masked text frames.
type wsConn struct {
	conn net.Conn
	br   *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte

	// The context that can interrupt a blocked read: when it ends, the
	// connection's read deadline is put in the past (never the write
	// deadline: a publisher may write while a reader's old context ends).
	// Only the reader uses it.
	watched context.Context
	stop    func() bool
	dmu     sync.Mutex
	gen     int // guarded by dmu: which watch may set the deadline
}

// wsDial opens a WebSocket to url, offering the subprotocols given (none:
// the original protocol).
func wsDial(ctx context.Context, url string, header http.Header, protocols ...string) (*wsConn, error) {
	d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(header), Timeout: 30 * time.Second, NetDial: spreadDial, Protocols: protocols}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		var se ws.StatusError
		if errors.As(err, &se) {
			return nil, &dialError{status: int(se), err: err}
		}
		return nil, err
	}
	c := &wsConn{conn: conn, br: br}
	if c.br == nil {
		c.br = bufio.NewReaderSize(conn, 1024)
	}
	return c, nil
}

var longAgo = time.Unix(1, 0)

// sourceAddrs is how many loopback addresses the tool dials from.
const sourceAddrs = 16

var dials atomic.Uint32

// spreadDial dials an IPv4 loopback target from 127.0.0.1 to 127.0.0.16 in
// turn. Each source address has its own ephemeral ports: from one, Linux
// hands out the even ports first, and once those (about 14,000) are taken
// each connect searches the rest, which slowed the idle scenario's
// connects seven times past 14,000 sockets.
func spreadDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.To4() != nil && ip.IsLoopback() {
			n := dials.Add(1) % sourceAddrs
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+n))}
		}
	}
	return d.DialContext(ctx, network, addr)
}

// watch makes ctx able to interrupt the connection's blocked reads.
func (c *wsConn) watch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ctx == c.watched || ctx.Done() == nil {
		return nil
	}
	if c.stop != nil {
		c.stop()
	}
	// The last context's function may be running still: the generation
	// makes it a no-op, and its deadline is lifted.
	c.dmu.Lock()
	c.gen++
	gen := c.gen
	_ = c.conn.SetReadDeadline(time.Time{})
	c.dmu.Unlock()
	c.watched = ctx
	c.stop = context.AfterFunc(ctx, func() {
		c.dmu.Lock()
		if c.gen == gen {
			_ = c.conn.SetReadDeadline(longAgo)
		}
		c.dmu.Unlock()
	})
	return nil
}

// Write sends p as one masked text frame. ctx is checked, not watched:
// a write to loopback does not stay blocked, except on a peer that stopped
// reading, which closing the connection ends.
func (c *wsConn) Write(ctx context.Context, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(ws.OpText, p)
}

func (c *wsConn) writeLocked(op ws.OpCode, p []byte) error {
	h := ws.Header{Fin: true, OpCode: op, Masked: true, Mask: ws.NewMask(), Length: int64(len(p))}
	b := bytes.NewBuffer(c.wbuf[:0])
	if err := ws.WriteHeader(b, h); err != nil {
		return err
	}
	n := b.Len()
	b.Write(p)
	c.wbuf = b.Bytes()
	ws.Cipher(c.wbuf[n:], h.Mask, 0)
	_, err := c.conn.Write(c.wbuf)
	return err
}

// closeError is the server's close frame.
type closeError struct {
	code   ws.StatusCode
	reason string
}

func (e *closeError) Error() string {
	return fmt.Sprintf("closed by the server: %d %s", e.code, e.reason)
}

// ReadFrame reads the next whole message into buf.
func (c *wsConn) ReadFrame(ctx context.Context, buf *bytes.Buffer) error {
	if err := c.watch(ctx); err != nil {
		return err
	}
	buf.Reset()
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return err
		}
		if h.Length > 1<<22 {
			return fmt.Errorf("a frame of %d bytes", h.Length)
		}
		if h.OpCode.IsControl() {
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(c.br, p); err != nil {
				return err
			}
			switch h.OpCode {
			case ws.OpPing:
				c.wmu.Lock()
				err = c.writeLocked(ws.OpPong, p)
				c.wmu.Unlock()
				if err != nil {
					return err
				}
			case ws.OpClose:
				code, reason := ws.ParseCloseFrameData(p)
				return &closeError{code: code, reason: reason}
			}
			continue
		}
		if _, err := io.CopyN(buf, c.br, h.Length); err != nil {
			return err
		}
		if h.Fin {
			return nil
		}
	}
}

// CloseNow drops the connection without a closing handshake.
func (c *wsConn) CloseNow() error { return c.conn.Close() }
