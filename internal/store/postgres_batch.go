package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"parley/internal/chat"
	"parley/internal/search"
)

// pgBatchWriter writes PostgreSQL batches, where every statement costs a
// round trip and an execution on the server: a batch of any size takes two
// pipelines of a few statements each, every statement taking the whole
// batch as arrays (unnest), so that neither the round trips nor the
// statements grow with the batch.
//
//  1. Create the batch's rooms that a message may make if absent (with
//     their words), then lock them all, in name order
//     (SELECT ... ORDER BY name FOR NO KEY UPDATE: rows are locked in the
//     sort's order), then read what the batch needs: its client_ids among
//     the stored messages and changes, the messages its changes and
//     replies name, the reactions its reactions add or remove, the users
//     its mentions may name. The reads run after the locks, and any other
//     writer of these rooms needs the same locks, so what they find stays
//     true until commit. Locking in name order keeps batches that share
//     rooms from deadlocking.
//  2. Decide in Go, in order, which messages are new and which changes
//     apply (decide, apply), keeping the state they leave, and give them
//     seqs; a client_id already stored, or repeated within the batch, a
//     change refused or done already, and anything to a room that does
//     not exist (ErrNoRoom), take none.
//  3. Write it all: the new messages (with their search vectors) and
//     their mentions, the changes, the changed messages' new state (an
//     edited or erased content with its new vector), versions,
//     reactions, and what deletions erase; set each room's last_seq, counts and last_activity; record
//     the authors as members who have read up to their latest message;
//     and read back the stored changes that repeated requests return.
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

type clientKey struct{ room, author, clientID string }

type reactionKey struct {
	room          string
	target        int64
	emoji, author string
}

// pgReads is what step 1 reads, and the keys it reads them by.
type pgReads struct {
	msgKeys, chgKeys keyColumns
	targets          roomSeqs
	rxKeys           reactionColumns
	emojiTargets     roomSeqs
	names            []string

	storedMsgs    map[clientKey]chat.Message
	storedChanges map[clientKey]chat.Change
	states        map[roomSeq]*msgState
	reactions     map[reactionKey]*reactionState
	users         map[string]int64

	// Written by step 3: the mentions of new and edited messages, and
	// each new message's num, in the order of the batch.
	mentions mentionColumns
	nums     []int64
}

func (w pgBatchWriter) apply(ctx context.Context, tx pgx.Tx, changes []change, results []result) error {
	rooms := newBatchRooms(changes)
	// Most batches are of plain messages: what only changes, replies and
	// mentions need is made when they come.
	rd := pgReads{storedMsgs: make(map[clientKey]chat.Message)}
	rd.msgKeys.grow(len(changes))
	var parsed [][]chat.Mention
	var atRoom []bool
	var seenName map[string]bool
	for i, c := range changes {
		var content string
		if e := c.edit; e != nil {
			if e.ClientID != "" {
				rd.chgKeys.add(e.Room, e.Author, e.ClientID)
			}
			rd.targets.addOnce(e.Room, e.Target)
			switch e.Kind {
			case chat.ChangeEdit:
				content = e.Content
			case chat.ChangeReact, chat.ChangeUnreact:
				k := reactionKey{e.Room, e.Target, e.Emoji, e.Author}
				if rd.reactions == nil {
					rd.reactions = make(map[reactionKey]*reactionState)
				}
				if _, ok := rd.reactions[k]; !ok {
					rd.reactions[k] = &reactionState{}
					rd.rxKeys.add(k)
				}
				if e.Kind == chat.ChangeReact {
					rd.emojiTargets.addOnce(e.Room, e.Target)
				}
			}
		} else {
			m := c.msg
			if m.ClientID != "" {
				rd.msgKeys.add(m.Room, m.Author, m.ClientID)
			}
			if m.ReplyTo > 0 {
				rd.targets.addOnce(m.Room, m.ReplyTo)
			}
			content = m.Content
		}
		if strings.IndexByte(content, '@') < 0 {
			continue
		}
		if parsed == nil {
			parsed, atRoom, seenName = make([][]chat.Mention, len(changes)), make([]bool, len(changes)), make(map[string]bool)
		}
		parsed[i], atRoom[i] = chat.ParseMentions(content)
		for _, n := range chat.MentionNames(parsed[i]) {
			if !seenName[n] {
				seenName[n] = true
				rd.names = append(rd.names, n)
			}
		}
	}
	mentionsAt := func(i int) ([]chat.Mention, bool) {
		if parsed == nil {
			return nil, false
		}
		return parsed[i], atRoom[i]
	}
	rd.storedChanges, rd.users = make(map[clientKey]chat.Change), make(map[string]int64)
	rd.states = make(map[roomSeq]*msgState, len(rd.targets.room))
	for _, k := range rd.targets.keys() {
		rd.states[k] = &msgState{}
	}
	if err := w.read(ctx, tx, rooms, &rd); err != nil {
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
	firstMsg := make(map[clientKey]int) // the batch's first message with a client key
	firstChg := make(map[clientKey]int) // and change
	applied := make(map[roomSeq]int)    // index in results of each change applied, by seq
	var repeats []int                   // client keys repeated within the batch
	var storedAt []int                  // messages stored before: their state is read in step 3
	var doneAt []int                    // changes answered by a stored change (noop)
	var doneSeq roomSeqs
	for i, c := range changes {
		br := rooms.rooms[c.room]
		if br.missing {
			results[i] = result{err: ErrNoRoom}
			continue
		}
		if e := c.edit; e != nil {
			if e.ClientID != "" {
				k := clientKey{e.Room, e.Author, e.ClientID}
				if ch, ok := rd.storedChanges[k]; ok {
					results[i] = result{chg: &ch}
					continue
				}
				if _, ok := firstChg[k]; ok {
					repeats = append(repeats, i)
					continue
				}
				firstChg[k] = i
			}
			t := rd.states[roomSeq{e.Room, e.Target}]
			rs := rd.reactions[reactionKey{e.Room, e.Target, e.Emoji, e.Author}]
			if rs == nil {
				rs = &reactionState{}
			}
			at := now()
			done, err := decide(e, t, rs, at)
			if err != nil {
				results[i] = result{err: err}
				continue
			}
			if done > 0 {
				if j, ok := applied[roomSeq{e.Room, done}]; ok {
					results[i] = result{chg: results[j].chg}
				} else {
					doneAt = append(doneAt, i)
					doneSeq.add(e.Room, done)
				}
				continue
			}
			var mentions []string
			var room bool
			if e.Kind == chat.ChangeEdit {
				p, at := mentionsAt(i)
				mentions, t.mentionIDs, room = mentionsOf(p, at, rd.users)
			}
			ch := apply(e, br.take(), at, t, rs, mentions, room)
			if ch.Kind == chat.ChangeDelete {
				br.deleted++
				// The batch's earlier edits of it are erased too.
				for _, j := range applied {
					if p := results[j].chg; p.Kind == chat.ChangeEdit && p.Room == e.Room && p.Target == e.Target {
						p.Content, p.Mentions, p.MentionsRoom = "", nil, false
					}
				}
			}
			applied[roomSeq{e.Room, ch.Seq}] = i
			results[i] = result{chg: &ch, created: true}
			continue
		}

		m := c.msg
		if m.ClientID != "" {
			k := clientKey{m.Room, m.Author, m.ClientID}
			if msg, ok := rd.storedMsgs[k]; ok {
				results[i] = result{msg: msg} // its state is read in step 3
				storedAt = append(storedAt, i)
				continue
			}
			if _, ok := firstMsg[k]; ok {
				repeats = append(repeats, i)
				continue
			}
			firstMsg[k] = i
		}
		var reply *chat.Reply
		if m.ReplyTo > 0 {
			var err error
			if reply, err = replyTo(m.ReplyTo, rd.states[roomSeq{m.Room, m.ReplyTo}]); err != nil {
				results[i] = result{err: err}
				continue
			}
		}
		var mentions []string
		var ids []int64
		var mroom bool
		if p, at := mentionsAt(i); len(p) > 0 || at {
			mentions, ids, mroom = mentionsOf(p, at, rd.users)
		}
		at := now()
		seq, num := br.takeMessage(at)
		results[i] = result{created: true, msg: chat.Message{Room: m.Room, Seq: seq, Rev: seq, Author: m.Author,
			Content: m.Content, ClientID: m.ClientID, Timestamp: at, ReplyTo: reply, Mentions: mentions, MentionsRoom: mroom}}
		rd.newMentions(m.Room, seq, ids)
		rd.nums = append(rd.nums, num)
		if len(rd.states) == 0 {
			continue
		}
		if t, ok := rd.states[roomSeq{m.Room, seq}]; ok {
			// A later change of the batch names this message already:
			// it sees it as SQLite's writer would.
			*t = msgState{found: true, author: m.Author, content: m.Content, created: at, rev: seq,
				mentions: mentions, mentionsRoom: mroom}
			if t.emoji == nil && rd.emojiTargets.seen[roomSeq{m.Room, seq}] {
				t.emoji = make(map[string]int)
			}
		}
	}

	// Step 3.
	results = results[:len(changes)]
	bySeq, err := w.writeBatch(ctx, tx, rooms, &rd, changes, results, &doneSeq, doneAt, storedAt)
	if err != nil {
		return err
	}
	for k, i := range bySeq {
		if results[i].msg.ID == 0 {
			return fmt.Errorf("message %s/%d of the batch got no id", k.room, k.seq)
		}
	}
	for _, i := range repeats {
		if e := changes[i].edit; e != nil {
			results[i] = results[firstChg[clientKey{e.Room, e.Author, e.ClientID}]]
		} else {
			m := changes[i].msg
			results[i] = results[firstMsg[clientKey{m.Room, m.Author, m.ClientID}]]
		}
		results[i].created = false
	}
	stampEpochs(rooms, changes, results)
	return nil
}

// read runs step 1, marking the rooms it locked.
func (w pgBatchWriter) read(ctx context.Context, tx pgx.Tx, rooms batchRooms, rd *pgReads) error {
	// A room is created if absent before it is locked: a room that
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
	b.Queue("SELECT name, last_seq, msg_count, access_epoch FROM rooms WHERE name = ANY($1::text[]) ORDER BY name FOR NO KEY UPDATE", rooms.names).
		Query(func(rows pgx.Rows) error {
			var name string
			var seq, count, epoch int64
			_, err := pgx.ForEachRow(rows, []any{&name, &seq, &count, &epoch}, func() error {
				if r, ok := rooms.rooms[name]; ok {
					r.lastSeq, r.msgCount, r.epoch = seq, count, epoch
					r.locked = true
				}
				return nil
			})
			return err
		})
	// Each lookup below is one index lookup per key, whatever the
	// tables' sizes were when the statement's plan was cached: as a plain
	// join, a plan cached from the first batches (messages nearly empty)
	// hashed the keys and scanned the whole table, and kept doing so as
	// it grew. LIMIT 1 keeps a lookup a subquery of its own (a unique
	// index gives at most one row anyway).
	if len(rd.msgKeys.room) > 0 {
		// The seqs alone: the state of the few found is read in step 3,
		// so that the lookup every message with a client_id costs stays
		// as small as it was (a lookup of every column, with the reply
		// and the reactions, took a round trip's worth more).
		b.Queue(`SELECT m.room, m.author, m.client_id, m.seq
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k(room, author, client_id)
			CROSS JOIN LATERAL (SELECT room, author, client_id, seq FROM messages
				WHERE room = k.room AND author = k.author AND client_id = k.client_id LIMIT 1) AS m`,
			rd.msgKeys.room, rd.msgKeys.author, rd.msgKeys.clientID).Query(func(rows pgx.Rows) error {
			var k clientKey
			var seq int64
			_, err := pgx.ForEachRow(rows, []any{&k.room, &k.author, &k.clientID, &seq}, func() error {
				rd.storedMsgs[k] = chat.Message{Room: k.room, Seq: seq}
				return nil
			})
			return err
		})
	}
	if len(rd.chgKeys.room) > 0 {
		b.Queue(`SELECT k.room, k.client_id, c.*
			FROM unnest($1::text[], $2::text[], $3::text[]) AS k(room, author, client_id)
			CROSS JOIN LATERAL (SELECT `+changeCols+` FROM changes
				WHERE room = k.room AND author = k.author AND client_id = k.client_id LIMIT 1) AS c`,
			rd.chgKeys.room, rd.chgKeys.author, rd.chgKeys.clientID).Query(func(rows pgx.Rows) error {
			var room, clientID string
			var x changeScan
			_, err := pgx.ForEachRow(rows, append([]any{&room, &clientID}, x.dest()...), func() error {
				c := x.change(room)
				rd.storedChanges[clientKey{room, c.Author, clientID}] = c
				return nil
			})
			return err
		})
	}
	if len(rd.targets.room) > 0 {
		b.Queue(`SELECT k.room, k.seq, m.id, m.author, m.content, m.created_at, m.edited_at, m.deleted_at, m.rev,
				m.reactions, m.mentions, m.mentions_room
			FROM unnest($1::text[], $2::int8[]) AS k(room, seq)
			CROSS JOIN LATERAL (SELECT id, author, content, created_at, edited_at, deleted_at, COALESCE(rev, seq) AS rev,
				reactions, mentions, mentions_room FROM messages WHERE room = k.room AND seq = k.seq LIMIT 1) AS m`,
			rd.targets.room, rd.targets.seq).Query(func(rows pgx.Rows) error {
			var k roomSeq
			var t msgState
			var deleted time.Time
			var mentions string
			var reactions int64
			_, err := pgx.ForEachRow(rows, []any{&k.room, &k.seq, &t.id, &t.author, &t.content, timeCol{&t.created},
				nullTimeCol{&t.edited}, nullTimeCol{&deleted}, &t.rev, intCol{&reactions}, textCol{&mentions}, boolCol{&t.mentionsRoom}},
				func() error {
					st := rd.states[k]
					*st = t
					st.found, st.deleted, st.reactions, st.mentions = true, !deleted.IsZero(), int(reactions), splitNames(&mentions)
					return nil
				})
			return err
		})
	}
	if len(rd.rxKeys.room) > 0 {
		b.Queue(`SELECT k.room, k.target, k.emoji, k.author, r.present, r.seq
			FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[]) AS k(room, target, emoji, author)
			CROSS JOIN LATERAL (SELECT present, seq FROM reactions
				WHERE room = k.room AND target = k.target AND emoji = k.emoji AND author = k.author LIMIT 1) AS r`,
			rd.rxKeys.room, rd.rxKeys.target, rd.rxKeys.emoji, rd.rxKeys.author).Query(func(rows pgx.Rows) error {
			var k reactionKey
			var s reactionState
			_, err := pgx.ForEachRow(rows, []any{&k.room, &k.target, &k.emoji, &k.author, &s.present, &s.seq}, func() error {
				s.known = true
				*rd.reactions[k] = s
				return nil
			})
			return err
		})
	}
	if len(rd.emojiTargets.room) > 0 {
		b.Queue(`SELECT k.room, k.target, r.emoji, r.n
			FROM unnest($1::text[], $2::int8[]) AS k(room, target)
			CROSS JOIN LATERAL (SELECT emoji, count(*) AS n FROM reactions
				WHERE room = k.room AND target = k.target AND present GROUP BY emoji) AS r`,
			rd.emojiTargets.room, rd.emojiTargets.seq).Query(func(rows pgx.Rows) error {
			var k roomSeq
			var emoji string
			var n int64
			_, err := pgx.ForEachRow(rows, []any{&k.room, &k.seq, &emoji, &n}, func() error {
				rd.emojiOf(k)[emoji] = int(n)
				return nil
			})
			return err
		})
	}
	if len(rd.names) > 0 {
		b.Queue("SELECT id, name FROM users WHERE name = ANY($1::text[])", rd.names).Query(func(rows pgx.Rows) error {
			var id int64
			var name string
			_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
				rd.users[name] = id
				return nil
			})
			return err
		})
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	// A message a reaction is added to has its emoji counted, none or
	// more (decide needs to know they were read).
	for _, k := range rd.emojiTargets.keys() {
		rd.emojiOf(k)
	}
	return nil
}

// emojiOf returns the emoji counts of a message of the batch.
func (rd *pgReads) emojiOf(k roomSeq) map[string]int {
	t := rd.states[k]
	if t.emoji == nil {
		t.emoji = make(map[string]int)
	}
	return t.emoji
}

// writeBatch runs step 3 and returns, by seq, the index in results of
// each new message, which it has given its id.
func (w pgBatchWriter) writeBatch(ctx context.Context, tx pgx.Tx, rooms batchRooms, rd *pgReads,
	changes []change, results []result, doneSeq *roomSeqs, doneAt, storedAt []int) (map[roomSeq]int, error) {
	var (
		ins     msgColumns
		chg     changeColumns
		bySeq   = make(map[roomSeq]int) // index in results of each new message
		upd     roomColumns
		updN    []int64
		updDel  []int64
		updAt   []*time.Time
		mem     roomColumns
		memUser []string
		state   stateColumns
		vers    versionColumns
		erased  roomSeqs
		edited  roomSeqs
		rx      reactionColumns
	)
	ins.grow(len(rd.nums))
	n := 0
	for i, r := range results {
		switch {
		case r.err != nil:
		case r.created && changes[i].edit == nil:
			ins.add(r.msg, rd.nums[n])
			n++
			bySeq[roomSeq{r.msg.Room, r.msg.Seq}] = i
		case r.created:
			chg.add(*r.chg)
		}
	}
	for _, k := range rd.targets.keys() {
		t := rd.states[k]
		if !t.changed {
			continue
		}
		state.add(k, t)
		if t.erased {
			erased.add(k.room, k.seq)
			continue
		}
		for _, v := range t.versions {
			vers.add(k, v)
		}
		if t.remention {
			edited.add(k.room, k.seq)
			rd.editMentions(k, t.mentionIDs)
		}
	}
	for _, k := range rd.rxKeys.keys() {
		s := rd.reactions[k]
		if s.changed && !rd.states[roomSeq{k.room, k.target}].erased {
			rx.add(k)
			rx.present, rx.seq = append(rx.present, s.present), append(rx.seq, s.seq)
		}
	}
	plainRooms := true // every room that moved has new messages and no deletion
	for _, name := range rooms.names {
		if r := rooms.rooms[name]; r.taken > 0 {
			upd.add(name, r.seq(), r.at)
			plainRooms = plainRooms && !r.at.IsZero() && r.deleted == 0
			updN, updDel = append(updN, r.msgCount+r.newMsgs), append(updDel, r.deleted)
			var at *time.Time
			if !r.at.IsZero() {
				at = &r.at
			}
			updAt = append(updAt, at)
		}
	}
	for _, a := range authorsRead(results) {
		mem.add(a.room, a.seq, a.at)
		memUser = append(memUser, a.author)
	}

	var b pgx.Batch
	if len(ins.room) > 0 {
		gotIDs := func(rows pgx.Rows) error {
			var id int64
			var k roomSeq
			_, err := pgx.ForEachRow(rows, []any{&id, &k.room, &k.seq}, func() error {
				if i, ok := bySeq[k]; ok {
					results[i].msg.ID = id
				}
				return nil
			})
			return err
		}
		if ins.extended {
			b.Queue(`INSERT INTO messages (room, seq, num, author, content, created_at, client_id, reply_to, mentions, mentions_room,
					search_vector)
				SELECT u.room, u.seq, u.num, u.author, u.content, u.at, u.client_id, u.reply_to, u.mentions, u.mentions_room,
					CAST(u.vector AS tsvector)
				FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::timestamptz[], $7::text[],
					$8::int8[], $9::text[], $10::bool[], $11::text[])
					AS u(room, seq, num, author, content, at, client_id, reply_to, mentions, mentions_room, vector)
				RETURNING id, room, seq`,
				ins.room, ins.seq, ins.num, ins.author, ins.content, ins.at, ins.clientID, ins.replyTo, ins.mentions, ins.mentionsRoom,
				ins.vector).Query(gotIDs)
		} else {
			// No reply or mention in the batch: the columns every
			// message has, as cheap as before there were others.
			b.Queue(`INSERT INTO messages (room, seq, num, author, content, created_at, client_id, search_vector)
				SELECT u.room, u.seq, u.num, u.author, u.content, u.at, u.client_id, CAST(u.vector AS tsvector)
				FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
					AS u(room, seq, num, author, content, at, client_id, vector)
				RETURNING id, room, seq`,
				ins.room, ins.seq, ins.num, ins.author, ins.content, ins.at, ins.clientID, ins.vector).Query(gotIDs)
		}
	}
	if len(chg.room) > 0 {
		b.Queue(`INSERT INTO changes (room, seq, kind, target, author, content, mentions, mentions_room, emoji, created_at, client_id)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::bool[],
				$9::text[], $10::timestamptz[], $11::text[])`,
			chg.room, chg.seq, chg.kind, chg.target, chg.author, chg.content, chg.mentions, chg.mentionsRoom, chg.emoji, chg.at, chg.cliID)
	}
	// The statements that change rows of messages, changes and mentions
	// by key run one per message: changes are few beside messages, and a
	// key's statement always takes its index, where a join of those large
	// tables with an unnest of keys may be planned as a scan (see read).
	for i := range state.room {
		// The search vector changes with the content (an edit, a
		// deletion's erasure): NULL keeps it (a reaction).
		b.Queue(`UPDATE messages SET content = $3, rev = $4, edited_at = $5, deleted_at = $6, mentions = $7,
				mentions_room = $8, reactions = $9, search_vector = COALESCE(CAST(CAST($10 AS text) AS tsvector), search_vector)
				WHERE room = $1 AND seq = $2`,
			state.room[i], state.seq[i], state.content[i], state.rev[i], state.edited[i], state.deleted[i],
			state.mentions[i], state.mentionsRoom[i], state.reactions[i], state.vector[i])
	}
	if len(vers.room) > 0 {
		b.Queue(`INSERT INTO message_versions (room, seq, rev, content, created_at)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::timestamptz[])`,
			vers.room, vers.seq, vers.rev, vers.content, vers.at)
	}
	for i := range edited.room {
		b.Queue("DELETE FROM mentions WHERE room = $1 AND seq = $2", edited.room[i], edited.seq[i])
	}
	if len(rd.mentions.room) > 0 {
		// After the messages' insert, which it finds.
		b.Queue(`INSERT INTO mentions (room, seq, user_id, message_id)
			SELECT u.room, u.seq, u.user_id, m.id FROM unnest($1::text[], $2::int8[], $3::int8[]) AS u(room, seq, user_id)
			CROSS JOIN LATERAL (SELECT id FROM messages WHERE room = u.room AND seq = u.seq LIMIT 1) AS m
			ORDER BY 1, 2, 3
			ON CONFLICT DO NOTHING`, rd.mentions.room, rd.mentions.seq, rd.mentions.user)
	}
	if len(rx.room) > 0 {
		b.Queue(`INSERT INTO reactions (room, target, emoji, author, present, seq)
			SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::bool[], $6::int8[]) ORDER BY 1, 2, 3, 4
			ON CONFLICT (room, target, emoji, author) DO UPDATE SET present = excluded.present, seq = excluded.seq`,
			rx.room, rx.target, rx.emoji, rx.author, rx.present, rx.seq)
	}
	for i := range erased.room {
		// What a deletion erases, after anything this batch wrote of it.
		for _, q := range []string{
			"DELETE FROM message_versions WHERE room = $1 AND seq = $2",
			"UPDATE changes SET content = NULL, mentions = NULL, mentions_room = false WHERE room = $1 AND target = $2 AND kind = 'edit'",
			"DELETE FROM reactions WHERE room = $1 AND target = $2",
			"DELETE FROM mentions WHERE room = $1 AND seq = $2",
		} {
			b.Queue(q, erased.room[i], erased.seq[i])
		}
	}
	switch {
	case len(upd.room) == 0:
	case plainRooms:
		// Every room moved by new messages alone, the usual batch.
		b.Queue(`UPDATE rooms SET last_seq = u.seq, msg_count = u.n, last_activity = u.at
			FROM unnest($1::text[], $2::int8[], $3::int8[], $4::timestamptz[]) AS u(name, seq, n, at)
			WHERE rooms.name = u.name`, upd.room, upd.seq, updN, upd.at)
	default:
		b.Queue(`UPDATE rooms SET last_seq = u.seq, msg_count = u.n, deleted_count = rooms.deleted_count + u.deleted,
				last_activity = COALESCE(u.at, rooms.last_activity)
			FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::timestamptz[]) AS u(name, seq, n, deleted, at)
			WHERE rooms.name = u.name`, upd.room, upd.seq, updN, updDel, updAt)
	}
	if len(mem.room) > 0 {
		// Members in key order, so that batches that share them lock them
		// in the same order. Only a public room's membership is made by
		// posting: a member removed from a private room while their
		// message was on its way stays out of it.
		b.Queue(`INSERT INTO room_members (user_id, room, last_read, entered_at)
			SELECT users.id, u.room, u.seq, u.at
			FROM unnest($1::text[], $2::int8[], $3::timestamptz[], $4::text[]) AS u(room, seq, at, author)
			JOIN users ON users.name = u.author
			WHERE EXISTS (SELECT 1 FROM rooms r WHERE r.name = u.room AND r.kind = 'public')
				OR EXISTS (SELECT 1 FROM room_members x WHERE x.user_id = users.id AND x.room = u.room)
			ORDER BY 1, 2
			ON CONFLICT (user_id, room) DO UPDATE SET last_read = GREATEST(room_members.last_read, excluded.last_read)`,
			mem.room, mem.seq, mem.at, memUser)
	}
	if len(doneSeq.room) > 0 {
		// Changes that were done already, which requests repeated answer with.
		stored := make(map[roomSeq]chat.Change)
		b.Queue(`SELECT k.room, c.*
			FROM unnest($1::text[], $2::int8[]) AS k(room, seq)
			CROSS JOIN LATERAL (SELECT `+changeCols+` FROM changes WHERE room = k.room AND seq = k.seq LIMIT 1) AS c`,
			doneSeq.room, doneSeq.seq).Query(func(rows pgx.Rows) error {
			var room string
			var x changeScan
			_, err := pgx.ForEachRow(rows, append([]any{&room}, x.dest()...), func() error {
				stored[roomSeq{room, x.c.Seq}] = x.change(room)
				return nil
			})
			if err != nil {
				return err
			}
			for j, i := range doneAt {
				c, ok := stored[roomSeq{doneSeq.room[j], doneSeq.seq[j]}]
				if !ok {
					return fmt.Errorf("change %s/%d cannot be found", doneSeq.room[j], doneSeq.seq[j])
				}
				results[i] = result{chg: &c}
			}
			return nil
		})
	}
	if len(storedAt) > 0 {
		// The messages sent before, in their current state.
		var keys roomSeqs
		for _, i := range storedAt {
			keys.add(results[i].msg.Room, results[i].msg.Seq)
		}
		b.Queue(`SELECT k.room, x.*
			FROM unnest($1::text[], $2::int8[]) AS k(room, seq)
			CROSS JOIN LATERAL (SELECT `+pgMsgCols+msgFrom+`WHERE m.room = k.room AND m.seq = k.seq LIMIT 1) AS x`,
			keys.room, keys.seq).Query(func(rows pgx.Rows) error {
			stored := make(map[roomSeq]chat.Message, len(storedAt))
			var room string
			var x msgScan
			_, err := pgx.ForEachRow(rows, append([]any{&room}, x.dest()...), func() error {
				m := x.message(room)
				stored[roomSeq{room, m.Seq}] = m
				return nil
			})
			if err != nil {
				return err
			}
			for _, i := range storedAt {
				m, ok := stored[roomSeq{results[i].msg.Room, results[i].msg.Seq}]
				if !ok {
					return fmt.Errorf("message %s/%d cannot be found", results[i].msg.Room, results[i].msg.Seq)
				}
				results[i].msg = m
			}
			return nil
		})
	}
	if b.Len() == 0 {
		return bySeq, nil
	}
	return bySeq, tx.SendBatch(ctx, &b).Close()
}

type roomSeq struct {
	room string
	seq  int64
}

// roomSeqs are (room, seq) keys as columns, for unnest.
type roomSeqs struct {
	room []string
	seq  []int64
	seen map[roomSeq]bool
}

func (c *roomSeqs) add(room string, seq int64) {
	c.room, c.seq = append(c.room, room), append(c.seq, seq)
}

// addOnce adds a key not added before.
func (c *roomSeqs) addOnce(room string, seq int64) {
	if c.seen == nil {
		c.seen = make(map[roomSeq]bool)
	}
	if k := (roomSeq{room, seq}); !c.seen[k] {
		c.seen[k] = true
		c.add(room, seq)
	}
}

func (c *roomSeqs) keys() []roomSeq {
	ks := make([]roomSeq, len(c.room))
	for i := range ks {
		ks[i] = roomSeq{c.room[i], c.seq[i]}
	}
	return ks
}

// keyColumns are client keys as columns.
type keyColumns struct{ room, author, clientID []string }

// grow makes room for n keys.
func (c *keyColumns) grow(n int) {
	c.room, c.author, c.clientID = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
}

func (c *keyColumns) add(room, author, clientID string) {
	c.room, c.author, c.clientID = append(c.room, room), append(c.author, author), append(c.clientID, clientID)
}

// reactionColumns are reactions as columns.
type reactionColumns struct {
	room, emoji, author []string
	target, seq         []int64
	present             []bool
}

func (c *reactionColumns) add(k reactionKey) {
	c.room, c.target, c.emoji, c.author = append(c.room, k.room), append(c.target, k.target), append(c.emoji, k.emoji), append(c.author, k.author)
}

func (c *reactionColumns) keys() []reactionKey {
	ks := make([]reactionKey, len(c.room))
	for i := range ks {
		ks[i] = reactionKey{c.room[i], c.target[i], c.emoji[i], c.author[i]}
	}
	return ks
}

// mentionColumns are (room, seq, user id) rows, for unnest.
type mentionColumns struct {
	room []string
	seq  []int64
	user []int64
}

// newMentions records the users a new message mentions.
func (rd *pgReads) newMentions(room string, seq int64, ids []int64) {
	for _, id := range ids {
		rd.mentions.room, rd.mentions.seq, rd.mentions.user = append(rd.mentions.room, room), append(rd.mentions.seq, seq), append(rd.mentions.user, id)
	}
}

// editMentions records the users an edited message mentions now.
func (rd *pgReads) editMentions(k roomSeq, ids []int64) { rd.newMentions(k.room, k.seq, ids) }

// msgColumns are new messages as columns, for unnest.
type msgColumns struct {
	room, author, content []string
	clientID, mentions    []*string // NULL for none
	seq, num              []int64
	replyTo               []*int64 // NULL for none
	mentionsRoom          []bool
	at                    []time.Time
	extended              bool     // a message has a reply or mentions
	vector                []string // search.Vector of the content
}

// grow makes room for n messages.
func (c *msgColumns) grow(n int) {
	c.room, c.author, c.content = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
	c.clientID, c.mentions = make([]*string, 0, n), make([]*string, 0, n)
	c.seq, c.num, c.replyTo = make([]int64, 0, n), make([]int64, 0, n), make([]*int64, 0, n)
	c.mentionsRoom, c.at = make([]bool, 0, n), make([]time.Time, 0, n)
	c.vector = make([]string, 0, n)
}

func (c *msgColumns) add(m chat.Message, num int64) {
	c.room, c.seq, c.num, c.author, c.content, c.at = append(c.room, m.Room), append(c.seq, m.Seq), append(c.num, num),
		append(c.author, m.Author), append(c.content, m.Content), append(c.at, m.Timestamp)
	c.clientID = append(c.clientID, strPtr(m.ClientID))
	var reply *int64
	if m.ReplyTo != nil {
		reply = &m.ReplyTo.Seq
	}
	c.replyTo = append(c.replyTo, reply)
	c.mentions = append(c.mentions, namesPtr(m.Mentions))
	c.mentionsRoom = append(c.mentionsRoom, m.MentionsRoom)
	c.extended = c.extended || reply != nil || len(m.Mentions) > 0 || m.MentionsRoom
	c.vector = append(c.vector, search.Vector(m.Content))
}

// changeColumns are changes as columns.
type changeColumns struct {
	room, kind, author              []string
	content, mentions, emoji, cliID []*string
	seq, target                     []int64
	mentionsRoom                    []bool
	at                              []time.Time
}

func (c *changeColumns) add(ch chat.Change) {
	c.room, c.seq, c.kind, c.target, c.author = append(c.room, ch.Room), append(c.seq, ch.Seq), append(c.kind, string(ch.Kind)),
		append(c.target, ch.Target), append(c.author, ch.Author)
	c.content, c.mentions, c.mentionsRoom = append(c.content, strPtr(ch.Content)), append(c.mentions, namesPtr(ch.Mentions)),
		append(c.mentionsRoom, ch.MentionsRoom)
	c.emoji, c.at, c.cliID = append(c.emoji, strPtr(ch.Emoji)), append(c.at, ch.Timestamp), append(c.cliID, strPtr(ch.ClientID))
}

// stateColumns are changed messages' new states.
type stateColumns struct {
	room, content   []string
	seq, rev        []int64
	edited, deleted []*time.Time
	mentions        []*string
	mentionsRoom    []bool
	reactions       []int32
	vector          []*string // NULL: the content is as it was
}

func (c *stateColumns) add(k roomSeq, t *msgState) {
	c.room, c.seq, c.rev, c.content = append(c.room, k.room), append(c.seq, k.seq), append(c.rev, t.rev), append(c.content, t.content)
	c.edited, c.deleted = append(c.edited, timePtr(t.edited)), append(c.deleted, timePtr(t.deletedAt))
	c.mentions, c.mentionsRoom = append(c.mentions, namesPtr(t.mentions)), append(c.mentionsRoom, t.mentionsRoom)
	c.reactions = append(c.reactions, int32Count(t.reactions))
	var vector *string
	if t.remention || t.erased {
		// Edited or erased: its words change.
		v := search.Vector(t.content)
		vector = &v
	}
	c.vector = append(c.vector, vector)
}

// versionColumns are versions to store.
type versionColumns struct {
	room, content []string
	seq, rev      []int64
	at            []time.Time
}

func (c *versionColumns) add(k roomSeq, v chat.Version) {
	c.room, c.seq, c.rev, c.content, c.at = append(c.room, k.room), append(c.seq, k.seq), append(c.rev, v.Rev),
		append(c.content, v.Content), append(c.at, v.Timestamp)
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

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func namesPtr(names []string) *string {
	if len(names) == 0 {
		return nil // and no allocation, as most messages mention no one
	}
	s := strings.Join(names, " ")
	return &s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// int32Count is n for an integer column; a count never near its bound,
// held at it if it were.
func int32Count(n int) int32 {
	if n > math.MaxInt32 {
		return math.MaxInt32
	}
	if n < 0 {
		return 0
	}
	return int32(n)
}
