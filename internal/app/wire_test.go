package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/apptest"
)

// rawSocket is a WebSocket client written frame by frame, to send what a
// library would not: unmasked frames, pings, a message in the same packet
// as the handshake.
type rawSocket struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

// dialRaw upgrades a bare TCP connection to room; after is written in the
// same write as the request.
func dialRaw(t *testing.T, srv *apptest.Server, room, token string, after []byte) *rawSocket {
	t.Helper()
	conn, br := apptest.RawDial(t, srv.Addr, room, token, after)
	return &rawSocket{t: t, conn: conn, br: br}
}

var masked = apptest.Masked

func (r *rawSocket) write(b []byte) {
	r.t.Helper()
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// next reads the next frame that is not a presence or typing frame.
func (r *rawSocket) next() ws.Frame {
	r.t.Helper()
	for {
		f, err := ws.ReadFrame(r.br)
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		if f.Header.Masked {
			r.t.Fatal("a server frame is masked")
		}
		var cmd struct{ Command string }
		if f.Header.OpCode == ws.OpText && json.Unmarshal(f.Payload, &cmd) == nil && cmd.Command == "presence" {
			continue
		}
		return f
	}
}

// closed checks that the next frame closes with code, and that the
// server then drops the connection.
func (r *rawSocket) closed(code ws.StatusCode) {
	r.t.Helper()
	f := r.next()
	got, _ := ws.ParseCloseFrameData(f.Payload)
	if f.Header.OpCode != ws.OpClose || got != code {
		r.t.Fatalf("got %v %q, want close %d", f.Header.OpCode, f.Payload, code)
	}
	r.write(masked(ws.NewCloseFrame(f.Payload))) // the client's answer
	if _, err := r.br.ReadByte(); err == nil {
		r.t.Fatal("the server sent more after its close frame")
	}
}

func TestWireLevel(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "wire")

	t.Run("not an upgrade", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.URL+"/ws/chat/lobby/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
			t.Fatalf("got %s, Upgrade %q", resp.Status, resp.Header.Get("Upgrade"))
		}
	})

	t.Run("a message in the handshake's packet", func(t *testing.T) {
		first := masked(ws.NewTextFrame([]byte(`{"command":"new_message","message":"eager","client_id":"e1"}`)))
		r := dialRaw(t, srv, "wire", tok, first)
		f := r.next()
		if f.Header.OpCode != ws.OpText || !strings.Contains(string(f.Payload), `"content":"eager"`) {
			t.Fatalf("got %v %s", f.Header.OpCode, f.Payload)
		}
	})

	t.Run("ping, fragments, close", func(t *testing.T) {
		r := dialRaw(t, srv, "wire", tok, nil)
		r.write(masked(ws.NewPingFrame([]byte("are you there"))))
		if f := r.next(); f.Header.OpCode != ws.OpPong || string(f.Payload) != "are you there" {
			t.Fatalf("got %v %q", f.Header.OpCode, f.Payload)
		}
		// One message in three fragments, sent a moment apart: the server
		// reads it across turns.
		msg := `{"command":"new_message","message":"in pieces","client_id":"p1"}`
		r.write(masked(ws.NewFrame(ws.OpText, false, []byte(msg[:10]))))
		time.Sleep(50 * time.Millisecond)
		r.write(masked(ws.NewFrame(ws.OpContinuation, false, []byte(msg[10:30]))))
		time.Sleep(50 * time.Millisecond)
		r.write(masked(ws.NewFrame(ws.OpContinuation, true, []byte(msg[30:]))))
		if f := r.next(); !strings.Contains(string(f.Payload), `"content":"in pieces"`) {
			t.Fatalf("got %s", f.Payload)
		}
		r.write(masked(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))))
		f := r.next()
		if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != ws.StatusNormalClosure {
			t.Fatalf("got %v %q, want the close echoed", f.Header.OpCode, f.Payload)
		}
		if _, err := r.br.ReadByte(); err == nil {
			t.Fatal("the connection stayed open after the close handshake")
		}
	})

	t.Run("protocol breaches", func(t *testing.T) {
		var unmasked bytes.Buffer
		_ = ws.WriteFrame(&unmasked, ws.NewTextFrame([]byte(`{"command":"fetch_messages"}`)))
		for name, tc := range map[string]struct {
			frame []byte
			code  ws.StatusCode
		}{
			"unmasked":     {unmasked.Bytes(), ws.StatusProtocolError},
			"bad UTF-8":    {masked(ws.NewTextFrame([]byte{'"', 0xc3, 0x28, '"'})), ws.StatusInvalidFramePayloadData},
			"bad opcode":   {masked(ws.NewFrame(ws.OpCode(5), true, nil)), ws.StatusProtocolError},
			"stray middle": {masked(ws.NewFrame(ws.OpContinuation, true, []byte("x"))), ws.StatusProtocolError},
		} {
			t.Run(name, func(t *testing.T) {
				r := dialRaw(t, srv, "wire", tok, nil)
				r.write(tc.frame)
				r.closed(tc.code)
			})
		}
	})
}

// TestSentThenGone: messages a client sent just before it left are stored,
// although it waits for no acknowledgement.
func TestSentThenGone(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "hasty")
	var burst []byte
	const n = 40
	for i := range n {
		burst = append(burst, masked(ws.NewTextFrame([]byte(
			`{"command":"new_message","message":"last words `+strconv.Itoa(i)+`","client_id":"w`+strconv.Itoa(i)+`"}`)))...)
	}
	r := dialRaw(t, srv, "farewell", tok, nil)
	r.write(append(burst, masked(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "")))...))
	// The client leaves at once, but cleanly: it sends no more and reads
	// what comes until the server closes. (One that drops the connection
	// with the server's frames unread resets it, and what the server had
	// not read yet of its frames is lost in transit: not acknowledged,
	// so the client retries it.)
	_ = r.conn.(*net.TCPConn).CloseWrite()
	_, _ = io.Copy(io.Discard, r.br)
	stored := 0
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%d of %d stored", stored, n)
		}
	})
	apptest.Wait(t, 10*time.Second, "every message sent to be stored", func() bool {
		var page struct{ Messages []json.RawMessage }
		apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/farewell/messages?after=0&limit=100", tok, nil, &page)
		stored = len(page.Messages)
		return stored == n
	})
}
