package store

import (
	"slices"
	"strings"
	"time"

	"parley/internal/chat"
)

// The columns of a message in its current state (m), and of the message
// it replies to (t), as msgScan reads them, for each engine; msgFrom joins
// the two. The reply's excerpt is cut in Go (chat.Excerpt): one character
// more than it shows tells whether there is more. The message's reactions
// come in the same row, "emoji author" a line each in the order they were
// added (neither has a space or a line break), read only for a message
// that has any.
const (
	msgColsBase = `m.id, m.seq, m.author, m.content, m.created_at, m.client_id, COALESCE(m.rev, m.seq), m.edited_at,
		m.deleted_at, m.mentions, m.mentions_room, m.reactions, m.reply_to, t.author, substr(t.content, 1, 101), t.deleted_at, `
	sqliteMsgCols = msgColsBase + `CASE WHEN m.reactions > 0 AND m.deleted_at IS NULL THEN
		(SELECT group_concat(r.emoji || ' ' || r.author, char(10) ORDER BY r.seq) FROM reactions r
		WHERE r.room = m.room AND r.target = m.seq AND r.present) END`
	pgMsgCols = msgColsBase + `CASE WHEN m.reactions > 0 AND m.deleted_at IS NULL THEN
		(SELECT string_agg(r.emoji || ' ' || r.author, E'\n' ORDER BY r.seq) FROM reactions r
		WHERE r.room = m.room AND r.target = m.seq AND r.present) END`
	msgFrom = ` FROM messages m LEFT JOIN messages t ON t.room = m.room AND t.seq = m.reply_to `
)

// msgScan reads a row of msgCols.
type msgScan struct {
	m                       chat.Message
	clientID, mentions      string
	deletedAt, replyDeleted time.Time
	reactions, replyTo      int64
	replyAuthor, excerpt    string
	reacted                 string // the reactions, a line each
}

func (x *msgScan) dest() []any {
	return []any{&x.m.ID, &x.m.Seq, &x.m.Author, &x.m.Content, timeCol{&x.m.Timestamp}, textCol{&x.clientID},
		&x.m.Rev, nullTimeCol{&x.m.Edited}, nullTimeCol{&x.deletedAt}, textCol{&x.mentions},
		boolCol{&x.m.MentionsRoom}, intCol{&x.reactions}, intCol{&x.replyTo},
		textCol{&x.replyAuthor}, textCol{&x.excerpt}, nullTimeCol{&x.replyDeleted}, textCol{&x.reacted}}
}

// message returns the message read, of room. A deleted one is a
// tombstone: its seq, author, timestamp and rev, nothing more.
func (x *msgScan) message(room string) chat.Message {
	m := x.m
	m.Room, m.ClientID = room, x.clientID
	if !x.deletedAt.IsZero() {
		return chat.Message{ID: m.ID, Room: room, Seq: m.Seq, Rev: m.Rev, Author: m.Author,
			Timestamp: m.Timestamp, Deleted: true}
	}
	if x.mentions != "" {
		m.Mentions = splitNames(&x.mentions)
	}
	if x.reacted != "" {
		m.Reactions = reactionsOf(x.reacted)
	}
	if x.replyTo > 0 {
		r := &chat.Reply{Seq: x.replyTo, Author: x.replyAuthor}
		if x.replyDeleted.IsZero() {
			r.Excerpt = chat.Excerpt(x.excerpt)
		} else {
			r.Deleted = true
		}
		m.ReplyTo = r
	}
	return m
}

// reactionsOf reads the reactions of a message, "emoji author" a line
// each in the order they were added, into each emoji's count and users,
// emoji in the order of their first reaction.
func reactionsOf(lines string) []chat.Reaction {
	var out []chat.Reaction
	for line := range strings.Lines(lines) {
		emoji, author, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if !ok {
			continue
		}
		i := slices.IndexFunc(out, func(r chat.Reaction) bool { return r.Emoji == emoji })
		if i < 0 {
			out = append(out, chat.Reaction{Emoji: emoji})
			i = len(out) - 1
		}
		out[i].Count++
		out[i].Users = append(out[i].Users, author)
	}
	return out
}
