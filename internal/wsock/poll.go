package wsock

import (
	"sync"
	"syscall"
)

// watches are the connections a Poller watches, by id; ids count from 1.
type watches struct {
	mu    sync.Mutex
	next  uint64
	conns map[uint64]watch
}

type watch struct {
	rc syscall.RawConn
	fn func()
}

// add records conn's raw connection and readiness function under a new id.
func (w *watches) add(conn syscall.Conn, fn func()) (uint64, watch, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, watch{}, err
	}
	wa := watch{rc: rc, fn: fn}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns == nil {
		w.conns = make(map[uint64]watch)
	}
	w.next++
	w.conns[w.next] = wa
	return w.next, wa, nil
}

func (w *watches) get(id uint64) (watch, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wa, ok := w.conns[id]
	return wa, ok
}

// remove forgets id, and reports what it was.
func (w *watches) remove(id uint64) (watch, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wa, ok := w.conns[id]
	delete(w.conns, id)
	return wa, ok
}
