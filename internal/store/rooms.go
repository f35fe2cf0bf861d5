package store

import (
	"context"
	"fmt"
	"strings"

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

// EnsureRoom returns the room called name, creating it, empty, if it does
// not exist. An invalid name is a *chat.Error with code chat.EInvalid.
func (s *Store) EnsureRoom(ctx context.Context, name string) (chat.Room, error) {
	if err := chat.CheckRoomName(name); err != nil {
		return chat.Room{}, err
	}
	if err := s.ensureRoom(ctx, s.write, name); err != nil {
		return chat.Room{}, fmt.Errorf("store: ensure room: %w", err)
	}
	return s.room(ctx, s.write, name)
}

// createRoom creates a room, empty, if absent. $1 = room, $2 = now
const createRoom = "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ($1, 0, $2, $2) ON CONFLICT (name) DO NOTHING"

func (s *Store) ensureRoom(ctx context.Context, q querier, name string) error {
	_, err := q.exec(ctx, createRoom, name, now())
	return err
}

// Room returns the room called name, or a *chat.Error with code
// chat.ENotFound if there is none.
func (s *Store) Room(ctx context.Context, name string) (chat.Room, error) {
	if !chat.ValidRoomName(name) {
		return chat.Room{}, chat.Errorf(chat.ENotFound, "No such room.")
	}
	return s.room(ctx, s.read, name)
}

func (s *Store) room(ctx context.Context, q querier, name string) (chat.Room, error) {
	r := chat.Room{Name: name}
	err := q.queryRow(ctx, "SELECT last_seq, msg_count - deleted_count, last_activity FROM rooms WHERE name = $1", name).
		Scan(&r.LastSeq, &r.Messages, timeCol{&r.LastActivity})
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

// Rooms returns up to limit rooms whose name contains query, ignoring case
// (% and _ in query are plain characters), the most recently active first,
// then by name. An empty query matches every room. limit ≤ 0 means 50; at
// most 1000 rooms are returned.
func (s *Store) Rooms(ctx context.Context, query string, limit int) ([]chat.Room, error) {
	// PostgreSQL's text cannot hold NUL, and no room name has one: such a
	// query matches nothing, rather than failing on one engine.
	if strings.IndexByte(query, 0) >= 0 {
		return []chat.Room{}, nil
	}
	pattern := "%" + escapeLike(strings.ToLower(query)) + "%"
	rs, err := s.read.query(ctx, `
		SELECT name, last_seq, msg_count - deleted_count, last_activity FROM rooms
		WHERE lower(name) LIKE $1 ESCAPE '\'
		ORDER BY last_activity DESC, name
		LIMIT $2`, pattern, clampRoomLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	defer rs.Close()
	rooms := []chat.Room{}
	for rs.Next() {
		var r chat.Room
		if err := rs.Scan(&r.Name, &r.LastSeq, &r.Messages, timeCol{&r.LastActivity}); err != nil {
			return nil, fmt.Errorf("store: rooms: %w", err)
		}
		rooms = append(rooms, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: rooms: %w", err)
	}
	return rooms, nil
}

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// TouchRoom records that the user entered the room, creating the room and
// the user's membership if absent. It keeps what the user has read.
func (s *Store) TouchRoom(ctx context.Context, userID int64, room string) error {
	if err := chat.CheckRoomName(room); err != nil {
		return err
	}
	err := s.write.inTx(ctx, func(tx querier) error {
		if err := s.ensureRoom(ctx, tx, room); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `
			INSERT INTO room_members (user_id, room, last_read, entered_at) VALUES ($1, $2, 0, $3)
			ON CONFLICT (user_id, room) DO UPDATE SET entered_at = excluded.entered_at`,
			userID, room, now())
		return err
	})
	if isForeignKeyViolation(err) {
		return chat.Errorf(chat.ENotFound, "No such user.")
	}
	if err != nil {
		return fmt.Errorf("store: touch room: %w", err)
	}
	return nil
}

// MarkRead records that the user has read the room up to seq: the read
// marker moves forward to seq, never past the room's latest message and
// never back. It creates the membership if absent. A room that does not
// exist is a *chat.Error with code chat.ENotFound.
func (s *Store) MarkRead(ctx context.Context, userID int64, room string, seq int64) error {
	if !chat.ValidRoomName(room) {
		return chat.Errorf(chat.ENotFound, "No such room.")
	}
	n, err := s.write.exec(ctx, s.sql.markRead, userID, max(seq, 0), now(), room)
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
	err = s.read.queryRow(ctx, "SELECT last_read FROM room_members WHERE user_id = $1 AND room = $2", userID, room).Scan(&seq)
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
		SELECT r.name, r.last_seq, r.msg_count - r.deleted_count, r.last_activity, m.last_read,
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
		if err := rs.Scan(&r.Name, &r.LastSeq, &r.Messages, timeCol{&r.LastActivity}, &r.LastRead, &r.Unread); err != nil {
			return nil, fmt.Errorf("store: user rooms: %w", err)
		}
		r.Unread = max(r.Unread, 0)
		rooms = append(rooms, r)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: user rooms: %w", err)
	}
	return rooms, nil
}
