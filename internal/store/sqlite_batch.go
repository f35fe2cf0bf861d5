package store

import (
	"context"
	"database/sql"
	"fmt"

	"parley/internal/chat"
)

// sqliteBatchWriter writes SQLite batches on the one writer connection,
// statement by statement: in SQLite a statement costs no round trip, and
// running the next one after seeing the last one's outcome is cheap.
type sqliteBatchWriter struct {
	db           *sqliteDB // the writer's pool of one connection, and its statements
	checkpointer *checkpointer
}

// The statements of a SQLite batch. They are SQLite's alone, and take its
// anonymous ? placeholders, which the driver binds by position without
// reading a name. No statement locks a room: the transaction holds the
// database's write lock from BEGIN IMMEDIATE on.
const (
	// ? = room
	sqliteLastSeq = "SELECT last_seq FROM rooms WHERE name = ?"
	// ? = room, now, now
	sqliteCreateRoom = "INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES (?, 0, ?, ?) ON CONFLICT (name) DO NOTHING"
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
	defer w.checkpointer.notify()
	ctx := context.Background() // a batch belongs to all its callers: none of them cancels it
	for _, q := range sqliteBatchStmts {
		if _, err := w.db.stmt(ctx, q); err != nil {
			return err
		}
	}
	tx, err := w.db.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := w.apply(ctx, &sqliteBatchTx{tx: tx, db: w.db, stmts: make(map[string]*sql.Stmt, len(sqliteBatchStmts))}, changes, results); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// sqliteBatchStmts are the statements a batch runs, prepared on the pool
// before its transaction begins: inside it, the pool has no connection
// free to prepare them on.
var sqliteBatchStmts = []string{sqliteLastSeq, sqliteCreateRoom, sqliteInsertMessage, sqliteMessageByClientID, sqliteMoveRoom, sqliteAuthorRead}

// sqliteBatchTx runs a batch's statements in its transaction, each made a
// statement of the transaction once, at its first use.
type sqliteBatchTx struct {
	tx    *sql.Tx
	db    *sqliteDB
	stmts map[string]*sql.Stmt
}

func (t *sqliteBatchTx) stmt(ctx context.Context, query string) *sql.Stmt {
	st, ok := t.stmts[query]
	if !ok {
		st = t.tx.StmtContext(ctx, t.db.prepared(query))
		t.stmts[query] = st
	}
	return st
}

func (t *sqliteBatchTx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.stmt(ctx, query).ExecContext(ctx, args...)
}

func (t *sqliteBatchTx) queryRow(ctx context.Context, query string, args ...any) row {
	return t.stmt(ctx, query).QueryRowContext(ctx, args...)
}

// apply writes changes inside the batch's transaction and fills results,
// in four steps, so that a batch costs one statement per message, two per
// room, and one per author and room:
//
//  1. For each room, in name order: create it if absent and read its
//     last_seq.
//  2. For each message: insert it with the room's next seq, unless its
//     (room, author, client_id) is stored already (ON CONFLICT DO NOTHING),
//     in which case read the stored one and take no seq.
//  3. For each room that moved: set last_seq and last_activity.
//  4. For each author and room: record the author as a member who has read
//     up to their latest message.
func (w *sqliteBatchWriter) apply(ctx context.Context, c *sqliteBatchTx, changes []change, results []result) error {
	rooms := newBatchRooms(changes)
	for _, name := range rooms.names {
		r := rooms.rooms[name]
		err := c.queryRow(ctx, sqliteLastSeq, name).Scan(&r.lastSeq)
		if isNoRows(err) {
			t := now()
			if _, err := c.exec(ctx, sqliteCreateRoom, name, t, t); err != nil {
				return err
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
			msg := chat.Message{Room: m.Room, Author: m.Author, ClientID: m.ClientID}
			err := c.queryRow(ctx, sqliteMessageByClientID, m.Room, m.Author, m.ClientID).
				Scan(&msg.ID, &msg.Seq, &msg.Content, timeCol{&msg.Timestamp})
			if isNoRows(err) {
				return fmt.Errorf("message %s/%s/%q conflicts but cannot be found", m.Room, m.Author, m.ClientID)
			}
			if err != nil {
				return err
			}
			results[i] = result{msg: msg}
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
func resultID(res sql.Result, err error) (int64, bool, error) {
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

func (w *sqliteBatchWriter) close() {}
