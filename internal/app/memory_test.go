package app_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/apptest"
	"parley/internal/chat"
)

// TestFetchFloodCannotClaimMemory: one socket asks for the largest history
// page 150 times and reads nothing. The server answers one request at a
// time and writes to a peer that does not read for a bounded time, so its
// heap stays within a few answers (each under 1 MiB) instead of growing by
// all 150 of them (a 2.4 MB answer each, before). Memory, not time, is
// what is asserted: the bound is generous.
func TestFetchFloodCannotClaimMemory(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	tok := srv.User(t, "hoarder")
	ws1 := srv.Dial(t, "heavy", apptest.DialOptions{Token: tok, Extensions: true})
	escaped := strings.Repeat("\x01", chat.MaxContentLength-3) // six bytes each on the wire
	for i := range 100 {
		ws1.Post(fmt.Sprintf("%03d%s", i, escaped), fmt.Sprint("h", i))
	}
	ws1.Close()

	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	base := heap()

	conn, _ := apptest.RawDial(t, srv.Addr, "heavy", tok, nil) // never read from again
	var flood []byte
	for range 150 {
		flood = append(flood, apptest.Masked(ws.NewTextFrame([]byte(`{"command":"fetch_messages","limit":100}`)))...)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(flood); err != nil {
		t.Fatal(err)
	}
	// Watch the heap while the server deals with it (bounded: 60 samples).
	var peak uint64
	for range 60 {
		peak = max(peak, heap())
		time.Sleep(50 * time.Millisecond)
	}
	const bound = 48 << 20
	if grew := int64(peak) - int64(base); grew > bound {
		t.Fatalf("the heap grew by %d MiB for one socket asking and not reading; want under %d MiB", grew>>20, bound>>20)
	}
}

// TestIdleUserStreamMemory measures what an idle user stream holds, beside
// an idle room socket: n of each, opened bare (a TCP connection and a
// reader on the client's side, the same for both), the live heap
// measured before and after (HeapAlloc: HeapInuse counts whole pages,
// which moved each measure by a few hundred bytes a socket). It logs
// both, and fails if a stream of three rooms holds more than 256 B over
// a room socket: the stream has no hub membership and a registry entry
// of 128 B where a room socket has 320, and 64 B a room and the room's
// entry in the process's index of followers (a heap profile of 2,000
// streams, the server's side: a stream 1.36 KB, a room socket 1.55 KB);
// it held about 650 B more when its rooms were a map of store.RoomCount.
func TestIdleUserStreamMemory(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off", "--user-sockets=0"}})
	tok := srv.User(t, "idler")
	for _, room := range []string{"one", "two", "three"} {
		srv.Dial(t, room, apptest.DialOptions{Token: tok}).Post("hello "+room, "")
	}
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	const n = 300
	per := func(open func()) float64 {
		before := heap()
		for range n {
			open()
		}
		return float64(int64(heap())-int64(before)) / n
	}
	room := per(func() { apptest.RawDial(t, srv.Addr, "one", tok, nil) })
	stream := per(func() {
		_, br := apptest.RawDialPath(t, srv.Addr, "/ws/user/", tok, "parley.v1", nil)
		// The counts frame arrives first; it is read, as a client would.
		if _, err := ws.ReadFrame(br); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("heap per idle socket, client's side included: room socket %.0f B, user stream (3 rooms) %.0f B", room, stream)
	if stream > room+256 {
		t.Errorf("an idle user stream holds %.0f B, a room socket %.0f B; want at most 256 B more", stream, room)
	}
}
