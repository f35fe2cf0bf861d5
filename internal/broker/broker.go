// Package broker carries stored messages and room events from the process
// that produced them to every process with sockets in the room. The database
// is the truth and the broker is best effort: a subscriber that may have
// missed events is told so, and recovers from the store.
package broker

import (
	"context"

	"parley/internal/chat"
)

// Event kinds.
const (
	// KindMessage carries a stored message. It is published only after
	// the message's commit.
	KindMessage = "message"
	// KindTyping says that User is typing in Room.
	KindTyping = "typing"
	// KindPresence carries Data: one process's users present in Room.
	KindPresence = "presence"
)

// Event is what travels through the broker.
type Event struct {
	Room    string        `json:"room"`
	Kind    string        `json:"kind"`
	Message *chat.Message `json:"message,omitempty"`
	User    string        `json:"user,omitempty"`
	// Origin names the process that published the event, so that a
	// process can tell its own events from others'.
	Origin string `json:"origin,omitempty"`
	// Data is a kind-specific payload, such as a presence list.
	Data []string `json:"data,omitempty"`
}

// Handler receives the events of a subscription.
type Handler interface {
	// Event is called for each event published in a subscribed room. It
	// may be called from several goroutines at once and must not block
	// for long.
	Event(ev Event)
	// Missed is called when the subscription to room may have lost
	// events, as when a connection to a shared broker dropped and came
	// back. The handler recovers what it missed from the store.
	Missed(room string)
}

// Broker publishes events to rooms and subscribes this process to them.
type Broker interface {
	// Publish sends ev to every subscriber of ev.Room, in every process,
	// this one included. This process's own subscriber gets it before
	// Publish returns; the other processes get it after, in the order of
	// the calls, and Publish does not wait for them: it waits only while
	// the broker's queue is full, until ctx ends. An event that does not
	// reach them is counted (Failed) and logged by the broker; they
	// recover a lost message from the store.
	Publish(ctx context.Context, ev Event) error
	// Failed counts the events published that did not reach the other
	// processes.
	Failed() uint64
	// Subscribe makes h receive the events of room. It returns once the
	// subscription is active: every event published after it returns
	// reaches h. Subscribing a room twice replaces its handler.
	Subscribe(ctx context.Context, room string, h Handler) error
	// Unsubscribe stops the events of room.
	Unsubscribe(ctx context.Context, room string) error
	// Ping reports whether the broker can deliver across processes now.
	Ping(ctx context.Context) error
	// Close releases the broker's resources.
	Close() error
}
