package cluster_test

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// rawSocket is a WebSocket opened by hand on a TCP connection, so that a
// test can write what no WebSocket library would: a frame cut short.
type rawSocket struct {
	net.Conn
	r *bufio.Reader
}

// rawDial upgrades a TCP connection to srv to a WebSocket to room.
func rawDial(t *testing.T, srv *apptest.Server, room, token string) *rawSocket {
	t.Helper()
	c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ackWait))
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(c, "GET /ws/chat/%s/ HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
		room, srv.Addr, base64.StdEncoding.EncodeToString(key[:]), token)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("raw upgrade: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw upgrade: %s", resp.Status)
	}
	c.SetDeadline(time.Time{})
	return &rawSocket{Conn: c, r: r}
}

// frameHeader is the header of a masked client frame with opcode op and
// a payload of n bytes, mask included.
func frameHeader(op byte, n uint64) []byte {
	h := []byte{0x80 | op}
	switch {
	case n < 126:
		h = append(h, 0x80|byte(n))
	case n <= 0xffff:
		h = append(h, 0x80|126)
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h = append(h, 0x80|127)
		h = binary.BigEndian.AppendUint64(h, n)
	}
	return append(h, 1, 2, 3, 4)
}

// closeCode reads server frames until a close frame and returns its
// status code; 0 if the connection ends first.
func (s *rawSocket) closeCode(d time.Duration) (int, error) {
	s.SetReadDeadline(time.Now().Add(d))
	for {
		var h [2]byte
		if _, err := io.ReadFull(s.r, h[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 0, nil
			}
			return 0, err
		}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(s.r, b[:]); err != nil {
				return 0, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(s.r, b[:]); err != nil {
				return 0, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(s.r, payload); err != nil {
			return 0, err
		}
		if h[0]&0x0f == 8 {
			if len(payload) < 2 {
				return 1005, nil
			}
			return int(binary.BigEndian.Uint16(payload)), nil
		}
	}
}

// Clients that go away in the middle of a frame, and one that sends a
// frame larger than the read limit. The server closes the latter with
// 1009, stays ready, keeps serving the sockets that behave, and lets go of
// what it held for the others: its goroutine count comes back to where it
// was. One process, a child of the test, so that /metrics counts its
// goroutines alone.
func TestClientMidFrame(t *testing.T) {
	db := storetest.PostgresDSN(t)
	srv := apptest.StartProcess(t, apptest.Options{DB: db, Args: []string{"--send-limit=off", "--user-sockets=0"}})
	room := roomName()
	names, tokens := users(t, srv, 2)
	socks := spread(t, []*apptest.Server{srv}, room, names, tokens, 2)
	if r := socks[0].post("before", "before"); r.code != "" || r.err != nil {
		t.Fatalf("post before: %+v", r)
	}
	waitAll(t, socks, 1)
	before := metric(t, srv, "go_goroutines")

	// Cut at every place a frame can be cut: in the first two bytes, in
	// the extended length, in the mask, in the payload.
	full := append(frameHeader(1, 300), make([]byte, 300)...)
	for _, cut := range []int{1, 2, 3, 6, 8, 50, len(full) - 1} {
		s := rawDial(t, srv, room, tokens[1])
		if _, err := s.Write(full[:cut]); err != nil {
			t.Fatalf("write %d bytes of a frame: %v", cut, err)
		}
		s.Close()
	}

	big := rawDial(t, srv, room, tokens[1])
	const limit = 64 << 10 // the server's read limit
	go func() {
		// A huge frame announced, and more than the limit sent: the
		// server stops reading, so this write may never complete.
		big.Write(append(frameHeader(2, 1<<40), make([]byte, limit+1)...))
	}()
	code, err := big.closeCode(ackWait)
	if err != nil || code != 1009 {
		t.Errorf("a frame over the read limit: closed with %d (%v); want 1009", code, err)
	}
	big.Close()

	if code, body := readyz(srv); code != http.StatusOK {
		t.Errorf("/readyz %d %q after the broken clients", code, body)
	}
	if r := socks[1].post("after", "after"); r.code != "" || r.err != nil {
		t.Fatalf("post after: %+v", r)
	}
	waitAll(t, socks, 2)
	var now float64
	start := time.Now()
	apptest.Wait(t, longWait, fmt.Sprintf("go_goroutines back to %v", before), func() bool {
		now = metric(t, srv, "go_goroutines")
		return now <= before
	})
	t.Logf("go_goroutines %v before the broken clients, %v after %v", before, now, time.Since(start).Round(time.Millisecond))

	hist := history(t, srv, tokens[0], room)
	checkViews(t, socks, hist)
	if len(hist) != 2 {
		t.Errorf("history has %d messages; want 2", len(hist))
	}
}
