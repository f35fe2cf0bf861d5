package store

import (
	"context"
	"fmt"
	"slices"
	"time"

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
	if !chat.ValidRoomName(m.Room) {
		return &Pending{err: chat.Errorf(chat.EInvalid, "Invalid room name.")}
	}
	return s.batcher.submit(ctx, m)
}

// insertResult is the outcome of one message of a batch.
type insertResult struct {
	msg     chat.Message
	created bool
	err     error
}

// insertAlone stores msgs in a transaction of their own and fills results.
func (s *Store) insertAlone(ctx context.Context, h handle, msgs []chat.NewMessage, results []insertResult) error {
	tx, err := h.begin(ctx)
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	if err := s.insertBatch(ctx, tx, msgs, results); err != nil {
		_ = tx.rollback(ctx)
		return fmt.Errorf("store: insert message: %w", err)
	}
	if err := tx.commit(ctx); err != nil {
		_ = tx.rollback(ctx) // SQLite may keep a transaction open after a failed COMMIT
		return fmt.Errorf("store: insert message: %w", err)
	}
	return nil
}

// SQLite needs no row lock on a room: the writer holds the database's
// write lock from BEGIN IMMEDIATE on.
const (
	// ? = room
	sqliteLockRoom = "SELECT last_seq FROM rooms WHERE name = ?"
	// ? = room, seq, now, author
	sqliteUpsertAuthor = `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT id, CAST(? AS TEXT), CAST(? AS BIGINT), ? FROM users WHERE name = ?
		ON CONFLICT (user_id, room) DO UPDATE SET last_read = max(room_members.last_read, excluded.last_read)`
)

// insertBatch stores msgs, in order, inside tx, and fills results. See
// InsertMessage. It works in four steps, so that a batch costs one statement
// per message, one per author and room, and two per room:
//
//  1. For each room, in name order: create it if absent, lock it, and read
//     its last_seq. The lock (PostgreSQL: SELECT ... FOR NO KEY UPDATE on the
//     room's row; SQLite: the database's write lock, held since BEGIN
//     IMMEDIATE) makes concurrent writers, in this process or another, take
//     seqs one after the other. Locking in name order keeps two
//     transactions that lock the same rooms from deadlocking.
//  2. For each message: insert it with the room's next seq, unless its
//     (room, author, client_id) is stored already (ON CONFLICT DO NOTHING),
//     in which case read the stored one and take no seq.
//  3. For each room: set last_seq and last_activity.
//  4. For each author and room: record the author as a member who has read
//     up to their latest message.
//
// This is the way for SQLite, where a statement costs no round trip and
// running the next one after seeing the last one's outcome is cheap;
// PostgreSQL takes insertBatchPostgres.
func (s *Store) insertBatch(ctx context.Context, tx txn, msgs []chat.NewMessage, results []insertResult) error {
	if t, ok := tx.(pgTxn); ok {
		return s.insertBatchPostgres(ctx, t.tx, msgs, results)
	}
	type roomState struct {
		lastSeq int64
		added   int64
		latest  time.Time
	}
	type member struct{ room, author string }
	rooms := make(map[string]*roomState, 4)
	var order []string
	members := make(map[member]insertResult, 4)
	var memberOrder []member

	for _, m := range msgs {
		if _, ok := rooms[m.Room]; !ok {
			rooms[m.Room] = &roomState{}
			order = append(order, m.Room)
		}
	}
	slices.Sort(order)
	for _, name := range order {
		st := rooms[name]
		err := tx.queryRow(ctx, sqliteLockRoom, name).Scan(&st.lastSeq)
		if isNoRows(err) {
			if err := s.ensureRoom(ctx, tx, name); err != nil {
				return err
			}
			err = tx.queryRow(ctx, sqliteLockRoom, name).Scan(&st.lastSeq)
		}
		if err != nil {
			return err
		}
	}

	for i, m := range msgs {
		st := rooms[m.Room]
		msg := chat.Message{Room: m.Room, Seq: st.lastSeq + st.added + 1, Author: m.Author, Content: m.Content,
			ClientID: m.ClientID, Timestamp: now()}
		var clientID any // NULL when absent: NULLs never collide in the unique index
		if m.ClientID != "" {
			clientID = m.ClientID
		}
		id, inserted, err := tx.insertID(ctx, `
			INSERT INTO messages (room, seq, author, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (room, author, client_id) WHERE client_id IS NOT NULL DO NOTHING`,
			m.Room, msg.Seq, m.Author, m.Content, s.ts(msg.Timestamp), clientID)
		if err != nil {
			return err
		}
		if !inserted {
			// Sent before, in an earlier transaction or earlier in this batch.
			stored, found, err := s.messageByClientID(ctx, tx, m)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("message %s/%s/%q conflicts but cannot be found", m.Room, m.Author, m.ClientID)
			}
			results[i] = insertResult{msg: stored}
			continue
		}
		msg.ID = id
		st.added++
		st.latest = msg.Timestamp
		results[i] = insertResult{msg: msg, created: true}
		k := member{m.Room, m.Author}
		if _, ok := members[k]; !ok {
			memberOrder = append(memberOrder, k)
		}
		members[k] = results[i]
	}

	for _, name := range order {
		st := rooms[name]
		if st.added == 0 {
			continue
		}
		if _, err := tx.exec(ctx, "UPDATE rooms SET last_seq = ?, last_activity = ? WHERE name = ?",
			st.lastSeq+st.added, s.ts(st.latest), name); err != nil {
			return err
		}
	}
	for _, k := range memberOrder {
		r := members[k]
		if _, err := tx.exec(ctx, sqliteUpsertAuthor, k.room, r.msg.Seq, s.ts(r.msg.Timestamp), k.author); err != nil {
			return err
		}
	}
	return nil
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
