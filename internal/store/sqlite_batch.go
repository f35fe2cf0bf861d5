package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"

	"parley/internal/chat"
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
	sqliteLastSeq = "SELECT last_seq FROM rooms WHERE name = ?"
	// ? = room, now, now, creator's name
	sqliteCreateRoom = `
		INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by)
		VALUES (?, 0, ?, ?, (SELECT id FROM users WHERE name = ?))
		ON CONFLICT (name) DO NOTHING`
	// ? = word, room
	sqliteRoomWord = "INSERT INTO room_words (word, room) VALUES (?, ?) ON CONFLICT DO NOTHING"
	// ? = room, seq, author, content, now, client_id
	sqliteInsertMessage = `
		INSERT INTO messages (room, seq, author, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (room, author, client_id) WHERE client_id IS NOT NULL DO NOTHING`
	// ? = room, author, client_id
	sqliteMessageByClientID = "SELECT id, seq, content, created_at FROM messages WHERE room = ? AND author = ? AND client_id = ?"
	// ? = last seq, last activity, room
	sqliteMoveRoom = "UPDATE rooms SET last_seq = ?, last_activity = ? WHERE name = ?"
	// ? = room, seq, now, author
	sqliteAuthorRead = `
		INSERT INTO room_members (user_id, room, last_read, entered_at)
		SELECT id, CAST(? AS TEXT), CAST(? AS BIGINT), ? FROM users WHERE name = ?
		ON CONFLICT (user_id, room) DO UPDATE SET last_read = max(room_members.last_read, excluded.last_read)`
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
// in four steps, so that a batch costs one statement per message, two per
// room, and one per author and room:
//
//  1. For each room, in name order: read its last_seq, or create it if
//     absent and a change may make it (its words with it).
//  2. For each message: insert it with the room's next seq, unless its
//     (room, author, client_id) is stored already (ON CONFLICT DO NOTHING),
//     in which case read the stored one and take no seq.
//  3. For each room that moved: set last_seq and last_activity.
//  4. For each author and room: record the author as a member who has read
//     up to their latest message.
func (w *sqliteBatchWriter) apply(ctx context.Context, c *rawConn, changes []change, results []result) error {
	rooms := newBatchRooms(changes)
	for _, name := range rooms.names {
		r := rooms.rooms[name]
		err := c.queryRow(ctx, sqliteLastSeq, name).Scan(&r.lastSeq)
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
			err = c.queryRow(ctx, sqliteLastSeq, name).Scan(&r.lastSeq)
		}
		if err != nil {
			return err
		}
	}

	for i, ch := range changes {
		m := ch.msg
		r := rooms.rooms[ch.room]
		if r.missing {
			results[i] = result{err: ErrNoRoom}
			continue
		}
		msg := chat.Message{Room: m.Room, Seq: r.seq() + 1, Author: m.Author, Content: m.Content,
			ClientID: m.ClientID, Timestamp: now()}
		var clientID any // NULL when absent: NULLs never collide in the unique index
		if m.ClientID != "" {
			clientID = m.ClientID
		}
		id, inserted, err := resultID(c.exec(ctx, sqliteInsertMessage,
			m.Room, msg.Seq, m.Author, m.Content, msg.Timestamp, clientID))
		if err != nil {
			return err
		}
		if !inserted {
			// Sent before, in an earlier transaction or earlier in this batch.
			stored := chat.Message{Room: m.Room, Author: m.Author, ClientID: m.ClientID}
			err := c.queryRow(ctx, sqliteMessageByClientID, m.Room, m.Author, m.ClientID).
				Scan(&stored.ID, &stored.Seq, &stored.Content, timeCol{&stored.Timestamp})
			if isNoRows(err) {
				return fmt.Errorf("message %s/%s/%q conflicts but cannot be found", m.Room, m.Author, m.ClientID)
			}
			if err != nil {
				return err
			}
			results[i] = result{msg: stored}
			continue
		}
		r.take(msg.Timestamp)
		msg.ID = id
		results[i] = result{msg: msg, created: true}
	}

	for _, name := range rooms.names {
		if r := rooms.rooms[name]; r.taken > 0 {
			if _, err := c.exec(ctx, sqliteMoveRoom, r.seq(), r.at, name); err != nil {
				return err
			}
		}
	}
	for _, a := range authorsRead(results[:len(changes)]) {
		if _, err := c.exec(ctx, sqliteAuthorRead, a.room, a.seq, a.at, a.author); err != nil {
			return err
		}
	}
	return nil
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
