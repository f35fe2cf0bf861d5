package wsock

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// clientFrames encodes frames as a client sends them: masked.
func clientFrames(t *testing.T, frames ...ws.Frame) *bufio.Reader {
	t.Helper()
	var b bytes.Buffer
	for _, f := range frames {
		if err := ws.WriteFrame(&b, ws.MaskFrame(f)); err != nil {
			t.Fatal(err)
		}
	}
	return bufio.NewReader(&b)
}

func TestServerFramesReadBack(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		payload := bytes.Repeat([]byte("x"), n)
		f, err := ws.ReadFrame(bytes.NewReader(Text(payload)))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !f.Header.Fin || f.Header.OpCode != ws.OpText || f.Header.Masked || !bytes.Equal(f.Payload, payload) {
			t.Fatalf("%d bytes: header %+v, %d bytes back", n, f.Header, len(f.Payload))
		}
	}
	f, err := ws.ReadFrame(bytes.NewReader(CloseFrame(StatusGoingAway, "server shutting down")))
	if err != nil {
		t.Fatal(err)
	}
	if code, reason := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != 1001 || reason != "server shutting down" {
		t.Fatalf("close frame %+v: %d %q", f.Header, code, reason)
	}
	long := CloseFrame(StatusPolicyViolation, strings.Repeat("r", 300))
	if f, _ := ws.ReadFrame(bytes.NewReader(long)); f.Header.Length != 125 {
		t.Fatalf("a long close reason gives %d bytes, over a control frame's 125", f.Header.Length)
	}
	if f, _ := ws.ReadFrame(bytes.NewReader(CloseFrame(StatusNoStatus, ""))); f.Header.OpCode != ws.OpClose || f.Header.Length != 0 {
		t.Fatalf("a close without status: %+v", f.Header)
	}
}

func TestReaderJoinsFragmentsAndPassesControlFrames(t *testing.T) {
	br := clientFrames(t,
		ws.NewFrame(ws.OpText, false, []byte("hel")),
		ws.NewPingFrame([]byte("p")), // control frames may come between fragments
		ws.NewFrame(ws.OpContinuation, false, []byte("lo, ")),
		ws.NewFrame(ws.OpContinuation, true, []byte("wörld")),
		ws.NewBinaryFrame([]byte{0xff, 0}),
		ws.NewCloseFrame(ws.NewCloseFrameBody(1000, "bye")),
		ws.NewCloseFrame(nil),
	)
	r := Reader{Limit: 1 << 10}
	want := []Message{
		{Op: ws.OpPing, Data: []byte("p")},
		{Op: ws.OpText, Data: []byte("hello, wörld")},
		{Op: ws.OpBinary, Data: []byte{0xff, 0}},
		{Op: ws.OpClose, Code: 1000, Data: []byte("bye")},
		{Op: ws.OpClose, Code: StatusNoStatus},
	}
	for i, w := range want {
		m, err := r.Next(br)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Op != w.Op || m.Code != w.Code || !bytes.Equal(m.Data, w.Data) {
			t.Fatalf("message %d: got %v %d %q, want %v %d %q", i, m.Op, m.Code, m.Data, w.Op, w.Code, w.Data)
		}
	}
	if _, err := r.Next(br); err != io.EOF {
		t.Fatalf("at the end: %v", err)
	}
}

func TestReaderRefusesBreaches(t *testing.T) {
	masked := func(f ws.Frame) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, ws.MaskFrame(f))
		return b.Bytes()
	}
	unmasked := func(f ws.Frame) []byte {
		var b bytes.Buffer
		_ = ws.WriteFrame(&b, f)
		return b.Bytes()
	}
	rsv := ws.NewTextFrame([]byte("x"))
	rsv.Header.Rsv = ws.Rsv(true, false, false)
	longPing := ws.NewPingFrame(bytes.Repeat([]byte("p"), 126))
	for _, tc := range []struct {
		name string
		in   []byte
		code int
	}{
		{"unmasked", unmasked(ws.NewTextFrame([]byte("hi"))), StatusProtocolError},
		{"reserved bits", masked(rsv), StatusProtocolError},
		{"reserved opcode", masked(ws.NewFrame(ws.OpCode(3), true, nil)), StatusProtocolError},
		{"continuation first", masked(ws.NewFrame(ws.OpContinuation, true, []byte("x"))), StatusProtocolError},
		{"text within a fragmented message", append(masked(ws.NewFrame(ws.OpText, false, []byte("a"))), masked(ws.NewTextFrame([]byte("b")))...), StatusProtocolError},
		{"control frame over 125 bytes", masked(longPing), StatusProtocolError},
		{"fragmented control frame", masked(ws.NewFrame(ws.OpPing, false, nil)), StatusProtocolError},
		{"close of one byte", masked(ws.NewCloseFrame([]byte{3})), StatusProtocolError},
		{"close with a reserved code", masked(ws.NewCloseFrame(ws.NewCloseFrameBody(1005, ""))), StatusProtocolError},
		{"text not UTF-8", masked(ws.NewTextFrame([]byte{0xc3, 0x28})), StatusInvalidData},
		{"one frame too big", masked(ws.NewTextFrame(bytes.Repeat([]byte("x"), 101))), StatusMessageTooBig},
		{"fragments too big together", append(masked(ws.NewFrame(ws.OpText, false, bytes.Repeat([]byte("x"), 60))),
			masked(ws.NewFrame(ws.OpContinuation, true, bytes.Repeat([]byte("x"), 60)))...), StatusMessageTooBig},
	} {
		r := Reader{Limit: 100}
		br := bufio.NewReader(bytes.NewReader(tc.in))
		var err error
		for err == nil {
			_, err = r.Next(br)
		}
		var ce *CloseError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("%s: %v, want close %d", tc.name, err, tc.code)
		}
	}
}

func TestTooBigIsRefusedBeforeItsPayload(t *testing.T) {
	// Only the header of a 1 GiB frame arrives: the refusal must not wait
	// for (or allocate) the rest.
	head := []byte{0x81, 0x80 | 127, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4}
	r := Reader{Limit: 64 << 10}
	_, err := r.Next(bufio.NewReader(bytes.NewReader(head)))
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("got %v", err)
	}
}

func TestFrameCutShortIsUnexpectedEOF(t *testing.T) {
	var b bytes.Buffer
	_ = ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte("hello"))))
	r := Reader{Limit: 100}
	_, err := r.Next(bufio.NewReader(bytes.NewReader(b.Bytes()[:b.Len()-2])))
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
}

func BenchmarkText(b *testing.B) {
	payload := []byte(`{"command":"new_message","message":{"id":123456,"room":"lobby","seq":98765,"author":"alice","content":"a message of ordinary length, say forty-odd bytes","timestamp":"2026-11-25T19:00:00.123456Z"}}`)
	b.ReportAllocs()
	for b.Loop() {
		Text(payload)
	}
}

func BenchmarkReaderNext(b *testing.B) {
	var one bytes.Buffer
	_ = ws.WriteFrame(&one, ws.MaskFrame(ws.NewTextFrame([]byte(`{"command":"new_message","message":"a message of ordinary length, say forty-odd bytes","client_id":"c-1"}`))))
	frame := one.Bytes()
	src := bytes.NewReader(nil)
	br := bufio.NewReader(src)
	r := Reader{Limit: 64 << 10}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		src.Reset(frame)
		br.Reset(src)
		if _, err := r.Next(br); err != nil {
			b.Fatal(err)
		}
	}
}

// Offers finds the subprotocol in any of the client's lists, by its exact
// name, as Upgrade chooses it.
func TestOffers(t *testing.T) {
	for _, c := range []struct {
		headers []string
		want    bool
	}{
		{[]string{"parley.v1"}, true},
		{[]string{"chat, parley.v1"}, true},
		{[]string{"chat", " parley.v1 "}, true},
		{[]string{"Parley.v1"}, false},
		{[]string{"parley.v10"}, false},
		{nil, false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/ws/chat/lobby/", nil)
		for _, h := range c.headers {
			r.Header.Add("Sec-WebSocket-Protocol", h)
		}
		if got := Offers(r, "parley.v1"); got != c.want {
			t.Errorf("%q: %v, want %v", c.headers, got, c.want)
		}
	}
}
