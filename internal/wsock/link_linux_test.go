package wsock

import (
	"testing"
	"time"
	"unsafe"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"

	"parley/internal/testenv"
)

// A report that finds nothing to read (bytes an earlier turn took) leaves
// the connection watched: its next message is read.
func TestEmptyReportRearms(t *testing.T) {
	tr := newTransport(t, Options{Timings: Timings{FrameWait: 200 * time.Millisecond}})
	rec := newRecorder()
	c, client := servedPair(t, tr, rec)
	c.ready(pollIn) // a stale report
	time.Sleep(300 * time.Millisecond)
	if _, err := client.Write(masked(ws.NewTextFrame([]byte("after")))); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the message", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.msgs) == 1 && rec.msgs[0] == "after"
	})
}

// A connection holds its own descriptor, and the upgraded connection it
// came from is closed; the descriptor is closed when the connection ends.
func TestOwnDescriptor(t *testing.T) {
	tr := newTransport(t, Options{})
	rec := newRecorder()
	c, client := servedPair(t, tr, rec)
	fd := c.fd
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("the connection's descriptor: %v", err)
	}
	c.Abort()
	rec.waitClosed(t, time.Second)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("the descriptor is still open after the end: %v", err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the peer can still read")
	}
}

// An idle connection is one allocation of the 256-byte size class: what
// each idle socket costs the heap, before its handler's state.
func TestConnSize(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 256 {
		t.Fatalf("a Conn is %d bytes: past the 256-byte size class, each socket holds 320", n)
	}
}
