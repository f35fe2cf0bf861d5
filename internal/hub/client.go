package hub

import (
	"sync"
)

// Reasons a client is closed by the hub.
const (
	ReasonNone     = iota
	ReasonSlow     // its queue overflowed: it cannot keep up with its room
	ReasonShutdown // the process is stopping
	ReasonLeft     // the socket's owner left
	ReasonPolicy   // the socket broke a rule (flooding): closed after its queue is flushed
	ReasonClosed   // the socket's owner closes it (the peer's close, a protocol error), after its queue is flushed
)

// Client is one socket's membership in a room: its bounded queue of
// encoded frames, which one writer drains. The writer runs only while
// there is work: the client calls its notify function when a frame
// arrives and no writer is running, or when it is kicked; the writer
// takes frames until Take returns none, which ends its turn.
type Client struct {
	h          *Hub
	room       *room
	user       string
	extensions bool
	limit      int

	mu          sync.Mutex
	queue       [][]byte
	notify      func() // starts a writer; nil until Start
	writing     bool   // a writer's turn is on: notify is not called
	reason      int
	left        bool
	onSlow      func()
	hadPresence bool // guarded by room.mu
}

func newClient(h *Hub, user string, extensions bool, limit int) *Client {
	return &Client{h: h, user: user, extensions: extensions, limit: limit}
}

// User is the client's authenticated user.
func (c *Client) User() string { return c.user }

// Room is the client's room.
func (c *Client) Room() string { return c.room.name }

// Extensions reports whether the client takes extension frames.
func (c *Client) Extensions() bool { return c.extensions }

// Send queues a frame for this client alone (an answer, an error). It
// reports false if the client is closed or its queue overflowed, which
// closes it.
func (c *Client) Send(frame []byte) bool {
	ok, w := c.push(frame)
	c.wake(w)
	return ok
}

// wake is what a change to a client leaves to do once no lock is held:
// its writer or its end may write to the socket, or leave the room.
type wake uint8

const (
	wakeWriter wake = 1 << iota // start a writer's turn
	wakeCut                     // cut the connection of a slow client
)

// push queues frame and reports whether it was; the caller then wakes the
// client, holding no lock.
func (c *Client) push(frame []byte) (bool, wake) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason != ReasonNone {
		return false, 0
	}
	if len(c.queue) >= c.limit {
		c.h.drops.Add(1)
		return false, c.kickLocked(ReasonSlow)
	}
	c.queue = append(c.queue, frame)
	if c.turnLocked() {
		return true, wakeWriter
	}
	return true, 0
}

// wake does what w says.
func (c *Client) wake(w wake) {
	if w&wakeCut != 0 {
		c.mu.Lock()
		cut := c.onSlow
		c.mu.Unlock()
		if cut != nil {
			cut()
		}
	}
	if w&wakeWriter != 0 {
		c.notify()
	}
}

// turnLocked reports whether a writer must be started, and marks one as
// running if so.
func (c *Client) turnLocked() bool {
	if c.notify == nil || c.writing {
		return false
	}
	c.writing = true
	return true
}

// Start sets the function that starts a writer, and calls it if frames
// are waiting already (they were queued since the client joined).
func (c *Client) Start(notify func()) {
	c.mu.Lock()
	c.notify = notify
	start := (len(c.queue) > 0 || c.reason != ReasonNone) && c.turnLocked()
	c.mu.Unlock()
	if start {
		notify()
	}
}

// Passed reports whether the room has fanned out the message of seq
// already. A message it has not reaches the client through the room, in
// order; one it has can only be sent to the client directly (a retried
// client_id gets the stored message back).
func (c *Client) Passed(seq int64) bool {
	r := c.room
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.isReady() && seq < r.next
}

// Reason says why the hub closed the client.
func (c *Client) Reason() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Take returns every queued frame, oldest first, emptying the queue, and
// why the client was closed (ReasonNone while it is open). The writer
// writes the frames together. No frames end the writer's turn: the next
// frame, or a kick, starts another. buf is reused if it is large enough.
func (c *Client) Take(buf [][]byte) ([][]byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.writing = false
		return buf[:0], c.reason
	}
	buf = append(buf[:0], c.queue...)
	clear(c.queue)
	if cap(c.queue) > 64 {
		c.queue = nil // give a burst's memory back while idle
	} else {
		c.queue = c.queue[:0]
	}
	return buf, c.reason
}

// OnSlow sets a function called, once, when the client is closed for being
// too slow: the socket's owner cuts the connection, so that a writer blocked
// on a peer that does not read gives up at once.
func (c *Client) OnSlow(f func()) {
	c.mu.Lock()
	c.onSlow = f
	c.mu.Unlock()
}

// Kick closes the client for reason: no frame is queued from now on, and
// the writer is started to say goodbye (Take returns the reason); the
// socket's owner then calls Leave.
func (c *Client) Kick(reason int) {
	c.mu.Lock()
	w := c.kickLocked(reason)
	c.mu.Unlock()
	c.wake(w)
}

func (c *Client) kickLocked(reason int) wake {
	if c.reason != ReasonNone {
		return 0
	}
	c.reason = reason
	var w wake
	if reason == ReasonSlow {
		c.queue = nil // it will not be written; a shutdown flushes the queue
		w = wakeCut
	}
	if c.turnLocked() { // the writer says goodbye
		w |= wakeWriter
	}
	return w
}

// Leave removes the client from its room. Call it once the socket is done.
func (c *Client) Leave() {
	c.mu.Lock()
	if c.left {
		c.mu.Unlock()
		return
	}
	c.left = true
	if c.reason == ReasonNone {
		c.reason = ReasonLeft
	}
	c.mu.Unlock()
	c.h.leave(c)
}
