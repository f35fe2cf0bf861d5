package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"

	"parley/internal/chat"
	"parley/internal/search"
)

// sqliteBatchWriter writes SQLite batches on the one writer connection,
// statement by statement: in SQLite a statement costs no round trip, and
// running the next one after seeing the last one's outcome is cheap. It
// runs them on the driver connection under database/sql (see rawConn).
type sqliteBatchWriter struct {
	db           *sql.DB // the writer's pool of one connection
	checkpointer *checkpointer
	raw          *rawConn // the writer connection's statements; one worker uses it
}

var _ batchWriter = (*sqliteBatchWriter)(nil)

// The statements of a SQLite batch. They are SQLite's alone, and take its
// anonymous ? placeholders, which the driver binds by position without
// reading a name. No statement locks a room: the transaction holds the
// database's write lock from BEGIN IMMEDIATE on.
const (
	// ? = room
	sqliteLastSeq = "SELECT last_seq, msg_count, access_epoch FROM rooms WHERE name = ?"
	// ? = room, now, now, creator's name
	sqliteCreateRoom = `
		INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by)
		VALUES (?, 0, ?, ?, (SELECT id FROM users WHERE name = ?))
		ON CONFLICT (name) DO NOTHING`
	// ? = word, room
	sqliteRoomWord = "INSERT INTO room_words (word, room) VALUES (?, ?) ON CONFLICT DO NOTHING"
	// ? = room, seq, num, author, content, now, client_id: a message
	// without a reply or mentions, most of them
	sqliteInsertMessage = `
		INSERT INTO messages (room, seq, num, author, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, author, client_id) WHERE client_id IS NOT NULL DO NOTHING`
	// ? = the same, and reply_to, mentions, mentions_room
	sqliteInsertReply = `
		INSERT INTO messages (room, seq, num, author, content, created_at, client_id, reply_to, mentions, mentions_room)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, author, client_id) WHERE client_id IS NOT NULL DO NOTHING`
	// ? = room, author, client_id
	sqliteMessageByClientID = "SELECT " + sqliteMsgCols + msgFrom + "WHERE m.room = ? AND m.author = ? AND m.client_id = ?"
	// ? = last seq, message count, messages deleted, last activity or NULL, room
	sqliteMoveRoom = `UPDATE rooms SET last_seq = ?, msg_count = ?, deleted_count = deleted_count + ?,
		last_activity = COALESCE(?, last_activity) WHERE name = ?`
	// ?1 = room, ?2 = seq, ?3 = now, ?4 = author. Only a public room's
	// membership is made by posting: a member removed from a private room
	// while their message was on its way stays out of it.
	sqliteAuthorRead = `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT id, CAST(?1 AS TEXT), CAST(?2 AS BIGINT), ?3 FROM users WHERE name = ?4
			AND (EXISTS (SELECT 1 FROM rooms r WHERE r.name = ?1 AND r.kind = 'public')
				OR EXISTS (SELECT 1 FROM room_members x WHERE x.user_id = users.id AND x.room = ?1))
		ON CONFLICT (user_id, room) DO UPDATE SET last_read = max(room_members.last_read, excluded.last_read)`

	// Changes and what they need.

	// ? = name
	sqliteUserID = "SELECT id FROM users WHERE name = ?"
	// ? = room, seq
	sqliteTarget = `SELECT id, author, content, created_at, edited_at, deleted_at, COALESCE(rev, seq),
		reactions, mentions, mentions_room FROM messages WHERE room = ? AND seq = ?`
	// ? = room, target, emoji, author
	sqliteReaction = "SELECT present, seq FROM reactions WHERE room = ? AND target = ? AND emoji = ? AND author = ?"
	// ? = room, target
	sqliteEmojiCounts = "SELECT emoji, count(*) FROM reactions WHERE room = ? AND target = ? AND present GROUP BY emoji"
	// ? = room, author, client_id
	sqliteChangeByClientID = "SELECT " + changeCols + " FROM changes WHERE room = ? AND author = ? AND client_id = ?"
	// ? = room, seq
	sqliteChangeBySeq = "SELECT " + changeCols + " FROM changes WHERE room = ? AND seq = ?"
	// ? = room, seq, kind, target, author, content, mentions, mentions_room, emoji, now, client_id
	sqliteInsertChange = `INSERT INTO changes (room, seq, kind, target, author, content, mentions, mentions_room, emoji, created_at, client_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// ? = content, rev, edited_at, deleted_at, mentions, mentions_room, reactions, id
	sqliteUpdateMessage = `UPDATE messages SET content = ?, rev = ?, edited_at = ?, deleted_at = ?, mentions = ?,
		mentions_room = ?, reactions = ? WHERE id = ?`
	// ? = room, seq, rev, content, created_at
	sqliteInsertVersion = "INSERT INTO message_versions (room, seq, rev, content, created_at) VALUES (?, ?, ?, ?, ?)"
	// ? = room, target, emoji, author, present, seq
	sqliteUpsertReaction = `INSERT INTO reactions (room, target, emoji, author, present, seq) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, target, emoji, author) DO UPDATE SET present = excluded.present, seq = excluded.seq`
	// ? = room, seq, user_id, message_id
	sqliteInsertMention = "INSERT INTO mentions (room, seq, user_id, message_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
	// What a deletion erases. ? = room, seq
	sqliteDeleteVersions  = "DELETE FROM message_versions WHERE room = ? AND seq = ?"
	sqliteEraseEdits      = "UPDATE changes SET content = NULL, mentions = NULL, mentions_room = 0 WHERE room = ? AND target = ? AND kind = 'edit'"
	sqliteDeleteReactions = "DELETE FROM reactions WHERE room = ? AND target = ?"
	sqliteDeleteMentions  = "DELETE FROM mentions WHERE room = ? AND seq = ?"
)

func (w *sqliteBatchWriter) write(changes []change, results []result) error {
	err := w.withConn(func(c *rawConn) error {
		ctx := context.Background() // a batch belongs to all its callers: none of them cancels it
		tx, err := c.begin(ctx)
		if err != nil {
			return err
		}
		if err := w.apply(ctx, c, changes, results); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			_ = tx.Rollback() // SQLite may keep a transaction open after a failed COMMIT
			return err
		}
		return nil
	})
	w.checkpointer.notify()
	return err
}

// apply writes changes inside the batch's transaction and fills results,
// in four steps, so that a batch costs one statement per plain message,
// two per room, and one per author and room:
//
//  1. For each room, in name order: read its last_seq and message count,
//     or create it if absent and a message may make it (its words with
//     it).
//  2. For each message: insert it with the room's next seq, unless its
//     (room, author, client_id) is stored already (ON CONFLICT DO NOTHING),
//     in which case read the stored one and take no seq. A reply reads
//     the message it answers first, a message with an @ the users it may
//     mention. Each change to a message reads what it needs (its stored
//     client_id, the message, the reaction), is decided (decide), and, if
//     applied, takes the room's next seq and writes its rows. The new
//     messages go into the full-text index in one statement after them,
//     or before an edit or a deletion that follows them (its trigger
//     takes words out of the index).
//  3. For each room that moved: set last_seq, the counts and
//     last_activity.
//  4. For each author and room: record the author as a member who has read
//     up to their latest message.
func (w *sqliteBatchWriter) apply(ctx context.Context, c *rawConn, changes []change, results []result) error {
	rooms := newBatchRooms(changes)
	for _, name := range rooms.names {
		r := rooms.rooms[name]
		err := c.queryRow(ctx, sqliteLastSeq, name).Scan(&r.lastSeq, &r.msgCount, &r.epoch)
		if isNoRows(err) {
			if !r.create {
				r.missing = true
				continue
			}
			t := now()
			if _, err := c.exec(ctx, sqliteCreateRoom, name, t, t, r.creator); err != nil {
				return err
			}
			for _, w := range roomWords(name) {
				if _, err := c.exec(ctx, sqliteRoomWord, w, name); err != nil {
					return err
				}
			}
			err = c.queryRow(ctx, sqliteLastSeq, name).Scan(&r.lastSeq, &r.msgCount, &r.epoch)
		}
		if err != nil {
			return err
		}
	}

	b := sqliteBatch{ctx: ctx, c: c, edits: make(map[roomSeq][]*chat.Change)}
	var firstNew int64 // the first message inserted and not yet indexed
	for i, ch := range changes {
		r := rooms.rooms[ch.room]
		if r.missing {
			results[i] = result{err: ErrNoRoom}
			continue
		}
		var err error
		if ch.edit != nil {
			if k := ch.edit.Kind; firstNew > 0 && (k == chat.ChangeEdit || k == chat.ChangeDelete) {
				// Its trigger takes the words indexed out of the index:
				// a message of this batch must be in it first.
				if err := b.index(firstNew); err != nil {
					return err
				}
				firstNew = 0
			}
			results[i], err = b.change(r, ch.edit)
		} else {
			results[i], err = b.message(r, ch.msg)
			if firstNew == 0 && results[i].created {
				firstNew = results[i].msg.ID
			}
		}
		if err != nil {
			return err
		}
	}
	if firstNew > 0 {
		if err := b.index(firstNew); err != nil {
			return err
		}
	}

	for _, name := range rooms.names {
		if r := rooms.rooms[name]; r.taken > 0 {
			if _, err := c.exec(ctx, sqliteMoveRoom, r.seq(), r.msgCount+r.newMsgs, r.deleted, r.activity(), name); err != nil {
				return err
			}
		}
	}
	for _, a := range authorsRead(results[:len(changes)]) {
		if _, err := c.exec(ctx, sqliteAuthorRead, a.room, a.seq, a.at, a.author); err != nil {
			return err
		}
	}
	stampEpochs(rooms, changes, results)
	return nil
}

// sqliteBatch runs the statements of one batch's messages and changes.
// An error it returns fails the batch; a change the rules refuse is a
// result with its error.
type sqliteBatch struct {
	ctx context.Context
	c   *rawConn
	// edits are the batch's edits by message, which a deletion in the
	// same batch erases in their results as in the database.
	edits map[roomSeq][]*chat.Change
}

func (b sqliteBatch) message(r *batchRoom, m chat.NewMessage) (result, error) {
	var reply *chat.Reply
	if m.ReplyTo > 0 {
		if m.ClientID != "" {
			// A retried reply is its stored message, whatever became of
			// the message it answers since.
			if stored, ok, err := b.storedMessage(m); ok || err != nil {
				return result{msg: stored}, err
			}
		}
		t, err := b.target(m.Room, m.ReplyTo)
		if err != nil {
			return result{}, err
		}
		if reply, err = replyTo(m.ReplyTo, t); err != nil {
			return result{err: err}, nil
		}
	}
	var mentions []string
	var ids []int64
	var room bool
	if parsed, atRoom := parseMentions(m.Content); len(parsed) > 0 || atRoom {
		users, err := b.users(chat.MentionNames(parsed))
		if err != nil {
			return result{}, err
		}
		mentions, ids, room = mentionsOf(parsed, atRoom, users)
	}

	at := now()
	msg := chat.Message{Room: m.Room, Seq: r.seq() + 1, Author: m.Author, Content: m.Content,
		ClientID: m.ClientID, Timestamp: at, ReplyTo: reply, Mentions: mentions, MentionsRoom: room}
	msg.Rev = msg.Seq
	var id int64
	var inserted bool
	var err error
	num := r.msgCount + r.newMsgs + 1
	if m.ReplyTo > 0 || len(mentions) > 0 || room {
		var replyCol any
		if m.ReplyTo > 0 {
			replyCol = m.ReplyTo
		}
		id, inserted, err = resultID(b.c.exec(b.ctx, sqliteInsertReply,
			m.Room, msg.Seq, num, m.Author, m.Content, at, nullString(m.ClientID), replyCol, joinNames(mentions), room))
	} else {
		id, inserted, err = resultID(b.c.exec(b.ctx, sqliteInsertMessage,
			m.Room, msg.Seq, num, m.Author, m.Content, at, nullString(m.ClientID)))
	}
	if err != nil {
		return result{}, err
	}
	if !inserted {
		// Sent before, in an earlier transaction or earlier in this batch.
		stored, ok, err := b.storedMessage(m)
		if err == nil && !ok {
			err = fmt.Errorf("message %s/%s/%q conflicts but cannot be found", m.Room, m.Author, m.ClientID)
		}
		return result{msg: stored}, err
	}
	r.takeMessage(at)
	msg.ID = id
	for _, uid := range ids {
		if _, err := b.c.exec(b.ctx, sqliteInsertMention, m.Room, msg.Seq, uid, id); err != nil {
			return result{}, err
		}
	}
	return result{msg: msg, created: true}, nil
}

// index adds to the full-text index the messages inserted from the one
// with id first on (search.SQLiteIndexNew): once for a run of new
// messages, so that FTS5 writes its words at commit, not at every
// message. Edits and deletions are indexed by triggers
// (migrations/sqlite/0008_search.sql).
func (b sqliteBatch) index(first int64) error {
	_, err := b.c.exec(b.ctx, search.SQLiteIndexNew, first)
	return err
}

// storedMessage reads the message m's client_id stored, in its current
// state.
func (b sqliteBatch) storedMessage(m chat.NewMessage) (chat.Message, bool, error) {
	var x msgScan
	err := b.c.queryRow(b.ctx, sqliteMessageByClientID, m.Room, m.Author, m.ClientID).Scan(x.dest()...)
	if isNoRows(err) {
		return chat.Message{}, false, nil
	}
	if err != nil {
		return chat.Message{}, false, err
	}
	return x.message(m.Room), true, nil
}

// users returns the ids of those of names that are users.
func (b sqliteBatch) users(names []string) (map[string]int64, error) {
	users := make(map[string]int64, len(names))
	for _, n := range names {
		var id int64
		err := b.c.queryRow(b.ctx, sqliteUserID, n).Scan(&id)
		if isNoRows(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		users[n] = id
	}
	return users, nil
}

// target reads the message of room at seq as changes see it.
func (b sqliteBatch) target(room string, seq int64) (*msgState, error) {
	t := &msgState{}
	var mentions string
	var deleted time.Time
	var reactions int64
	err := b.c.queryRow(b.ctx, sqliteTarget, room, seq).Scan(&t.id, &t.author, &t.content, timeCol{&t.created},
		nullTimeCol{&t.edited}, nullTimeCol{&deleted}, &t.rev, intCol{&reactions}, textCol{&mentions}, boolCol{&t.mentionsRoom})
	if isNoRows(err) {
		return t, nil
	}
	if err != nil {
		return nil, err
	}
	t.found, t.deleted, t.reactions, t.mentions = true, !deleted.IsZero(), int(reactions), splitNames(&mentions)
	return t, nil
}

// change decides one change to a message and, if it applies, writes it.
func (b sqliteBatch) change(r *batchRoom, c *chat.NewChange) (result, error) {
	if c.ClientID != "" {
		stored, ok, err := b.storedChange(sqliteChangeByClientID, c.Room, c.Author, c.ClientID)
		if ok || err != nil {
			return result{chg: &stored}, err
		}
	}
	t, err := b.target(c.Room, c.Target)
	if err != nil {
		return result{}, err
	}
	var rs reactionState
	if t.found && (c.Kind == chat.ChangeReact || c.Kind == chat.ChangeUnreact) {
		err := b.c.queryRow(b.ctx, sqliteReaction, c.Room, c.Target, c.Emoji, c.Author).Scan(boolCol{&rs.present}, &rs.seq)
		switch {
		case err == nil:
			rs.known = true
		case !isNoRows(err):
			return result{}, err
		}
		if c.Kind == chat.ChangeReact && !rs.present {
			if t.emoji, err = b.emojiCounts(c.Room, c.Target); err != nil {
				return result{}, err
			}
		}
	}
	at := now()
	done, err := decide(c, t, &rs, at)
	if err != nil {
		return result{err: err}, nil
	}
	if done > 0 {
		stored, ok, err := b.storedChange(sqliteChangeBySeq, c.Room, done)
		if err == nil && !ok {
			err = fmt.Errorf("change %s/%d cannot be found", c.Room, done)
		}
		return result{chg: &stored}, err
	}

	var mentions []string
	var ids []int64
	var room bool
	if c.Kind == chat.ChangeEdit {
		if parsed, atRoom := parseMentions(c.Content); len(parsed) > 0 || atRoom {
			users, err := b.users(chat.MentionNames(parsed))
			if err != nil {
				return result{}, err
			}
			mentions, ids, room = mentionsOf(parsed, atRoom, users)
		}
	}
	ch := apply(c, r.take(), at, t, &rs, mentions, room)
	if err := b.writeChange(ch, t, &rs, ids); err != nil {
		return result{}, err
	}
	k := roomSeq{ch.Room, ch.Target}
	switch ch.Kind {
	case chat.ChangeEdit:
		b.edits[k] = append(b.edits[k], &ch)
	case chat.ChangeDelete:
		r.deleted++
		for _, e := range b.edits[k] {
			e.Content, e.Mentions, e.MentionsRoom = "", nil, false
		}
	}
	return result{chg: &ch, created: true}, nil
}

// writeChange writes a change applied: its entry, the message's new
// state, and its versions, reactions and mentions.
func (b sqliteBatch) writeChange(ch chat.Change, t *msgState, rs *reactionState, mentionIDs []int64) error {
	exec := func(q string, args ...any) error {
		_, err := b.c.exec(b.ctx, q, args...)
		return err
	}
	if err := exec(sqliteInsertChange, ch.Room, ch.Seq, string(ch.Kind), ch.Target, ch.Author, nullString(ch.Content),
		joinNames(ch.Mentions), ch.MentionsRoom, nullString(ch.Emoji), ch.Timestamp, nullString(ch.ClientID)); err != nil {
		return err
	}
	var deleted any
	if t.deleted {
		deleted = ch.Timestamp
	}
	if err := exec(sqliteUpdateMessage, t.content, t.rev, nullTime(t.edited), deleted, joinNames(t.mentions),
		t.mentionsRoom, t.reactions, t.id); err != nil {
		return err
	}
	switch ch.Kind {
	case chat.ChangeEdit:
		for _, v := range t.versions {
			if err := exec(sqliteInsertVersion, ch.Room, ch.Target, v.Rev, v.Content, v.Timestamp); err != nil {
				return err
			}
		}
		if err := exec(sqliteDeleteMentions, ch.Room, ch.Target); err != nil {
			return err
		}
		for _, uid := range mentionIDs {
			if err := exec(sqliteInsertMention, ch.Room, ch.Target, uid, t.id); err != nil {
				return err
			}
		}
	case chat.ChangeDelete:
		for _, q := range []string{sqliteDeleteVersions, sqliteEraseEdits, sqliteDeleteReactions, sqliteDeleteMentions} {
			if err := exec(q, ch.Room, ch.Target); err != nil {
				return err
			}
		}
	case chat.ChangeReact, chat.ChangeUnreact:
		return exec(sqliteUpsertReaction, ch.Room, ch.Target, ch.Emoji, ch.Author, rs.present, rs.seq)
	}
	return nil
}

// emojiCounts reads how many users reacted with each emoji of a message.
func (b sqliteBatch) emojiCounts(room string, target int64) (map[string]int, error) {
	counts := make(map[string]int)
	var emoji string
	var n int64
	err := b.c.queryEach(b.ctx, sqliteEmojiCounts, []any{room, target}, []any{&emoji, &n}, func() error {
		counts[emoji] = int(n)
		return nil
	})
	return counts, err
}

// storedChange reads one stored change with query, whose arguments are
// the room's and the rest of args.
func (b sqliteBatch) storedChange(query string, room string, args ...any) (chat.Change, bool, error) {
	var x changeScan
	err := b.c.queryRow(b.ctx, query, append([]any{room}, args...)...).Scan(x.dest()...)
	if isNoRows(err) {
		return chat.Change{}, false, nil
	}
	if err != nil {
		return chat.Change{}, false, err
	}
	return x.change(room), true, nil
}

// resultID is the id an INSERT made, and false if it made no row.
func resultID(res driver.Result, err error) (int64, bool, error) {
	if err != nil {
		return 0, false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return 0, false, err
	}
	id, err := res.LastInsertId()
	return id, err == nil, err
}

// withConn runs f on the writer connection; other writes wait meanwhile.
func (w *sqliteBatchWriter) withConn(f func(c *rawConn) error) error {
	c, err := w.db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		if w.raw == nil || w.raw.conn != dc {
			// A new connection: the first, or one replacing a broken one.
			w.raw = newRawConn(dc.(driver.Conn))
		}
		return f(w.raw)
	})
}

// close finalises the writer's statements before the connection closes.
func (w *sqliteBatchWriter) close() {
	_ = w.withConn(func(c *rawConn) error {
		c.close()
		return nil
	})
}
