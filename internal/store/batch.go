package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"runtime"

	"parley/internal/chat"
)

// maxBatch bounds how many messages one SQLite transaction carries, and so
// how long the callers of a batch wait for each other.
const maxBatch = 256

// batcher is SQLite's group commit. One goroutine owns the writes of
// InsertMessage: it takes every insert waiting (up to maxBatch), writes them
// in one transaction, commits once, and only then answers each caller. One
// commit for many messages is what makes SQLite fast here; the single writer
// also keeps seqs in the order the messages were taken.
type batcher struct {
	s    *Store
	raw  *rawConn // the writer connection's statements; only run touches it
	reqs chan *insertReq
	quit chan struct{} // closed by close: stop taking requests
	done chan struct{} // closed when the writer goroutine has ended
}

type insertReq struct {
	ctx   context.Context
	msg   chat.NewMessage
	reply chan insertResult // buffered: the writer never waits for a caller
}

func newBatcher(s *Store) *batcher {
	b := &batcher{
		s:    s,
		reqs: make(chan *insertReq, maxBatch),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go b.run()
	return b
}

// insert hands m to the writer and waits for the outcome.
func (b *batcher) insert(ctx context.Context, m chat.NewMessage) (chat.Message, bool, error) {
	req := &insertReq{ctx: ctx, msg: m, reply: make(chan insertResult, 1)}
	select {
	case b.reqs <- req:
	case <-ctx.Done():
		return chat.Message{}, false, ctx.Err()
	case <-b.quit:
		return chat.Message{}, false, errClosed
	}
	select {
	case r := <-req.reply:
		return r.msg, r.created, r.err
	case <-b.done:
		// The writer answers before it ends, so an answer sent is here now.
		select {
		case r := <-req.reply:
			return r.msg, r.created, r.err
		default:
			return chat.Message{}, false, errClosed
		}
	}
}

// close stops the writer after the batch it is writing, answers the requests
// still queued with errClosed, and waits for the writer to end.
func (b *batcher) close() {
	close(b.quit)
	<-b.done
}

func (b *batcher) run() {
	defer close(b.done)
	defer b.withConn(func(*rawConn) { b.raw.close() })
	batch := make([]*insertReq, 0, maxBatch)
	for {
		select {
		case <-b.quit:
			b.drain()
			return
		case r := <-b.reqs:
			batch = append(batch, r)
		}
		for range 3 {
			batch = b.fill(batch)
			if len(batch) == maxBatch {
				break
			}
			runtime.Gosched()
		}
		b.write(batch)
		clear(batch)
		batch = batch[:0]
	}
}

func (b *batcher) fill(batch []*insertReq) []*insertReq {
	for len(batch) < maxBatch {
		select {
		case r := <-b.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// drain answers the requests left in the queue once the writer stops.
func (b *batcher) drain() {
	for {
		select {
		case r := <-b.reqs:
			r.reply <- insertResult{err: errClosed}
		default:
			return
		}
	}
}

// write stores a batch: all in one transaction, or, if any statement fails,
// each request in a transaction of its own, so that one bad request cannot
// fail the others.
func (b *batcher) write(batch []*insertReq) {
	// A request whose caller gave up before it was taken is not written.
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.reply <- insertResult{err: err}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	msgs := make([]chat.NewMessage, len(live))
	for i, r := range live {
		msgs[i] = r.msg
	}
	results := make([]insertResult, len(live))
	err := b.withConn(func(raw *rawConn) {
		// The statements run under a context of their own: the batch
		// belongs to all its callers, and none of them may cancel it for
		// the others.
		ctx := context.Background()
		if b.s.insertAlone(ctx, raw, msgs, results) == nil {
			return
		}
		// Some statement failed: write each message alone, so that one bad
		// message cannot fail the others.
		for i := range msgs {
			if err := b.s.insertAlone(ctx, raw, msgs[i:i+1], results[i:i+1]); err != nil {
				results[i] = insertResult{err: err}
			}
		}
	})
	b.s.checkpointer.notify()
	for i, r := range live {
		if err != nil {
			results[i] = insertResult{err: fmt.Errorf("store: insert message: %w", err)}
		}
		r.reply <- results[i]
	}
}

// withConn runs f on the writer connection. The connection is database/sql's
// one writer connection: other writes wait while f runs.
func (b *batcher) withConn(f func(raw *rawConn)) error {
	c, err := b.s.writeDB.db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		if b.raw == nil || b.raw.conn != dc {
			// A new connection (the first, or one replacing a broken one).
			b.raw = newRawConn(dc.(driver.Conn))
		}
		f(b.raw)
		return nil
	})
}
