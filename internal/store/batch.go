package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"hash/maphash"
	"runtime"
	"sync"

	"parley/internal/chat"
)

// maxBatch bounds how many messages one transaction carries, and so how
// long the callers of a batch wait for each other.
const maxBatch = 1024

// batcher is the group commit of InsertMessage. Its workers take every
// insert waiting (up to maxBatch), write them in one transaction, commit
// once, and only then answer each caller: one commit, and so one sync to
// disk, carries many messages.
//
// SQLite has one worker, on the one writer connection. PostgreSQL has a few,
// each on a pool connection, and each room's messages go to one of them, so
// that the workers' batches do not queue on each other's room locks. Rooms
// are locked in name order, so batches of this process and of others cannot
// deadlock.
type batcher struct {
	reqs []chan *insertReq // one queue per worker
	seed maphash.Seed
	quit chan struct{} // closed by close: stop taking requests
	done chan struct{} // closed when every worker has ended

	// write stores a batch and fills results: all in one transaction, or,
	// if that fails, each message in a transaction of its own, so that one
	// bad message cannot fail the others. It returns an error only if it
	// could not write at all.
	write func(msgs []chat.NewMessage, results []insertResult) error
	// stop runs once every worker has ended.
	stop func()
}

type insertReq struct {
	ctx   context.Context
	msg   chat.NewMessage
	reply chan insertResult // buffered: a worker never waits for a caller
}

func newBatcher(workers int, write func([]chat.NewMessage, []insertResult) error, stop func()) *batcher {
	b := &batcher{
		reqs:  make([]chan *insertReq, workers),
		seed:  maphash.MakeSeed(),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		write: write,
		stop:  stop,
	}
	var wg sync.WaitGroup
	for i := range b.reqs {
		b.reqs[i] = make(chan *insertReq, maxBatch)
		wg.Go(func() { b.run(b.reqs[i]) })
	}
	go func() {
		wg.Wait()
		if b.stop != nil {
			b.stop()
		}
		close(b.done)
	}()
	return b
}

// submit hands m to its worker's queue and returns at once. Requests one
// goroutine submits for one room are written in that order.
func (b *batcher) submit(ctx context.Context, m chat.NewMessage) *Pending {
	req := &insertReq{ctx: ctx, msg: m, reply: make(chan insertResult, 1)}
	q := b.reqs[0]
	if len(b.reqs) > 1 {
		q = b.reqs[maphash.String(b.seed, m.Room)%uint64(len(b.reqs))]
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

// Pending is a message handed to the store and not yet known to be stored.
type Pending struct {
	b   *batcher
	req *insertReq
	err error // the message was not taken
}

// Wait waits for the outcome: the stored message and whether it is new, as
// InsertMessage returns them.
func (p *Pending) Wait() (chat.Message, bool, error) {
	if p.err != nil {
		return chat.Message{}, false, p.err
	}
	select {
	case r := <-p.req.reply:
		return r.msg, r.created, r.err
	case <-p.b.done:
		// Workers answer before they end, so an answer sent is here now.
		select {
		case r := <-p.req.reply:
			return r.msg, r.created, r.err
		default:
			return chat.Message{}, false, errClosed
		}
	}
}

// close stops the workers after the batches they are writing, answers the
// requests still queued with errClosed, and waits for the workers to end.
func (b *batcher) close() {
	close(b.quit)
	<-b.done
}

func (b *batcher) run(reqs chan *insertReq) {
	batch := make([]*insertReq, 0, maxBatch)
	msgs := make([]chat.NewMessage, 0, maxBatch)
	results := make([]insertResult, maxBatch)
	for {
		select {
		case <-b.quit:
			drain(reqs)
			return
		case r := <-reqs:
			batch = append(batch, r)
		}
		// The callers answered last time are only now getting to run and
		// send their next message; yielding a few times lets them join
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
				r.reply <- insertResult{err: err}
				continue
			}
			live = append(live, r)
		}
		if len(live) > 0 {
			msgs = msgs[:0]
			for _, r := range live {
				msgs = append(msgs, r.msg)
			}
			res := results[:len(live)]
			clear(res)
			err := b.write(msgs, res)
			for i, r := range live {
				if err != nil {
					res[i] = insertResult{err: err}
				}
				r.reply <- res[i]
			}
		}
		clear(batch)
		batch = batch[:0]
	}
}

func fill(reqs chan *insertReq, batch []*insertReq) []*insertReq {
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
func drain(reqs chan *insertReq) {
	for {
		select {
		case r := <-reqs:
			r.reply <- insertResult{err: errClosed}
		default:
			return
		}
	}
}

// writeBatch stores msgs through h: all in one transaction, or, if that
// fails, each in a transaction of its own. The statements run under a
// context of their own: a batch belongs to all its callers, and none of
// them may cancel it for the others.
func (s *Store) writeBatch(h handle, msgs []chat.NewMessage, results []insertResult) {
	ctx := context.Background()
	if s.insertAlone(ctx, h, msgs, results) == nil {
		return
	}
	for i := range msgs {
		err := s.insertAlone(ctx, h, msgs[i:i+1], results[i:i+1])
		if isDataException(err) {
			// Such as a NUL character, which PostgreSQL's text refuses.
			err = chat.Errorf(chat.EInvalid, "The message contains characters that cannot be stored.")
		}
		if err != nil {
			results[i] = insertResult{err: err}
		}
	}
}

// sqliteBatchWriter writes SQLite batches on the driver connection underneath
// database/sql's one writer connection (see rawConn).
type sqliteBatchWriter struct {
	s   *Store
	raw *rawConn // the writer connection's statements; one worker uses it
}

func (w *sqliteBatchWriter) write(msgs []chat.NewMessage, results []insertResult) error {
	err := w.withConn(func(raw *rawConn) { w.s.writeBatch(raw, msgs, results) })
	w.s.checkpointer.notify()
	if err != nil {
		return fmt.Errorf("store: insert message: %w", err)
	}
	return nil
}

// withConn runs f on the writer connection; other writes wait meanwhile.
func (w *sqliteBatchWriter) withConn(f func(raw *rawConn)) error {
	c, err := w.s.writeDB.db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		if w.raw == nil || w.raw.conn != dc {
			// A new connection: the first, or one replacing a broken one.
			w.raw = newRawConn(dc.(driver.Conn))
		}
		f(w.raw)
		return nil
	})
}

// stop finalises the writer's statements before the connection closes.
func (w *sqliteBatchWriter) stop() {
	_ = w.withConn(func(raw *rawConn) { raw.close() })
}
