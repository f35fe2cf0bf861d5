package store

import (
	"time"

	"parley/internal/chat"
)

// msgCols are the columns of a message in its current state (m), and of
// the message it replies to (t), as msgScan reads them; msgFrom joins the
// two. The reply's excerpt is cut in Go (chat.Excerpt): one character more
// than it shows tells whether there is more.
const (
	msgCols = `m.id, m.seq, m.author, m.content, m.created_at, m.client_id, COALESCE(m.rev, m.seq), m.edited_at,
		m.deleted_at, m.mentions, m.mentions_room, m.reactions, m.reply_to, t.author, substr(t.content, 1, 101), t.deleted_at`
	msgFrom = ` FROM messages m LEFT JOIN messages t ON t.room = m.room AND t.seq = m.reply_to `
)

// msgScan reads a row of msgCols.
type msgScan struct {
	m                       chat.Message
	clientID, mentions      string
	deletedAt, replyDeleted time.Time
	reactions, replyTo      int64
	replyAuthor, excerpt    string
}

func (x *msgScan) dest() []any {
	return []any{&x.m.ID, &x.m.Seq, &x.m.Author, &x.m.Content, timeCol{&x.m.Timestamp}, textCol{&x.clientID},
		&x.m.Rev, nullTimeCol{&x.m.Edited}, nullTimeCol{&x.deletedAt}, textCol{&x.mentions},
		boolCol{&x.m.MentionsRoom}, intCol{&x.reactions}, intCol{&x.replyTo},
		textCol{&x.replyAuthor}, textCol{&x.excerpt}, nullTimeCol{&x.replyDeleted}}
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

// hasReactions reports whether the message read has reactions to read.
func (x *msgScan) hasReactions() bool { return x.reactions > 0 && x.deletedAt.IsZero() }
