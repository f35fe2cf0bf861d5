package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/chat"
)

// maxBatch bounds how many changes one transaction carries, and so how
// long the callers of a batch wait for each other.
const maxBatch = 1024

// A change is one write that a batch carries, to one room: a new message
// (msg), or, when edit is set, a change to a message (an edit, a
// deletion, a reaction added or removed).
type change struct {
	room string
	msg  chat.NewMessage
	edit *chat.NewChange
	// create: the message makes its room if the room does not exist
	// (its author recorded as the one who made it); else such a message,
	// and every change to a message there, fails with ErrNoRoom.
	create bool
}

// result is the outcome of one change: the stored message (for a new
// message) or change (for a change to a message), and whether it is new
// (false: its client_id was stored before, or what it asks was done
// already). err is set for a change that failed alone, such as one the
// rules refuse.
type result struct {
	msg     chat.Message
	chg     *chat.Change // a change's (few are): the result stays small
	created bool
	err     error
}

// batchWriter writes the batches of one engine.
type batchWriter interface {
	// write applies changes, in order, in one transaction, and fills
	// results, one per change. An error means that nothing was applied.
	// Each worker calls write for its own batches, one at a time.
	write(changes []change, results []result) error
	// close releases what the writer holds; no worker calls write any
	// more.
	close()
}

// batcher is the group commit. Its workers take every change waiting (up
// to maxBatch), have the batchWriter write them in one transaction, and
// only then answer each caller: one commit, and so one sync to disk,
// carries many changes.
//
// SQLite has one worker, on the one writer connection. PostgreSQL has a few,
// each on a pool connection, and each room's changes go to one of them, so
// that the workers' batches do not queue on each other's room locks. Rooms
// are locked in name order, so batches of this process and of others cannot
// deadlock.
type batcher struct {
	w    batchWriter
	reqs []chan *request // one queue per worker
	seed maphash.Seed
	quit chan struct{} // closed by close: stop taking requests
	done chan struct{} // closed when every worker has ended
	// failed counts the batches that failed whole and were written again
	// a change at a time: a batch that fails costs one transaction a
	// change, so none should (tests check it).
	failed atomic.Int64
}

type request struct {
	ctx   context.Context
	c     change
	reply chan result // buffered: a worker never waits for a caller
}

func newBatcher(workers int, w batchWriter) *batcher {
	b := &batcher{
		w:    w,
		reqs: make([]chan *request, workers),
		seed: maphash.MakeSeed(),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for i := range b.reqs {
		b.reqs[i] = make(chan *request, maxBatch)
		wg.Go(func() { b.run(b.reqs[i]) })
	}
	go func() {
		wg.Wait()
		w.close()
		close(b.done)
	}()
	return b
}

// submit hands c to its worker's queue and returns at once. Changes one
// goroutine submits for one room are written in that order.
func (b *batcher) submit(ctx context.Context, c change) *Pending {
	req := &request{ctx: ctx, c: c, reply: make(chan result, 1)}
	q := b.reqs[0]
	if len(b.reqs) > 1 {
		q = b.reqs[maphash.String(b.seed, c.room)%uint64(len(b.reqs))]
	}
	select {
	case q <- req:
		return &Pending{b: b, req: req}
	case <-ctx.Done():
		return &Pending{err: ctx.Err()}
	case <-b.quit:
		return &Pending{err: errClosed}
	}
}

// Pending is a message or a change handed to the store and not yet known
// to be stored.
type Pending struct {
	b   *batcher
	req *request
	err error // it was not taken
}

// Wait waits for a message's outcome: the stored message and whether it
// is new, as InsertMessage returns them.
func (p *Pending) Wait() (chat.Message, bool, error) {
	r := p.wait()
	return r.msg, r.created, r.err
}

// WaitChange waits for a change's outcome, as ApplyChange returns it.
func (p *Pending) WaitChange() (chat.Change, bool, error) {
	r := p.wait()
	if r.chg == nil {
		return chat.Change{}, r.created, r.err
	}
	return *r.chg, r.created, r.err
}

func (p *Pending) wait() result {
	if p.err != nil {
		return result{err: p.err}
	}
	select {
	case r := <-p.req.reply:
		return r
	case <-p.b.done:
		// Workers answer before they end, so an answer sent is here now.
		select {
		case r := <-p.req.reply:
			return r
		default:
			return result{err: errClosed}
		}
	}
}

// close stops the workers after the batches they are writing, answers the
// requests still queued with errClosed, and waits for the workers to end.
func (b *batcher) close() {
	close(b.quit)
	<-b.done
}

func (b *batcher) run(reqs chan *request) {
	batch := make([]*request, 0, maxBatch)
	changes := make([]change, 0, maxBatch)
	results := make([]result, maxBatch)
	for {
		select {
		case <-b.quit:
			drain(reqs)
			return
		case r := <-reqs:
			batch = append(batch, r)
		}
		// The callers answered last time are only now getting to run and
		// send their next change; yielding a few times lets them join
		// this batch instead of each starting a tiny one.
		for range 3 {
			batch = fill(reqs, batch)
			if len(batch) == maxBatch {
				break
			}
			runtime.Gosched()
		}

		// A request whose caller gave up before it was taken is not written.
		live := batch[:0]
		for _, r := range batch {
			if err := r.ctx.Err(); err != nil {
				r.reply <- result{err: err}
				continue
			}
			live = append(live, r)
		}
		if len(live) > 0 {
			changes = changes[:0]
			for _, r := range live {
				changes = append(changes, r.c)
			}
			res := results[:len(live)]
			b.write(changes, res)
			for i, r := range live {
				r.reply <- res[i]
			}
		}
		clear(batch)
		batch = batch[:0]
	}
}

// write stores changes in one transaction or, if that fails, each in a
// transaction of its own, so that one bad change fails alone.
func (b *batcher) write(changes []change, results []result) {
	clear(results)
	if b.w.write(changes, results) == nil {
		return
	}
	b.failed.Add(1)
	for i := range changes {
		results[i] = result{}
		err := b.w.write(changes[i:i+1], results[i:i+1])
		switch {
		case err == nil:
		case isDataException(err):
			// Such as a NUL character, which PostgreSQL's text refuses.
			results[i] = result{err: chat.Errorf(chat.EInvalid, "The message contains characters that cannot be stored.")}
		case changes[i].edit != nil:
			results[i] = result{err: fmt.Errorf("store: apply %s: %w", changes[i].edit.Kind, err)}
		default:
			results[i] = result{err: fmt.Errorf("store: insert message: %w", err)}
		}
	}
}

func fill(reqs chan *request, batch []*request) []*request {
	for len(batch) < maxBatch {
		select {
		case r := <-reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain answers the requests left in a queue once its worker stops.
func drain(reqs chan *request) {
	for {
		select {
		case r := <-reqs:
			r.reply <- result{err: errClosed}
		default:
			return
		}
	}
}

// batchRooms are the rooms of a batch and the seqs it hands out in each.
// A writer locks the rooms in name order (names), reads each one's last_seq
// under the lock into its batchRoom, gives each change that takes a seq
// the room's next one (take), and at the end sets the last_seq and
// last_activity of each room that moved.
type batchRooms struct {
	names []string // sorted
	rooms map[string]*batchRoom
}

type batchRoom struct {
	lastSeq  int64     // as read under the lock
	taken    int64     // seqs handed out since
	msgCount int64     // the room's messages, as read under the lock
	newMsgs  int64     // new messages since
	deleted  int64     // messages deleted since
	at       time.Time // when the latest new message was stored; zero if none
	// create: a message of the batch may make the room, whose creator is
	// then the author of the first such message.
	create  bool
	creator string
	missing bool  // the room does not exist, and no change may make it
	locked  bool  // found and locked (PostgreSQL's writer)
	epoch   int64 // its access epoch, as read under the lock (chat.Place)
}

func newBatchRooms(changes []change) batchRooms {
	r := batchRooms{rooms: make(map[string]*batchRoom, 4)}
	for _, c := range changes {
		br, ok := r.rooms[c.room]
		if !ok {
			br = &batchRoom{}
			r.rooms[c.room] = br
			r.names = append(r.names, c.room)
		}
		if c.create && !br.create {
			br.create, br.creator = true, c.msg.Author
		}
	}
	slices.Sort(r.names)
	return r
}

// stampEpochs gives each entry of results the access epoch of its room,
// read under the batch's lock of the room, which a change of who may read
// it takes too: an entry written after such a change carries its epoch
// (chat.Message.Epoch).
func stampEpochs(rooms batchRooms, changes []change, results []result) {
	for i, c := range changes {
		switch r := &results[i]; {
		case r.err != nil:
		case r.chg != nil:
			r.chg.Epoch = rooms.rooms[c.room].epoch
		default:
			r.msg.Epoch = rooms.rooms[c.room].epoch
		}
	}
}

// seq is the room's latest seq: as read under the lock, or the last one
// handed out since.
func (r *batchRoom) seq() int64 { return r.lastSeq + r.taken }

// take hands out the room's next seq, to a change.
func (r *batchRoom) take() int64 {
	r.taken++
	return r.seq()
}

// takeMessage hands out the room's next seq to a new message stored at
// at, and its place among the room's messages (num).
func (r *batchRoom) takeMessage(at time.Time) (seq, num int64) {
	r.newMsgs++
	r.at = at
	return r.take(), r.msgCount + r.newMsgs
}

// activity is the room's new last_activity: the latest new message's
// time, or nil (unchanged) if the batch stored none.
func (r *batchRoom) activity() any {
	if r.at.IsZero() {
		return nil
	}
	return r.at
}

// authorRead is an author of new messages in a room, and their latest one
// there in the batch: the author has read the room up to it.
type authorRead struct {
	room, author string
	seq          int64
	at           time.Time
}

// authorsRead lists the authors of the batch's new messages, in the order
// of their first message, each with their latest message in each room.
func authorsRead(results []result) []authorRead {
	type key struct{ room, author string }
	index := make(map[key]int, 4)
	var authors []authorRead
	for _, r := range results {
		if !r.created || r.msg.Seq == 0 { // a change, or not new
			continue
		}
		a := authorRead{room: r.msg.Room, author: r.msg.Author, seq: r.msg.Seq, at: r.msg.Timestamp}
		k := key{a.room, a.author}
		if i, ok := index[k]; ok {
			authors[i] = a
			continue
		}
		index[k] = len(authors)
		authors = append(authors, a)
	}
	return authors
}
