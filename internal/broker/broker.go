// Package broker carries stored messages and room events from the process
// that produced them to every process with sockets in the room, and
// process-wide events to every process. The database is the truth and the
// broker is best effort: a subscriber that may have missed events is told
// so, and recovers from the store.
package broker

import (
	"context"

	"parley/internal/chat"
)

// Kind says what an event carries. On the wire a kind is its name, a
// string, so that processes of two versions read each other's events.
type Kind uint8

// Event kinds. A kind once named keeps its name: another process may be of
// an older or a newer version.
const (
	// KindUnknown is a kind this process does not know, as one a newer
	// process sends. Handlers ignore it, and Publish refuses it.
	KindUnknown Kind = iota
	// KindMessage carries a stored message. It is published only after
	// the message's commit.
	KindMessage
	// KindTyping says that User is typing in Room.
	KindTyping
	// KindPresence carries Users: one process's users present in Room.
	KindPresence
	// KindChange carries a stored change to a message (an edit, a
	// deletion, a reaction): an entry of the room's log like a message,
	// published only after its commit.
	KindChange
	// KindRevoked is process-wide (Room ""): the sessions or tokens whose
	// hashes (hex) are Credentials have ended; every process closes the
	// sockets they opened.
	KindRevoked
	// KindUserRevoked is process-wide (Room ""): every session and token
	// of User has ended but the one whose hash (hex) is Keep, if any;
	// every process closes the user's sockets but those Keep opened.
	KindUserRevoked
	// KindUserChanged is process-wide (Room ""): User's role (or
	// another part of the account a socket acts on) has changed; every
	// process closes the user's sockets so that they reconnect as the
	// account is now.
	KindUserChanged
	// KindRoomChanged is process-wide (Room ""): who may do what in the
	// room Subject changed (its kind, its members, an archive, a mute of
	// User, or of everyone when User is ""). Every process reads again
	// the place of its sockets in it, and closes those that may no longer
	// read it; User's streams read that room's counts again.
	KindRoomChanged
	// KindRead is process-wide (Room ""): User has read the room Subject
	// up to Seq (a read marker moved). User streams of every process
	// update that room's counts.
	KindRead
	// KindRooms is process-wide (Room ""): User's place in the room
	// Subject changed: entered, left, or their level set. User streams of
	// every process read that room's counts again.
	KindRooms
)

// kindNames are the kinds' names on the wire, by kind.
var kindNames = [...]string{
	KindUnknown:     "unknown",
	KindMessage:     "message",
	KindTyping:      "typing",
	KindPresence:    "presence",
	KindChange:      "change",
	KindRevoked:     "revoked",
	KindUserRevoked: "user_revoked",
	KindUserChanged: "user_changed",
	KindRoomChanged: "room_changed",
	KindRead:        "read",
	KindRooms:       "rooms",
}

// String returns the kind's name on the wire; "unknown" for a kind this
// process does not know.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return kindNames[KindUnknown]
}

// Known reports whether k is one of this process's kinds, other than
// KindUnknown.
func (k Kind) Known() bool { return k != KindUnknown && int(k) < len(kindNames) }

// kindNamed returns the kind called name; KindUnknown for a name this
// process does not know.
func kindNamed(name []byte) Kind {
	switch string(name) {
	case "message":
		return KindMessage
	case "typing":
		return KindTyping
	case "presence":
		return KindPresence
	case "change":
		return KindChange
	case "revoked":
		return KindRevoked
	case "user_revoked":
		return KindUserRevoked
	case "user_changed":
		return KindUserChanged
	case "room_changed":
		return KindRoomChanged
	case "read":
		return KindRead
	case "rooms":
		return KindRooms
	}
	return KindUnknown
}

// MarshalText returns the kind's name (String).
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name. A name this process does not know
// reads as KindUnknown, not as an error: a newer process may send it.
func (k *Kind) UnmarshalText(b []byte) error {
	*k = kindNamed(b)
	return nil
}

// Event is what travels through the broker. Which fields it carries
// depends on its Kind.
type Event struct {
	// Room is the room the event is about; "" for a process-wide event
	// (see Broker).
	Room string `json:"room"`
	Kind Kind   `json:"kind"`
	// Message is KindMessage's stored message.
	Message *chat.Message `json:"message,omitempty"`
	// Change is KindChange's stored change.
	Change *chat.Change `json:"change,omitempty"`
	// User is KindTyping's user, KindUserRevoked's, KindUserChanged's,
	// KindRead's and KindRooms', and KindRoomChanged's (the one user
	// concerned; "" for everyone in the room).
	User string `json:"user,omitempty"`
	// Origin names the process that published the event, so that a
	// process can tell its own events from others'.
	Origin string `json:"origin,omitempty"`
	// Users is KindPresence's list: the users with a socket in Room at
	// Origin, none when the last one left. On the wire its key is "data",
	// as it was before it had a name of its own.
	Users []string `json:"data,omitempty"`
	// Credentials are KindRevoked's: hashes of sessions and tokens, in
	// hex.
	Credentials []string `json:"credentials,omitempty"`
	// Keep is KindUserRevoked's: the hash (hex) of the one session or
	// token of User that goes on, if any.
	Keep string `json:"keep,omitempty"`
	// Subject is the room KindRead, KindRooms and KindRoomChanged are
	// about (their Room is "", the process-wide topic).
	Subject string `json:"subject,omitempty"`
	// Seq is KindRead's: the seq the user has read to.
	Seq int64 `json:"seq,omitempty"`
	// Epoch is KindMessage's and KindChange's: the room's access epoch
	// the entry was written under (chat.Message.Epoch, which a decoded
	// event's entry gets from it); and KindRoomChanged's, for a change
	// that concerned User alone: the epoch it made (0 if none).
	Epoch int64 `json:"epoch,omitempty"`
}

// Handler receives the events of a subscription.
type Handler interface {
	// Event is called for each event published in a subscribed room. It
	// may be called from several goroutines at once and must not block
	// for long. It ignores an event of KindUnknown.
	Event(ev Event)
	// Missed is called when the subscription to room may have lost
	// events, as when a connection to a shared broker dropped and came
	// back. The handler recovers what it missed from the store.
	Missed(room string)
}

// Broker publishes events and subscribes this process to them.
//
// An event goes to the processes subscribed to its room. The empty room,
// "", is the process-wide topic, for events about no room that every
// process may need (a session's sockets to close, a user deactivated, a
// user's role or rooms changed): a process subscribes to it with
// Subscribe(ctx, "", h), and an event whose Room is "" goes there. It is a
// topic like any room's in every other way: the same order, the same
// Missed (with ""), the same Unsubscribe. No room is named "" (room names
// are 1 to 64 characters), so no room shares its events.
type Broker interface {
	// Publish sends ev to every subscriber of ev.Room, in every process,
	// this one included. This process's own subscriber gets it before
	// Publish returns; the other processes get it after, in the order of
	// the calls, and Publish does not wait for them: it waits only while
	// the broker's queue is full, until ctx ends. An event that does not
	// reach them is counted (Failed) and logged by the broker; they
	// recover a lost message from the store. An event whose Kind is not
	// Known is refused (ErrUnknownKind) and reaches no one.
	Publish(ctx context.Context, ev Event) error
	// Failed counts the events published that did not reach the other
	// processes.
	Failed() uint64
	// Subscribe makes h receive the events of room ("" for the
	// process-wide events). It returns once the subscription is active:
	// every event published after it returns reaches h. Subscribing a
	// room twice replaces its handler.
	Subscribe(ctx context.Context, room string, h Handler) error
	// Unsubscribe stops the events of room.
	Unsubscribe(ctx context.Context, room string) error
	// Ping reports whether the broker can deliver across processes now.
	Ping(ctx context.Context) error
	// Close releases the broker's resources.
	Close() error
}
