package store

import (
	"context"
	"fmt"
	"strings"

	"parley/internal/chat"
)

// RoomCount is what a user's stream says of one of their rooms
// (docs/PROTOCOL.md, The user stream): how far the room's log goes and
// how far they read it, how many messages after that they have not read,
// how many of those mention them, and their level in the room.
type RoomCount struct {
	Room string
	Kind chat.RoomKind
	// Title is how the room is shown: its name, or a direct
	// conversation's other people, their names joined by ", ".
	Title    string
	LastSeq  int64
	LastRead int64
	Unread   int64
	Mentions int64
	Level    chat.Level
	// Epoch is the room's access epoch (chat.Place) as the counts were
	// read: the user was a member under it.
	Epoch int64
}

// maxCountedRooms bounds the rooms a counts frame holds.
const maxCountedRooms = 1000

// RoomCounts returns the counts of the user's rooms (those they entered
// or posted in), the most recently active first, at most 1000; or of the
// one room called room, if room is not "" (none if the user is not in
// it). name is the user's name, by which their own @room messages are
// told apart.
//
// Unread is UserRooms' count: the room's messages after the marker less
// the deleted ones. Mentions are the unread messages that mention the
// user by name (the mentions table, kept by the writers of messages and
// edits, cleared by deletions) or by @room (an index of its own), each
// once; both are index lookups, never a read of every unread message.
func (s *Store) RoomCounts(ctx context.Context, userID int64, name, room string) ([]RoomCount, error) {
	q := `
		SELECT r.name, r.kind, r.last_seq, m.last_read, m.level, r.access_epoch,
			r.msg_count - COALESCE((SELECT COALESCE(x.num, x.seq) FROM messages x
				WHERE x.room = r.name AND x.seq <= m.last_read ORDER BY x.seq DESC LIMIT 1), 0)
			- CASE WHEN r.deleted_count = 0 THEN 0 ELSE (SELECT count(*) FROM messages d
				WHERE d.room = r.name AND d.seq > m.last_read AND d.deleted_at IS NOT NULL) END,
			(SELECT count(*) FROM mentions n
				WHERE n.user_id = m.user_id AND n.room = r.name AND n.seq > m.last_read)
			+ (SELECT count(*) FROM messages m2 WHERE m2.room = r.name AND m2.seq > m.last_read
				AND ` + roomMentionOf("m2", s.sql.roomMention) + ` AND m2.author <> $2 AND m2.deleted_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM mentions z WHERE z.room = m2.room AND z.seq = m2.seq AND z.user_id = m.user_id))
		FROM room_members m JOIN rooms r ON r.name = m.room
		WHERE m.user_id = $1 AND ($3 = '' OR m.room = $3)
		ORDER BY r.last_activity DESC, r.name
		LIMIT $4`
	rs, err := s.read.query(ctx, q, userID, name, chat.NormalizeRoomName(room), maxCountedRooms)
	if err != nil {
		return nil, fmt.Errorf("store: room counts: %w", err)
	}
	defer rs.Close()
	counts := []RoomCount{}
	direct := false
	for rs.Next() {
		var c RoomCount
		var level, kind string
		if err := rs.Scan(&c.Room, &kind, &c.LastSeq, &c.LastRead, &level, &c.Epoch, &c.Unread, &c.Mentions); err != nil {
			return nil, fmt.Errorf("store: room counts: %w", err)
		}
		c.Level, c.Kind, c.Title = chat.Level(level), chat.RoomKind(kind), c.Room
		direct = direct || c.Kind == chat.RoomDirect
		c.Unread = max(c.Unread, 0)
		c.Mentions = min(max(c.Mentions, 0), c.Unread)
		counts = append(counts, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: room counts: %w", err)
	}
	rs.Close()
	if direct {
		names, err := s.DirectNames(ctx, userID)
		if err != nil {
			return nil, err
		}
		for i, c := range counts {
			if ns := names[c.Room]; c.Kind == chat.RoomDirect && len(ns) > 0 {
				counts[i].Title = strings.Join(ns, ", ")
			}
		}
	}
	return counts, nil
}

// roomMentionOf is the dialect's condition of an @room message, for the
// messages aliased alias.
func roomMentionOf(alias, cond string) string {
	return alias + cond[len("m"):]
}

// SetLevel sets the user's level in the room (chat.Level), entering the
// room if they had not: a room that does not exist is a *chat.Error with
// code chat.ENotFound.
func (s *Store) SetLevel(ctx context.Context, userID int64, room string, level chat.Level) error {
	ok, err := s.EnterRoom(ctx, userID, room)
	if err != nil {
		return err
	}
	if !ok {
		return chat.Errorf(chat.ENotFound, "No such room.")
	}
	if _, err := s.write.exec(ctx, "UPDATE room_members SET level = $3 WHERE user_id = $1 AND room = $2",
		userID, chat.NormalizeRoomName(room), string(level)); err != nil {
		return fmt.Errorf("store: set level: %w", err)
	}
	return nil
}

// Level returns the user's level in the room: the default, LevelEvery,
// for a room they are not in.
func (s *Store) Level(ctx context.Context, userID int64, room string) (chat.Level, error) {
	var level string
	err := s.read.queryRow(ctx, "SELECT level FROM room_members WHERE user_id = $1 AND room = $2",
		userID, chat.NormalizeRoomName(room)).Scan(&level)
	if isNoRows(err) {
		return chat.LevelEvery, nil
	}
	if err != nil {
		return "", fmt.Errorf("store: level: %w", err)
	}
	return chat.Level(level), nil
}

// NotifyTarget is a member of a room whom a new message notifies.
type NotifyTarget struct {
	UserID int64
	Name   string
	Level  chat.Level
}

// NotifyTargets returns the members of m's room whom m notifies
// (chat.Notifies, with their level) and have not read it yet: those
// whose read marker is before m.Seq. direct says the
// room is a direct conversation. It reads the room's members, so it is
// for a sender of notifications to people with no socket open (Web Push),
// not for every message's fan-out.
func (s *Store) NotifyTargets(ctx context.Context, m *chat.Message, direct bool) ([]NotifyTarget, error) {
	rs, err := s.read.query(ctx, `
		SELECT u.id, u.name, m.level FROM room_members m JOIN users u ON u.id = m.user_id
		WHERE m.room = $1 AND m.last_read < $2 AND m.level <> 'muted'`, m.Room, m.Seq)
	if err != nil {
		return nil, fmt.Errorf("store: notify targets: %w", err)
	}
	defer rs.Close()
	var out []NotifyTarget
	for rs.Next() {
		var t NotifyTarget
		var level string
		if err := rs.Scan(&t.UserID, &t.Name, &level); err != nil {
			return nil, fmt.Errorf("store: notify targets: %w", err)
		}
		t.Level = chat.Level(level)
		if chat.Notifies(t.Level, t.Name, m, direct) {
			out = append(out, t)
		}
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: notify targets: %w", err)
	}
	return out, nil
}
