package hub

// Member is one socket's membership of a room: who it is, what it takes,
// and where its frames go. The socket's owner ends it with Leave.
type Member struct {
	h          *Hub
	room       *room
	user       string
	extensions bool
	sink       Sink

	hadPresence bool // guarded by room.mu: it was sent the presence list
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

// Leave removes the member from its room; no frame is queued for it from
// then on. Calling it again does nothing.
func (m *Member) Leave() { m.h.leave(m) }
