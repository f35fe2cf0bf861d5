package apptest

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// RawDial upgrades a bare TCP connection to addr's room as the bearer of
// token, writing after in the same write as the request, and returns the
// connection with a reader past the 101 answer. The caller then writes
// frames by hand (Masked): what a WebSocket library would not send, or
// not when the test wants. Every read and write has 10 s.
func RawDial(tb testing.TB, addr, room, token string, after []byte) (net.Conn, *bufio.Reader) {
	tb.Helper()
	return RawDialPath(tb, addr, "/ws/chat/"+room+"/", token, "", after)
}

// RawDialPath is RawDial to any WebSocket path, offering the subprotocol
// protocol if it is not "".
func RawDialPath(tb testing.TB, addr, path, token, protocol string, after []byte) (net.Conn, *bufio.Reader) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	offer := ""
	if protocol != "" {
		offer = "Sec-WebSocket-Protocol: " + protocol + "\r\n"
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" + offer +
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer " + token + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), after...)); err != nil {
		tb.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		tb.Fatal(err)
	}
	// The accept key RFC 6455 derives from the request's key.
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		tb.Fatalf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	return conn, br
}

// Masked encodes f as a client sends it: masked.
func Masked(f ws.Frame) []byte {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrame(f))
	return b.Bytes()
}
