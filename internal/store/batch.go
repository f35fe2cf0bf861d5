package store

import (
	"context"

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
	reqs chan *insertReq
	quit chan struct{} // closed by close: stop taking requests
	done chan struct{} // closed when the writer goroutine has ended
}

type insertReq struct {
	ctx   context.Context
	msg   chat.NewMessage
	reply chan insertResult // buffered: the writer never waits for a caller
}

type insertResult struct {
	msg     chat.Message
	created bool
	err     error
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
	batch := make([]*insertReq, 0, maxBatch)
	for {
		select {
		case <-b.quit:
			b.drain()
			return
		case r := <-b.reqs:
			batch = append(batch, r)
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-b.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.write(batch)
		clear(batch)
		batch = batch[:0]
	}
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
	// The statements run under a context of their own: the batch belongs to
	// all its callers, and none of them may cancel it for the others.
	ctx := context.Background()
	if len(live) > 1 {
		if results, ok := b.writeTogether(ctx, live); ok {
			for i, r := range live {
				r.reply <- results[i]
			}
			return
		}
	}
	for _, r := range live {
		msg, created, err := b.s.insertAlone(ctx, b.s.write, r.msg)
		r.reply <- insertResult{msg: msg, created: created, err: err}
	}
}

func (b *batcher) writeTogether(ctx context.Context, batch []*insertReq) ([]insertResult, bool) {
	tx, err := b.s.write.begin(ctx)
	if err != nil {
		return nil, false
	}
	results := make([]insertResult, len(batch))
	for i, r := range batch {
		msg, created, err := b.s.insert(ctx, tx, r.msg)
		if err != nil {
			tx.rollback(ctx)
			return nil, false
		}
		results[i] = insertResult{msg: msg, created: created}
	}
	if err := tx.commit(ctx); err != nil {
		// database/sql has rolled the transaction back.
		return nil, false
	}
	return results, true
}
