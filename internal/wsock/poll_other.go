//go:build !linux

package wsock

import (
	"sync"
	"syscall"
)

// Poller tells when connections have bytes to read. Off Linux it waits on
// each armed connection with a goroutine of its own, through the runtime's
// poller: the same contract, without the memory saving of epoll.
type Poller struct {
	mu    sync.Mutex
	next  uint64
	conns map[uint64]watch
}

type watch struct {
	rc syscall.RawConn
	fn func()
}

// NewPoller returns a poller. Close stops it.
func NewPoller() (*Poller, error) { return &Poller{conns: make(map[uint64]watch)}, nil }

// Add watches conn: onReadable is called, in a goroutine of its own, the
// next time conn has bytes to read or is closed by its peer; call Rearm
// after reading to be called again.
func (p *Poller) Add(conn syscall.Conn, onReadable func()) (uint64, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	p.next++
	id := p.next
	p.conns[id] = watch{rc: rc, fn: onReadable}
	p.mu.Unlock()
	p.Rearm(id)
	return id, nil
}

// Rearm asks for the next readiness of the connection id.
func (p *Poller) Rearm(id uint64) {
	p.mu.Lock()
	w, ok := p.conns[id]
	p.mu.Unlock()
	if !ok {
		return
	}
	go func() {
		waited := false
		// The first call asks the runtime to wait; the second comes when
		// the descriptor is readable (or closed).
		err := w.rc.Read(func(uintptr) bool {
			done := waited
			waited = true
			return done
		})
		p.mu.Lock()
		_, still := p.conns[id]
		p.mu.Unlock()
		if err == nil && still {
			w.fn()
		}
	}()
}

// Remove stops watching the connection id.
func (p *Poller) Remove(id uint64) {
	p.mu.Lock()
	delete(p.conns, id)
	p.mu.Unlock()
}

// Close stops the poller.
func (p *Poller) Close() {}
