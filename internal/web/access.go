package web

import (
	"context"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
)

// Access: every path asks chat.Can (internal/chat/access.go), the one
// place the rules are written, with the room's place read by one query
// (store.RoomPlace). This file only gathers what Can is asked with.

// can reads u's place in room and asks chat.Can whether u may do a there:
// nil, or the *chat.Error that refuses it (not_found for a room u may
// not know of). The place is returned either way, for the next question.
func (s *Server) can(ctx context.Context, u chat.User, room string, a chat.Action, t chat.Target) (chat.Place, error) {
	p, err := s.opt.Store.RoomPlace(ctx, room, u.ID)
	if err != nil {
		return p, err
	}
	return p, chat.Can(u.Actor(), p, a, t, s.opt.Now())
}

// allows asks chat.Can about a place already read.
func (s *Server) allows(u chat.User, p chat.Place, a chat.Action, t chat.Target) error {
	return chat.Can(u.Actor(), p, a, t, s.opt.Now())
}

// roomChanged tells every process that who may do what in room changed
// (for user, or everyone if ""): each reads its sockets' places in the
// room again, and closes those that may no longer read it. This
// process's sockets are told before it returns.
//
// epoch is the room's access epoch the change made, for one that took
// user's right to read the room (0 for any other): the room's other
// sockets, checked under the epoch before, are as checked under it
// (hub.AdvanceEpoch), and only user's are read again.
func (s *Server) roomChanged(room, user string, epoch int64) {
	s.publishWide(broker.Event{Kind: broker.KindRoomChanged, Subject: room, User: user, Epoch: epoch})
}

// StatusRoomChanged closes a socket that an entry of its room reached
// before it was checked against a change of who may read the room (the
// change's room_changed had not come yet): it is sent nothing of it, and
// reconnects (1012, "service restart"), to be checked at its upgrade and
// resume where it was (docs/PROTOCOL.md, Close codes).
const StatusRoomChanged = 1012

// StatusRemoved closes a socket whose user may no longer read its room:
// removed from it, or the room made private without them
// (docs/PROTOCOL.md, Close codes). Its upgrade would now get 404.
const StatusRemoved = 4404

// recheckRoom forgets the places of this process's sockets in room
// (every room's if ""; of user, or everyone's if ""), and closes those that may no longer read
// it. A change of room is rare: it costs a walk of the registry.
func (s *Server) recheckRoom(room, user string) {
	var socks []*socket
	for _, r := range s.sockets.all(func(r *registered) bool {
		return r.sock != nil && (room == "" || r.sock.room == room) && (user == "" || r.user.Name == user)
	}) {
		socks = append(socks, r.sock)
	}
	if len(socks) == 0 {
		return
	}
	for _, sc := range socks {
		sc.forgetPlace()
	}
	go func() {
		// Every room's (after missed events) may be many: a minute, as
		// recheckCredentials has.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// A user's sockets in a room share their place: read it once.
		type key struct{ room, user string }
		type verdict struct {
			p   chat.Place
			err error
		}
		read := map[key]verdict{}
		for _, sc := range socks {
			k := key{sc.room, sc.user.Name}
			v, seen := read[k]
			if !seen {
				v.p, v.err = sc.currentPlace(ctx, chat.ActRead)
				if v.err != nil && chat.ErrorCode(v.err) != chat.ENotFound {
					s.log.Warn("recheck room", "room", sc.room, "err", v.err)
				}
				read[k] = v
			}
			switch {
			case v.err == nil && !seen:
				// Checked under the room's epoch now: what is written
				// under it reaches the user's sockets (hub.Joining.Epoch).
				s.opt.Hub.Checked(sc.room, sc.user.Name, v.p.Epoch)
			case chat.ErrorCode(v.err) == chat.ENotFound:
				sc.removed()
			}
		}
	}()
}

// currentPlace is the socket's place in its room, as its upgrade read it
// or, after a change of the room (recheckRoom), read again; and whether
// chat.Can lets the socket's user do a there.
func (sc *socket) currentPlace(ctx context.Context, a chat.Action) (chat.Place, error) {
	return sc.currentPlaceFor(ctx, a, chat.Target{})
}

func (sc *socket) currentPlaceFor(ctx context.Context, a chat.Action, t chat.Target) (chat.Place, error) {
	p := sc.place.Load()
	if p == nil {
		gen := sc.placeGen.Load()
		fresh, err := sc.s.opt.Store.RoomPlace(ctx, sc.room, sc.user.ID)
		if err != nil {
			return fresh, err
		}
		// A change that came while it was read makes it stale at once.
		if sc.place.CompareAndSwap(nil, &fresh) && sc.placeGen.Load() != gen {
			sc.place.Store(nil)
		}
		p = &fresh
	}
	return *p, sc.s.allows(sc.user.chatUser(), *p, a, t)
}

// stillReads says whether an answer from the store that reaches seq in
// the room's log may go to the socket: at no cost when the room's fan-out
// here has brought the log up to seq under the access epoch the socket was
// checked under (hub.Member.Covers). Otherwise the room's epoch is read,
// and if it moved on since the socket's place was read — a change of who
// may read the room that this process was not told of (its room_changed
// late, or lost) — the place is read again, and the room's other sockets
// here after it, as room_changed would have them (recheckRoom). A socket
// that may not read the room is told why (and closed with 4404 if its
// user may no longer read it), and stillReads is false.
func (sc *socket) stillReads(ctx context.Context, seq int64) bool {
	if sc.member.Covers(seq) {
		return true
	}
	p, err := sc.currentPlace(ctx, chat.ActRead)
	if err == nil {
		var epoch int64
		if epoch, err = sc.s.opt.Store.AccessEpoch(ctx, sc.room); err == nil && epoch > p.Epoch {
			sc.forgetPlace()
			_, err = sc.currentPlace(ctx, chat.ActRead)
			defer sc.s.recheckRoom(sc.room, "") // after this socket's answer
		}
	}
	if err != nil {
		sc.sendErr(err, "")
		if chat.ErrorCode(err) == chat.ENotFound {
			sc.removed()
		}
		return false
	}
	return true
}

// removed closes the socket of a user who may no longer read its room.
func (sc *socket) removed() {
	sc.s.metrics.wsErrors.WithLabelValues("removed").Inc()
	sc.close(StatusRemoved, "no longer in this room")
}

// forgetPlace makes the socket read its place again before its next
// frame that needs it.
func (sc *socket) forgetPlace() {
	sc.placeGen.Add(1)
	sc.place.Store(nil)
}
