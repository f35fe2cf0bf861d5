package web

import (
	"context"
	"encoding/hex"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/store"
)

// StatusRevoked closes a socket whose session or token has ended: logged
// out, revoked, expired, or ended by a password change or the account's
// deactivation (docs/PROTOCOL.md, Close codes). A client does not
// reconnect with it: it logs in again.
const StatusRevoked = 4401

// StatusAccountChanged closes the sockets of an account whose role has
// changed (1012, "service restart": reconnect): the socket it reconnects
// with acts with the new role (docs/PROTOCOL.md, Close codes).
const StatusAccountChanged = 1012

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

// revokeUser closes, on every process, every socket of the account
// called name, whose sessions and tokens the store has just deleted
// (a deactivation, a password reset).
func (s *Server) revokeUser(name string) {
	s.publishWide(broker.Event{Kind: broker.KindUserRevoked, User: name})
}

// userChanged closes, on every process, the sockets of the account
// called name, whose role has changed, so that they reconnect with it:
// a socket reads its user's role when it opens, and pages and API calls
// read it at every request.
func (s *Server) userChanged(name string) {
	s.publishWide(broker.Event{Kind: broker.KindUserChanged, User: name})
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
	case broker.KindRoomChanged:
		if ev.User != "" && ev.Epoch > 0 {
			s.opt.Hub.AdvanceEpoch(ev.Subject, ev.User, ev.Epoch)
			s.streams.advance(ev.Subject, ev.User, ev.Epoch)
		}
		s.recheckRoom(ev.Subject, ev.User)
		if ev.User != "" {
			s.streams.userEvent(ev) // the user's place in it changed
		}
	case broker.KindUserRevoked:
		for _, sc := range s.sockets.ofUser(ev.User) {
			if ev.Keep == "" || hex.EncodeToString(sc.cred.hash) != ev.Keep {
				sc.revoke("credentials revoked")
			}
		}
	case broker.KindUserChanged:
		for _, sc := range s.sockets.ofUser(ev.User) {
			sc.close(StatusAccountChanged, "account changed")
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
	e.s.recheckRoom("", "") // a change of a room may have been lost too
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
func (sc *registered) revoke(reason string) {
	if !sc.revoked.CompareAndSwap(false, true) {
		return
	}
	sc.s.metrics.wsErrors.WithLabelValues("revoked").Inc()
	sc.close(StatusRevoked, reason)
}

// shellWatch is how often a server reads the audit log for what the
// shell did: one indexed query a period per process.
const shellWatch = 2 * time.Second

// WatchShell acts, until ctx ends, on what the shell's commands (parley
// user ...) did to accounts, which they cannot tell a server without
// Redis: every shellWatch it reads the audit log's new entries, and
// closes this process's sockets of an account the shell deactivated, or
// reconnects those of one whose role it changed. With Redis the shell
// tells every process at once as well; closing twice is harmless.
func (s *Server) WatchShell(ctx context.Context) {
	_, last, err := s.opt.Store.AuditAfter(ctx, -1, 0)
	if err != nil {
		s.log.Warn("watch the shell's changes", "err", err)
	}
	t := time.NewTicker(shellWatch)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		entries, next, err := s.opt.Store.AuditAfter(ctx, last, 1000)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("watch the shell's changes", "err", err)
			}
			continue
		}
		last = next
		for _, e := range entries {
			if e.Address != store.AuditShell {
				continue
			}
			switch e.Action {
			case store.AuditDeactivate:
				s.events.Event(broker.Event{Kind: broker.KindUserRevoked, User: e.Target})
			case store.AuditRole:
				s.events.Event(broker.Event{Kind: broker.KindUserChanged, User: e.Target})
			}
		}
	}
}
