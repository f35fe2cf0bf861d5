package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unique"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
	"parley/internal/store"
	"parley/internal/wsock"
)

// The user stream, GET /ws/user/ (docs/PROTOCOL.md, The user stream): one
// socket per tab that carries the counts of all the user's rooms and
// their changes. Its costs:
//
//   - a message costs nothing to a user without a stream: a process
//     follows a room (hub.Watch, one watcher per room) only while one of
//     its streams is of a member of it, and a room nobody follows pays one
//     nil check in its fan-out;
//   - a message of a followed room costs one append to the process's
//     queue under the room's lock, and then, in one goroutine of the
//     process, O(streams of the room's members on this process);
//   - a read marker moved, a room entered, left or its level set is one
//     process-wide event (broker.KindRead, KindRooms), which each process
//     hands to the streams of that user alone.
//
// Counts are exact: a stream reads them from the database when it opens,
// follows the room's log in seq order from before that read (entries the
// read included are skipped by seq), and reads a room again whenever
// what it knows cannot say the count (a marker moved into the middle of
// the unread messages, a message edited or deleted after the marker).

// streamFrame is the first frame of a stream, and the frame of one room:
// {"command":"counts","rooms":[…]} and {"command":"room","room":{…}}.
type streamFrame struct {
	Command string        `json:"command"`
	Rooms   []streamRoom  `json:"rooms,omitempty"`
	Room    *streamRoom   `json:"room,omitempty"`
	Notify  *streamNotify `json:"notify,omitempty"`
}

// roomRemovedFrame says the room is no longer the user's.
type roomRemovedFrame struct {
	Command string `json:"command"`
	Room    string `json:"room"`
}

// streamRoom is a room as the stream has it.
type streamRoom struct {
	Room     string     `json:"room"`
	Kind     string     `json:"kind"`
	Title    string     `json:"title"`
	Unread   int64      `json:"unread"`
	Mentions int64      `json:"mentions"`
	Level    chat.Level `json:"level"`
	LastSeq  int64      `json:"last_seq"`
	LastRead int64      `json:"last_read"`
}

// streamNotify is the message a room frame notifies the user of
// (chat.Notifies): the page shows it as a notification while hidden.
type streamNotify struct {
	Seq     int64  `json:"seq"`
	Author  string `json:"author"`
	Excerpt string `json:"excerpt"`
	Mention bool   `json:"mention"`
}

// handleUserStream opens a user stream: the room socket's checks
// (credentials, Origin, the caps of sockets), parley.v1 only.
func (s *Server) handleUserStream(w http.ResponseWriter, r *http.Request) {
	u, cred, ok := s.admitUpgrade(w, r)
	if !ok {
		return
	}
	if !wsock.Offers(r, Subprotocol) {
		s.refuseUpgrade(w, http.StatusBadRequest, "bad_request", "The user stream speaks parley.v1 only: offer it as the subprotocol.")
		return
	}
	if s.refuseWhileShuttingDown(w) {
		return
	}
	// The stream is a socket of the registry (caps, revocation,
	// shutdown) with no room; its frames are the stream's. It takes no
	// commands, and has no context to run them in.
	st := &userStream{}
	st.sc = &registered{s: s, user: newSocketUser(u), cred: cred}
	st.sc.conn = s.opt.Transport.NewConn(st)
	if !s.register(w, st.sc) {
		return
	}
	if err := st.open(r.Context()); err != nil {
		s.log.Error("user stream open", "user", u.Name, "err", err)
		st.sc.conn.Abort()
		s.refuseUpgrade(w, http.StatusServiceUnavailable, "unavailable", "Your rooms cannot be read now; try again shortly.")
		return
	}
	s.upgrade(w, r, st.sc)
}

// userStream is one user stream.
type userStream struct {
	sc *registered // its place in the registry, and its connection

	mu sync.Mutex
	// rooms are the user's rooms, sorted by name (find): a slice of
	// values, not a map of pointers, which cost an idle stream of three
	// rooms about 600 bytes more.
	rooms []streamState
	// titles are the titles of the rooms whose title is not their name
	// (direct conversations), nil if none.
	titles map[string]string
	gen    uint32 // the last streamState.gen given
	closed bool
	out    [][]byte // frames to send once mu is released
}

// lock and unlock guard the stream's state; unlock sends the frames
// queued meanwhile, holding no lock: a socket that overflows ends
// there, and its end takes the lock.
func (st *userStream) lock() { st.mu.Lock() }

func (st *userStream) unlock() {
	out := st.out
	st.out = nil
	st.mu.Unlock()
	for _, f := range out {
		st.sc.send(f)
	}
}

// send queues a frame for the socket, sent at unlock; st.mu held.
func (st *userStream) send(v any) { st.out = append(st.out, hub.EncodeFrame(v)) }

var errStreamClosed = errors.New("user stream closed while opening")

// streamState is what a stream knows of one room (store.RoomCount, its
// title aside), in 64 bytes: a stream holds one for each of its user's
// rooms, and an idle server many streams.
type streamState struct {
	// name is the room's name, one copy of it in the process however
	// many streams have the room.
	name                                unique.Handle[string]
	lastSeq, lastRead, unread, mentions int64
	// held are the entries that came while the counts were read.
	held *[]chat.Entry
	// gen tells this state from another of the same room, removed and
	// added again while its counts were read.
	gen uint32
	// epoch is the room's access epoch the counts were read under
	// (epochOf): an entry of a later one waits for the room to be read
	// again, as the user may have lost it.
	epoch uint32
	kind  roomKind
	level levelCode
	// loading says the room's counts are being read: entries wait in
	// held, and again asks for one more read after it.
	loading bool
	again   bool
	// told says the client has had the room (in counts or a room
	// frame): only then is its removal told.
	told bool
}

// roomKind is a chat.RoomKind, levelCode a chat.Level, in a byte: an
// index of roomKinds and levelCodes, which are all the database allows.
type (
	roomKind  uint8
	levelCode uint8
)

var (
	roomKinds  = [...]chat.RoomKind{chat.RoomPublic, chat.RoomPrivate, chat.RoomDirect}
	levelCodes = [...]chat.Level{chat.LevelEvery, chat.LevelMentions, chat.LevelMuted}
)

// kindOf and levelOf are the byte forms of a kind and a level; an unknown
// one (the database allows none) is the first.
func kindOf(k chat.RoomKind) roomKind {
	return roomKind(max(slices.Index(roomKinds[:], k), 0)) // #nosec G115 -- an index of roomKinds, 0 to 2
}

func levelOf(l chat.Level) levelCode {
	return levelCode(max(slices.Index(levelCodes[:], l), 0)) // #nosec G115 -- an index of levelCodes, 0 to 2
}

// epochOf is an access epoch in the four bytes a room's state has for
// it: a room's epoch moves once per change of its members or kind, and
// one past what they hold (never reached) would only have every entry
// read the counts again.
func epochOf(e int64) uint32 {
	return uint32(min(max(e, 0), math.MaxUint32)) // #nosec G115 -- clamped to uint32's range
}

func (k roomKind) kind() chat.RoomKind { return roomKinds[k] }

func (l levelCode) level() chat.Level { return levelCodes[l] }

// find returns the stream's state of room, or nil; st.mu held. The
// pointer is good until a room is added or removed.
func (st *userStream) find(room string) *streamState {
	i, ok := st.search(room)
	if !ok {
		return nil
	}
	return &st.rooms[i]
}

// search returns where room is in st.rooms, or would be.
func (st *userStream) search(room string) (int, bool) {
	return slices.BinarySearchFunc(st.rooms, room, func(rs streamState, room string) int { return rs.compare(room) })
}

// compare orders states by their rooms' names: st.rooms' order.
func (rs *streamState) compare(room string) int { return strings.Compare(rs.name.Value(), room) }

// addLocked adds a room whose counts are about to be read, and returns
// it; st.mu held, the room not the stream's.
func (st *userStream) addLocked(room string) *streamState {
	i, _ := st.search(room)
	st.gen++
	st.rooms = slices.Insert(st.rooms, i, streamState{name: unique.Make(room), gen: st.gen, loading: true})
	return &st.rooms[i]
}

// removeLocked removes the room; st.mu held.
func (st *userStream) removeLocked(room string) {
	if i, ok := st.search(room); ok {
		st.rooms = slices.Delete(st.rooms, i, i+1)
	}
	delete(st.titles, room)
}

// viewLocked is the room as its frames have it; st.mu held.
func (st *userStream) viewLocked(rs *streamState) streamRoom {
	room := rs.name.Value()
	title, ok := st.titles[room]
	if !ok {
		title = room
	}
	return streamRoom{Room: room, Kind: string(rs.kind.kind()), Title: title, Unread: rs.unread, Mentions: rs.mentions,
		Level: rs.level.level(), LastSeq: rs.lastSeq, LastRead: rs.lastRead}
}

// open follows the user's rooms and reads their counts, then queues the
// counts frame: the rooms are followed before the counts are read, so
// that no message falls between.
func (st *userStream) open(ctx context.Context) (err error) {
	s, u := st.sc.s, st.sc.user
	s.streams.addUser(st)
	first, err := s.opt.Store.RoomCounts(ctx, u.ID, u.Name, "")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// The stream may have ended meanwhile (revoked, shut down):
			// it follows nothing, whatever was followed since.
			for _, c := range first {
				s.streams.unfollow(st, c.Room)
			}
			s.streams.removeUser(st)
		}
	}()
	st.lock()
	if st.closed {
		st.unlock()
		return errStreamClosed
	}
	st.rooms = make([]streamState, 0, len(first))
	for _, c := range first {
		st.gen++
		st.rooms = append(st.rooms, streamState{name: unique.Make(c.Room), gen: st.gen, loading: true})
	}
	slices.SortFunc(st.rooms, func(a, b streamState) int { return a.compare(b.name.Value()) })
	st.unlock()
	for _, c := range first {
		if err := s.streams.follow(st, c.Room); err != nil {
			return err
		}
	}
	counts, err := s.opt.Store.RoomCounts(ctx, u.ID, u.Name, "")
	if err != nil {
		return err
	}
	st.lock()
	defer st.unlock()
	if st.closed {
		return errStreamClosed
	}
	frame := streamFrame{Command: "counts", Rooms: make([]streamRoom, 0, len(counts))}
	for _, c := range counts {
		rs := st.find(c.Room)
		if rs == nil {
			// Entered between the two reads: followed, and sent, as
			// its KindRooms event would have it.
			go st.enter(c.Room)
			continue
		}
		st.settleLocked(rs, c)
		rs.told = true
		if rs.again {
			// A marker moved while the counts were read: read again.
			rs.again = false
			st.reloadLocked(rs)
		}
		frame.Rooms = append(frame.Rooms, st.viewLocked(rs))
	}
	for _, c := range first {
		if rs := st.find(c.Room); rs != nil && !rs.told {
			// Left between the two reads: the one way a room of the
			// first read is not told here.
			st.removeLocked(c.Room)
			go s.streams.unfollow(st, c.Room)
		}
	}
	st.send(frame)
	return nil
}

// settleLocked sets a room's counts to c, read from the database, and
// applies the entries held meanwhile that the read did not include. It
// returns what those held entries, the read's or not, notify the user of
// (a reload sends them; the first counts of a stream, read as it opens,
// notify of nothing).
func (st *userStream) settleLocked(rs *streamState, c store.RoomCount) (notifies []*streamNotify) {
	held := rs.held
	rs.lastSeq, rs.lastRead, rs.unread, rs.mentions = c.LastSeq, c.LastRead, c.Unread, c.Mentions
	rs.kind, rs.level, rs.epoch = kindOf(c.Kind), levelOf(c.Level), epochOf(c.Epoch)
	rs.loading, rs.held = false, nil
	if c.Title != c.Room {
		if st.titles == nil {
			st.titles = make(map[string]string)
		}
		st.titles[rs.name.Value()] = c.Title
	} else {
		delete(st.titles, c.Room)
	}
	if held != nil {
		for _, e := range *held {
			var notify *streamNotify
			if e.Seq() <= c.LastSeq {
				notify = st.notifyOf(rs, e.Message) // counted by the read: told as it came
			} else {
				_, notify = st.applyLocked(rs, e)
			}
			if notify != nil {
				notifies = append(notifies, notify)
			}
		}
	}
	return notifies
}

// entries handles entries of a room the stream follows, in seq order:
// the counts they make go to the client in one frame, and each message
// that notifies the user in a frame of its own (with the counts up to
// it), so that no notification is lost to the pace.
func (st *userStream) entries(room string, es []chat.Entry) {
	st.lock()
	defer st.unlock()
	rs := st.find(room)
	if rs == nil {
		return
	}
	if rs.loading {
		if rs.held == nil {
			rs.held = new([]chat.Entry)
		}
		*rs.held = append(*rs.held, es...)
		return
	}
	changed := false
	for i, e := range es {
		if e.Epoch() > int64(rs.epoch) {
			// Written after a change of who may read the room that the
			// counts were not read under: they are read again first
			// (the room may be the user's no more), and these wait.
			held := slices.Clone(es[i:])
			rs.held = &held
			st.reloadLocked(rs)
			break
		}
		c, notify := st.applyLocked(rs, e)
		changed = changed || c
		if notify != nil {
			st.sendRoomLocked(rs, notify)
			changed = false
		}
	}
	if changed {
		st.sendRoomLocked(rs, nil)
	}
}

// sendRoomLocked queues the room's frame: its counts now, and what to
// notify the user of, if anything.
func (st *userStream) sendRoomLocked(rs *streamState, notify *streamNotify) {
	v := st.viewLocked(rs)
	st.send(streamFrame{Command: "room", Room: &v, Notify: notify})
}

// applyLocked counts an entry the room's counts did not include: a new
// message by someone else is unread, and may mention the user or notify
// them; one by the user reads the room up to it (as posting does in the
// store); an edit or a deletion after the marker has the room read again.
// It reports whether the counts changed, and what to notify the user of.
func (st *userStream) applyLocked(rs *streamState, e chat.Entry) (changed bool, notify *streamNotify) {
	seq := e.Seq()
	if seq <= rs.lastSeq {
		return false, nil // the counts include it
	}
	rs.lastSeq = seq
	if c := e.Change; c != nil {
		if c.Target > rs.lastRead && (c.Kind == chat.ChangeEdit || c.Kind == chat.ChangeDelete) {
			st.reloadLocked(rs)
		}
		return false, nil
	}
	m, name := e.Message, st.sc.user.Name
	if m == nil || m.Deleted || seq <= rs.lastRead {
		return false, nil // read already: a marker moved past it before it came
	}
	if m.Author == name {
		rs.lastRead, rs.unread, rs.mentions = seq, 0, 0
		return true, nil
	}
	rs.unread++
	if m.MentionsUser(name) {
		rs.mentions++
	}
	return true, st.notifyOf(rs, m)
}

// notifyOf is what a new message notifies the user of, if anything: nil
// for one they read already (or sent), or that their level keeps quiet.
func (st *userStream) notifyOf(rs *streamState, m *chat.Message) *streamNotify {
	name := st.sc.user.Name
	if m == nil || m.Seq <= rs.lastRead || !chat.Notifies(rs.level.level(), name, m, rs.kind.kind() == chat.RoomDirect) {
		return nil
	}
	return &streamNotify{Seq: m.Seq, Author: m.Author, Excerpt: chat.Excerpt(m.Content), Mention: m.MentionsUser(name)}
}

// read handles a read marker moved (broker.KindRead).
func (st *userStream) read(room string, seq int64) {
	st.lock()
	defer st.unlock()
	rs := st.find(room)
	switch {
	case rs == nil:
		return
	case rs.loading:
		rs.again = true
	case seq <= rs.lastRead:
	case seq >= rs.lastSeq:
		rs.lastRead, rs.unread, rs.mentions = seq, 0, 0
		st.sendRoomLocked(rs, nil)
	default:
		st.reloadLocked(rs)
	}
}

// enter handles a change of the user's place in a room
// (broker.KindRooms): entered, left, level set. The room is followed if
// new, and its counts read again; a room no longer the user's is removed.
func (st *userStream) enter(room string) {
	st.lock()
	if st.closed {
		st.unlock()
		return
	}
	if rs := st.find(room); rs != nil {
		st.reloadLocked(rs)
		st.unlock()
		return
	}
	gen := st.addLocked(room).gen
	st.unlock()
	if err := st.sc.s.streams.follow(st, room); err != nil {
		st.sc.s.log.Warn("user stream follow", "room", room, "err", err)
	}
	// Followed first, then read: entries from now on are held until
	// the read.
	st.reload(room, gen)
}

// reloadLocked reads the room's counts again, holding its entries until
// it has them; one read at a time, and one more if asked meanwhile.
func (st *userStream) reloadLocked(rs *streamState) {
	if rs.loading {
		rs.again = true
		return
	}
	rs.loading = true
	go st.reload(rs.name.Value(), rs.gen)
}

// reload reads the room's counts, sends them, and applies what came
// meanwhile; a room that is no longer the user's is removed. gen is the
// room's state that asked (streamState.gen).
func (st *userStream) reload(room string, gen uint32) {
	u := st.sc.user
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		counts, err := st.sc.s.opt.Store.RoomCounts(ctx, u.ID, u.Name, room)
		cancel()
		st.lock()
		if st.closed {
			// Ended while this read ran: what enter followed meanwhile
			// goes (unfollowing twice is harmless).
			st.unlock()
			st.sc.s.streams.unfollow(st, room)
			return
		}
		rs := st.find(room)
		if rs == nil || rs.gen != gen {
			st.unlock()
			return
		}
		if err != nil {
			// Held entries wait for the next read; the client reads
			// everything again when it reconnects.
			st.sc.s.log.Warn("user stream counts", "room", room, "err", err)
			rs.loading = false
			st.unlock()
			return
		}
		if len(counts) == 0 {
			told := rs.told
			st.removeLocked(room) // rs is gone with it
			if told {
				st.send(roomRemovedFrame{Command: "room_removed", Room: room})
			}
			st.unlock()
			st.sc.s.streams.unfollow(st, room)
			return
		}
		notifies := st.settleLocked(rs, counts[0])
		again := rs.again
		rs.again = false
		if len(notifies) == 0 {
			st.sendRoomLocked(rs, nil)
		}
		for _, n := range notifies {
			st.sendRoomLocked(rs, n) // each a frame, with the counts read
		}
		rs.told = true
		if again {
			rs.loading = true
		}
		st.unlock()
		if !again {
			return
		}
	}
}

// Message answers a frame from the client: the stream takes none.
func (st *userStream) Message(_ *wsock.Conn, _ bool, _ []byte) {
	st.sc.send(hub.EncodeFrame(errorFrame{Command: "error", Code: "bad_request", Message: "The user stream takes no commands."}))
}

// Closed ends the stream once its connection has ended.
func (st *userStream) Closed(*wsock.Conn) {
	st.mu.Lock()
	st.closed = true
	rooms := make([]string, 0, len(st.rooms))
	for i := range st.rooms {
		rooms = append(rooms, st.rooms[i].name.Value())
	}
	st.rooms, st.titles, st.out = nil, nil, nil
	st.mu.Unlock()
	st.sc.s.streams.removeUser(st)
	for _, name := range rooms {
		st.sc.s.streams.unfollow(st, name)
	}
	st.sc.s.sockets.remove(st.sc)
}

// streamIndex is the process's user streams, by user and by the room
// they follow, and the queue that carries the followed rooms' entries
// from the hub's fan-out to them.
type streamIndex struct {
	s *Server

	mu     sync.Mutex
	byUser sets[string, *userStream]
	byRoom sets[string, *userStream]

	// watchMu orders the hub's Watch and Unwatch calls, which decide on
	// byRoom.
	watchMu sync.Mutex

	qmu     sync.Mutex
	queue   []roomEntry
	running bool // a goroutine drains queue
}

type roomEntry struct {
	room string
	e    chat.Entry
}

func (x *streamIndex) addUser(st *userStream) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byUser.add(st.sc.user.Name, st)
}

func (x *streamIndex) removeUser(st *userStream) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.byUser.remove(st.sc.user.Name, st)
}

// ofUser returns the user's streams on this process.
func (x *streamIndex) ofUser(name string) []*userStream {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.byUser.of(name)
}

// following returns the streams of this process that follow room.
func (x *streamIndex) following(room string) []*userStream {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.byRoom.of(room)
}

// follow makes st follow room: the first stream of a room has the hub
// watch it.
func (x *streamIndex) follow(st *userStream, room string) error {
	x.watchMu.Lock()
	defer x.watchMu.Unlock()
	x.mu.Lock()
	first := x.byRoom.add(room, st)
	x.mu.Unlock()
	if !first {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), joinTimeout)
	defer cancel()
	err := x.s.opt.Hub.Watch(ctx, room, func(e chat.Entry) { x.push(room, e) })
	if err != nil {
		x.mu.Lock()
		x.byRoom.remove(room, st)
		x.mu.Unlock()
	}
	return err
}

// unfollow stops st following room: the last stream of a room has the
// hub stop watching it.
func (x *streamIndex) unfollow(st *userStream, room string) {
	x.watchMu.Lock()
	defer x.watchMu.Unlock()
	x.mu.Lock()
	_, last := x.byRoom.remove(room, st)
	x.mu.Unlock()
	if last {
		x.s.opt.Hub.Unwatch(room)
	}
}

// push is the hub's watcher of a followed room, called in its fan-out
// under the room's lock: it queues the entry and returns.
func (x *streamIndex) push(room string, e chat.Entry) {
	x.qmu.Lock()
	x.queue = append(x.queue, roomEntry{room, e})
	start := !x.running
	x.running = true
	x.qmu.Unlock()
	if start {
		go x.drain()
	}
}

// drain hands the queued entries to their rooms' streams, in order, and
// ends when the queue is empty. A stream hears of a room at most once a
// batch, and batches are StreamPace apart: a room of 40 messages a second
// followed by 10,000 streams costs 10,000 frames a second, not 400,000,
// which two cores cannot write (docs/BENCHMARKS.md, User streams). The
// first entry after a quiet spell goes at once; a room of more than
// streamChunk streams is told over half the pace.
func (x *streamIndex) drain() {
	var rooms []string
	byRoom := map[string][]chat.Entry{}
	for {
		x.qmu.Lock()
		batch := x.queue
		x.queue = nil
		if len(batch) == 0 {
			x.running = false
			x.qmu.Unlock()
			return
		}
		x.qmu.Unlock()
		for _, re := range batch {
			if _, ok := byRoom[re.room]; !ok {
				rooms = append(rooms, re.room)
			}
			byRoom[re.room] = append(byRoom[re.room], re.e)
		}
		start := time.Now()
		for _, room := range rooms {
			streams := x.following(room)
			for i, st := range streams {
				if i > 0 && i%streamChunk == 0 {
					// A room of many streams is told over half the
					// pace, a chunk at a time: its writes take turns
					// with the rooms' deliveries instead of queueing
					// ahead of them all at once.
					time.Sleep(StreamPace / 2 * streamChunk / time.Duration(len(streams)))
				}
				st.entries(room, byRoom[room])
			}
		}
		rooms = rooms[:0]
		clear(byRoom)
		time.Sleep(StreamPace - time.Since(start))
	}
}

// streamChunk is how many streams of a room are told at once.
const streamChunk = 500

// StreamPace is the time from one batch of frames to the next while
// rooms' messages keep coming: about how often a stream hears of a busy
// room. Each frame costs a write to a socket, as a delivery does:
// measured with 10,000 streams beside a room of 40 messages a second, a
// pace of 250 ms cost 2.7 frames a stream a second and 1 s 0.9, for
// counts that people glance at.
const StreamPace = time.Second

// userEvent hands a process-wide event about a user's rooms to their
// streams on this process.
func (x *streamIndex) userEvent(ev broker.Event) {
	for _, st := range x.ofUser(ev.User) {
		switch ev.Kind {
		case broker.KindRead:
			st.read(ev.Subject, ev.Seq)
		case broker.KindRooms, broker.KindRoomChanged:
			go st.enter(ev.Subject)
		}
	}
}

// advance is told that the change of who may read room that made its
// access epoch epoch concerned the user called except alone (a member
// gone): the room's counts in the other users' streams, read under the
// epoch before, are as read under this one (as hub.AdvanceEpoch has it
// for sockets), and their next entry needs no new read.
func (x *streamIndex) advance(room, except string, epoch int64) {
	for _, st := range x.following(room) {
		if st.sc.user.Name == except {
			continue
		}
		st.lock()
		if rs := st.find(room); rs != nil && int64(rs.epoch) == epoch-1 {
			rs.epoch = epochOf(epoch)
		}
		st.unlock()
	}
}

// reloadAll has every stream of this process read its rooms' counts
// again, after process-wide events may have been lost.
func (x *streamIndex) reloadAll() {
	x.mu.Lock()
	all := x.byUser.all(nil)
	x.mu.Unlock()
	for _, st := range all {
		st.lock()
		for i := range st.rooms {
			st.reloadLocked(&st.rooms[i])
		}
		st.unlock()
	}
}

// roomsChanged tells the streams of the user called user, on every
// process, that their place in room changed (entered, left, level set).
func (s *Server) roomsChanged(user, room string) {
	s.publishWide(broker.Event{Kind: broker.KindRooms, User: user, Subject: room})
}

// readMoved tells the streams of the user called user, on every process,
// that their read marker of room moved to seq.
func (s *Server) readMoved(user, room string, seq int64) {
	s.publishWide(broker.Event{Kind: broker.KindRead, User: user, Subject: room, Seq: seq})
}
