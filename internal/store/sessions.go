package store

import (
	"context"
	"fmt"
	"time"

	"parley/internal/chat"
)

// Kinds of Session.
const (
	KindSession = "session" // a browser session, carried by a cookie
	KindToken   = "token"   // an API bearer token
)

// Session is a browser session or an API token. Only a hash of its secret is
// stored: the caller hashes the secret it hands out and looks sessions up by
// the same hash.
type Session struct {
	Hash      []byte
	UserID    int64
	Kind      string // KindSession or KindToken
	CreatedAt time.Time
	ExpiresAt time.Time
	// Address and Agent are the client address and a label of the
	// browser or program it was made from, shown in the owner's list.
	Address, Agent string
	// UsedAt is when it was last used, as TouchSessions recorded it;
	// zero if it has not been since it was made.
	UsedAt time.Time
}

// SessionAuth is what authenticating by a session or token learns.
type SessionAuth struct {
	User      chat.User
	ExpiresAt time.Time
	UsedAt    time.Time // as in Session
}

// CreateSession stores sess. A hash already stored is a *chat.Error with
// code chat.EConflict, an unknown user one with chat.ENotFound.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	if sess.Kind != KindSession && sess.Kind != KindToken {
		return chat.Errorf(chat.EInvalid, "Unknown session kind %q.", sess.Kind)
	}
	if len(sess.Hash) == 0 {
		return chat.Errorf(chat.EInvalid, "A session needs a hash.")
	}
	created := sess.CreatedAt
	if created.IsZero() {
		created = now()
	}
	_, err := s.write.exec(ctx,
		"INSERT INTO sessions (hash, user_id, kind, created_at, expires_at, address, agent) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		sess.Hash, sess.UserID, sess.Kind, created, sess.ExpiresAt, sess.Address, sess.Agent)
	switch {
	case isUniqueViolation(err):
		return chat.Errorf(chat.EConflict, "That session already exists.")
	case isForeignKeyViolation(err):
		return chat.Errorf(chat.ENotFound, "No such user.")
	case err != nil:
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of the session or token of this kind whose
// secret hashes to hash, if it has not expired by now. Otherwise it returns
// a *chat.Error with code chat.EUnauthorized.
func (s *Store) SessionUser(ctx context.Context, hash []byte, kind string, now time.Time) (chat.User, error) {
	a, err := s.Authenticate(ctx, hash, kind, now)
	return a.User, err
}

// Authenticate is SessionUser that also says when the session or token
// expires and when it was last used.
func (s *Store) Authenticate(ctx context.Context, hash []byte, kind string, now time.Time) (SessionAuth, error) {
	var a SessionAuth
	var err error
	a.User, err = scanUser(s.read.queryRow(ctx, `
		SELECT u.id, u.name, u.role, u.deactivated_at, u.created_at, s.expires_at, s.used_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = $1 AND s.kind = $2 AND s.expires_at > $3 AND u.deactivated_at IS NULL`,
		hash, kind, now), timeCol{&a.ExpiresAt}, nullTimeCol{&a.UsedAt})
	if isNoRows(err) {
		return SessionAuth{}, chat.Errorf(chat.EUnauthorized, "Please log in: the session is unknown or has expired.")
	}
	if err != nil {
		return SessionAuth{}, fmt.Errorf("store: session user: %w", err)
	}
	return a, nil
}

// TouchSessions records that the sessions and tokens of used (their
// hashes, as strings) were used at those times, in one transaction; a
// later use already recorded (by another process) is kept.
func (s *Store) TouchSessions(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	err := s.write.inTx(ctx, func(tx querier) error {
		for hash, at := range used {
			if _, err := tx.exec(ctx, "UPDATE sessions SET used_at = $2 WHERE hash = $1 AND (used_at IS NULL OR used_at < $2)",
				[]byte(hash), at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: touch sessions: %w", err)
	}
	return nil
}

// DeleteSession removes the session or token whose secret hashes to hash,
// and reports whether there was one. Removing one that does not exist is
// not an error.
func (s *Store) DeleteSession(ctx context.Context, hash []byte) (bool, error) {
	n, err := s.write.exec(ctx, "DELETE FROM sessions WHERE hash = $1", hash)
	if err != nil {
		return false, fmt.Errorf("store: delete session: %w", err)
	}
	return n > 0, nil
}

// DeleteExpiredSessions removes the sessions and tokens expired by now and
// returns how many it removed.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.write.exec(ctx, "DELETE FROM sessions WHERE expires_at <= $1", now)
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}

// TrimSessions keeps the user's keep newest sessions or tokens of kind
// (the newest by creation), deleting the rest, and returns the hashes it
// deleted: their sockets are to be closed.
func (s *Store) TrimSessions(ctx context.Context, userID int64, kind string, keep int) ([][]byte, error) {
	rs, err := s.write.query(ctx, `
		DELETE FROM sessions WHERE user_id = $1 AND kind = $2 AND hash NOT IN (
			SELECT hash FROM sessions WHERE user_id = $1 AND kind = $2 ORDER BY created_at DESC, hash LIMIT $3)
		RETURNING hash`, userID, kind, keep)
	if err != nil {
		return nil, fmt.Errorf("store: trim sessions: %w", err)
	}
	return scanHashes(rs, "trim sessions")
}

// DeleteUserSessions deletes the user's sessions and tokens, or those of
// one kind if kind is not empty, except the one whose hash is keep, and
// returns the hashes it deleted.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, kind string, keep []byte) ([][]byte, error) {
	if keep == nil {
		keep = []byte{} // no hash is empty
	}
	rs, err := s.write.query(ctx, `
		DELETE FROM sessions WHERE user_id = $1 AND ($2 = '' OR kind = $2) AND hash <> $3
		RETURNING hash`, userID, kind, keep)
	if err != nil {
		return nil, fmt.Errorf("store: delete user sessions: %w", err)
	}
	return scanHashes(rs, "delete user sessions")
}

// LiveSessions returns which of hashes name a session or token that has
// not expired by now.
func (s *Store) LiveSessions(ctx context.Context, hashes [][]byte, now time.Time) (map[string]bool, error) {
	live := make(map[string]bool, len(hashes))
	for _, h := range hashes {
		var n int64
		err := s.read.queryRow(ctx, "SELECT count(*) FROM sessions WHERE hash = $1 AND expires_at > $2", h, now).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("store: live sessions: %w", err)
		}
		if n > 0 {
			live[string(h)] = true
		}
	}
	return live, nil
}

func scanHashes(rs rows, what string) ([][]byte, error) {
	out, err := collect(rs, func(r row) ([]byte, error) {
		var h []byte
		return h, r.Scan(&h)
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}

// UserSessions returns the user's sessions and tokens that have not
// expired by now, newest first.
func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error) {
	return queryAll(ctx, s.read, "user sessions", func(r row) (Session, error) {
		ss := Session{UserID: userID}
		err := r.Scan(&ss.Hash, &ss.Kind, timeCol{&ss.CreatedAt}, timeCol{&ss.ExpiresAt}, &ss.Address, &ss.Agent, nullTimeCol{&ss.UsedAt})
		return ss, err
	}, `SELECT hash, kind, created_at, expires_at, address, agent, used_at FROM sessions
		WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at DESC, hash`, userID, now)
}
