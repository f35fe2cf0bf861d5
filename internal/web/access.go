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
func (s *Server) roomChanged(room, user string) {
	s.publishWide(broker.Event{Kind: broker.KindRoomChanged, Subject: room, User: user})
}

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
		gone := map[key]bool{}
		for _, sc := range socks {
			k := key{sc.room, sc.user.Name}
			out, seen := gone[k]
			if !seen {
				_, err := sc.currentPlace(ctx, chat.ActRead)
				out = chat.ErrorCode(err) == chat.ENotFound
				if err != nil && !out {
					s.log.Warn("recheck room", "room", sc.room, "err", err)
				}
				gone[k] = out
			}
			if out {
				sc.s.metrics.wsErrors.WithLabelValues("removed").Inc()
				sc.close(StatusRemoved, "no longer in this room")
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

// forgetPlace makes the socket read its place again before its next
// frame that needs it.
func (sc *socket) forgetPlace() {
	sc.placeGen.Add(1)
	sc.place.Store(nil)
}
