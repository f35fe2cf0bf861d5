package web

import (
	"context"
	"encoding/hex"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
)

// StatusRevoked closes a socket whose session or token has ended: logged
// out, revoked, expired, or ended by a password change or the account's
// deactivation (docs/PROTOCOL.md, Close codes). A client does not
// reconnect with it: it logs in again.
const StatusRevoked = 4401

// revoke closes, on every process, the sockets opened with any of the
// sessions or tokens hashes names, which have just been deleted: through
// the process-wide topic, whose handler on this process (Events) closes
// this process's at once, before revoke returns. A broker that cannot
// carry the event now is logged; the other processes find out when their
// broker tells them they missed events (Events' Missed).
func (s *Server) revoke(hashes [][]byte) {
	if len(hashes) == 0 {
		return
	}
	ev := broker.Event{Kind: broker.KindRevoked, Credentials: make([]string, len(hashes))}
	for i, h := range hashes {
		ev.Credentials[i] = hex.EncodeToString(h)
	}
	s.publishWide(ev)
}

// EndUserSessions ends every session and token of u but the one whose
// hash is keep (nil: every one), and closes their sockets on every
// process: what changing a password (keeping the session that changed
// it) and deactivating an account (keeping none) do.
func (s *Server) EndUserSessions(ctx context.Context, u chat.User, keep []byte) error {
	if _, err := s.opt.Store.DeleteUserSessions(ctx, u.ID, "", keep); err != nil {
		return err
	}
	s.publishWide(broker.Event{Kind: broker.KindUserRevoked, User: u.Name, Keep: hex.EncodeToString(keep)})
	return nil
}

func (s *Server) publishWide(ev broker.Event) {
	if s.opt.Broker == nil {
		s.events.Event(ev)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.opt.Broker.Publish(ctx, ev); err != nil {
		s.log.Warn("publish process-wide event", "kind", ev.Kind.String(), "err", err)
	}
}

// Events is the handler of the process-wide topic (the program
// subscribes it to room ""): the revocations of every process.
func (s *Server) Events() broker.Handler { return &s.events }

// wideEvents handles the process-wide topic.
type wideEvents struct{ s *Server }

// Event closes the sockets a revocation names, and hands the events of
// a user's rooms to their streams.
func (e *wideEvents) Event(ev broker.Event) {
	s := e.s
	switch ev.Kind {
	case broker.KindRevoked:
		for _, c := range ev.Credentials {
			h, err := hex.DecodeString(c)
			if err != nil {
				continue
			}
			for _, sc := range s.sockets.ofCredential(h) {
				sc.revoke("credentials revoked")
			}
		}
	case broker.KindUserRevoked:
		for _, sc := range s.sockets.ofUser(ev.User) {
			if ev.Keep == "" || hex.EncodeToString(sc.cred.hash) != ev.Keep {
				sc.revoke("credentials revoked")
			}
		}
	case broker.KindRead, broker.KindRooms:
		s.streams.userEvent(ev)
	}
}

// Missed is told that revocations may have been lost (Redis came back):
// every socket whose session or token is gone from the store is closed,
// and every user stream reads its rooms' counts again (a read marker may
// have moved meanwhile).
func (e *wideEvents) Missed(room string) {
	if room != "" {
		return
	}
	go e.s.recheckCredentials()
	go e.s.streams.reloadAll()
}

// recheckCredentials closes the sockets whose session or token no longer
// exists or has expired.
func (s *Server) recheckCredentials() {
	socks := s.sockets.all(nil)
	seen := make(map[string]bool, len(socks))
	var hashes [][]byte
	for _, sc := range socks {
		if k := string(sc.cred.hash); !seen[k] {
			seen[k] = true
			hashes = append(hashes, sc.cred.hash)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, err := s.opt.Store.LiveSessions(ctx, hashes, s.opt.Now())
	if err != nil {
		s.log.Warn("recheck credentials after missed events", "err", err)
		return
	}
	for _, sc := range socks {
		if !live[string(sc.cred.hash)] {
			sc.revoke("credentials revoked")
		}
	}
}

// revoke closes the socket because its credential has ended; from now on
// it takes nothing more from its client.
func (sc *socket) revoke(reason string) {
	if !sc.revoked.CompareAndSwap(false, true) {
		return
	}
	sc.s.metrics.wsErrors.WithLabelValues("revoked").Inc()
	sc.close(StatusRevoked, reason)
}
