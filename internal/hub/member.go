package hub

import (
	"time"

	"parley/internal/chat"
)

// Member is one socket's membership of a room: who it is, what it takes,
// and where its frames go. The socket's owner ends it with Leave.
type Member struct {
	h          *Hub
	room       *room
	user       string
	extensions bool
	sink       Sink   // nowhere once it is stale (Joining.Epoch)
	stale      func() // Joining.Stale

	// Guarded by room.mu.
	epoch       int64 // the access epoch its socket was checked under
	hadPresence bool  // it was sent the presence list
	held        *held // its live messages held back (Joining.Hold), or nil
	// after are frames to send the member once the room has sent it the
	// entry of their seq (SendAfter).
	after []heldFrame
}

// held are a held member's live messages, waiting for its first history
// answer.
type held struct {
	frames []heldFrame
	timer  *time.Timer // started at the first frame held: HoldFor
}

// holding is the hold of a member that has nothing held yet: one for all,
// never changed, so that a held socket costs nothing until a message
// comes (most are released by their first fetch before any).
var holding = new(held)

type heldFrame struct {
	seq   int64
	frame []byte
}

// User is the member's authenticated user.
func (m *Member) User() string { return m.user }

// Room is the member's room.
func (m *Member) Room() string { return m.room.name }

// Extensions reports whether the member takes extension frames.
func (m *Member) Extensions() bool { return m.extensions }

// Passed reports whether the room has fanned out the message of seq
// already. A message it has not reaches the member through the room, in
// order; one it has can only be sent to the member directly (a retried
// client_id gets the stored message back).
func (m *Member) Passed(seq int64) bool {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.isReady() && seq < r.next
}

// Covers reports whether the room's log up to seq has come through this
// process's fan-out under no access epoch later than the one the member
// was checked under (Joining.Epoch), the member not dropped: then an
// answer from the store that ends at seq holds nothing written after a
// change of who may read the room that the member was not checked
// against. Otherwise the caller reads the room's epoch to know.
func (m *Member) Covers(seq int64) bool {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.isReady() && seq < r.next && r.epoch <= m.epoch && m.sink != nowhere
}

// SendAfter queues frame, an encoded frame (Options.Wire makes it what
// the socket writes), for the member alone once the room has sent it the
// entry of seq: now, if it has. So an answer about an entry never arrives
// ahead of the entries before it.
func (m *Member) SendAfter(seq int64, frame []byte) {
	r := m.room
	frame = m.h.opt.Wire(frame)
	r.locked(func(w *wakes) {
		if r.isReady() && seq < r.next {
			w.queue(m, frame)
			return
		}
		m.after = append(m.after, heldFrame{seq, frame})
	})
}

// sentLocked sends the frames waiting for the entry of seq, or one
// before it, which the room has just sent.
func (m *Member) sentLocked(w *wakes, seq int64) {
	kept := m.after[:0]
	for _, f := range m.after {
		if f.seq <= seq {
			w.queue(m, f.frame)
		} else {
			kept = append(kept, f)
		}
	}
	clear(m.after[len(kept):])
	m.after = kept
}

// hold keeps a live message back, under the room's lock, or lets every
// held message go if the hold is full.
func (m *Member) hold(w *wakes, seq int64, frame []byte) {
	h := m.held
	if h == holding {
		h = new(held)
		m.held = h
	}
	if len(h.frames) >= m.h.opt.HoldMessages {
		m.unholdLocked(w, 0)
		w.queue(m, frame)
		return
	}
	h.frames = append(h.frames, heldFrame{seq, frame})
	if h.timer == nil {
		r := m.room
		h.timer = time.AfterFunc(m.h.opt.HoldFor, func() {
			r.locked(func(w *wakes) {
				if m.held == h {
					m.unholdLocked(w, 0)
				}
			})
		})
	}
}

// unholdLocked ends the hold: the held messages after seq after go out.
func (m *Member) unholdLocked(w *wakes, after int64) {
	h := m.held
	m.held = nil
	if h.timer != nil {
		h.timer.Stop()
	}
	for _, f := range h.frames {
		if f.seq > after {
			w.queue(m, f.frame)
		}
	}
}

// HeldBelow reports, for a held member, the seq of the next message its
// room will fan out: a first history answer of the messages below it is
// whole (Release drops none of it), and what follows it comes live. ok is
// false if the member is not held or its room does not know its seqs yet.
func (m *Member) HeldBelow() (seq int64, ok bool) {
	r := m.room
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.held == nil || !r.isReady() {
		return 0, false
	}
	return r.next, true
}

// Release sends a held member its first history answer and ends its
// hold. msgs are what the store returned, ascending; those the room has
// not fanned out yet are dropped, as they will follow live. encode makes
// the answer's frame from the rest (under the room's lock); it goes out,
// then the held messages that follow it: history, then live, in order,
// none twice. Release reports false, doing nothing, if the member is not
// held: the caller sends its answer as usual.
func (m *Member) Release(msgs []chat.Message, encode func([]chat.Message) []byte) bool {
	r := m.room
	released := false
	r.locked(func(w *wakes) {
		if m.held == nil {
			return
		}
		released = true
		// A message committed but not yet fanned out comes live, after.
		n := len(msgs)
		for n > 0 && (!r.isReady() || msgs[n-1].Seq >= r.next) {
			n--
		}
		msgs = msgs[:n]
		w.queue(m, encode(msgs))
		var last int64
		if n > 0 {
			last = msgs[n-1].Seq
		}
		m.unholdLocked(w, last)
	})
	return released
}

// Unhold ends a held member's hold without an answer, its held messages
// going out: the socket sent something other than a history request
// first, or is about to be closed. It does nothing to a member not held.
func (m *Member) Unhold() {
	m.room.locked(func(w *wakes) {
		if m.held != nil {
			m.unholdLocked(w, 0)
		}
	})
}

// Leave removes the member from its room; no frame is queued for it from
// then on. Calling it again does nothing.
func (m *Member) Leave() { m.h.leave(m) }
