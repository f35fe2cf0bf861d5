package store

import (
	"context"
	"fmt"
	"slices"

	"parley/internal/chat"
)

// InsertMessage stores m as the next message of its room, creating the room
// if needed, and returns it with created true. If m has a ClientID and its
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
// On SQLite concurrent calls are committed together (group commit). A call
// whose ctx is done before the writer takes its message returns ctx.Err()
// and stores nothing; once taken, the message is committed or not regardless
// of ctx, and the call waits for the outcome.
func (s *Store) InsertMessage(ctx context.Context, m chat.NewMessage) (msg chat.Message, created bool, err error) {
	if !chat.ValidRoomName(m.Room) {
		return chat.Message{}, false, chat.Errorf(chat.EInvalid, "Invalid room name.")
	}
	if s.batcher != nil {
		return s.batcher.insert(ctx, m)
	}
	return s.insertAlone(ctx, s.write, m)
}

// insertAlone stores m in a transaction of its own.
func (s *Store) insertAlone(ctx context.Context, h handle, m chat.NewMessage) (chat.Message, bool, error) {
	tx, err := h.begin(ctx)
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: insert message: %w", err)
	}
	msg, created, err := s.insert(ctx, tx, m)
	if err == nil {
		err = tx.commit(ctx)
	} else {
		tx.rollback(ctx)
	}
	if err != nil && isUniqueViolation(err) && m.ClientID != "" {
		// Another transaction stored the same client_id first. It has
		// committed (the unique index waited for it), so read its message.
		msg, found, err2 := s.messageByClientID(ctx, h, m)
		if err2 == nil && found {
			return msg, false, nil
		}
	}
	if err != nil {
		return chat.Message{}, false, fmt.Errorf("store: insert message: %w", err)
	}
	return msg, created, nil
}

// insert stores m inside tx. See InsertMessage.
func (s *Store) insert(ctx context.Context, tx txn, m chat.NewMessage) (chat.Message, bool, error) {
	if m.ClientID != "" {
		msg, found, err := s.messageByClientID(ctx, tx, m)
		if err != nil || found {
			return msg, false, err
		}
	}
	msg := chat.Message{Room: m.Room, Author: m.Author, Content: m.Content, ClientID: m.ClientID, Timestamp: now()}
	t := s.ts(msg.Timestamp)
	// The upsert locks the room's row until the transaction ends, so
	// concurrent senders, in this process or another, take seqs one after
	// the other.
	err := tx.queryRow(ctx, `
		INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES (?, 1, ?, ?)
		ON CONFLICT (name) DO UPDATE SET last_seq = rooms.last_seq + 1, last_activity = excluded.last_activity
		RETURNING last_seq`, m.Room, t, t).Scan(&msg.Seq)
	if err != nil {
		return chat.Message{}, false, err
	}
	var clientID any // NULL when absent: NULLs never collide in the unique index
	if m.ClientID != "" {
		clientID = m.ClientID
	}
	err = tx.queryRow(ctx, `
		INSERT INTO messages (room, seq, author, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?)
		RETURNING id`, m.Room, msg.Seq, m.Author, m.Content, t, clientID).Scan(&msg.ID)
	if err != nil {
		return chat.Message{}, false, err
	}
	if _, err := tx.exec(ctx, s.sql.upsertAuthor, m.Room, msg.Seq, t, m.Author); err != nil {
		return chat.Message{}, false, err
	}
	return msg, true, nil
}

func (s *Store) messageByClientID(ctx context.Context, q querier, m chat.NewMessage) (chat.Message, bool, error) {
	msg := chat.Message{Room: m.Room, Author: m.Author, ClientID: m.ClientID}
	err := q.queryRow(ctx,
		"SELECT id, seq, content, created_at FROM messages WHERE room = ? AND author = ? AND client_id = ?",
		m.Room, m.Author, m.ClientID).Scan(&msg.ID, &msg.Seq, &msg.Content, timeCol{&msg.Timestamp})
	if isNoRows(err) {
		return chat.Message{}, false, nil
	}
	if err != nil {
		return chat.Message{}, false, err
	}
	return msg, true, nil
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

	const cols = "SELECT id, seq, author, content, created_at, client_id FROM messages "
	var (
		rs         rows
		descending bool
	)
	// One row more than asked tells whether there are more.
	switch {
	case p.After > 0 || p.FromStart:
		rs, err = s.read.query(ctx, cols+"WHERE room = ? AND seq > ? ORDER BY seq LIMIT ?", room, p.After, limit+1)
	case p.Before > 0:
		descending = true
		rs, err = s.read.query(ctx, cols+"WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?", room, p.Before, limit+1)
	default:
		descending = true
		rs, err = s.read.query(ctx, cols+"WHERE room = ? ORDER BY seq DESC LIMIT ?", room, limit+1)
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
