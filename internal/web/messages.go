package web

import (
	"context"
	"errors"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/store"
)

// fetchRequest is a history query, from a frame or the API.
type fetchRequest struct {
	Before *int64 `json:"before"`
	After  *int64 `json:"after"`
	Limit  *int   `json:"limit"`
}

// fetch answers a history query: the latest messages, or a page before or
// after a seq, always oldest first.
func (s *Server) fetch(ctx context.Context, room string, f fetchRequest) ([]chat.Message, bool, error) {
	p := store.Page{Limit: s.opt.History}
	if f.Limit != nil {
		if *f.Limit < 1 || *f.Limit > chat.MaxFetchLimit {
			return nil, false, chat.Errorf(chat.EInvalid, "limit must be from 1 to %d.", chat.MaxFetchLimit)
		}
		p.Limit = *f.Limit
	}
	switch {
	case f.Before != nil && f.After != nil:
		return nil, false, chat.Errorf(chat.EInvalid, "Ask for messages before a seq or after one, not both.")
	case f.Before != nil:
		if *f.Before < 1 {
			return nil, false, chat.Errorf(chat.EInvalid, "before must be a seq of at least 1.")
		}
		p.Before = *f.Before
	case f.After != nil:
		if *f.After < 0 {
			return nil, false, chat.Errorf(chat.EInvalid, "after must be a seq of at least 0.")
		}
		p.After = *f.After
		p.FromStart = *f.After == 0
	}
	msgs, more, err := s.opt.Store.Messages(ctx, room, p)
	if err != nil {
		return nil, false, err
	}
	msgs, cut := fitPage(msgs, p.After > 0 || p.FromStart)
	more = more || cut
	if seqPastEnd(p, msgs) {
		// A seq past the room's end is a client's mistake (or a database
		// that was reset): say so rather than answer an empty page.
		last, err := s.opt.Store.LastSeq(ctx, room)
		if err != nil {
			return nil, false, err
		}
		if p.After > last || p.Before > last+1 {
			return nil, false, chat.Errorf(chat.ENotFound, "This room has no message %d; its latest is %d.",
				max(p.After, p.Before-1), last)
		}
	}
	if msgs == nil {
		msgs = []chat.Message{}
	}
	return msgs, more, err
}

// maxAnswerBytes bounds a history answer's messages, encoded: with the
// frame around them the answer stays under 1 MiB, the most some WebSocket
// clients take by default (Python's websockets), and what one answer may
// claim of the server's memory.
const maxAnswerBytes = 1<<20 - 4<<10

// fitPage keeps as many of a page's messages as fit in maxAnswerBytes:
// the newest of a page that looks back (the latest, before), the oldest of
// one that goes forward (after), so that the page still meets the one
// beside it. It reports whether it dropped any (has_more then holds).
func fitPage(msgs []chat.Message, forward bool) ([]chat.Message, bool) {
	// A message is at most its content six times over (every byte an
	// escape) and 600 bytes of the rest: most pages are far below the
	// bound without encoding a thing.
	bound := 0
	for _, m := range msgs {
		bound += 600 + 6*(len(m.Content)+len(m.Author)+len(m.ClientID))
	}
	if bound <= maxAnswerBytes {
		return msgs, false
	}
	total, n := 0, len(msgs)
	var buf []byte
	for i := range n {
		j := i
		if !forward {
			j = n - 1 - i
		}
		buf = msgs[j].AppendJSON(buf[:0])
		if total += len(buf) + 1; total > maxAnswerBytes {
			if forward {
				return msgs[:i], true
			}
			return msgs[n-i:], true
		}
	}
	return msgs, false
}

// seqPastEnd reports whether a page asked from a seq may lie past the
// room's end. A page that ends just before its "before", or any non-empty
// "after" page, cannot: only then is the room's last seq not read.
func seqPastEnd(p store.Page, msgs []chat.Message) bool {
	switch {
	case p.Before > 0:
		return len(msgs) == 0 || msgs[len(msgs)-1].Seq != p.Before-1
	case p.After > 0:
		return len(msgs) == 0
	}
	return false
}

// post stores a message from u and, once it is committed, publishes it to
// the room. A repeated client_id returns the stored message, not created.
// Over the sending limit it returns a rate_limited error and how long to
// wait, and stores nothing. The room's first message makes the room,
// within u's room limit (over it, rate_limited too): it is handed to the
// store as a message into an existing room, and again as one that makes
// its room if that room turns out not to exist, which costs the common
// case nothing.
func (s *Server) post(ctx context.Context, u chat.User, nm chat.NewMessage) (chat.Message, bool, time.Duration, error) {
	sub, wait, err := s.submit(ctx, u, nm, false)
	if err != nil {
		return chat.Message{}, false, wait, err
	}
	m, created, err := s.settle(sub)
	if errors.Is(err, store.ErrNoRoom) {
		nm.Author = u.Name
		_ = chat.CheckNewMessage(&nm) // as submit did
		if sub, wait, err = s.hand(ctx, u, nm, true); err != nil {
			return chat.Message{}, false, wait, err
		}
		m, created, err = s.settle(sub)
	}
	return m, created, 0, err
}

// submission is a message checked, within the sender's limit, and handed
// to the store.
type submission struct {
	pending *store.Pending
	start   time.Time
}

// submit checks a message from u, spends one of u's sends and hands the
// message to the store without waiting for the commit (hand). Over the
// sending limit it returns a rate_limited error and how long to wait.
func (s *Server) submit(ctx context.Context, u chat.User, nm chat.NewMessage, create bool) (submission, time.Duration, error) {
	nm.Author = u.Name
	if err := chat.CheckNewMessage(&nm); err != nil {
		return submission{}, 0, err
	}
	if ok, wait := s.sends.allow(ctx, u.Name); !ok {
		return submission{}, wait, chat.Errorf(chat.ERateLimited, "You are sending too fast; wait a moment.")
	}
	return s.hand(ctx, u, nm, create)
}

// hand hands a checked message to the store: into its room, which must
// exist (store.ErrNoRoom otherwise), or, if create is set, making the
// room if need be, which spends one of u's new rooms (--room-create-limit;
// past it, a rate_limited error and how long to wait).
func (s *Server) hand(ctx context.Context, u chat.User, nm chat.NewMessage, create bool) (submission, time.Duration, error) {
	if !create {
		return submission{pending: s.opt.Store.SubmitToRoom(ctx, nm), start: time.Now()}, 0, nil
	}
	if ok, wait := s.allowNewRoom(ctx, u, nm.Room); !ok {
		return submission{}, wait, s.roomLimited(wait)
	}
	return submission{pending: s.opt.Store.SubmitMessage(ctx, nm), start: time.Now()}, 0, nil
}

// allowNewRoom spends one of u's new rooms (--room-create-limit) for
// room, once: the other messages that may make the same room — a user's
// sockets all sending their first message into a room that does not
// exist yet — cost nothing more, as at most one of them makes it.
func (s *Server) allowNewRoom(ctx context.Context, u chat.User, room string) (bool, time.Duration) {
	k := newRoomKey{u.ID, room}
	if _, spent := s.newRooms.LoadOrStore(k, struct{}{}); spent {
		return true, 0
	}
	ok, wait := s.roomCreates.allow(ctx, u.Name)
	if !ok {
		s.newRooms.Delete(k)
		return false, wait
	}
	if s.newRoomCount.Add(1) > maxNewRooms {
		// Forgetting only costs a second token for a room some day.
		s.newRooms.Clear()
		s.newRoomCount.Store(0)
	}
	return true, 0
}

// newRoomKey is a room a user spent a new room's token for.
type newRoomKey struct {
	user int64
	room string
}

// maxNewRooms bounds the rooms allowNewRoom remembers.
const maxNewRooms = 100_000

// roomLimited is the error of a new room over the room limit.
func (s *Server) roomLimited(wait time.Duration) error {
	s.metrics.httpErrors.WithLabelValues("room_create_throttled").Inc()
	return chat.Errorf(chat.ERateLimited, "You have made many rooms lately. Try again in %s, or use a room that exists.", waitWords(wait))
}

// settle waits for a submitted message's commit and then publishes it. A
// repeated client_id gives the stored message, not created.
func (s *Server) settle(sub submission) (chat.Message, bool, error) {
	m, created, err := sub.pending.Wait()
	if err != nil {
		return chat.Message{}, false, err
	}
	s.metrics.storeLatency.Observe(time.Since(sub.start).Seconds())
	if created {
		s.metrics.messagesIn.Inc()
	}
	// A retried client_id is published again too: its first attempt may
	// have been committed by a batch whose answer was lost (the database
	// connection cut at the commit), and so never published. Where it was,
	// the hub drops the repeat.
	s.publish(m)
	return m, created, nil
}

// publish hands a committed message to the broker, which gives it to
// this process's sockets at once and to the other processes after, in
// order, without holding up the sender's next message. Any it cannot get
// to the other processes they recover from the store.
func (s *Server) publish(m chat.Message) {
	ev := broker.Event{Room: m.Room, Kind: broker.KindMessage, Message: &m}
	if err := s.opt.Hub.Publish(context.Background(), ev); err != nil {
		s.log.Warn("publish failed; other processes will recover the message", "room", m.Room, "seq", m.Seq, "err", err)
	}
}
