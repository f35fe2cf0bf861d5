//go:build !linux

package wsock

import "syscall"

// Poller tells when connections have bytes to read. Off Linux it waits on
// each armed connection with a goroutine of its own, through the runtime's
// poller: the same contract, without the memory saving of epoll.
type Poller struct{ watches[watch] }

type watch struct {
	rc syscall.RawConn
	fn func()
}

// NewPoller returns a poller. Close stops it.
func NewPoller() (*Poller, error) { return &Poller{}, nil }

// Add watches conn: onReadable is called, in a goroutine of its own, the
// next time conn has bytes to read or is closed by its peer; call Rearm
// after reading to be called again.
func (p *Poller) Add(conn syscall.Conn, onReadable func()) (uint64, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	id := p.add(watch{rc: rc, fn: onReadable})
	p.Rearm(id)
	return id, nil
}

// Rearm asks for the next readiness of the connection id.
func (p *Poller) Rearm(id uint64) {
	w, ok := p.get(id)
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
		if _, still := p.get(id); err == nil && still {
			w.fn()
		}
	}()
}

// Remove stops watching the connection id.
func (p *Poller) Remove(id uint64) { p.remove(id) }

// Close stops the poller.
func (p *Poller) Close() {}
