// Package wsock is the server side of WebSocket (RFC 6455) as Parley uses
// it, the whole life of a connection in one place: frames are encoded once
// and written as they are to every receiver; idle connections are watched
// by one poller instead of a goroutine each, and a client's messages are
// read only when bytes arrive; each connection's outgoing queue is bounded
// in frames and bytes and every write has a deadline; silent peers are
// pinged by one sweeper and dropped; the close handshake is kept.
//
// Where to look: frame.go encodes server frames and reads a client's
// (Reader) and the handshake (Upgrade); conn.go is one connection (Conn,
// with its state diagram); link_*.go is its socket (on Linux, its own
// descriptor, read and written with system calls); transport.go is the
// process's poller, sweeper and settings (Transport); poll_*.go is the
// poller. The handshake and the header codec come from github.com/gobwas/ws.
package wsock

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Close codes Parley sends.
const (
	StatusNormal          = 1000
	StatusGoingAway       = 1001
	StatusProtocolError   = 1002
	StatusNoStatus        = 1005 // received only: a close frame without a code
	StatusInvalidData     = 1007
	StatusPolicyViolation = 1008
	StatusMessageTooBig   = 1009
)

// Text returns payload as one unmasked text frame: what a server writes,
// byte for byte the same for every receiver.
func Text(payload []byte) []byte { return frame(ws.OpText, payload) }

// Pong returns the pong frame answering a ping with payload.
func Pong(payload []byte) []byte { return frame(ws.OpPong, payload) }

// CloseFrame returns a close frame with code and reason; StatusNoStatus gives
// one without a body.
func CloseFrame(code int, reason string) []byte {
	if code == StatusNoStatus {
		return frame(ws.OpClose, nil)
	}
	if len(reason) > 123 {
		reason = reason[:123] // a control frame carries 125 bytes at most
	}
	// #nosec G115 -- close codes are 1000-4999: Parley's own, or a peer's that CheckCloseFrameData passed
	return frame(ws.OpClose, ws.NewCloseFrameBody(ws.StatusCode(code), reason))
}

func frame(op ws.OpCode, payload []byte) []byte {
	n := len(payload)
	var head [10]byte
	head[0] = 0x80 | byte(op) // FIN, no RSV bits
	h := 2
	switch {
	case n < 126:
		head[1] = byte(n)
	case n <= 0xffff:
		head[1] = 126
		binary.BigEndian.PutUint16(head[2:], uint16(n))
		h = 4
	default:
		head[1] = 127
		binary.BigEndian.PutUint64(head[2:], uint64(n))
		h = 10
	}
	b := make([]byte, h+n)
	copy(b, head[:h])
	copy(b[h:], payload)
	return b
}

// Message is a whole message from the client, or a control frame.
type Message struct {
	Op   ws.OpCode // ws.OpText, OpBinary, OpPing, OpPong or OpClose
	Data []byte    // unmasked; for OpClose, the reason
	Code int       // OpClose: the status code, StatusNoStatus if none
}

// CloseError is a client's breach of the protocol: the connection is
// closed with Code.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("websocket: close %d: %s", e.Code, e.Reason) }

// Reader reads a client's messages, joining fragments; it keeps a message
// in pieces across calls, so a connection can be read a turn at a time.
type Reader struct {
	// Limit is the largest message accepted, in bytes.
	Limit int

	frag   []byte
	fragOp ws.OpCode
	inFrag bool
}

// Next reads frames from br until it has a whole message or a control
// frame. A protocol breach is a *CloseError; a message over Limit is one
// with StatusMessageTooBig, returned before its payload is read.
func (r *Reader) Next(br *bufio.Reader) (Message, error) {
	for {
		h, err := ws.ReadHeader(br)
		if err != nil {
			if errors.Is(err, ws.ErrHeaderLengthMSB) || errors.Is(err, ws.ErrHeaderLengthUnexpected) {
				return Message{}, protocolError(err.Error())
			}
			return Message{}, err
		}
		state := ws.StateServerSide
		if r.inFrag {
			state = state.Set(ws.StateFragmented)
		}
		if err := ws.CheckHeader(h, state); err != nil {
			return Message{}, protocolError(err.Error())
		}
		if h.Length > int64(r.Limit-len(r.frag)) {
			return Message{}, &CloseError{Code: StatusMessageTooBig, Reason: "message too big"}
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return Message{}, noEOF(err)
		}
		ws.Cipher(payload, h.Mask, 0)

		if h.OpCode.IsControl() {
			return control(h.OpCode, payload)
		}
		if h.OpCode != ws.OpContinuation {
			r.fragOp = h.OpCode
		}
		if !h.Fin {
			r.inFrag = true
			r.frag = append(r.frag, payload...)
			continue
		}
		if r.inFrag {
			payload = append(r.frag, payload...)
			r.frag, r.inFrag = nil, false
		}
		if r.fragOp == ws.OpText && !utf8.Valid(payload) {
			return Message{}, &CloseError{Code: StatusInvalidData, Reason: "text is not UTF-8"}
		}
		return Message{Op: r.fragOp, Data: payload}, nil
	}
}

func control(op ws.OpCode, payload []byte) (Message, error) {
	if op != ws.OpClose {
		return Message{Op: op, Data: payload}, nil
	}
	switch len(payload) {
	case 0:
		return Message{Op: op, Code: StatusNoStatus}, nil
	case 1:
		return Message{}, protocolError("close frame of one byte")
	}
	code, reason := ws.ParseCloseFrameData(payload)
	if err := ws.CheckCloseFrameData(code, reason); err != nil {
		return Message{}, protocolError(err.Error())
	}
	return Message{Op: op, Code: int(code), Data: []byte(reason)}, nil
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: StatusProtocolError, Reason: reason}
}

// noEOF reports a connection closed within a frame as such.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// IsUpgrade reports whether r asks for a WebSocket this server speaks:
// checked before any work is done for it.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		hasToken(r.Header.Get("Upgrade"), "websocket") &&
		hasToken(r.Header.Get("Connection"), "upgrade") &&
		len(r.Header.Get("Sec-WebSocket-Key")) == 24 &&
		r.Header.Get("Sec-WebSocket-Version") == "13"
}

// hasToken reports whether the comma-separated header lists token, in
// any case.
func hasToken(header, token string) bool {
	for t := range strings.SplitSeq(header, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// Offers reports whether r offers the subprotocol protocol (names are
// case-sensitive): the one Upgrade will choose.
func Offers(r *http.Request, protocol string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == protocol {
				return true
			}
		}
	}
	return false
}

// Upgrade answers the handshake of r, choosing protocol if the client
// offers it (Offers). It returns the connection, and a reader holding what the
// client sent past its request, or nil if it sent nothing yet.
func Upgrade(w http.ResponseWriter, r *http.Request, protocol string) (net.Conn, *bufio.Reader, error) {
	u := ws.HTTPUpgrader{Protocol: func(p string) bool { return p == protocol }}
	conn, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		if conn != nil {
			_ = conn.Close()
		}
		return nil, nil, err
	}
	if rw.Reader.Buffered() == 0 {
		return conn, nil, nil
	}
	return conn, rw.Reader, nil
}
