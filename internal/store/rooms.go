package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"parley/internal/chat"
)

// UserRoom is a room a user entered or posted in, with how far they have
// read: the seq of the last entry they read, and how many messages after
// it they have not read (deleted ones and changes left out).
type UserRoom struct {
	chat.Room
	LastRead int64
	Unread   int64
}

// ErrNoRoom is the error of a message to a room that does not exist,
// submitted with SubmitToRoom, and of calls on such a room.
var ErrNoRoom = chat.Errorf(chat.ENotFound, "No such room: a room is made by its first message, or by its creator.")

// CreateRoom makes the public room called name, empty, recording creator
// (a user's id; 0 for none) as the one who made it, and reports whether
// it made it: false if the room existed, which is returned as it is.
// Names are lower-cased ("General" is "general"); an invalid one is a
// *chat.Error with code chat.EInvalid.
func (s *Store) CreateRoom(ctx context.Context, name string, creator int64) (chat.Room, bool, error) {
	return s.CreateRoomKind(ctx, name, creator, chat.RoomPublic)
}

// CreateRoomKind is CreateRoom for a room of any kind but direct (see
// OpenDirect): a private room's creator is its first member, in the same
// transaction, so that it is never a room nobody may enter.
func (s *Store) CreateRoomKind(ctx context.Context, name string, creator int64, kind chat.RoomKind) (chat.Room, bool, error) {
	if err := chat.CheckRoomName(name); err != nil {
		return chat.Room{}, false, err
	}
	if kind != chat.RoomPublic && kind != chat.RoomPrivate {
		return chat.Room{}, false, chat.Errorf(chat.EInvalid, "A room is public or private.")
	}
	if kind == chat.RoomPrivate && creator == 0 {
		return chat.Room{}, false, chat.Errorf(chat.EInvalid, "A private room needs a member.")
	}
	name = chat.NormalizeRoomName(name)
	var created bool
	err := s.write.inTx(ctx, func(tx querier) error {
		var err error
		created, err = s.ensureRoom(ctx, tx, name, creator)
		if err != nil || !created || kind == chat.RoomPublic {
			return err
		}
		// Its access epoch moves on: a socket that was open on the name
		// (a public room not made yet) is sent none of it.
		if _, err := tx.exec(ctx, setKindClosing, name, string(kind)); err != nil {
			return err
		}
		_, err = tx.exec(ctx, addMember, creator, name, now())
		return err
	})
	if isForeignKeyViolation(err) {
		return chat.Room{}, false, chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return chat.Room{}, false, fmt.Errorf("store: create room: %w", err)
	}
	r, err := s.room(ctx, s.write, name)
	return r, created, err
}

// createRoom creates a room, empty, if absent. $1 = room, $2 = now, $3 =
// its creator's id or NULL
const createRoom = "INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by) VALUES ($1, 0, $2, $2, $3) ON CONFLICT (name) DO NOTHING"

// ensureRoom creates the room name (lower-case) if absent, with its
// words, and reports whether it did.
func (s *Store) ensureRoom(ctx context.Context, q querier, name string, creator int64) (bool, error) {
	var by any // NULL without a creator
	if creator != 0 {
		by = creator
	}
	n, err := q.exec(ctx, createRoom, name, now(), by)
	if err != nil || n == 0 {
		return false, err
	}
	return true, insertRoomWords(ctx, q, name)
}

// roomWords are what a room is found by (room_words): its name, and
// each tail of it that starts a word, after a "-" or "_".
func roomWords(name string) []string {
	words := []string{name}
	for i := 0; i+1 < len(name); i++ {
		if (name[i] == '-' || name[i] == '_') && name[i+1] != '-' && name[i+1] != '_' {
			words = append(words, name[i+1:])
		}
	}
	return words
}

func insertRoomWords(ctx context.Context, q querier, name string) error {
	for _, w := range roomWords(name) {
		if _, err := q.exec(ctx, "INSERT INTO room_words (word, room) VALUES ($1, $2) ON CONFLICT DO NOTHING", w, name); err != nil {
			return err
		}
	}
	return nil
}

// Room returns the room called name, or a *chat.Error with code
// chat.ENotFound if there is none.
func (s *Store) Room(ctx context.Context, name string) (chat.Room, error) {
	if !chat.ValidRoomName(name) {
		return chat.Room{}, chat.Errorf(chat.ENotFound, "No such room.")
	}
	return s.room(ctx, s.read, chat.NormalizeRoomName(name))
}

func (s *Store) room(ctx context.Context, q querier, name string) (chat.Room, error) {
	var r chat.Room
	err := scanRoom(q.queryRow(ctx, "SELECT "+roomCols+" FROM rooms r WHERE r.name = $1", name), &r)
	if isNoRows(err) {
		return chat.Room{}, chat.Errorf(chat.ENotFound, "No such room.")
	}
	if err != nil {
		return chat.Room{}, fmt.Errorf("store: room: %w", err)
	}
	return r, nil
}

// Limits of the room lists.
const (
	defaultRoomLimit = 50
	maxRoomLimit     = 1000
)

func clampRoomLimit(limit int) int {
	if limit <= 0 {
		return defaultRoomLimit
	}
	return min(limit, maxRoomLimit)
}

// Rooms returns up to limit rooms found by query, the most recently
// active first, then by name. A room is found by a query that starts its
// name, or starts a word of it (after a "-" or "_"): "ops" finds
// "dev-ops" and "ops_team", not "devops". The query is taken in lower
// case, and one that a name could not hold ("My Room") as the name it
// suggests ("my-room", chat.SuggestRoomName). An empty query gives the
// recently active rooms: those with a message, by their last one. limit
// ≤ 0 means 50; at most 1000 rooms are returned.
//
// Either way the rooms come from an index (room_words, or rooms_recent),
// never from reading every room.
func (s *Store) Rooms(ctx context.Context, query string, limit int) ([]chat.Room, error) {
	return s.RoomsFor(ctx, 0, query, limit)
}

// RoomsFor is Rooms as the user userID may see them: the public rooms
// and the private rooms they are a member of; never a direct
// conversation, which is listed apart (UserRooms), nor a private room of
// others, which to them does not exist (docs/SECURITY.md). userID 0 sees
// the public rooms only.
func (s *Store) RoomsFor(ctx context.Context, userID int64, query string, limit int) ([]chat.Room, error) {
	var (
		rs  rows
		err error
	)
	const visible = `(r.kind = 'public' OR r.kind = 'private' AND EXISTS (
		SELECT 1 FROM room_members m WHERE m.user_id = $2 AND m.room = r.name))`
	if query == "" {
		rs, err = s.read.query(ctx, `
			SELECT `+roomCols+` FROM rooms r
			WHERE r.last_seq > 0 AND `+visible+`
			ORDER BY r.last_activity DESC, r.name
			LIMIT $1`, clampRoomLimit(limit), userID)
	} else {
		prefix := chat.SuggestRoomName(query)
		if prefix == "" {
			return []chat.Room{}, nil
		}
		// Every word with the prefix sorts from the prefix up to the
		// prefix and "{", which follows every character of a name.
		rs, err = s.read.query(ctx, `
			SELECT `+roomCols+` FROM rooms r
			WHERE r.name IN (SELECT room FROM room_words WHERE word >= $3 AND word < $4) AND `+visible+`
			ORDER BY r.last_activity DESC, r.name
			LIMIT $1`, clampRoomLimit(limit), userID, prefix, prefix+"{")
	}
	if err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	defer rs.Close()
	rooms := []chat.Room{}
	for rs.Next() {
		var r chat.Room
		if err := scanRoom(rs, &r); err != nil {
			return nil, fmt.Errorf("store: rooms: %w", err)
		}
		rooms = append(rooms, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	return rooms, nil
}

// roomCols are a room's columns as scanRoom reads them, of rooms r.
const roomCols = "r.name, r.last_seq, r.msg_count - r.deleted_count, r.last_activity, r.kind, r.topic, r.archived_at"

// scanRoom reads roomCols.
func scanRoom(rw row, r *chat.Room) error {
	var kind string
	var archived time.Time
	if err := rw.Scan(&r.Name, &r.LastSeq, &r.Messages, timeCol{&r.LastActivity}, &kind, &r.Topic, nullTimeCol{&archived}); err != nil {
		return err
	}
	r.Kind, r.Archived = chat.RoomKind(kind), !archived.IsZero()
	return nil
}

// EnterRoom records that the user entered the room, if it exists, and
// reports whether it does; it never makes a room. A newcomer has read
// what was said before they came (their read marker starts at the room's
// latest message); someone who was there before keeps what they have
// read, and costs a read, no write: sockets call it at every connect.
// Only a public room is entered so: the members of the others are added
// by name (AddRoomMember, OpenDirect), and the callers ask chat.Can first.
func (s *Store) EnterRoom(ctx context.Context, userID int64, room string) (bool, error) {
	exists, _, err := s.Enter(ctx, userID, room)
	return exists, err
}

// Enter is EnterRoom, and reports too whether the user entered the room
// now (was not in it before): their room list changed.
func (s *Store) Enter(ctx context.Context, userID int64, room string) (exists, entered bool, err error) {
	if !chat.ValidRoomName(room) {
		return false, false, nil
	}
	room = chat.NormalizeRoomName(room)
	var lastSeq, member int64
	err = s.read.queryRow(ctx, `
		SELECT r.last_seq, (SELECT count(*) FROM room_members m WHERE m.user_id = $1 AND m.room = r.name)
		FROM rooms r WHERE r.name = $2`, userID, room).Scan(&lastSeq, &member)
	if isNoRows(err) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("store: enter room: %w", err)
	}
	if member > 0 {
		return true, false, nil
	}
	n, err := s.write.exec(ctx, `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT $1, name, last_seq, $3 FROM rooms WHERE name = $2 AND kind = 'public'
		ON CONFLICT (user_id, room) DO NOTHING`, userID, room, now())
	if isForeignKeyViolation(err) {
		return false, false, chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return false, false, fmt.Errorf("store: enter room: %w", err)
	}
	return true, n > 0, nil
}

// LeaveRoom takes the room out of the user's rooms, and forgets how far
// they read it. Entering it again, or posting there, brings it back.
// Leaving a room one is not in is not an error. A member gone from a room
// that is not public may read it no more: its access epoch moves on, and
// epoch is the new one (0 if it did not move).
func (s *Store) LeaveRoom(ctx context.Context, userID int64, room string) (epoch int64, err error) {
	if !chat.ValidRoomName(room) {
		return 0, nil
	}
	room = chat.NormalizeRoomName(room)
	err = s.write.inTx(ctx, func(tx querier) error {
		n, err := tx.exec(ctx, "DELETE FROM room_members WHERE user_id = $1 AND room = $2", userID, room)
		if err != nil || n == 0 {
			return err
		}
		err = tx.queryRow(ctx, "UPDATE rooms SET access_epoch = access_epoch + 1 WHERE name = $1 AND kind <> 'public' RETURNING access_epoch",
			room).Scan(&epoch)
		if isNoRows(err) {
			return nil // public
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: leave room: %w", err)
	}
	return epoch, nil
}

// AccessEpoch returns the room's access epoch (chat.Place), 0 for a room
// that does not exist.
func (s *Store) AccessEpoch(ctx context.Context, room string) (int64, error) {
	var epoch int64
	err := s.read.queryRow(ctx, "SELECT access_epoch FROM rooms WHERE name = $1", chat.NormalizeRoomName(room)).Scan(&epoch)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: access epoch: %w", err)
	}
	return epoch, nil
}

// MarkRead records that the user has read the room up to seq: the read
// marker moves forward to seq, never past the room's latest message and
// never back. It creates the membership if absent. A room that does not
// exist is a *chat.Error with code chat.ENotFound.
func (s *Store) MarkRead(ctx context.Context, userID int64, room string, seq int64) error {
	if !chat.ValidRoomName(room) {
		return chat.Errorf(chat.ENotFound, "No such room.")
	}
	n, err := s.write.exec(ctx, s.sql.markRead, userID, max(seq, 0), now(), chat.NormalizeRoomName(room))
	if isForeignKeyViolation(err) {
		return chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return fmt.Errorf("store: mark read: %w", err)
	}
	if n == 0 {
		return chat.Errorf(chat.ENotFound, "No such room.")
	}
	return nil
}

// ReadMarker returns how far the user has read the room: the seq of the
// last message they read, and whether they are a member at all (entered
// or posted there). Someone who is not a member has read nothing.
func (s *Store) ReadMarker(ctx context.Context, userID int64, room string) (seq int64, member bool, err error) {
	err = s.read.queryRow(ctx, "SELECT last_read FROM room_members WHERE user_id = $1 AND room = $2",
		userID, chat.NormalizeRoomName(room)).Scan(&seq)
	if isNoRows(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("store: read marker: %w", err)
	}
	return seq, true, nil
}

// UserRooms returns up to limit rooms the user entered or posted in, the
// most recently active first, then by name, each with the user's read
// marker and unread count. limit ≤ 0 means 50; at most 1000 rooms are
// returned.
//
// The unread messages of a room are its messages after the marker less
// the deleted ones among them: the room's count, less the place (num) of
// the last message at or before the marker, less the deleted messages
// after it, two index lookups a room whatever the counts.
func (s *Store) UserRooms(ctx context.Context, userID int64, limit int) ([]UserRoom, error) {
	rs, err := s.read.query(ctx, `
		SELECT `+roomCols+`, m.last_read,
			r.msg_count - COALESCE((SELECT COALESCE(x.num, x.seq) FROM messages x
				WHERE x.room = r.name AND x.seq <= m.last_read ORDER BY x.seq DESC LIMIT 1), 0)
			- CASE WHEN r.deleted_count = 0 THEN 0 ELSE (SELECT count(*) FROM messages d
				WHERE d.room = r.name AND d.seq > m.last_read AND d.deleted_at IS NOT NULL) END
		FROM room_members m JOIN rooms r ON r.name = m.room
		WHERE m.user_id = $1
		ORDER BY r.last_activity DESC, r.name
		LIMIT $2`, userID, clampRoomLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: user rooms: %w", err)
	}
	defer rs.Close()
	rooms := []UserRoom{}
	for rs.Next() {
		var r UserRoom
		var kind string
		var archived time.Time
		if err := rs.Scan(&r.Name, &r.LastSeq, &r.Messages, timeCol{&r.LastActivity}, &kind, &r.Topic, nullTimeCol{&archived},
			&r.LastRead, &r.Unread); err != nil {
			return nil, fmt.Errorf("store: user rooms: %w", err)
		}
		r.Kind, r.Archived = chat.RoomKind(kind), !archived.IsZero()
		r.Unread = max(r.Unread, 0)
		rooms = append(rooms, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: user rooms: %w", err)
	}
	return rooms, nil
}

// lowerCaseRooms is migration 4's step: every room's name becomes lower
// case, and every room gets its words (room_words). Of rooms whose names
// are one when lower-cased ("General", "general"), the oldest takes the
// lower-cased name and each other one, oldest first, that name and "-2",
// "-3", ... (shortened to fit 64 characters; a name taken already is
// passed over): nothing is merged, and every message keeps its room and
// seq under the room's new name, as does every change of the room's log
// if the events migration ran first (renameRoom).
func lowerCaseRooms(ctx context.Context, tx querier) error {
	rs, err := tx.query(ctx, "SELECT name FROM rooms ORDER BY created_at, name")
	if err != nil {
		return err
	}
	var names []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			rs.Close()
			return err
		}
		names = append(names, n)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}

	// The oldest of each lower-cased name keeps it; the others, in age
	// order, take the first free name with a number.
	final := make(map[string]string, len(names)) // old name -> new
	taken := make(map[string]bool, len(names))
	var rest []string
	for _, n := range names {
		if low := strings.ToLower(n); !taken[low] {
			taken[low] = true
			final[n] = low
		} else {
			rest = append(rest, n)
		}
	}
	for _, n := range rest {
		low := strings.ToLower(n)
		for i := 2; ; i++ {
			suffix := "-" + strconv.Itoa(i)
			cand := low[:min(len(low), chat.MaxRoomNameLength-len(suffix))] + suffix
			if !taken[cand] {
				taken[cand] = true
				final[n] = cand
				break
			}
		}
	}

	// Renamed in two rounds, through names no room can have ("~" is not
	// allowed in one), so that a room may take the name another one
	// leaves.
	var moves [][2]string
	for i, n := range names {
		if final[n] != n {
			moves = append(moves, [2]string{n, "~" + strconv.Itoa(i)})
		}
	}
	for _, m := range moves {
		if err := renameRoom(ctx, tx, m[0], m[1]); err != nil {
			return err
		}
	}
	for _, m := range moves {
		if err := renameRoom(ctx, tx, m[1], final[m[0]]); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := insertRoomWords(ctx, tx, final[n]); err != nil {
			return err
		}
	}
	return nil
}

// eventsMigration is the migration that gave rooms their log of changes
// (0005_events.sql). A database of a version that had it and not yet
// migration 4 runs 4 after it, and renameRoom then moves the log's rows
// too.
const eventsMigration = 5

// renameRoom gives the room from the name to, its messages and members
// with it, and, once the events migration has run, its counts and every
// row of its log: changes, versions, reactions, mentions.
func renameRoom(ctx context.Context, tx querier, from, to string) error {
	var events int64
	if err := tx.queryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = $1", eventsMigration).Scan(&events); err != nil {
		return fmt.Errorf("rename room %q to %q: %w", from, to, err)
	}
	type step struct {
		query string
		args  []any
	}
	steps := []step{
		{`INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by)
			SELECT $2, last_seq, created_at, last_activity, created_by FROM rooms WHERE name = $1`, []any{from, to}},
		{"UPDATE messages SET room = $2 WHERE room = $1", []any{from, to}},
		{"UPDATE room_members SET room = $2 WHERE room = $1", []any{from, to}},
	}
	if events > 0 {
		steps[0].query = `INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by, msg_count, deleted_count)
			SELECT $2, last_seq, created_at, last_activity, created_by, msg_count, deleted_count FROM rooms WHERE name = $1`
		for _, table := range []string{"changes", "message_versions", "reactions", "mentions"} {
			steps = append(steps, step{"UPDATE " + table + " SET room = $2 WHERE room = $1", []any{from, to}})
		}
	}
	steps = append(steps, step{"DELETE FROM rooms WHERE name = $1", []any{from}})
	for _, st := range steps {
		if _, err := tx.exec(ctx, st.query, st.args...); err != nil {
			return fmt.Errorf("rename room %q to %q: %w", from, to, err)
		}
	}
	return nil
}
