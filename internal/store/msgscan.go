package store

import (
	"slices"
	"strings"
	"time"

	"parley/internal/chat"
)

// The columns of a message in its current state (m), as msgScan reads
// them, for each engine, and msgFrom their table. What the message replies
// to and its reactions come in the same row, each read by a subquery only
// for a message that has one (a join of messages with itself was planned,
// on PostgreSQL with few rows counted, as a scan of the table):
//   - the reply: "+" (or "-" once deleted), the author, a line break, and
//     the first 101 characters of its content: the excerpt is cut in Go
//     (chat.Excerpt), and one character more tells whether there is more;
//   - the reactions: "emoji author" a line each in the order they were
//     added (neither has a space or a line break).
const (
	msgColsBase = `m.id, m.seq, m.author, m.content, m.created_at, m.client_id, COALESCE(m.rev, m.seq), m.edited_at,
		m.deleted_at, m.mentions, m.mentions_room, m.reply_to, `
	sqliteMsgCols = msgColsBase + `CASE WHEN m.reply_to IS NOT NULL AND m.deleted_at IS NULL THEN
		(SELECT CASE WHEN t.deleted_at IS NULL THEN '+' ELSE '-' END || t.author || char(10) || substr(t.content, 1, 101)
		FROM messages t WHERE t.room = m.room AND t.seq = m.reply_to) END,
		CASE WHEN m.reactions > 0 AND m.deleted_at IS NULL THEN
		(SELECT group_concat(r.emoji || ' ' || r.author, char(10) ORDER BY r.seq) FROM reactions r
		WHERE r.room = m.room AND r.target = m.seq AND r.present) END`
	pgMsgCols = msgColsBase + `CASE WHEN m.reply_to IS NOT NULL AND m.deleted_at IS NULL THEN
		(SELECT CASE WHEN t.deleted_at IS NULL THEN '+' ELSE '-' END || t.author || E'\n' || substr(t.content, 1, 101)
		FROM messages t WHERE t.room = m.room AND t.seq = m.reply_to) END,
		CASE WHEN m.reactions > 0 AND m.deleted_at IS NULL THEN
		(SELECT string_agg(r.emoji || ' ' || r.author, E'\n' ORDER BY r.seq) FROM reactions r
		WHERE r.room = m.room AND r.target = m.seq AND r.present) END`
	msgFrom = ` FROM messages m `
)

// msgScan reads a row of msgCols.
type msgScan struct {
	m                  chat.Message
	clientID, mentions string
	deletedAt          time.Time
	replyTo            int64
	reply              string // the reply's target, as above
	reacted            string // the reactions, a line each
}

func (x *msgScan) dest() []any {
	return []any{&x.m.ID, &x.m.Seq, &x.m.Author, &x.m.Content, timeCol{&x.m.Timestamp}, textCol{&x.clientID},
		&x.m.Rev, nullTimeCol{&x.m.Edited}, nullTimeCol{&x.deletedAt}, textCol{&x.mentions},
		boolCol{&x.m.MentionsRoom}, intCol{&x.replyTo}, textCol{&x.reply}, textCol{&x.reacted}}
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
	if x.replyTo > 0 && len(x.reply) > 0 {
		author, excerpt, _ := strings.Cut(x.reply[1:], "\n")
		r := &chat.Reply{Seq: x.replyTo, Author: author}
		if x.reply[0] == '+' {
			r.Excerpt = chat.Excerpt(excerpt)
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
