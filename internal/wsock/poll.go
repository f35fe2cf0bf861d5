package wsock

import "sync"

// watches are what a Poller watches, by id; ids count from 1 and are
// never reused, so a report that comes late reaches nothing.
type watches[T any] struct {
	mu    sync.Mutex
	next  uint64
	conns map[uint64]T
}

// add records w under a new id.
func (w *watches[T]) add(v T) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.conns == nil {
		w.conns = make(map[uint64]T)
	}
	w.next++
	w.conns[w.next] = v
	return w.next
}

func (w *watches[T]) get(id uint64) (T, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.conns[id]
	return v, ok
}

// remove forgets id, and reports what it was.
func (w *watches[T]) remove(id uint64) (T, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	v, ok := w.conns[id]
	delete(w.conns, id)
	return v, ok
}
