package wsock

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// fdOf returns conn's descriptor (conn keeps it).
func fdOf(t *testing.T, conn net.Conn) int {
	t.Helper()
	rc, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(s uintptr) { fd = int(s) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// watcherFunc is a watcher told of every report.
type watcherFunc func(events uint32)

func (f watcherFunc) ready(events uint32) { f(events) }

func expect(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("no call: %s", what)
	}
}

func expectNone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("an unexpected call: %s", what)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestPollerReportsOncePerArming(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	server, client := pair(t)
	ready := make(chan struct{}, 10)
	fd := fdOf(t, server)
	id, err := p.Add(fd, watcherFunc(func(uint32) { ready <- struct{}{} }), pollIn)
	if err != nil {
		t.Fatal(err)
	}
	expectNone(t, ready, "nothing was sent")

	client.Write([]byte("ab"))
	expect(t, ready, "bytes arrived")
	client.Write([]byte("cd"))
	expectNone(t, ready, "more bytes before the rearm")

	// Unread bytes are reported as soon as the connection is armed again.
	if err := p.Modify(fd, id, pollIn); err != nil {
		t.Fatal(err)
	}
	expect(t, ready, "bytes left unread at the rearm")
	buf := make([]byte, 4)
	if n, _ := server.Read(buf); n != 4 {
		t.Fatalf("read %d bytes", n)
	}
	if err := p.Modify(fd, id, pollIn); err != nil {
		t.Fatal(err)
	}
	expectNone(t, ready, "everything was read")

	client.Close()
	expect(t, ready, "the peer closed")

	p.Remove(fd, id)
	if err := p.Modify(fd, id, pollIn); err == nil {
		t.Fatal("Modify of a removed descriptor succeeded")
	}
	expectNone(t, ready, "removed")
}

func TestPollerWatchesManyAndCloses(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	ready := make(chan int, n)
	clients := make([]net.Conn, n)
	for i := range n {
		server, client := pair(t)
		clients[i] = client
		if _, err := p.Add(fdOf(t, server), watcherFunc(func(uint32) { ready <- i }), pollIn); err != nil {
			t.Fatal(err)
		}
	}
	for i := n - 1; i >= 0; i-- {
		clients[i].Write([]byte{1})
	}
	seen := make(map[int]bool)
	for len(seen) < n {
		select {
		case i := <-ready:
			if seen[i] {
				t.Fatalf("connection %d reported twice", i)
			}
			seen[i] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d reported", len(seen), n)
		}
	}
	p.Close()
	p.Close() // twice is harmless
}
