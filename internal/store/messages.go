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
//
// Full selects the view: with it, every field of the message object
// (rev, edits, reply, mentions, reactions) and deleted messages as
// tombstones, as parley.v1 sockets and the API get them; without it, the
// original protocol's view, deleted messages left out.
type Page struct {
	Before    int64
	After     int64
	FromStart bool
	Limit     int
	Full      bool
}

// DefaultLimit is how many messages a Page with Limit 0 returns.
const DefaultLimit = 20

func clampLimit(limit int) int {
	if limit == 0 {
		limit = DefaultLimit
	}
	return min(max(limit, 1), chat.MaxFetchLimit)
}

// Messages returns a page of the room's messages, in their current state,
// always in ascending seq. hasMore says whether the room has more messages
// (in the page's view) beyond the page: older ones before the first
// returned, for the latest or Before pages; newer ones after the last
// returned, for After pages. A room that does not exist has no messages. A
// page with both Before and After, or a negative one, is a *chat.Error
// with code chat.EInvalid.
func (s *Store) Messages(ctx context.Context, room string, p Page) (msgs []chat.Message, hasMore bool, err error) {
	if p.Before < 0 || p.After < 0 || p.Before > 0 && (p.After > 0 || p.FromStart) {
		return nil, false, chat.Errorf(chat.EInvalid, "Ask for messages before a seq or after one, not both.")
	}
	limit := clampLimit(p.Limit)
	if !chat.ValidRoomName(room) {
		return []chat.Message{}, false, nil
	}
	room = chat.NormalizeRoomName(room)
	// The original view reads the columns the original object has, as
	// it did before messages had more: most history is read by it.
	live, sel := "", "SELECT "+s.sql.msgCols+msgFrom+"WHERE m.room = $1 "
	if !p.Full {
		live, sel = "AND m.deleted_at IS NULL ", "SELECT m.id, m.seq, m.author, m.content, m.created_at, m.client_id FROM messages m WHERE m.room = $1 "
	}
	var (
		rs         rows
		descending bool
	)
	// One row more than asked tells whether there are more.
	switch {
	case p.After > 0 || p.FromStart:
		rs, err = s.read.query(ctx, sel+"AND m.seq > $2 "+live+"ORDER BY m.seq LIMIT $3", room, p.After, limit+1)
	case p.Before > 0:
		descending = true
		rs, err = s.read.query(ctx, sel+"AND m.seq < $2 "+live+"ORDER BY m.seq DESC LIMIT $3", room, p.Before, limit+1)
	default:
		descending = true
		rs, err = s.read.query(ctx, sel+live+"ORDER BY m.seq DESC LIMIT $2", room, limit+1)
	}
	if err != nil {
		return nil, false, wrapErr("messages", err)
	}
	if p.Full {
		msgs, err = scanMessages(rs, room, limit+1)
	} else {
		msgs, err = scanOriginal(rs, room, limit+1)
	}
	if err != nil {
		return nil, false, wrapErr("messages", err)
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

// scanOriginal reads rows of the original object's columns: id, seq,
// author, content, created_at, client_id.
func scanOriginal(rs rows, room string, capacity int) ([]chat.Message, error) {
	defer rs.Close()
	msgs := make([]chat.Message, 0, capacity)
	for rs.Next() {
		m := chat.Message{Room: room}
		var clientID *string
		if err := rs.Scan(&m.ID, &m.Seq, &m.Author, &m.Content, timeCol{&m.Timestamp}, &clientID); err != nil {
			return nil, err
		}
		if clientID != nil {
			m.ClientID = *clientID
		}
		m.Rev = m.Seq // not read: the original view has no rev
		msgs = append(msgs, m)
	}
	return msgs, rs.Err()
}

// scanMessages reads rows of the message columns.
func scanMessages(rs rows, room string, capacity int) ([]chat.Message, error) {
	defer rs.Close()
	msgs := make([]chat.Message, 0, capacity)
	var x msgScan
	for rs.Next() {
		x = msgScan{}
		if err := rs.Scan(x.dest()...); err != nil {
			return nil, err
		}
		msgs = append(msgs, x.message(room))
	}
	return msgs, rs.Err()
}

// Around returns the message of room at seq with, in full view (Page),
// up to limit/2 messages before it and up to limit-1-limit/2 after it
// (limit clamped as a Page's: the default, 20, gives 10 before and 9
// after), in ascending seq, and whether the room has more messages
// before the first (older) and after the last (newer). A seq that holds
// no message (or, without full, a deleted one) is a *chat.Error with code
// chat.ENotFound.
func (s *Store) Around(ctx context.Context, room string, seq int64, limit int, full bool) (msgs []chat.Message, older, newer bool, err error) {
	limit = clampLimit(limit)
	if seq < 1 {
		return nil, false, false, errNoMessage(seq)
	}
	after, newer, err := s.Messages(ctx, room, Page{After: seq - 1, FromStart: seq == 1, Limit: limit - limit/2, Full: full})
	if err != nil {
		return nil, false, false, err
	}
	if len(after) == 0 || after[0].Seq != seq {
		return nil, false, false, errNoMessage(seq)
	}
	var before []chat.Message
	if n := limit / 2; n > 0 {
		before, older, err = s.Messages(ctx, room, Page{Before: seq, Limit: n, Full: full})
	} else if seq > 1 {
		// A page of one: whether older ones exist, without keeping them.
		var probe []chat.Message
		probe, _, err = s.Messages(ctx, room, Page{Before: seq, Limit: 1, Full: full})
		older = len(probe) > 0
	}
	if err != nil {
		return nil, false, false, err
	}
	return append(before, after...), older, newer, nil
}

// Log returns the entries of the room's log after seq after: those with
// seq after+1 to after+limit (limit clamped as a Page's), or to the
// room's latest, in seq order: new messages in their current state and
// in full view (tombstones included), and changes. Every seq of the
// range is there once. more says whether the log goes on past the last.
//
// It reads the messages and the changes of the range, and one entry past
// it (which tells whether more follow), in two statements. A room's
// batches commit in seq order, so a batch committed between the two
// leaves, if anything, a hole before entries the second one found: then
// the range is read again up to the room's latest seq, read first.
func (s *Store) Log(ctx context.Context, room string, after int64, limit int) (entries []chat.Entry, more bool, err error) {
	limit = clampLimit(limit)
	if after < 0 {
		return nil, false, chat.Errorf(chat.EInvalid, "after must be a seq of at least 0.")
	}
	if !chat.ValidRoomName(room) {
		return []chat.Entry{}, false, nil
	}
	room = chat.NormalizeRoomName(room)
	end := after + int64(limit)
	entries, err = s.logRange(ctx, room, after, end+1)
	if err != nil {
		return nil, false, err
	}
	contiguous := true
	for i, e := range entries {
		if e.Seq() != after+1+int64(i) {
			contiguous = false
			break
		}
	}
	if contiguous {
		if int64(len(entries)) > end-after {
			return entries[:end-after], true, nil
		}
		return entries, false, nil
	}
	last, err := s.LastSeq(ctx, room)
	if err != nil || after >= last {
		return []chat.Entry{}, false, err
	}
	end = min(end, last)
	entries, err = s.logRange(ctx, room, after, end)
	return entries, end < last, err
}

// logRange reads the entries of the room's log from seq after+1 to end.
func (s *Store) logRange(ctx context.Context, room string, after, end int64) ([]chat.Entry, error) {
	rs, err := s.read.query(ctx, "SELECT "+s.sql.msgCols+msgFrom+"WHERE m.room = $1 AND m.seq > $2 AND m.seq <= $3 ORDER BY m.seq",
		room, after, end)
	if err != nil {
		return nil, wrapErr("log", err)
	}
	msgs, err := scanMessages(rs, room, int(end-after))
	if err != nil {
		return nil, wrapErr("log", err)
	}
	var changes []chat.Change
	if len(msgs) < int(end-after) {
		rs, err := s.read.query(ctx, "SELECT "+changeCols+" FROM changes WHERE room = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
			room, after, end)
		if err != nil {
			return nil, wrapErr("log", err)
		}
		defer rs.Close()
		var x changeScan
		for rs.Next() {
			x = changeScan{}
			if err := rs.Scan(x.dest()...); err != nil {
				return nil, wrapErr("log", err)
			}
			changes = append(changes, x.change(room))
		}
		if err := rs.Err(); err != nil {
			return nil, wrapErr("log", err)
		}
	}
	entries := make([]chat.Entry, 0, len(msgs)+len(changes))
	for i, j := 0, 0; i < len(msgs) || j < len(changes); {
		if j == len(changes) || i < len(msgs) && msgs[i].Seq < changes[j].Seq {
			entries = append(entries, chat.Entry{Message: &msgs[i]})
			i++
		} else {
			entries = append(entries, chat.Entry{Change: &changes[j]})
			j++
		}
	}
	return entries, nil
}

// MessageCount returns how many messages are stored, in all rooms,
// deleted ones left out. It adds up the rooms' counts, which costs one
// row per room instead of one per message.
func (s *Store) MessageCount(ctx context.Context) (int64, error) {
	var n int64
	if err := s.read.queryRow(ctx, "SELECT CAST(COALESCE(SUM(msg_count - deleted_count), 0) AS BIGINT) FROM rooms").Scan(&n); err != nil {
		return 0, fmt.Errorf("store: message count: %w", err)
	}
	return n, nil
}
