package store

import (
	"context"
	"fmt"
	"time"

	"parley/internal/chat"
)

// ApplyChange applies a change to a message of its room — an edit, a
// deletion, a reaction added or removed — as the next entry of the room's
// log, and returns it with created true. It is written through the group
// commit with the room's messages, in the same transactions, and takes
// the room's next seq in the transaction that applies it.
//
// The caller has checked c with chat.CheckNewChange. The rules are
// checked against the message as it is when the change commits:
//   - a message the room does not have, a deleted one (but for a
//     deletion), or a reaction removed that the user never added, is a
//     *chat.Error with code chat.ENotFound;
//   - an edit by someone other than the author (chat.MayEdit), or after
//     c.EditWindow, and a deletion chat.MayDelete refuses, are
//     chat.EForbidden;
//   - a reaction past chat.MaxReactionKinds different emoji is
//     chat.EInvalid.
//
// A refused change takes no seq and fails alone. A change whose
// (room, author, client_id) is stored already, a reaction added that the
// user has already, one removed that they removed, and a message deleted
// already, store nothing and take no seq: ApplyChange returns the stored
// change that did it, with created false.
//
// An edit keeps the message's earlier contents as versions (Versions). A
// deletion erases the message's content, its versions, the content of
// its edits, its reactions and its mentions; a tombstone keeps its place.
func (s *Store) ApplyChange(ctx context.Context, c chat.NewChange) (chat.Change, bool, error) {
	return s.SubmitChange(ctx, c).WaitChange()
}

// SubmitChange is ApplyChange without the wait: WaitChange on the result
// gives ApplyChange's outcome. Changes and messages one goroutine submits
// to one room are applied in that order.
func (s *Store) SubmitChange(ctx context.Context, c chat.NewChange) *Pending {
	if !chat.ValidRoomName(c.Room) {
		return &Pending{err: chat.Errorf(chat.EInvalid, "Invalid room name.")}
	}
	if !c.Kind.Valid() {
		return &Pending{err: chat.Errorf(chat.EInvalid, "Unknown change %q.", string(c.Kind))}
	}
	c.Room = chat.NormalizeRoomName(c.Room)
	return s.batches.submit(ctx, change{room: c.Room, edit: &c})
}

// changeCols are the columns of a change as changeScan reads them.
const changeCols = "seq, kind, target, author, content, mentions, mentions_room, emoji, created_at, client_id"

// changeScan reads a row of changeCols.
type changeScan struct {
	c                                     chat.Change
	kind, content, mentions, emoji, cliID string
}

func (x *changeScan) dest() []any {
	return []any{&x.c.Seq, &x.kind, &x.c.Target, &x.c.Author, textCol{&x.content}, textCol{&x.mentions},
		boolCol{&x.c.MentionsRoom}, textCol{&x.emoji}, timeCol{&x.c.Timestamp}, textCol{&x.cliID}}
}

func (x *changeScan) change(room string) chat.Change {
	c := x.c
	c.Room, c.Kind, c.Content, c.Emoji, c.ClientID = room, chat.ChangeKind(x.kind), x.content, x.emoji, x.cliID
	c.Mentions = splitNames(&x.mentions)
	return c
}

// Versions returns every version of a message's content, oldest first,
// the current one last: one for a message never edited. A seq that holds
// no message of the room, or a deleted one, is a *chat.Error with code
// chat.ENotFound.
func (s *Store) Versions(ctx context.Context, room string, seq int64) ([]chat.Version, error) {
	if !chat.ValidRoomName(room) || seq < 1 {
		return nil, errNoMessage(seq)
	}
	room = chat.NormalizeRoomName(room)
	var content string
	var created, edited, deleted time.Time
	err := s.read.queryRow(ctx, "SELECT content, created_at, edited_at, deleted_at FROM messages WHERE room = $1 AND seq = $2",
		room, seq).Scan(&content, timeCol{&created}, nullTimeCol{&edited}, nullTimeCol{&deleted})
	switch {
	case isNoRows(err):
		return nil, errNoMessage(seq)
	case err != nil:
		return nil, wrapErr("versions", err)
	case !deleted.IsZero():
		return nil, errDeleted
	case edited.IsZero():
		return []chat.Version{{Rev: seq, Content: content, Timestamp: created}}, nil
	}
	rs, err := s.read.query(ctx, "SELECT rev, content, created_at FROM message_versions WHERE room = $1 AND seq = $2 ORDER BY rev",
		room, seq)
	if err != nil {
		return nil, wrapErr("versions", err)
	}
	defer rs.Close()
	var out []chat.Version
	for rs.Next() {
		var v chat.Version
		if err := rs.Scan(&v.Rev, &v.Content, timeCol{&v.Timestamp}); err != nil {
			return nil, wrapErr("versions", err)
		}
		out = append(out, v)
	}
	if err := rs.Err(); err != nil {
		return nil, wrapErr("versions", err)
	}
	if len(out) == 0 {
		return nil, errDeleted // deleted since the first read
	}
	return out, nil
}

func wrapErr(op string, err error) error { return fmt.Errorf("store: %s: %w", op, err) }
