// Package hub is the local fan-out: which sockets of this process are in
// which room (members), and the per-room sequencer that hands every member
// a room's log in seq order, without gaps, recovering from the store what
// the broker failed to bring. The log's entries are new messages and
// changes to messages (edits, deletions, reactions): a member that takes
// extensions gets every entry; one that does not (the original client)
// gets new messages only, as the original protocol has them, and no
// deleted one. A member's frames go to its Sink, the socket's outgoing
// queue, which the transport owns and bounds. The hub knows nothing of
// WebSocket or HTTP.
//
// Lock order: the hub's lock, then a room's. Frames are queued on sinks
// only under a room's lock, through room.locked, which wakes the sinks (a
// writer starts, a socket that fell behind ends) once the lock is
// released: a socket's end leaves its room, which takes the room's lock.
package hub

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
)

// History reads a room's stored log; the hub uses it to fill gaps.
type History interface {
	// LastSeq returns the room's latest seq, 0 for an empty or unknown room.
	LastSeq(ctx context.Context, room string) (int64, error)
	// LastSeqs returns the latest seq of each of rooms, in as few reads
	// as it can; an empty or unknown room may be left out.
	LastSeqs(ctx context.Context, rooms []string) (map[string]int64, error)
	// Log returns up to limit entries with seq > after, every seq once,
	// ascending, and whether more follow.
	Log(ctx context.Context, room string, after int64, limit int) ([]chat.Entry, bool, error)
	// AccessEpoch returns the room's access epoch (chat.Place), 0 for an
	// unknown room.
	AccessEpoch(ctx context.Context, room string) (int64, error)
}

// Options configure a Hub.
type Options struct {
	Broker  broker.Broker
	History History
	Log     *slog.Logger
	// Origin names this process in presence events.
	Origin string
	// GapWait is how long an out-of-order message waits for the ones
	// before it before the hub reads them from the store. Default 100ms.
	GapWait time.Duration
	// PresenceTTL is how long another process's presence report lasts
	// without a refresh. Default 90s; refreshes go out every third of it.
	PresenceTTL time.Duration
	// TailCheck is how often the hub compares each room's latest seq in
	// the store with the last one it sent: a message whose publisher died
	// between commit and publish, in a room that then went quiet, reaches
	// the sockets within this time. Default 5s.
	TailCheck time.Duration
	// Wire turns an encoded frame into the bytes written to each socket
	// (a WebSocket frame header and the frame), once for all receivers.
	// Default: the frame as it is.
	Wire func([]byte) []byte
	// OnDeliver, if set, is told for each message fanned out how long
	// after its timestamp the fan-out happened (for metrics).
	OnDeliver func(time.Duration)
	// HoldFor and HoldMessages bound how long, and how many messages, a
	// held member's live messages wait for its first history answer
	// (Joining.Hold). Defaults 5 s and 100.
	HoldFor      time.Duration
	HoldMessages int
}

// Sink is where the hub puts a member's frames: its socket's outgoing
// queue.
type Sink interface {
	// Queue appends frame without blocking, and reports whether Wake must
	// be called once the caller holds no lock.
	Queue(frame []byte) bool
	// Wake does what Queue left to do (starts a writer, or ends a socket
	// that fell behind).
	Wake()
}

// Stats are the hub's counters, for metrics.
type Stats struct {
	Members, Rooms                   int64
	Delivered, Recovered, Duplicates uint64
	RecoveryErrors                   uint64
	// Stale counts the members dropped from the fan-out for an entry of
	// a later access epoch than theirs (Joining.Epoch).
	Stale uint64
}

// Hub is the fan-out of one process. Its methods are safe for concurrent use.
type Hub struct {
	opt Options
	log *slog.Logger

	mu    sync.RWMutex
	rooms map[string]*room
	subMu sync.Mutex // orders broker subscribe/unsubscribe calls

	members                          atomic.Int64
	delivered, recovered, duplicates atomic.Uint64
	stale                            atomic.Uint64
	recoveryErrors                   atomic.Uint64
	stop                             chan struct{}
	stopOnce                         sync.Once
	wg                               sync.WaitGroup
}

// New returns a hub. Close stops its background work.
func New(opt Options) *Hub {
	if opt.GapWait <= 0 {
		opt.GapWait = 100 * time.Millisecond
	}
	if opt.PresenceTTL <= 0 {
		opt.PresenceTTL = 90 * time.Second
	}
	if opt.TailCheck <= 0 {
		opt.TailCheck = 5 * time.Second
	}
	if opt.HoldFor <= 0 {
		opt.HoldFor = 5 * time.Second
	}
	if opt.HoldMessages <= 0 {
		opt.HoldMessages = 100
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Wire == nil {
		opt.Wire = func(b []byte) []byte { return b }
	}
	h := &Hub{opt: opt, log: opt.Log, rooms: make(map[string]*room), stop: make(chan struct{})}
	h.wg.Add(2)
	// Now and then: re-announce this process's presence in every room, so
	// that other processes' views of it do not expire; and recover, in
	// every room, messages stored after the last one sent that no event
	// announced (their publisher died between commit and publish).
	go h.everyRoom(opt.PresenceTTL/3, func(r *room) {
		r.expireRemote()
		r.announce()
	})
	go h.every(opt.TailCheck, h.checkTails)
	return h
}

// Close stops the hub's background work. Its members' sockets are the
// transport's to close; they leave as they end.
func (h *Hub) Close() {
	h.stopOnce.Do(func() { close(h.stop) })
	h.wg.Wait()
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	n := int64(len(h.rooms))
	h.mu.RUnlock()
	return Stats{
		Members: h.members.Load(), Rooms: n,
		Delivered: h.delivered.Load(), Recovered: h.recovered.Load(),
		Duplicates: h.duplicates.Load(), RecoveryErrors: h.recoveryErrors.Load(),
		Stale: h.stale.Load(),
	}
}

// Joining is a socket about to join a room.
type Joining struct {
	Room, User string
	// Extensions says the socket takes extension frames (presence,
	// typing).
	Extensions bool
	// Hold keeps the member's live messages back until its first history
	// answer goes out (Member.Release), so that the answer ends where they
	// begin: the original client shows whatever comes before its first
	// answer above it. Options.HoldFor and HoldMessages bound the wait.
	Hold bool
	// Sink takes the member's frames.
	Sink Sink
	// Epoch is the room's access epoch the socket's right to read the
	// room was checked under (chat.Place.Epoch). An entry written under a
	// later one — after a change of who may read the room — is never
	// queued for it: the member is dropped from the fan-out (nothing is
	// queued for it from then on) and Stale is called, once, in a
	// goroutine of its own, unless Hub.Checked or Hub.AdvanceEpoch said
	// first that it was checked again.
	Epoch int64
	// Stale is told that the member was dropped so: its socket closes,
	// and its client is checked again as it reconnects.
	Stale func()
}

// Join makes j a member of its room, subscribing this process to the room
// if it is the first. The member receives every message of the room
// committed after Join returns. Leave it with Member.Leave.
func (h *Hub) Join(ctx context.Context, j Joining) (*Member, error) {
	m := &Member{h: h, user: j.User, extensions: j.Extensions, sink: j.Sink, epoch: j.Epoch, stale: j.Stale}
	if j.Hold {
		m.held = holding
	}
	h.mu.Lock()
	r := h.rooms[j.Room]
	created := r == nil
	if created {
		r = newRoom(h, j.Room)
		h.rooms[j.Room] = r
	}
	m.room = r
	r.mu.Lock()
	r.members[m] = struct{}{}
	if m.extensions {
		r.extMembers++
	}
	r.checked = min(r.checked, m.epoch)
	r.mu.Unlock()
	h.mu.Unlock()
	h.members.Add(1)

	if created {
		r.start(ctx)
	}
	select {
	case <-r.ready:
	case <-ctx.Done():
		m.Leave()
		return nil, ctx.Err()
	}
	if r.err != nil {
		m.Leave()
		return nil, r.err
	}
	r.presenceChanged()
	return m, nil
}

// Publish sends a room event through the broker to every process, this
// one first (broker.Broker.Publish).
func (h *Hub) Publish(ctx context.Context, ev broker.Event) error {
	if ev.Origin == "" {
		ev.Origin = h.opt.Origin
	}
	if ev.Message != nil || ev.Change != nil {
		ev.Epoch = chat.Entry{Message: ev.Message, Change: ev.Change}.Epoch()
	}
	return h.opt.Broker.Publish(ctx, ev)
}

// Checked records that user was found, under room's access epoch epoch,
// to be allowed to read it: entries written under it reach their
// members (Joining.Epoch). A member already dropped stays dropped.
func (h *Hub) Checked(room, user string, epoch int64) {
	h.setEpochs(room, epoch, func(mb *Member) bool { return mb.user == user })
}

// AdvanceEpoch is told that the change of who may read room that made
// its access epoch epoch concerned user alone (a member gone): the
// room's members but user's that were checked under the epoch before are
// as checked under this one. Those checked under an older one still
// wait for a check of their own (Checked).
func (h *Hub) AdvanceEpoch(room, user string, epoch int64) {
	h.setEpochs(room, epoch, func(mb *Member) bool { return mb.epoch == epoch-1 && mb.user != user })
}

// setEpochs raises to epoch the access epoch of the members of room
// that which selects.
func (h *Hub) setEpochs(room string, epoch int64, which func(*Member) bool) {
	r := h.room(room)
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for mb := range r.members {
		if which(mb) {
			mb.epoch = max(mb.epoch, epoch)
		}
	}
}

// Event receives the broker's events: the hub is the broker.Handler of
// every room this process has sockets in.
func (h *Hub) Event(ev broker.Event) {
	r := h.room(ev.Room)
	if r == nil {
		return
	}
	switch ev.Kind {
	case broker.KindMessage:
		if ev.Message != nil {
			r.onEntry(entry{seq: ev.Message.Seq, msg: ev.Message})
		}
	case broker.KindChange:
		if ev.Change != nil {
			r.onEntry(entry{seq: ev.Change.Seq, change: ev.Change})
		}
	case broker.KindTyping:
		r.onTyping(ev.User)
	case broker.KindPresence:
		r.onRemotePresence(ev.Origin, ev.Users)
	}
}

// Missed is called by the broker when it may have lost events of room.
func (h *Hub) Missed(room string) {
	if r := h.room(room); r != nil {
		r.recover()
	}
}

func (h *Hub) room(name string) *room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.rooms[name]
}

// leave removes m from its room and, when the room empties, unsubscribes
// (unless the room is watched: see Watch).
func (h *Hub) leave(m *Member) {
	r := m.room
	h.mu.Lock()
	r.mu.Lock()
	_, member := r.members[m]
	if member && m.extensions {
		r.extMembers--
	}
	delete(r.members, m)
	empty := len(r.members) == 0
	drop := empty && r.watch == nil
	r.mu.Unlock()
	if drop && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
	}
	h.mu.Unlock()
	if !member {
		return
	}
	h.members.Add(-1)
	if !empty {
		r.presenceChanged()
		return
	}
	if !drop {
		// Watched: the room stays, its sequencer running, but nobody
		// is here any more.
		if r.isReady() {
			_ = h.Publish(context.Background(), broker.Event{Room: r.name, Kind: broker.KindPresence, Users: []string{}})
		}
		return
	}
	h.release(r, true)
}

// release stops a room taken out of the hub's rooms, and unsubscribes from
// it unless someone re-entered meanwhile. hadMembers says the room had
// members: the other processes are told nobody is here any more.
func (h *Hub) release(r *room, hadMembers bool) {
	r.stopTimers()
	<-r.ready
	if r.err != nil {
		return
	}
	if hadMembers {
		// Tell the other processes this one has nobody here any more.
		_ = h.Publish(context.Background(), broker.Event{Room: r.name, Kind: broker.KindPresence, Users: []string{}})
	}
	h.subMu.Lock()
	defer h.subMu.Unlock()
	if h.room(r.name) == nil { // nobody re-entered meanwhile
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.opt.Broker.Unsubscribe(ctx, r.name); err != nil {
			h.log.Warn("unsubscribe", "room", r.name, "err", err)
		}
	}
}

// Watch has f told of every entry of room's log (new messages and
// changes) committed after Watch returns, in seq order and without gaps,
// as the room's members are, whether or not the room has members on this
// process: the room stays subscribed while it is watched. It is how the
// user streams of this process follow the rooms of their users (one
// watcher per room, not one per stream), at no cost to a room nobody
// watches. A room has one watcher: Watch again replaces f. f is called
// under the room's lock, in the fan-out: it must note the entry and
// return, never block, nor call the hub.
func (h *Hub) Watch(ctx context.Context, room string, f func(chat.Entry)) error {
	h.mu.Lock()
	r := h.rooms[room]
	created := r == nil
	if created {
		r = newRoom(h, room)
		h.rooms[room] = r
	}
	r.mu.Lock()
	r.watch = f
	r.mu.Unlock()
	h.mu.Unlock()
	if created {
		r.start(ctx)
	}
	select {
	case <-r.ready:
	case <-ctx.Done():
		h.Unwatch(room)
		return ctx.Err()
	}
	if r.err != nil {
		h.Unwatch(room)
		return r.err
	}
	return nil
}

// Unwatch stops telling room's watcher of its entries; a room without
// members is left, and unsubscribed from.
func (h *Hub) Unwatch(room string) {
	h.mu.Lock()
	r := h.rooms[room]
	if r == nil {
		h.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.watch = nil
	drop := len(r.members) == 0
	r.mu.Unlock()
	if drop {
		delete(h.rooms, room)
	}
	h.mu.Unlock()
	if drop {
		h.release(r, false)
	}
}

// everyRoom calls f for each room of this process every d, until the hub
// closes.
func (h *Hub) everyRoom(d time.Duration, f func(*room)) {
	h.every(d, func() {
		for _, r := range h.roomList() {
			f(r)
		}
	})
}

// every calls f every d until the hub closes.
func (h *Hub) every(d time.Duration, f func()) {
	defer h.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			f()
		}
	}
}

func (h *Hub) roomList() []*room {
	h.mu.RLock()
	defer h.mu.RUnlock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// EncodeFrame encodes a server frame once, for any number of sockets.
func EncodeFrame(v any) []byte {
	b, err := chat.EncodeJSON(v)
	if err != nil {
		// Every frame Parley sends is made of types that encode.
		panic("hub: encode frame: " + err.Error())
	}
	return b
}

// MessageFrame encodes the new_message frame of m: with the message
// object as the original protocol has it, or, if full, with Parley's
// fields (docs/PROTOCOL.md, The message object).
func MessageFrame(m chat.Message, full bool) []byte {
	const head = `{"command":"new_message","message":`
	if !full {
		b := make([]byte, 0, len(head)+160+len(m.Content))
		return append(m.AppendJSON(append(b, head...)), '}')
	}
	b := make([]byte, 0, len(head)+200+len(m.Content))
	return append(m.AppendFullJSON(append(b, head...)), '}')
}

// ChangeFrame encodes the change frame of c (docs/PROTOCOL.md, Room
// events).
func ChangeFrame(c chat.Change) []byte {
	const head = `{"command":"change","change":`
	b := make([]byte, 0, len(head)+200+len(c.Content))
	return append(c.AppendJSON(append(b, head...)), '}')
}

// entry is one entry of a room's log on its way to the members: a new
// message or a change.
type entry struct {
	seq    int64
	msg    *chat.Message
	change *chat.Change
}

// epoch is the access epoch the entry was written under.
func (e entry) epoch() int64 { return chat.Entry{Message: e.msg, Change: e.change}.Epoch() }

type typingFrame struct {
	Command string `json:"command"`
	User    string `json:"user"`
}

type presenceFrame struct {
	Command string   `json:"command"`
	Users   []string `json:"users"`
}

// room is one room's local state: members and the sequencer.
type room struct {
	h    *Hub
	name string

	ready chan struct{} // closed when subscribed and the sequencer is set
	err   error         // set before ready closes

	mu         sync.Mutex
	members    map[*Member]struct{}
	extMembers int              // members that take extensions
	checked    int64            // every member was checked under this access epoch or a later one
	epoch      int64            // that of the log up to next: read at the start, raised by each entry fanned out
	watch      func(chat.Entry) // told of every entry, if set (Watch)
	next       int64            // the next seq to fan out
	pending    map[int64]entry  // arrived early, waiting for next
	gapTimer   *time.Timer
	recovering bool
	again      bool                      // a recovery was asked for while one ran
	remote     map[string]remotePresence // other processes' users, by origin
	lastSent   []string                  // the presence list last sent
	presenceT  *time.Timer               // a pending presence update
}

// wakes are the sinks a fan-out queued frames for that must be woken once
// the room's lock is released.
type wakes []Sink

// queue queues frame for m and notes m's sink if it must be woken.
func (w *wakes) queue(m *Member, frame []byte) {
	if m.sink.Queue(frame) {
		*w = append(*w, m.sink)
	}
}

var wakeLists = sync.Pool{New: func() any { return new(wakes) }}

// locked runs f under the room's lock, then wakes the sinks f queued
// frames for, holding no lock: the one way frames are queued for a room's
// members. A woken writer may start and a socket that fell behind may end
// (and leave the room, which takes the lock) only after it.
func (r *room) locked(f func(w *wakes)) {
	w := wakeLists.Get().(*wakes)
	r.mu.Lock()
	f(w)
	r.mu.Unlock()
	for _, s := range *w {
		s.Wake()
	}
	clear(*w)
	*w = (*w)[:0]
	wakeLists.Put(w)
}

type remotePresence struct {
	users []string
	seen  time.Time
}

func newRoom(h *Hub, name string) *room {
	return &room{h: h, name: name, ready: make(chan struct{}),
		members: make(map[*Member]struct{}), pending: make(map[int64]entry),
		remote: make(map[string]remotePresence)}
}

// start subscribes to the room and sets the sequencer to the room's
// latest seq. Events that arrive between the two wait in pending; those
// still early after it wait for the gap timer, like any early message.
func (r *room) start(ctx context.Context) {
	defer close(r.ready)
	r.h.subMu.Lock()
	err := r.h.opt.Broker.Subscribe(ctx, r.name, r.h)
	r.h.subMu.Unlock()
	if err != nil {
		r.err = err
		return
	}
	last, err := r.h.opt.History.LastSeq(ctx, r.name)
	if err != nil {
		r.err = err
		return
	}
	// Read after last: the epoch of every entry up to it, or a later one.
	epoch, err := r.h.opt.History.AccessEpoch(ctx, r.name)
	if err != nil {
		r.err = err
		return
	}
	r.locked(func(w *wakes) {
		r.next, r.epoch = last+1, epoch
		for seq := range r.pending {
			if seq <= last {
				delete(r.pending, seq)
			}
		}
		r.drainLocked(w)
		r.armGapLocked()
	})
}

func (r *room) isReady() bool {
	select {
	case <-r.ready:
		return r.err == nil
	default:
		return false
	}
}

// onEntry puts e in order: fanned out now if it is the next, held if it
// is early, dropped if it was already sent.
func (r *room) onEntry(e entry) {
	r.locked(func(w *wakes) {
		if !r.isReady() {
			r.pending[e.seq] = e
			return
		}
		r.acceptLocked(w, e)
	})
}

func (r *room) acceptLocked(w *wakes, e entry) {
	switch {
	case e.seq < r.next:
		r.h.duplicates.Add(1)
	case e.seq == r.next:
		r.fanoutLocked(w, e)
		r.next++
		r.drainLocked(w)
	default:
		r.pending[e.seq] = e
		r.armGapLocked()
	}
}

// armGapLocked starts the gap timer if messages wait for earlier ones:
// when it fires, they are read from the store.
func (r *room) armGapLocked() {
	if len(r.pending) > 0 && r.gapTimer == nil {
		r.gapTimer = time.AfterFunc(r.h.opt.GapWait, r.recover)
	}
}

func (r *room) drainLocked(w *wakes) {
	for {
		e, ok := r.pending[r.next]
		if !ok {
			break
		}
		delete(r.pending, r.next)
		r.fanoutLocked(w, e)
		r.next++
	}
	if len(r.pending) == 0 && r.gapTimer != nil {
		r.gapTimer.Stop()
		r.gapTimer = nil
	}
}

// fanoutLocked queues e for the members that take it: a new message for
// every member (as the original protocol has it for those without
// extensions, and a deleted one, recovered from the store, only for
// those with), a change for those with extensions. Each frame is encoded
// once, and only if a member takes it.
func (r *room) fanoutLocked(w *wakes, e entry) {
	if epoch := e.epoch(); epoch > r.checked {
		r.dropStaleLocked(epoch)
		r.epoch = max(r.epoch, epoch)
	}
	if r.watch != nil {
		r.watch(chat.Entry{Message: e.msg, Change: e.change})
	}
	if e.change != nil {
		if r.extMembers == 0 {
			return
		}
		frame := r.h.opt.Wire(ChangeFrame(*e.change))
		all := r.extMembers == len(r.members)
		var sent uint64
		for mb := range r.members {
			if all || mb.extensions {
				w.queue(mb, frame)
				sent++
				if len(mb.after) > 0 {
					mb.sentLocked(w, e.seq)
				}
			}
		}
		r.h.delivered.Add(sent)
		return
	}
	m := e.msg
	n := len(r.members)
	switch {
	case r.extMembers == 0 && !m.Deleted:
		// Every member takes the original frame: the loop as it was
		// before changes existed, the hot path of the original client.
		plain := r.h.opt.Wire(MessageFrame(*m, false))
		for mb := range r.members {
			if mb.held != nil {
				mb.hold(w, m.Seq, plain)
				continue
			}
			w.queue(mb, plain)
		}
	case r.extMembers == n:
		full := r.h.opt.Wire(MessageFrame(*m, true))
		for mb := range r.members {
			w.queue(mb, full)
			if len(mb.after) > 0 {
				mb.sentLocked(w, e.seq)
			}
		}
	default:
		var plain, full []byte
		deleted := m.Deleted
		n = 0
		for mb := range r.members {
			switch {
			case mb.extensions:
				if full == nil {
					full = r.h.opt.Wire(MessageFrame(*m, true))
				}
				w.queue(mb, full)
				if len(mb.after) > 0 {
					mb.sentLocked(w, e.seq)
				}
			case deleted:
				continue
			default:
				if plain == nil {
					plain = r.h.opt.Wire(MessageFrame(*m, false))
				}
				if mb.held != nil {
					mb.hold(w, m.Seq, plain)
				} else {
					w.queue(mb, plain)
				}
			}
			n++
		}
	}
	r.h.delivered.Add(uint64(n))
	if f := r.h.opt.OnDeliver; f != nil {
		f(time.Since(m.Timestamp))
	}
}

// dropStaleLocked drops from the fan-out every member checked under an
// access epoch before epoch, that of the entry about to be fanned out:
// a change of who may read the room came between, which the member's
// socket has not been checked against. Its frames go nowhere from now
// on, and its socket is told (Joining.Stale).
func (r *room) dropStaleLocked(epoch int64) {
	for mb := range r.members {
		if mb.epoch >= epoch || mb.sink == nowhere {
			continue
		}
		mb.sink = nowhere
		if mb.held != nil && mb.held.timer != nil {
			mb.held.timer.Stop()
		}
		mb.held, mb.after = nil, nil
		r.h.stale.Add(1)
		if mb.stale != nil {
			go mb.stale()
		}
	}
	r.checked = epoch
}

// nowhere is the sink of a member dropped from the fan-out.
var nowhere Sink = nowhereSink{}

type nowhereSink struct{}

func (nowhereSink) Queue([]byte) bool { return false }
func (nowhereSink) Wake()             {}

// recover reads from the store every message after the last one fanned
// out, and fans them out in order. One recovery runs at a time per room.
func (r *room) recover() {
	r.mu.Lock()
	if r.gapTimer != nil {
		r.gapTimer.Stop()
		r.gapTimer = nil
	}
	if r.recovering || !r.isReady() {
		r.again = r.recovering
		r.mu.Unlock()
		return
	}
	r.recovering = true
	r.mu.Unlock()
	go r.runRecovery()
}

func (r *room) runRecovery() {
	for {
		r.mu.Lock()
		after := r.next - 1
		r.again = false
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		entries, more, err := r.h.opt.History.Log(ctx, r.name, after, chat.MaxFetchLimit)
		if err == nil {
			err = stampEpoch(ctx, r.h.opt.History, r.name, entries)
		}
		cancel()
		done := true
		r.locked(func(w *wakes) {
			if err != nil {
				r.h.recoveryErrors.Add(1)
				r.h.log.Warn("recover messages", "room", r.name, "after", after, "err", err)
				// Try again later; the messages are safe in the store.
				r.recovering = false
				if r.gapTimer == nil && (len(r.members) > 0 || r.watch != nil) {
					r.gapTimer = time.AfterFunc(time.Second, r.recover)
				}
				return
			}
			for _, e := range entries {
				if e.Seq() == r.next {
					r.h.recovered.Add(1)
				}
				r.acceptLocked(w, entry{seq: e.Seq(), msg: e.Message, change: e.Change})
			}
			if !more && !r.again {
				r.recovering = false
				return
			}
			done = false
		})
		if done {
			return
		}
	}
}

// stampEpoch gives entries read from the store, which keeps no epoch
// with them, the room's access epoch read after them: theirs or a later
// one, so that none reaches a socket it would not have as it came.
func stampEpoch(ctx context.Context, hist History, room string, entries []chat.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	epoch, err := hist.AccessEpoch(ctx, room)
	if err != nil {
		return err
	}
	for _, e := range entries {
		e.SetEpoch(epoch)
	}
	return nil
}

// checkTails starts a recovery in each room whose store holds messages
// past the last one fanned out: one read of the store for all the rooms
// (a query per 500), not one per room.
func (h *Hub) checkTails() {
	var rooms []*room
	var names []string
	for _, r := range h.roomList() {
		if r.isReady() {
			rooms, names = append(rooms, r), append(names, r.name)
		}
	}
	if len(rooms) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	lasts, err := h.opt.History.LastSeqs(ctx, names)
	if err != nil {
		return // the store is down; the next check will tell
	}
	for _, r := range rooms {
		r.mu.Lock()
		behind := lasts[r.name] >= r.next
		r.mu.Unlock()
		if behind {
			r.recover()
		}
	}
}

func (r *room) stopTimers() {
	r.mu.Lock()
	if r.gapTimer != nil {
		r.gapTimer.Stop()
		r.gapTimer = nil
	}
	if r.presenceT != nil {
		r.presenceT.Stop()
		r.presenceT = nil
	}
	r.mu.Unlock()
}

// onTyping tells the room's extension sockets that user is typing, except
// the user's own sockets.
func (r *room) onTyping(user string) {
	frame := r.h.opt.Wire(EncodeFrame(typingFrame{Command: "typing", User: user}))
	r.locked(func(w *wakes) {
		for m := range r.members {
			if m.extensions && m.user != user {
				w.queue(m, frame)
			}
		}
	})
}

// localUsersLocked returns the users with a socket in the room here.
func (r *room) localUsersLocked() []string {
	var users []string
	for m := range r.members {
		users = append(users, m.user)
	}
	slices.Sort(users)
	return slices.Compact(users)
}

// presenceChanged schedules an update of the users present: to the room's
// extension sockets, and to the other processes. Updates are gathered for
// presenceDelay, so that a crowd entering a big room costs a few updates,
// not one per socket.
func (r *room) presenceChanged() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.presenceT == nil {
		r.presenceT = time.AfterFunc(presenceDelay, func() {
			r.mu.Lock()
			r.presenceT = nil
			r.mu.Unlock()
			r.sendPresence()
			r.announce()
		})
	}
}

const presenceDelay = 150 * time.Millisecond

func (r *room) announce() {
	r.mu.Lock()
	local := r.localUsersLocked()
	r.mu.Unlock()
	if local == nil {
		// Nobody here: a room only watched says nothing (its last
		// member's leaving said so).
		return
	}
	_ = r.h.Publish(context.Background(), broker.Event{Room: r.name, Kind: broker.KindPresence, Users: local})
}

func (r *room) onRemotePresence(origin string, users []string) {
	if origin == r.h.opt.Origin {
		return
	}
	r.mu.Lock()
	_, known := r.remote[origin]
	if len(users) == 0 {
		delete(r.remote, origin)
	} else {
		r.remote[origin] = remotePresence{users: users, seen: time.Now()}
	}
	r.mu.Unlock()
	r.sendPresence()
	if !known && len(users) > 0 {
		// A process new to this room: tell it who is here.
		go r.announce()
	}
}

func (r *room) expireRemote() {
	r.mu.Lock()
	changed := false
	for o, p := range r.remote {
		if time.Since(p.seen) > r.h.opt.PresenceTTL {
			delete(r.remote, o)
			changed = true
		}
	}
	r.mu.Unlock()
	if changed {
		r.sendPresence()
	}
}

func (r *room) sendPresence() {
	r.locked(func(w *wakes) {
		if r.extMembers == 0 {
			return // nobody takes it (a room only watched, say)
		}
		users := r.localUsersLocked()
		for _, p := range r.remote {
			users = append(users, p.users...)
		}
		slices.Sort(users)
		users = slices.Compact(users)
		if users == nil {
			users = []string{}
		}
		// An unchanged list goes only to sockets that have not had one yet.
		changed := r.lastSent == nil || !slices.Equal(users, r.lastSent)
		r.lastSent = users
		frame := r.h.opt.Wire(EncodeFrame(presenceFrame{Command: "presence", Users: users}))
		for m := range r.members {
			if m.extensions && (changed || !m.hadPresence) {
				m.hadPresence = true
				w.queue(m, frame)
			}
		}
	})
}
