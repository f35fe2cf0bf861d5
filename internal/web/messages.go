package web

import (
	"context"
	"errors"
	"strings"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/store"
)

// fetchRequest is a history query, from a frame or the API.
type fetchRequest struct {
	Before *int64 `json:"before"`
	After  *int64 `json:"after"`
	Around *int64 `json:"around"`
	Limit  *int   `json:"limit"`
}

// history is the answer to a history query: messages, oldest first, and,
// for a page of the log (after, in full view), the changes among them.
type history struct {
	Messages []chat.Message
	Changes  []chat.Change
	// HasMore says there is more beyond the page: older messages before
	// a latest, before or around page, newer entries after an after page.
	HasMore bool
	// HasNewer says, for an around page, that newer messages follow.
	HasNewer *bool
}

// lastSeq is the latest entry of the room's log the answer shows: the
// last of its changes, or of the changes its messages' states include.
func (h history) lastSeq() int64 {
	var last int64
	for _, m := range h.Messages {
		last = max(last, m.CurrentRev())
	}
	for _, c := range h.Changes {
		last = max(last, c.Seq)
	}
	return last
}

// fetch answers a history query: the latest messages, or a page before
// or around a seq, or the room's log after a seq, always oldest first.
// full is the view of parley.v1 sockets and the API (docs/PROTOCOL.md,
// Room events): messages with every field, deleted ones as tombstones,
// and after a seq every entry of the log, changes included. Without it,
// the original protocol's: messages as it has them, deleted ones left
// out, after a seq the messages only.
func (s *Server) fetch(ctx context.Context, room string, f fetchRequest, full bool) (history, error) {
	p := store.Page{Limit: s.opt.History, Full: full}
	if f.Limit != nil {
		if *f.Limit < 1 || *f.Limit > chat.MaxFetchLimit {
			return history{}, chat.Errorf(chat.EInvalid, "limit must be from 1 to %d.", chat.MaxFetchLimit)
		}
		p.Limit = *f.Limit
	}
	given := 0
	for _, v := range []*int64{f.Before, f.After, f.Around} {
		if v != nil {
			given++
		}
	}
	if given > 1 {
		return history{}, chat.Errorf(chat.EInvalid, "Ask for messages before, after or around a seq: one of them.")
	}
	switch {
	case f.Before != nil:
		if *f.Before < 1 {
			return history{}, chat.Errorf(chat.EInvalid, "before must be a seq of at least 1.")
		}
		p.Before = *f.Before
	case f.After != nil:
		if *f.After < 0 {
			return history{}, chat.Errorf(chat.EInvalid, "after must be a seq of at least 0.")
		}
		p.After = *f.After
		p.FromStart = *f.After == 0
		if full {
			return s.fetchLog(ctx, room, p.After, p.Limit)
		}
	case f.Around != nil:
		if *f.Around < 1 {
			return history{}, chat.Errorf(chat.EInvalid, "around must be a seq of at least 1.")
		}
		msgs, older, newer, err := s.opt.Store.Around(ctx, room, *f.Around, p.Limit, full)
		if err != nil {
			return history{}, err
		}
		// A page around a message keeps it, and those nearest it.
		msgs, cut := fitAround(msgs, *f.Around, full)
		return history{Messages: msgs, HasMore: older || cut, HasNewer: &newer}, nil
	}
	msgs, more, err := s.opt.Store.Messages(ctx, room, p)
	if err != nil {
		return history{}, err
	}
	msgs, cut := fitPage(msgs, p.After > 0 || p.FromStart, full)
	more = more || cut
	if seqPastEnd(p, msgs) {
		// A seq past the room's end is a client's mistake (or a database
		// that was reset): say so rather than answer an empty page.
		if err := s.checkSeq(ctx, room, p.After, p.Before); err != nil {
			return history{}, err
		}
	}
	if msgs == nil {
		msgs = []chat.Message{}
	}
	return history{Messages: msgs, HasMore: more}, nil
}

// checkSeq refuses an after or before past the room's end.
func (s *Server) checkSeq(ctx context.Context, room string, after, before int64) error {
	last, err := s.opt.Store.LastSeq(ctx, room)
	if err != nil {
		return err
	}
	if after > last || before > last+1 {
		return chat.Errorf(chat.ENotFound, "This room has no message %d; its latest is %d.", max(after, before-1), last)
	}
	return nil
}

// fetchLog answers a page of the room's log after a seq: the entries
// after+1 to after+limit, messages and changes, gapless.
func (s *Server) fetchLog(ctx context.Context, room string, after int64, limit int) (history, error) {
	entries, more, err := s.opt.Store.Log(ctx, room, after, limit)
	if err != nil {
		return history{}, err
	}
	if len(entries) == 0 && after > 0 {
		if err := s.checkSeq(ctx, room, after, 0); err != nil {
			return history{}, err
		}
	}
	entries, cut := fitLog(entries)
	h := history{Messages: []chat.Message{}, HasMore: more || cut}
	for _, e := range entries {
		if e.Message != nil {
			h.Messages = append(h.Messages, *e.Message)
		} else {
			h.Changes = append(h.Changes, *e.Change)
		}
	}
	return h, nil
}

// maxAnswerBytes bounds a history answer's messages, encoded: with the
// frame around them the answer stays under 1 MiB, the most some WebSocket
// clients take by default (Python's websockets), and what one answer may
// claim of the server's memory.
const maxAnswerBytes = 1<<20 - 4<<10

// messageBound is at most what m takes encoded (in either view): each
// string at most six times over (every byte an escape), and 600 bytes of
// the rest.
func messageBound(m *chat.Message) int {
	n := 600 + 6*(len(m.Content)+len(m.Author)+len(m.ClientID))
	if r := m.ReplyTo; r != nil {
		n += 100 + 6*(len(r.Author)+len(r.Excerpt))
	}
	for _, name := range m.Mentions {
		n += 3 + 6*len(name)
	}
	for _, r := range m.Reactions {
		n += 60 + 6*len(r.Emoji)
		for _, u := range r.Users {
			n += 3 + 6*len(u)
		}
	}
	return n
}

func changeBound(c *chat.Change) int {
	n := 600 + 6*(len(c.Content)+len(c.Author)+len(c.ClientID)+len(c.Emoji))
	for _, name := range c.Mentions {
		n += 3 + 6*len(name)
	}
	return n
}

func encodedSize(m *chat.Message, full bool) int {
	if full {
		return len(m.AppendFullJSON(nil)) + 1
	}
	return len(m.AppendJSON(nil)) + 1
}

// fitPage keeps as many of a page's messages as fit in maxAnswerBytes:
// the newest of a page that looks back (the latest, before), the oldest of
// one that goes forward (after), so that the page still meets the one
// beside it. It reports whether it dropped any (has_more then holds).
func fitPage(msgs []chat.Message, forward, full bool) ([]chat.Message, bool) {
	// Most pages are far below the bound without encoding a thing.
	bound := 0
	for i := range msgs {
		bound += messageBound(&msgs[i])
	}
	if bound <= maxAnswerBytes {
		return msgs, false
	}
	total, n := 0, len(msgs)
	for i := range n {
		j := i
		if !forward {
			j = n - 1 - i
		}
		if total += encodedSize(&msgs[j], full); total > maxAnswerBytes {
			if forward {
				return msgs[:i], true
			}
			return msgs[n-i:], true
		}
	}
	return msgs, false
}

// fitLog keeps as many of a log page's first entries as fit in
// maxAnswerBytes, so that the next page goes on from the last.
func fitLog(entries []chat.Entry) ([]chat.Entry, bool) {
	bound := 0
	for _, e := range entries {
		if e.Message != nil {
			bound += messageBound(e.Message)
		} else {
			bound += changeBound(e.Change)
		}
	}
	if bound <= maxAnswerBytes {
		return entries, false
	}
	total := 0
	for i, e := range entries {
		if e.Message != nil {
			total += encodedSize(e.Message, true)
		} else {
			total += len(e.Change.AppendJSON(nil)) + 1
		}
		if total > maxAnswerBytes {
			return entries[:i], true
		}
	}
	return entries, false
}

// fitAround keeps as many of a page around seq as fit in maxAnswerBytes:
// the message at seq, then those nearest it.
func fitAround(msgs []chat.Message, seq int64, full bool) ([]chat.Message, bool) {
	bound := 0
	for i := range msgs {
		bound += messageBound(&msgs[i])
	}
	if bound <= maxAnswerBytes {
		return msgs, false
	}
	mid := 0
	for i, m := range msgs {
		if m.Seq == seq {
			mid = i
		}
	}
	lo, hi := mid, mid+1 // msgs[lo:hi] are kept
	total := encodedSize(&msgs[mid], full)
	for lo > 0 || hi < len(msgs) {
		grew := false
		if hi < len(msgs) {
			if n := encodedSize(&msgs[hi], full); total+n <= maxAnswerBytes {
				total, hi, grew = total+n, hi+1, true
			}
		}
		if lo > 0 {
			if n := encodedSize(&msgs[lo-1], full); total+n <= maxAnswerBytes {
				total, lo, grew = total+n, lo-1, true
			}
		}
		if !grew {
			break
		}
	}
	return msgs[lo:hi], lo > 0 || hi < len(msgs)
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
func (s *Server) post(ctx context.Context, u chat.User, p chat.Place, nm chat.NewMessage) (chat.Message, bool, time.Duration, error) {
	sub, wait, err := s.submit(ctx, u, p, nm, false)
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

// submission is a message or a change checked, within the sender's
// limit, and handed to the store.
type submission struct {
	pending *store.Pending
	start   time.Time
}

// submit checks a message from u, whose place in its room is p (chat.Can:
// may u post there, and mention @room), spends one of u's sends and hands
// the message to the store without waiting for the commit (hand). Over
// the sending limit it returns a rate_limited error and how long to wait.
func (s *Server) submit(ctx context.Context, u chat.User, p chat.Place, nm chat.NewMessage, create bool) (submission, time.Duration, error) {
	nm.Author = u.Name
	if err := chat.CheckNewMessage(&nm); err != nil {
		return submission{}, 0, err
	}
	if err := s.allows(u, p, chat.ActPost, chat.Target{}); err != nil {
		return submission{}, 0, err
	}
	if err := s.checkMentions(u, p, nm.Content); err != nil {
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
	if err := notDirectName(nm.Room); err != nil {
		return submission{}, 0, err
	}
	if ok, wait := s.allowNewRoom(ctx, u, nm.Room); !ok {
		return submission{}, wait, s.roomLimited(wait)
	}
	return submission{pending: s.opt.Store.SubmitMessage(ctx, nm), start: time.Now()}, 0, nil
}

// checkMentions refuses @room in content, which has been checked, from a
// user the policy does not allow it in the room (chat.Can,
// ActMentionRoom). Content without an @ costs one scan for it.
func (s *Server) checkMentions(u chat.User, p chat.Place, content string) error {
	if strings.IndexByte(content, '@') < 0 {
		return nil
	}
	if _, room := chat.ParseMentions(content); room {
		return s.allows(u, p, chat.ActMentionRoom, chat.Target{})
	}
	return nil
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
	s.publish(broker.Event{Room: m.Room, Kind: broker.KindMessage, Message: &m}, m.Seq)
	if created {
		// After the room has it: whom to notify is decided off this path.
		s.offerPush(&m)
	}
	return m, created, nil
}

// change applies a change from u and, once it is committed, publishes it
// to the room. A change that took no seq (its client_id repeated, or what
// it asks done already) returns the stored change that did it, not
// created.
func (s *Server) change(ctx context.Context, u chat.User, p chat.Place, c chat.NewChange) (chat.Change, bool, time.Duration, error) {
	sub, wait, err := s.submitChange(ctx, u, p, c)
	if err != nil {
		return chat.Change{}, false, wait, err
	}
	ch, created, err := s.settleChange(sub)
	return ch, created, 0, err
}

// submitChange checks a change to a message from u, whose place in its
// room is p, spends one of u's sends and hands the change to the store
// without waiting for the commit.
func (s *Server) submitChange(ctx context.Context, u chat.User, p chat.Place, c chat.NewChange) (submission, time.Duration, error) {
	c.Author, c.EditWindow = u.Name, s.opt.EditWindow
	if err := chat.CheckNewChange(&c); err != nil {
		return submission{}, 0, err
	}
	if err := s.mayChange(u, p, &c); err != nil {
		return submission{}, 0, err
	}
	if c.Kind == chat.ChangeEdit {
		if err := s.checkMentions(u, p, c.Content); err != nil {
			return submission{}, 0, err
		}
	}
	if ok, wait := s.sends.allow(ctx, u.Name); !ok {
		return submission{}, wait, chat.Errorf(chat.ERateLimited, "You are sending too fast; wait a moment.")
	}
	return submission{pending: s.opt.Store.SubmitChange(ctx, c), start: time.Now()}, 0, nil
}

// mayChange asks chat.Can whether u may make the change c in the room:
// whose message it changes is known only to the store, which decides an
// edit or a deletion of someone else's message with what Can says here
// (c.AnyAuthor: u may delete anyone's).
func (s *Server) mayChange(u chat.User, p chat.Place, c *chat.NewChange) error {
	switch c.Kind {
	case chat.ChangeEdit:
		return s.allows(u, p, chat.ActEdit, chat.Target{Own: true})
	case chat.ChangeDelete:
		if err := s.allows(u, p, chat.ActDelete, chat.Target{Own: true}); err != nil {
			return err
		}
		c.AnyAuthor = s.allows(u, p, chat.ActDelete, chat.Target{}) == nil
		return nil
	}
	return s.allows(u, p, chat.ActReact, chat.Target{})
}

// settleChange waits for a submitted change's commit and then publishes
// it (again, if it was stored before: see settle).
func (s *Server) settleChange(sub submission) (chat.Change, bool, error) {
	c, created, err := sub.pending.WaitChange()
	if err != nil {
		return chat.Change{}, false, err
	}
	s.metrics.storeLatency.Observe(time.Since(sub.start).Seconds())
	s.publish(broker.Event{Room: c.Room, Kind: broker.KindChange, Change: &c}, c.Seq)
	return c, created, nil
}

// publish hands a committed entry of a room's log to the broker, which
// gives it to this process's sockets at once and to the other processes
// after, in order, without holding up the sender's next one. Any it
// cannot get to the other processes they recover from the store.
func (s *Server) publish(ev broker.Event, seq int64) {
	if err := s.opt.Hub.Publish(context.Background(), ev); err != nil {
		s.log.Warn("publish failed; other processes will recover it from the store", "room", ev.Room, "seq", seq, "err", err)
	}
}
