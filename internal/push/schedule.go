package push

import (
	"container/heap"
	"sync"
	"time"
)

// waiting holds the jobs that wait for a time: delayed messages and
// retries. One goroutine (Sender.schedule) and one timer serve them all:
// the timer is set for the earliest.
type waiting struct {
	mu     sync.Mutex
	h      entries
	max    int
	seq    uint64
	closed bool
	wake   chan struct{} // a change the scheduler must look at; holds one
}

type entry struct {
	at  time.Time
	seq uint64 // keeps jobs due at the same time in the order they came
	j   *job
}

// entries is a min-heap of entries by time.
type entries []entry

func (h entries) Len() int { return len(h) }
func (h entries) Less(i, k int) bool {
	if h[i].at.Equal(h[k].at) {
		return h[i].seq < h[k].seq
	}
	return h[i].at.Before(h[k].at)
}
func (h entries) Swap(i, k int) { h[i], h[k] = h[k], h[i] }
func (h *entries) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entries) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return e
}

func newWaiting(max int) *waiting {
	return &waiting{max: max, wake: make(chan struct{}, 1)}
}

// add keeps j until at; it fails when max jobs already wait (ErrQueueFull)
// or the Sender is closing (ErrClosed).
func (w *waiting) add(at time.Time, j *job) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case len(w.h) >= w.max:
		w.mu.Unlock()
		return ErrQueueFull
	}
	w.seq++
	heap.Push(&w.h, entry{at: at, seq: w.seq, j: j})
	first := w.h[0].j == j
	w.mu.Unlock()
	if first {
		w.poke()
	}
	return nil
}

// poke tells the scheduler to look again.
func (w *waiting) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// due removes and returns the jobs due at now, and the time of the next.
func (w *waiting) due(now time.Time) (due []*job, next time.Time, more bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.h) > 0 && !w.h[0].at.After(now) {
		due = append(due, heap.Pop(&w.h).(entry).j)
	}
	if len(w.h) > 0 {
		return due, w.h[0].at, true
	}
	return due, time.Time{}, false
}

// close refuses every later add and returns what was waiting.
func (w *waiting) close() []*job {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	js := make([]*job, len(w.h))
	for i, e := range w.h {
		js[i] = e.j
	}
	w.h = nil
	return js
}

func (w *waiting) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.h)
}
