package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"parley/internal/chat"
)

// pgBatchWriter writes PostgreSQL batches, where every statement costs a
// round trip and an execution on the server: a batch of any size takes two
// pipelines of a few statements each, every statement taking the whole
// batch as arrays (unnest), so that neither the round trips nor the
// statements grow with the batch.
//
//  1. Create the batch's rooms that a change may make if absent (with
//     their words), then lock them all, in name order
//     (SELECT ... ORDER BY name FOR NO KEY UPDATE: rows are locked in the
//     sort's order), then look up the batch's client_ids among the stored
//     messages. The lookup runs after the locks, and any other writer of
//     these rooms needs the same locks, so what it finds stays true until
//     commit. Locking in name order keeps batches that share rooms from
//     deadlocking.
//  2. Decide in Go which messages are new and give them seqs; a client_id
//     already stored, or repeated within the batch, takes none.
//  3. Insert the new messages, set each room's last_seq and last_activity,
//     and record the authors as members who have read up to their latest
//     message.
type pgBatchWriter struct {
	pool *pgxpool.Pool
}

var _ batchWriter = pgBatchWriter{}

// close has nothing to release: the Store closes the pool.
func (w pgBatchWriter) close() {}

func (w pgBatchWriter) write(changes []change, results []result) error {
	// A batch belongs to all its callers: none of them cancels it.
	ctx := context.Background()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	if err := w.apply(ctx, tx, changes, results); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

func (w pgBatchWriter) apply(ctx context.Context, tx pgx.Tx, changes []change, results []result) error {
	type clientKey struct{ room, author, clientID string }
	rooms := newBatchRooms(changes)
	var keyRooms, keyAuthors, keyIDs []string
	for _, c := range changes {
		if m := c.msg; m.ClientID != "" {
			keyRooms, keyAuthors, keyIDs = append(keyRooms, m.Room), append(keyAuthors, m.Author), append(keyIDs, m.ClientID)
		}
	}

	// Step 1. A room is created if absent before it is locked: a room that
	// another transaction is creating becomes visible once that
	// transaction ends, which the INSERT waits for, so the lock finds it.
	// Most batches make no room, and run no statement for it.
	var b pgx.Batch
	var newRooms, creators, wordRooms, words []string
	for _, name := range rooms.names {
		if r := rooms.rooms[name]; r.create {
			newRooms, creators = append(newRooms, name), append(creators, r.creator)
			for _, w := range roomWords(name) {
				wordRooms, words = append(wordRooms, name), append(words, w)
			}
		}
	}
	if len(newRooms) > 0 {
		b.Queue(`WITH made AS (
				INSERT INTO rooms (name, last_seq, created_at, last_activity, created_by)
				SELECT n.name, 0, $3, $3, users.id
				FROM unnest($1::text[], $2::text[]) AS n(name, creator) LEFT JOIN users ON users.name = n.creator
				ORDER BY n.name
				ON CONFLICT (name) DO NOTHING
				RETURNING name)
			INSERT INTO room_words (word, room)
			SELECT w.word, w.room FROM unnest($4::text[], $5::text[]) AS w(room, word) JOIN made ON made.name = w.room
			ON CONFLICT DO NOTHING`,
			newRooms, creators, now(), wordRooms, words)
	}
	b.Queue("SELECT name, last_seq FROM rooms WHERE name = ANY($1::text[]) ORDER BY name FOR NO KEY UPDATE", rooms.names).
		Query(func(rows pgx.Rows) error {
			var name string
			var seq int64
			_, err := pgx.ForEachRow(rows, []any{&name, &seq}, func() error {
				if r, ok := rooms.rooms[name]; ok {
					r.lastSeq = seq
					r.locked = true
				}
				return nil
			})
			return err
		})
	stored := make(map[clientKey]chat.Message)
	if len(keyIDs) > 0 {
		// One index lookup per client_id, whatever the table's size was
		// when the statement's plan was cached: as a plain join, a plan
		// cached from the first batches (messages nearly empty) hashed the
		// keys and scanned the whole table, and kept doing so as it grew.
		// LIMIT 1 keeps the lookup a subquery of its own (the unique index
		// gives at most one row anyway).
		b.Queue(`SELECT m.room, m.author, m.client_id, m.id, m.seq, m.content, m.created_at
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k(room, author, client_id)
			CROSS JOIN LATERAL (SELECT * FROM messages
				WHERE room = k.room AND author = k.author AND client_id = k.client_id LIMIT 1) AS m`,
			keyRooms, keyAuthors, keyIDs).Query(func(rows pgx.Rows) error {
			var msg chat.Message
			_, err := pgx.ForEachRow(rows, []any{&msg.Room, &msg.Author, &msg.ClientID, &msg.ID, &msg.Seq, &msg.Content, timeCol{&msg.Timestamp}},
				func() error {
					stored[clientKey{msg.Room, msg.Author, msg.ClientID}] = msg
					return nil
				})
			return err
		})
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	for _, name := range rooms.names {
		if r := rooms.rooms[name]; !r.locked {
			if r.create {
				return fmt.Errorf("room %q was made but cannot be locked", name)
			}
			r.missing = true
		}
	}

	// Step 2.
	firstOf := make(map[clientKey]int) // the batch's first message with a client key
	var repeats []int
	for i, c := range changes {
		m := c.msg
		if rooms.rooms[c.room].missing {
			results[i] = result{err: ErrNoRoom}
			continue
		}
		if m.ClientID != "" {
			k := clientKey{m.Room, m.Author, m.ClientID}
			if msg, ok := stored[k]; ok {
				results[i] = result{msg: msg}
				continue
			}
			if _, ok := firstOf[k]; ok {
				repeats = append(repeats, i)
				continue
			}
			firstOf[k] = i
		}
		at := now()
		results[i] = result{created: true, msg: chat.Message{Room: m.Room, Seq: rooms.rooms[c.room].take(at),
			Author: m.Author, Content: m.Content, ClientID: m.ClientID, Timestamp: at}}
	}

	// Step 3.
	results = results[:len(changes)]
	var (
		ins       msgColumns
		bySeq     = make(map[roomSeq]int) // index in results of each new message
		upd       roomColumns
		mem       roomColumns
		memAuthor []string
	)
	for i, r := range results {
		if r.created {
			ins.add(r.msg)
			bySeq[roomSeq{r.msg.Room, r.msg.Seq}] = i
		}
	}
	for _, name := range rooms.names {
		if r := rooms.rooms[name]; r.taken > 0 {
			upd.add(name, r.seq(), r.at)
		}
	}
	for _, a := range authorsRead(results) {
		mem.add(a.room, a.seq, a.at)
		memAuthor = append(memAuthor, a.author)
	}
	if len(ins.room) > 0 {
		b = pgx.Batch{}
		b.Queue(`INSERT INTO messages (room, seq, author, content, created_at, client_id)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
			RETURNING id, room, seq`,
			ins.room, ins.seq, ins.author, ins.content, ins.at, ins.clientID).Query(func(rows pgx.Rows) error {
			var id int64
			var k roomSeq
			_, err := pgx.ForEachRow(rows, []any{&id, &k.room, &k.seq}, func() error {
				if i, ok := bySeq[k]; ok {
					results[i].msg.ID = id
				}
				return nil
			})
			return err
		})
		b.Queue(`UPDATE rooms SET last_seq = u.seq, last_activity = u.at
			FROM unnest($1::text[], $2::int8[], $3::timestamptz[]) AS u(name, seq, at)
			WHERE rooms.name = u.name`, upd.room, upd.seq, upd.at)
		// Members in key order, so that batches that share them lock them
		// in the same order.
		b.Queue(`INSERT INTO room_members (user_id, room, last_read, entered_at)
			SELECT users.id, u.room, u.seq, u.at
			FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[]) AS u(room, seq, at, author)
			JOIN users ON users.name = u.author
			ORDER BY 1, 2
			ON CONFLICT (user_id, room) DO UPDATE SET last_read = GREATEST(room_members.last_read, excluded.last_read)`,
			mem.room, mem.seq, mem.at, memAuthor)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	for _, i := range repeats {
		m := changes[i].msg
		first := results[firstOf[clientKey{m.Room, m.Author, m.ClientID}]]
		results[i] = result{msg: first.msg}
	}
	for i := range results {
		if results[i].err == nil && results[i].msg.ID == 0 {
			return fmt.Errorf("message %d of the batch got no id", i)
		}
	}
	return nil
}

type roomSeq struct {
	room string
	seq  int64
}

// msgColumns are new messages as columns, for unnest.
type msgColumns struct {
	room, author, content []string
	clientID              []*string // NULL without one
	seq                   []int64
	at                    []time.Time
}

func (c *msgColumns) add(m chat.Message) {
	c.room, c.seq, c.author, c.content, c.at = append(c.room, m.Room), append(c.seq, m.Seq),
		append(c.author, m.Author), append(c.content, m.Content), append(c.at, m.Timestamp)
	var id *string
	if m.ClientID != "" {
		id = &m.ClientID
	}
	c.clientID = append(c.clientID, id)
}

// roomColumns are (room, seq, time) rows as columns, for unnest.
type roomColumns struct {
	room []string
	seq  []int64
	at   []time.Time
}

func (c *roomColumns) add(room string, seq int64, at time.Time) {
	c.room, c.seq, c.at = append(c.room, room), append(c.seq, seq), append(c.at, at)
}
