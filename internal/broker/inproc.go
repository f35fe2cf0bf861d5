package broker

import (
	"context"
	"fmt"
	"sync"
)

// InProcess is the Broker of a single process: Publish hands the event to
// the room's handler directly, in the caller's goroutine. Nothing is queued,
// so nothing can be lost and Missed is never called. The process-wide
// topic, room "", has its handler like any room.
type InProcess struct {
	mu     sync.RWMutex
	rooms  map[string]Handler
	closed bool
}

var _ Broker = (*InProcess)(nil)

// NewInProcess returns an in-process broker with no subscriptions.
func NewInProcess() *InProcess {
	return &InProcess{rooms: make(map[string]Handler)}
}

// Publish calls the Event method of ev.Room's handler, if the room has one,
// before it returns. The handler is called without any lock held, so it may
// itself publish, subscribe or unsubscribe. An event of a kind not Known is
// refused.
func (b *InProcess) Publish(_ context.Context, ev Event) error {
	if !ev.Kind.Known() {
		return fmt.Errorf("%w %d (room %q)", ErrUnknownKind, ev.Kind, ev.Room)
	}
	b.mu.RLock()
	h := b.rooms[ev.Room]
	closed := b.closed
	b.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if h != nil {
		h.Event(ev)
	}
	return nil
}

// Failed is 0: there are no other processes to miss an event.
func (b *InProcess) Failed() uint64 { return 0 }

// Subscribe makes h the handler of room, replacing any earlier one.
func (b *InProcess) Subscribe(_ context.Context, room string, h Handler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.rooms[room] = h
	return nil
}

// Unsubscribe removes room's handler. A Publish already under way may still
// call it once.
func (b *InProcess) Unsubscribe(_ context.Context, room string) error {
	b.mu.Lock()
	delete(b.rooms, room)
	b.mu.Unlock()
	return nil
}

// Ping reports nil: there is nothing between processes to fail. After Close
// it reports ErrClosed.
func (b *InProcess) Ping(context.Context) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Close drops every subscription; later calls to Publish and Subscribe
// return ErrClosed. Closing twice is harmless.
func (b *InProcess) Close() error {
	b.mu.Lock()
	b.closed = true
	clear(b.rooms)
	b.mu.Unlock()
	return nil
}
