package store

import (
	"context"
	"fmt"
	"slices"

	"parley/internal/chat"
)

// InsertMessage stores m as the next message of its room, creating the room
// if needed (its author recorded as the one who made it), and returns it
// with created true. If m has a ClientID and its
// author already sent that ClientID to that room, InsertMessage stores
// nothing, takes no seq, and returns the stored message with created false;
// this holds also when the two sends race.
//
// The caller has checked m with chat.CheckNewMessage; an invalid room name
// is still refused with a *chat.Error with code chat.EInvalid.
//
// The author is also recorded as a member of the room who has read up to the
// new message.
//
// Concurrent calls are written together, in one transaction with one
// commit (group commit). A call whose ctx is done before a writer takes its
// message returns ctx.Err() and stores nothing; once taken, the message is
// committed or not regardless of ctx, and the call waits for the outcome.
// If a batch fails, its messages are written again one by one, so one bad
// message fails alone.
func (s *Store) InsertMessage(ctx context.Context, m chat.NewMessage) (msg chat.Message, created bool, err error) {
	return s.SubmitMessage(ctx, m).Wait()
}

// SubmitMessage is InsertMessage without the wait: it hands m to the store
// and returns at once; Wait on the result gives InsertMessage's outcome.
// Messages one goroutine submits to one room are stored in that order, so a
// client's messages keep their order even while several are in flight.
func (s *Store) SubmitMessage(ctx context.Context, m chat.NewMessage) *Pending {
	return s.submit(ctx, m, true)
}

// SubmitToRoom is SubmitMessage into a room that exists: a message to one
// that does not is answered ErrNoRoom, and nothing is stored. Knowing
// costs nothing more: the batch reads the room's row anyway.
func (s *Store) SubmitToRoom(ctx context.Context, m chat.NewMessage) *Pending {
	return s.submit(ctx, m, false)
}

func (s *Store) submit(ctx context.Context, m chat.NewMessage, create bool) *Pending {
	if !chat.ValidRoomName(m.Room) {
		return &Pending{err: chat.Errorf(chat.EInvalid, "Invalid room name.")}
	}
	m.Room = chat.NormalizeRoomName(m.Room)
	return s.batches.submit(ctx, change{room: m.Room, msg: m, create: create})
}

// Page selects the messages of a room that Messages returns.
//
//   - Before and After zero, FromStart false: the latest Limit messages.
//   - Before > 0: the Limit messages just before seq Before.
//   - After > 0, or FromStart: the first Limit messages after seq After
//     (FromStart with After 0: from the room's first message).
//
// Limit is clamped to 1..chat.MaxFetchLimit; 0 means DefaultLimit.
type Page struct {
	Before    int64
	After     int64
	FromStart bool
	Limit     int
}

// DefaultLimit is how many messages a Page with Limit 0 returns.
const DefaultLimit = 20

// Messages returns a page of the room's messages, always in ascending seq.
// hasMore says whether the room has more messages beyond the page: older
// ones before the first returned, for the latest or Before pages; newer ones
// after the last returned, for After pages. A room that does not exist has
// no messages. A page with both Before and After, or a negative one, is a
// *chat.Error with code chat.EInvalid.
func (s *Store) Messages(ctx context.Context, room string, p Page) (msgs []chat.Message, hasMore bool, err error) {
	if p.Before < 0 || p.After < 0 || p.Before > 0 && (p.After > 0 || p.FromStart) {
		return nil, false, chat.Errorf(chat.EInvalid, "Ask for messages before a seq or after one, not both.")
	}
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	limit = min(max(limit, 1), chat.MaxFetchLimit)
	if !chat.ValidRoomName(room) {
		return []chat.Message{}, false, nil
	}
	room = chat.NormalizeRoomName(room)

	const cols = "SELECT id, seq, author, content, created_at, client_id FROM messages "
	var (
		rs         rows
		descending bool
	)
	// One row more than asked tells whether there are more.
	switch {
	case p.After > 0 || p.FromStart:
		rs, err = s.read.query(ctx, cols+"WHERE room = $1 AND seq > $2 ORDER BY seq LIMIT $3", room, p.After, limit+1)
	case p.Before > 0:
		descending = true
		rs, err = s.read.query(ctx, cols+"WHERE room = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3", room, p.Before, limit+1)
	default:
		descending = true
		rs, err = s.read.query(ctx, cols+"WHERE room = $1 ORDER BY seq DESC LIMIT $2", room, limit+1)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: messages: %w", err)
	}
	defer rs.Close()
	msgs = make([]chat.Message, 0, limit+1)
	for rs.Next() {
		m := chat.Message{Room: room}
		var clientID *string
		if err := rs.Scan(&m.ID, &m.Seq, &m.Author, &m.Content, timeCol{&m.Timestamp}, &clientID); err != nil {
			return nil, false, fmt.Errorf("store: messages: %w", err)
		}
		if clientID != nil {
			m.ClientID = *clientID
		}
		msgs = append(msgs, m)
	}
	if err := rs.Err(); err != nil {
		return nil, false, fmt.Errorf("store: messages: %w", err)
	}
	if len(msgs) > limit {
		hasMore = true
		msgs = msgs[:limit]
	}
	if descending {
		slices.Reverse(msgs)
	}
	return msgs, hasMore, nil
}

// MessageCount returns how many messages are stored, in all rooms. It adds
// up the rooms' last seqs, which equals the count because seqs have no gaps
// and messages are not deleted, and costs one row per room instead of one
// per message.
func (s *Store) MessageCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.queryRow(ctx, "SELECT CAST(COALESCE(SUM(last_seq), 0) AS BIGINT) FROM rooms").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: message count: %w", err)
	}
	return n, nil
}
