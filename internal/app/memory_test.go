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
