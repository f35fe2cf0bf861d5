package web

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/store"
)

// Account administration (docs/API.md, Administration): what the admin
// pages and the API do, once each. Every action asks chat's policy
// (CanAdmin, CanDeactivate), takes effect at once on every process, and
// is written to the audit log.

// Invite limits.
const (
	maxInviteUses    = 1000
	defaultInviteTTL = 7 * 24 * time.Hour
	maxInviteTTL     = 365 * 24 * time.Hour
)

// actor is who does an administrative action, and from where.
type actor struct {
	user chat.User
	addr string // the client's address, for the audit log
}

func (s *Server) actorOf(r *http.Request, u chat.User) actor {
	return actor{user: u, addr: s.clientAddr(r)}
}

// audit writes an entry of the audit log for an action a took. The action
// has happened: a failure to record it is logged, not undone.
func (s *Server) audit(ctx context.Context, a actor, action, target, detail string) {
	err := s.opt.Store.Audit(context.WithoutCancel(ctx), store.AuditEntry{
		At: s.opt.Now(), ActorID: a.user.ID, Actor: a.user.Name, Action: action, Target: target, Detail: detail, Address: a.addr,
	})
	if err != nil {
		s.log.Error("audit", "action", action, "actor", a.user.Name, "target", target, "err", err)
	}
}

// setRole gives the account called name the role. Only admins may; the
// last active admin keeps theirs. The account's sockets reconnect, so
// that the role applies to them too.
func (s *Server) setRole(ctx context.Context, a actor, name string, role chat.Role) (chat.User, error) {
	if err := chat.CanAdmin(a.user.Actor()); err != nil {
		return chat.User{}, err
	}
	if _, err := chat.ParseRole(string(role)); err != nil {
		return chat.User{}, err
	}
	before, err := s.opt.Store.SetRole(ctx, name, role)
	if err != nil {
		return chat.User{}, err
	}
	after := before
	after.Role = role
	if before.Role != role {
		s.userChanged(before.Name)
		s.audit(ctx, a, store.AuditRole, before.Name, fmt.Sprintf("%s -> %s", before.Role, role))
	}
	return after, nil
}

// setDeactivated deactivates or reactivates the account called name, as
// chat.CanDeactivate allows. Deactivating ends every session and token of
// the account and closes its sockets on every process; with erase, it
// also deletes every message of the account's, through the deletions of
// room events (each a change of its room's log, sent to its room), and
// says how many.
func (s *Server) setDeactivated(ctx context.Context, a actor, name string, deactivate, erase bool) (chat.User, int, error) {
	u, err := s.toggleActive(ctx, a, name, deactivate)
	if err != nil || !deactivate || !erase {
		return u, 0, err
	}
	n, err := s.opt.Store.EraseMessages(context.WithoutCancel(ctx), u.Name, a.user.Name, func(c chat.Change) {
		s.publish(broker.Event{Room: c.Room, Kind: broker.KindChange, Change: &c}, c.Seq)
	})
	if n > 0 || err == nil {
		s.audit(ctx, a, store.AuditErase, u.Name, fmt.Sprintf("%d messages deleted", n))
	}
	return u, n, err
}

func (s *Server) toggleActive(ctx context.Context, a actor, name string, deactivate bool) (chat.User, error) {
	target, _, err := s.opt.Store.UserByName(ctx, name)
	if err != nil {
		return chat.User{}, err
	}
	if err := chat.CanDeactivate(a.user.Actor(), target.Role, target.ID == a.user.ID); err != nil {
		return chat.User{}, err
	}
	before, err := s.opt.Store.SetDeactivated(ctx, target.Name, deactivate, s.opt.Now())
	if err != nil {
		return chat.User{}, err
	}
	after := before
	after.Deactivated = deactivate
	if deactivate {
		s.revokeUser(before.Name)
	}
	if before.Deactivated != deactivate {
		action := store.AuditReactivate
		if deactivate {
			action = store.AuditDeactivate
		}
		s.audit(ctx, a, action, before.Name, "")
	}
	return after, nil
}

// resetLink makes a one-time password reset link for the account called
// name (admins only), and returns its path: /reset/CODE. Only a hash of
// the code is kept.
func (s *Server) resetLink(ctx context.Context, a actor, name string) (string, time.Time, error) {
	if err := chat.CanAdmin(a.user.Actor()); err != nil {
		return "", time.Time{}, err
	}
	target, _, err := s.opt.Store.UserByName(ctx, name)
	if err != nil {
		return "", time.Time{}, err
	}
	if target.Deactivated {
		return "", time.Time{}, chat.Errorf(chat.EConflict, "%s is deactivated: reactivate the account first.", target.Name)
	}
	code, err := auth.NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.opt.Now()
	if err := s.opt.Store.CreateResetLink(ctx, auth.SecretHash(code), target.ID, a.user.ID, now); err != nil {
		return "", time.Time{}, err
	}
	s.audit(ctx, a, store.AuditResetLink, target.Name, "")
	return "/reset/" + code, now.Add(store.ResetLinkTTL), nil
}

// createInvite makes an invite link of uses uses (1 to 1000) that
// expires after ttl (a minute to a year), admins only,
// and returns its code: the link is /join/CODE.
func (s *Server) createInvite(ctx context.Context, a actor, uses int64, ttl time.Duration) (string, store.Invite, error) {
	if err := chat.CanAdmin(a.user.Actor()); err != nil {
		return "", store.Invite{}, err
	}
	if err := CheckInvite(uses, ttl); err != nil {
		return "", store.Invite{}, err
	}
	code, err := auth.NewSecret()
	if err != nil {
		return "", store.Invite{}, err
	}
	now := s.opt.Now()
	inv, err := s.opt.Store.CreateInvite(ctx, store.Invite{Hash: auth.SecretHash(code), CreatedBy: a.user.ID,
		CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: uses})
	if err != nil {
		return "", store.Invite{}, err
	}
	inv.Creator = a.user.Name
	s.audit(ctx, a, store.AuditInviteCreate, "invite "+strconv.FormatInt(inv.ID, 10),
		fmt.Sprintf("uses %d, expires %s", uses, inv.ExpiresAt.UTC().Format(time.RFC3339)))
	return code, inv, nil
}

// CheckInvite checks an invite's uses and lifetime.
func CheckInvite(uses int64, ttl time.Duration) error {
	if uses < 1 || uses > maxInviteUses {
		return chat.Errorf(chat.EInvalid, "An invite has 1 to %d uses.", maxInviteUses)
	}
	if ttl < time.Minute || ttl > maxInviteTTL {
		return chat.Errorf(chat.EInvalid, "An invite expires after a minute to a year (for example 24h, 7d).")
	}
	return nil
}

// ParseInviteTTL reads an invite's lifetime: a Go duration ("36h",
// "90m") or a number of days ("7d"); "" is 7 days.
func ParseInviteTTL(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return defaultInviteTTL, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 366 {
			return 0, chat.Errorf(chat.EInvalid, "Expiry %q: give a duration like 24h or a number of days like 7d.", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, chat.Errorf(chat.EInvalid, "Expiry %q: give a duration like 24h or a number of days like 7d.", v)
	}
	return d, nil
}

// revokeInvite revokes the invite that ref names: its id, or its code
// (admins only).
func (s *Server) revokeInvite(ctx context.Context, a actor, ref string) (store.Invite, error) {
	if err := chat.CanAdmin(a.user.Actor()); err != nil {
		return store.Invite{}, err
	}
	id, hash := InviteRef(ref)
	inv, err := s.opt.Store.RevokeInvite(ctx, id, hash, s.opt.Now())
	if err != nil {
		return store.Invite{}, err
	}
	s.audit(ctx, a, store.AuditInviteRevoke, "invite "+strconv.FormatInt(inv.ID, 10), "")
	return inv, nil
}

// InviteRef reads how an invite is named: by its id (digits), or by its
// code, whose hash finds it. Codes are never all digits.
func InviteRef(ref string) (int64, []byte) {
	ref = strings.TrimSpace(ref)
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil && id > 0 {
		return id, nil
	}
	return 0, auth.SecretHash(ref)
}

// changePassword sets u's password, the current one proven, and ends
// every other session and token of u's (keep is the credential of the
// request, which goes on), closing their sockets on every process.
func (s *Server) changePassword(r *http.Request, u chat.User, keep []byte, current, next string) error {
	ctx := r.Context()
	if next == "" {
		return chat.Errorf(chat.EInvalid, "Enter a new password.")
	}
	if err := chat.CheckPassword(next); err != nil {
		return err
	}
	_, hash, err := s.opt.Store.UserByName(ctx, u.Name)
	if err != nil {
		return err
	}
	ok, err := auth.CheckPassword(current, hash)
	if err != nil {
		return err
	}
	if !ok {
		return chat.Errorf(chat.EForbidden, "The current password is wrong.")
	}
	newHash, err := auth.HashPassword(next, s.opt.Password)
	if err != nil {
		return err
	}
	if err := s.opt.Store.SetPasswordHash(ctx, u.ID, newHash); err != nil {
		return err
	}
	return s.EndUserSessions(ctx, u, keep)
}

// sessionID names a session or token in the owner's list: the first 8
// bytes of the hash the store keeps, in hex. It says nothing of the
// secret.
func sessionID(hash []byte) string { return hex.EncodeToString(hash[:min(8, len(hash))]) }

// sessionView is a session or token as its owner's list shows it.
type sessionView struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// LastUsed is when it was last used, to within useEvery; nil if
	// not since it was made.
	LastUsed *time.Time `json:"last_used"`
	Address  string     `json:"address"`
	Agent    string     `json:"agent"`
	Current  bool       `json:"current"`
}

// sessions lists u's sessions and tokens, marking the one cur names.
func (s *Server) sessions(ctx context.Context, u chat.User, cur []byte) ([]sessionView, error) {
	list, err := s.opt.Store.UserSessions(ctx, u.ID, s.opt.Now())
	if err != nil {
		return nil, err
	}
	out := make([]sessionView, 0, len(list))
	for _, ss := range list {
		v := sessionView{ID: sessionID(ss.Hash), Kind: ss.Kind, CreatedAt: ss.CreatedAt, ExpiresAt: ss.ExpiresAt,
			Address: ss.Address, Agent: ss.Agent, Current: string(ss.Hash) == string(cur)}
		if !ss.UsedAt.IsZero() {
			v.LastUsed = &ss.UsedAt
		}
		out = append(out, v)
	}
	return out, nil
}

// endSessionByID ends u's session or token that id names, and closes its
// sockets on every process. It reports whether it was cur.
func (s *Server) endSessionByID(ctx context.Context, u chat.User, id string, cur []byte) (bool, error) {
	list, err := s.opt.Store.UserSessions(ctx, u.ID, s.opt.Now())
	if err != nil {
		return false, err
	}
	for _, ss := range list {
		if sessionID(ss.Hash) == id {
			s.endCredential(ctx, ss.Hash)
			return string(ss.Hash) == string(cur), nil
		}
	}
	return false, chat.Errorf(chat.ENotFound, "No such session or token of yours.")
}

// agentLabel is what "your sessions" shows of a User-Agent: the browser
// or program, in a word, not the whole header.
func agentLabel(ua string) string {
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go program"}, {"python", "Python program"},
	} {
		if strings.Contains(ua, b.token) {
			return b.name
		}
	}
	if ua == "" {
		return "unknown"
	}
	return "other"
}
