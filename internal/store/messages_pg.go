package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"parley/internal/chat"
)

// insertBatchPostgres is insertBatch for PostgreSQL, where every statement
// costs a round trip to the server: it sends a batch's statements in two
// pipelines instead of one by one, so a batch of any size takes about four
// round trips (BEGIN, two pipelines, COMMIT).
//
//  1. Create each room of the batch if absent and lock it, in name order
//     (SELECT ... FOR NO KEY UPDATE), then look up the client_ids of the
//     batch among the stored messages. The lookups run after the locks,
//     and any other writer of these rooms needs the same locks, so what
//     they find stays true until commit. Locking in name order keeps
//     batches that share rooms from deadlocking.
//  2. Decide in Go which messages are new and give them seqs; a client_id
//     already stored, or repeated within the batch, takes none.
//  3. Insert the new messages, set each room's last_seq and last_activity,
//     and record the authors as members who have read up to their latest
//     message.
func (s *Store) insertBatchPostgres(ctx context.Context, tx pgx.Tx, msgs []chat.NewMessage, results []insertResult) error {
	type clientKey struct{ room, author, clientID string }
	type roomState struct {
		lastSeq int64
		added   int64
		latest  int // index in msgs of the room's latest new message
	}
	rooms := make(map[string]*roomState, 4)
	var order []string
	for _, m := range msgs {
		if _, ok := rooms[m.Room]; !ok {
			rooms[m.Room] = &roomState{}
			order = append(order, m.Room)
		}
	}
	slices.Sort(order)

	// Step 1. Each room is created if absent right before it is locked: a
	// room that another transaction is creating becomes visible once that
	// transaction ends, which the INSERT waits for, so the lock finds it.
	var b pgx.Batch
	t := now()
	for _, name := range order {
		st := rooms[name]
		b.Queue("INSERT INTO rooms (name, last_seq, created_at, last_activity) VALUES ($1, 0, $2, $2) ON CONFLICT (name) DO NOTHING",
			name, t)
		b.Queue("SELECT last_seq FROM rooms WHERE name = $1 FOR NO KEY UPDATE", name).QueryRow(func(r pgx.Row) error {
			return r.Scan(&st.lastSeq)
		})
	}
	stored := make(map[clientKey]chat.Message)
	for _, m := range msgs {
		if m.ClientID == "" {
			continue
		}
		k := clientKey{m.Room, m.Author, m.ClientID}
		b.Queue("SELECT id, seq, content, created_at FROM messages WHERE room = $1 AND author = $2 AND client_id = $3",
			m.Room, m.Author, m.ClientID).QueryRow(func(r pgx.Row) error {
			msg := chat.Message{Room: k.room, Author: k.author, ClientID: k.clientID}
			err := r.Scan(&msg.ID, &msg.Seq, &msg.Content, timeCol{&msg.Timestamp})
			if isNoRows(err) {
				return nil
			}
			if err == nil {
				stored[k] = msg
			}
			return err
		})
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}

	// Step 2.
	firstOf := make(map[clientKey]int) // the batch's first message with a client key
	var repeats []int
	for i, m := range msgs {
		if m.ClientID != "" {
			k := clientKey{m.Room, m.Author, m.ClientID}
			if msg, ok := stored[k]; ok {
				results[i] = insertResult{msg: msg}
				continue
			}
			if _, ok := firstOf[k]; ok {
				repeats = append(repeats, i)
				continue
			}
			firstOf[k] = i
		}
		st := rooms[m.Room]
		st.added++
		st.latest = i
		results[i] = insertResult{created: true, msg: chat.Message{Room: m.Room, Seq: st.lastSeq + st.added,
			Author: m.Author, Content: m.Content, ClientID: m.ClientID, Timestamp: now()}}
	}

	// Step 3.
	b = pgx.Batch{}
	type member struct{ room, author string }
	latest := make(map[member]int, 4) // index in results of the member's latest message
	var members []member
	for i := range msgs {
		r := &results[i]
		if !r.created {
			continue
		}
		var clientID any
		if r.msg.ClientID != "" {
			clientID = r.msg.ClientID
		}
		b.Queue(`INSERT INTO messages (room, seq, author, content, created_at, client_id)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			r.msg.Room, r.msg.Seq, r.msg.Author, r.msg.Content, r.msg.Timestamp, clientID).QueryRow(func(row pgx.Row) error {
			return row.Scan(&r.msg.ID)
		})
		k := member{r.msg.Room, r.msg.Author}
		if _, ok := latest[k]; !ok {
			members = append(members, k)
		}
		latest[k] = i
	}
	for _, name := range order {
		st := rooms[name]
		if st.added == 0 {
			continue
		}
		b.Queue("UPDATE rooms SET last_seq = $1, last_activity = $2 WHERE name = $3",
			st.lastSeq+st.added, results[st.latest].msg.Timestamp, name)
	}
	for _, k := range members {
		r := results[latest[k]]
		b.Queue(rebind(s.sql.upsertAuthor), k.room, r.msg.Seq, r.msg.Timestamp, k.author)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
	}
	for _, i := range repeats {
		m := msgs[i]
		first := results[firstOf[clientKey{m.Room, m.Author, m.ClientID}]]
		results[i] = insertResult{msg: first.msg}
	}
	for i := range results[:len(msgs)] {
		if results[i].msg.ID == 0 {
			return fmt.Errorf("message %d of the batch got no id", i)
		}
	}
	return nil
}
