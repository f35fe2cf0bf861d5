package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"parley/internal/chat"
	"parley/internal/username"
)

// NewAccount is an account to create (CreateAccount).
type NewAccount struct {
	Name         string
	PasswordHash string // the caller hashes the password
	// Admin makes the account an admin. Without it, it is a member,
	// unless it is the first account of the database.
	Admin bool
	// Invite, if set, is the hash of the invite code the account signs up
	// with: one of its uses is spent in the account's transaction.
	Invite []byte
	// Now is when it is made; zero means now.
	Now time.Time
}

// CreateAccount stores a new account. The first account of an empty
// database is an admin: decided in the insert's transaction, after
// usersLock, so that of two first sign-ups at once one is. A taken name is
// a *chat.Error with code chat.EConflict; an invite that is unknown,
// expired, used up or revoked one with chat.ENotFound, and then nothing
// is stored nor spent.
func (s *Store) CreateAccount(ctx context.Context, a NewAccount) (chat.User, error) {
	if err := chat.CheckUsername(a.Name); err != nil {
		return chat.User{}, err
	}
	at := a.Now
	if at.IsZero() {
		at = now()
	}
	u := chat.User{Name: a.Name, Role: chat.RoleMember, CreatedAt: at.UTC().Truncate(time.Microsecond)}
	err := s.write.inTx(ctx, func(tx querier) error {
		if err := s.lockUsers(ctx, tx); err != nil {
			return err
		}
		if a.Invite != nil {
			n, err := tx.exec(ctx, `
				UPDATE invites SET used = used + 1
				WHERE hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND used < max_uses`, a.Invite, u.CreatedAt)
			if err != nil {
				return err
			}
			if n == 0 {
				return errInviteGone
			}
		}
		var any bool
		if err := tx.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM users)").Scan(boolCol{&any}); err != nil {
			return err
		}
		if a.Admin || !any {
			u.Role = chat.RoleAdmin
		}
		return tx.queryRow(ctx, `
			INSERT INTO users (name, name_key, password_hash, admin, role, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			a.Name, username.Key(a.Name), a.PasswordHash, u.Role == chat.RoleAdmin, string(u.Role), u.CreatedAt).Scan(&u.ID)
	})
	switch {
	case err == errInviteGone:
		return chat.User{}, err
	case isUniqueViolation(err):
		return chat.User{}, chat.Errorf(chat.EConflict, "That username is taken.")
	case err != nil:
		return chat.User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// errInviteGone is the answer to an invite that cannot be used.
var errInviteGone = chat.Errorf(chat.ENotFound, "This invite link has expired, been used up or been revoked. Ask for a new one.")

func (s *Store) lockUsers(ctx context.Context, tx querier) error {
	if s.sql.usersLock == "" {
		return nil
	}
	if _, err := tx.exec(ctx, s.sql.usersLock); err != nil {
		return fmt.Errorf("take users lock: %w", err)
	}
	return nil
}

// lockedUser takes the users lock (lockUsers) in tx and reads the
// account called name.
func (s *Store) lockedUser(ctx context.Context, tx querier, name string) (chat.User, error) {
	if err := s.lockUsers(ctx, tx); err != nil {
		return chat.User{}, err
	}
	u, _, err := s.userByName(ctx, tx, name)
	return u, err
}

// keepAnAdmin refuses, with a *chat.Error with code chat.EConflict, to
// take u's role or activity away if u is the last active admin: the
// database keeps one.
func keepAnAdmin(ctx context.Context, tx querier, u chat.User) error {
	if u.Role != chat.RoleAdmin || u.Deactivated {
		return nil
	}
	var n int64
	err := tx.queryRow(ctx,
		"SELECT count(*) FROM users WHERE role = 'admin' AND deactivated_at IS NULL AND id <> $1", u.ID).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return chat.Errorf(chat.EConflict, "%s is the last active admin: make another admin first.", u.Name)
	}
	return nil
}

// SetRole gives the account called name (any spelling of its key) the
// role, and returns the account as it was before. Taking the role of
// admin from the last active admin is a *chat.Error with code
// chat.EConflict; an unknown name one with chat.ENotFound.
func (s *Store) SetRole(ctx context.Context, name string, role chat.Role) (chat.User, error) {
	if _, err := chat.ParseRole(string(role)); err != nil {
		return chat.User{}, err
	}
	var before chat.User
	err := s.write.inTx(ctx, func(tx querier) error {
		u, err := s.lockedUser(ctx, tx, name)
		if err != nil {
			return err
		}
		before = u
		if role != chat.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, u); err != nil {
				return err
			}
		}
		_, err = tx.exec(ctx, "UPDATE users SET role = $1, admin = $2 WHERE id = $3", string(role), role == chat.RoleAdmin, u.ID)
		return err
	})
	if err != nil {
		return chat.User{}, wrapUserErr("set role", err)
	}
	return before, nil
}

// SetDeactivated deactivates (or, with deactivate false, reactivates) the
// account called name, and returns it as it was before. Deactivating
// deletes its sessions and tokens and unused reset links in the same
// transaction: reactivation brings none back. Deactivating the last
// active admin is a *chat.Error with code chat.EConflict.
func (s *Store) SetDeactivated(ctx context.Context, name string, deactivate bool, at time.Time) (chat.User, error) {
	var before chat.User
	err := s.write.inTx(ctx, func(tx querier) error {
		u, err := s.lockedUser(ctx, tx, name)
		if err != nil {
			return err
		}
		before = u
		if !deactivate {
			_, err := tx.exec(ctx, "UPDATE users SET deactivated_at = NULL WHERE id = $1", u.ID)
			return err
		}
		if err := keepAnAdmin(ctx, tx, u); err != nil {
			return err
		}
		if !u.Deactivated {
			if _, err := tx.exec(ctx, "UPDATE users SET deactivated_at = $1 WHERE id = $2", at.UTC().Truncate(time.Microsecond), u.ID); err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", u.ID); err != nil {
			return err
		}
		_, err = tx.exec(ctx, "DELETE FROM reset_links WHERE user_id = $1 AND used_at IS NULL", u.ID)
		return err
	})
	if err != nil {
		return chat.User{}, wrapUserErr("set deactivated", err)
	}
	return before, nil
}

// wrapUserErr keeps a *chat.Error as it is and gives any other error the
// store's context.
func wrapUserErr(what string, err error) error {
	if chat.ErrorCode(err) != chat.EInternal {
		return err
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// Users lists accounts whose key starts with the key of q (every account
// for ""), by key, up to limit.
func (s *Store) Users(ctx context.Context, q string, limit int) ([]chat.User, error) {
	prefix := likeEscape(username.Key(strings.TrimSpace(q))) + "%"
	return queryAll(ctx, s.read, "users", func(r row) (chat.User, error) { return scanUser(r) }, `
		SELECT `+userCols+` FROM users WHERE name_key LIKE $1 ESCAPE '\' ORDER BY name_key LIMIT $2`, prefix, limit)
}

// likeEscape escapes LIKE's wildcards (and its escape character, \).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Invite is an invite link's record. Only a hash of its code is kept; it
// is named by ID in lists.
type Invite struct {
	ID        int64
	Hash      []byte
	CreatedBy int64  // the admin who made it; 0 if gone, or the shell
	Creator   string // their name, as lists show it
	CreatedAt time.Time
	ExpiresAt time.Time
	MaxUses   int64
	Used      int64
	RevokedAt time.Time // zero while not revoked
}

// Usable reports whether the invite still signs someone up at now.
func (i Invite) Usable(now time.Time) bool {
	return i.RevokedAt.IsZero() && now.Before(i.ExpiresAt) && i.Used < i.MaxUses
}

// State says, in a word, what the invite is at now: "active", "revoked",
// "expired" or "used".
func (i Invite) State(now time.Time) string {
	switch {
	case !i.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(i.ExpiresAt):
		return "expired"
	case i.Used >= i.MaxUses:
		return "used"
	}
	return "active"
}

const inviteCols = `i.id, i.hash, coalesce(i.created_by, 0), coalesce(u.name, ''), i.created_at, i.expires_at,
	i.max_uses, i.used, i.revoked_at FROM invites i LEFT JOIN users u ON u.id = i.created_by`

func scanInvite(r row) (Invite, error) {
	var i Invite
	err := r.Scan(&i.ID, &i.Hash, &i.CreatedBy, &i.Creator, timeCol{&i.CreatedAt}, timeCol{&i.ExpiresAt},
		&i.MaxUses, &i.Used, nullTimeCol{&i.RevokedAt})
	return i, err
}

// CreateInvite stores an invite (Hash, CreatedBy, CreatedAt, ExpiresAt,
// MaxUses) and returns it with its ID.
func (s *Store) CreateInvite(ctx context.Context, i Invite) (Invite, error) {
	if i.MaxUses < 1 || len(i.Hash) == 0 {
		return Invite{}, chat.Errorf(chat.EInvalid, "An invite needs a code and at least one use.")
	}
	i.CreatedAt = i.CreatedAt.UTC().Truncate(time.Microsecond)
	i.ExpiresAt = i.ExpiresAt.UTC().Truncate(time.Microsecond)
	var by any
	if i.CreatedBy != 0 {
		by = i.CreatedBy
	}
	err := s.write.queryRow(ctx, `
		INSERT INTO invites (hash, created_by, created_at, expires_at, max_uses) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		i.Hash, by, i.CreatedAt, i.ExpiresAt, i.MaxUses).Scan(&i.ID)
	if err != nil {
		return Invite{}, fmt.Errorf("store: create invite: %w", err)
	}
	return i, nil
}

// Invites lists the invites, newest first, up to limit.
func (s *Store) Invites(ctx context.Context, limit int) ([]Invite, error) {
	return queryAll(ctx, s.read, "invites", scanInvite, "SELECT "+inviteCols+" ORDER BY i.id DESC LIMIT $1", limit)
}

// InviteByHash returns the invite whose code hashes to hash, usable or
// not, or a *chat.Error with code chat.ENotFound.
func (s *Store) InviteByHash(ctx context.Context, hash []byte) (Invite, error) {
	i, err := scanInvite(s.read.queryRow(ctx, "SELECT "+inviteCols+" WHERE i.hash = $1", hash))
	if isNoRows(err) {
		return Invite{}, chat.Errorf(chat.ENotFound, "No such invite.")
	}
	if err != nil {
		return Invite{}, fmt.Errorf("store: invite: %w", err)
	}
	return i, nil
}

// RevokeInvite revokes the invite with the id (if id is not 0) or whose
// code hashes to hash, at at, and returns it. Revoking one revoked before
// keeps its first time. An unknown one is a *chat.Error with code
// chat.ENotFound.
func (s *Store) RevokeInvite(ctx context.Context, id int64, hash []byte, at time.Time) (Invite, error) {
	at = at.UTC().Truncate(time.Microsecond)
	n, err := s.write.exec(ctx, `
		UPDATE invites SET revoked_at = coalesce(revoked_at, $1) WHERE ($2 <> 0 AND id = $2) OR ($2 = 0 AND hash = $3)`,
		at, id, hash)
	if err != nil {
		return Invite{}, fmt.Errorf("store: revoke invite: %w", err)
	}
	if n == 0 {
		return Invite{}, chat.Errorf(chat.ENotFound, "No such invite.")
	}
	i, err := scanInvite(s.read.queryRow(ctx, "SELECT "+inviteCols+" WHERE ($1 <> 0 AND i.id = $1) OR ($1 = 0 AND i.hash = $2)", id, hash))
	if err != nil {
		return Invite{}, fmt.Errorf("store: revoke invite: %w", err)
	}
	return i, nil
}

// ResetLinkTTL is how long a password reset link works.
const ResetLinkTTL = 24 * time.Hour

// CreateResetLink stores a one-time reset link for the user, by the hash
// of its code, made by the account by (0: the shell) at at, valid for
// ResetLinkTTL. A deactivated or unknown user is a *chat.Error with code
// chat.ENotFound.
func (s *Store) CreateResetLink(ctx context.Context, hash []byte, userID, by int64, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	var creator any
	if by != 0 {
		creator = by
	}
	err := s.write.inTx(ctx, func(tx querier) error {
		var active bool
		err := tx.queryRow(ctx, "SELECT deactivated_at IS NULL FROM users WHERE id = $1", userID).Scan(boolCol{&active})
		if isNoRows(err) || (err == nil && !active) {
			return chat.Errorf(chat.ENotFound, "No such active user.")
		}
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `
			INSERT INTO reset_links (hash, user_id, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			hash, userID, creator, at, at.Add(ResetLinkTTL))
		return err
	})
	if err != nil {
		return wrapUserErr("create reset link", err)
	}
	return nil
}

// errResetGone is the answer to a reset link that cannot be used.
var errResetGone = chat.Errorf(chat.ENotFound, "This reset link has expired or been used. Ask an admin for a new one.")

// ResetLinkUser returns the user whose reset link's code hashes to hash,
// if the link is unused and unexpired at now and the account active;
// otherwise a *chat.Error with code chat.ENotFound.
func (s *Store) ResetLinkUser(ctx context.Context, hash []byte, now time.Time) (chat.User, error) {
	u, err := scanUser(s.read.queryRow(ctx, `
		SELECT u.id, u.name, u.role, u.deactivated_at, u.created_at FROM reset_links r JOIN users u ON u.id = r.user_id
		WHERE r.hash = $1 AND r.used_at IS NULL AND r.expires_at > $2 AND u.deactivated_at IS NULL`, hash, now))
	if isNoRows(err) {
		return chat.User{}, errResetGone
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("store: reset link: %w", err)
	}
	return u, nil
}

// UseResetLink spends the reset link whose code hashes to hash, sets its
// user's password hash and deletes every session and token of theirs,
// in one transaction, and returns the user. A link used, expired or
// unknown, or of a deactivated account, is a *chat.Error with code
// chat.ENotFound, and nothing changes: a link works once.
func (s *Store) UseResetLink(ctx context.Context, hash []byte, passwordHash string, now time.Time) (chat.User, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var u chat.User
	err := s.write.inTx(ctx, func(tx querier) error {
		var id int64
		err := tx.queryRow(ctx, `
			UPDATE reset_links SET used_at = $2
			WHERE hash = $1 AND used_at IS NULL AND expires_at > $2
				AND user_id IN (SELECT id FROM users WHERE deactivated_at IS NULL)
			RETURNING user_id`, hash, now).Scan(&id)
		if isNoRows(err) {
			return errResetGone
		}
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2", passwordHash, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM sessions WHERE user_id = $1", id); err != nil {
			return err
		}
		u, err = scanUser(tx.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE id = $1", id))
		return err
	})
	if err != nil {
		return chat.User{}, wrapUserErr("use reset link", err)
	}
	return u, nil
}

// Audit actions: what an entry of the audit log records.
const (
	AuditRole         = "role"          // target's role changed; detail "member -> moderator"
	AuditDeactivate   = "deactivate"    // target deactivated; detail "messages erased: N" if so
	AuditReactivate   = "reactivate"    // target reactivated
	AuditInviteCreate = "invite.create" // target "invite N"; detail its uses and expiry
	AuditInviteRevoke = "invite.revoke" // target "invite N"
	AuditResetLink    = "reset_link"    // a reset link made for target
	AuditErase        = "erase"         // target's messages erased
)

// AuditShell is the address of what was done from the shell (parley
// user ..., parley invite ...).
const AuditShell = "shell"

// AuditEntry is one line of the audit log: who (ActorID, Actor: the name
// as it was) did what (Action, one of the Audit* constants or another
// short dotted word) to whom or what (Target), with what detail, when
// (At) and from which address (Address, AuditShell from the shell).
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	ActorID int64     `json:"-"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Target  string    `json:"target"`
	Detail  string    `json:"detail"`
	Address string    `json:"address"`
}

// Audit records an admin's or a moderator's action in the audit log
// (docs/SECURITY.md, Audit log). Every such action calls it once it has
// taken effect; At zero means now. It is the one writer of the log.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.Action == "" || e.Actor == "" {
		return chat.Errorf(chat.EInvalid, "An audit entry needs an actor and an action.")
	}
	if e.At.IsZero() {
		e.At = now()
	}
	var actor any
	if e.ActorID != 0 {
		actor = e.ActorID
	}
	_, err := s.write.exec(ctx, `
		INSERT INTO audit_log (at, actor_id, actor, action, target, detail, address) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		e.At.UTC().Truncate(time.Microsecond), actor, e.Actor, e.Action, e.Target, e.Detail, e.Address)
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditLog returns up to limit entries of the audit log, newest first,
// those with an id below before (0: from the newest).
func (s *Store) AuditLog(ctx context.Context, before int64, limit int) ([]AuditEntry, error) {
	return queryAll(ctx, s.read, "audit log", scanAudit, "SELECT "+auditCols+`
		WHERE $1 = 0 OR id < $1 ORDER BY id DESC LIMIT $2`, before, limit)
}

const auditCols = `id, at, coalesce(actor_id, 0), actor, action, target, detail, address FROM audit_log`

func scanAudit(r row) (AuditEntry, error) {
	var e AuditEntry
	err := r.Scan(&e.ID, timeCol{&e.At}, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Address)
	return e, err
}

// MessageRef names a message: its room and seq.
type MessageRef struct {
	Room string
	Seq  int64
}

// LiveMessagesBy returns up to limit messages author wrote that are not
// deleted, by room and seq: what erasing an account's messages deletes,
// a page at a time (deleted ones drop out of the next page).
func (s *Store) LiveMessagesBy(ctx context.Context, author string, limit int) ([]MessageRef, error) {
	return queryAll(ctx, s.read, "messages by author", func(r row) (MessageRef, error) {
		var m MessageRef
		return m, r.Scan(&m.Room, &m.Seq)
	}, `SELECT room, seq FROM messages WHERE author = $1 AND deleted_at IS NULL ORDER BY room, seq LIMIT $2`, author, limit)
}

// EraseMessages deletes every message author wrote, as deletions by by
// (an admin or moderator the policy allowed: chat.CanDeactivate), through
// the group commit as any deletion: each is an entry of its room's log,
// the content erased, a tombstone in its place. It calls committed with
// each deletion once stored, to publish it, and returns how many it
// deleted.
func (s *Store) EraseMessages(ctx context.Context, author, by string, committed func(chat.Change)) (int, error) {
	const page = 500
	erased := 0
	for {
		refs, err := s.LiveMessagesBy(ctx, author, page)
		if err != nil || len(refs) == 0 {
			return erased, err
		}
		pending := make([]*Pending, len(refs))
		for i, m := range refs {
			pending[i] = s.SubmitChange(ctx, chat.NewChange{Room: m.Room, Author: by, Kind: chat.ChangeDelete,
				Target: m.Seq, AnyAuthor: true})
		}
		round := 0
		for _, p := range pending {
			c, created, err := p.WaitChange()
			if err != nil {
				return erased, fmt.Errorf("store: erase messages of %s: %w", author, err)
			}
			if created {
				round++
				committed(c)
			}
		}
		erased += round
		if round == 0 { // nothing left that a deletion changes
			return erased, nil
		}
	}
}

// AuditAfter returns up to limit entries of the audit log with an id
// above after, oldest first: what a server reads to act on what the
// shell did (web.Server.WatchShell). after < 0 returns none and the id of
// the latest entry, to start from.
func (s *Store) AuditAfter(ctx context.Context, after int64, limit int) ([]AuditEntry, int64, error) {
	if after < 0 {
		var last int64
		err := s.read.queryRow(ctx, "SELECT coalesce(max(id), 0) FROM audit_log").Scan(&last)
		if err != nil {
			return nil, 0, fmt.Errorf("store: audit after: %w", err)
		}
		return nil, last, nil
	}
	rs, err := s.read.query(ctx, "SELECT "+auditCols+`
		WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("store: audit after: %w", err)
	}
	out, err := collect(rs, scanAudit)
	if err != nil {
		return nil, after, fmt.Errorf("store: audit after: %w", err)
	}
	if len(out) > 0 {
		after = out[len(out)-1].ID
	}
	return out, after, nil
}
