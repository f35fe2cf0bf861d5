package store

import (
	"context"
	"fmt"
	"time"

	"parley/internal/chat"
	"parley/internal/push"
)

// The store keeps the VAPID key pair for every process.
var _ push.KeyStore = (*Store)(nil)

// VAPIDKeys returns the stored VAPID key pair (push.Keys.Text), storing
// candidate first if none is. Processes that start together on an empty
// database each offer a candidate; the insert keeps the first and ignores
// the others, and all of them read back the one kept.
func (s *Store) VAPIDKeys(ctx context.Context, candidate string) (string, error) {
	if _, err := s.write.exec(ctx,
		"INSERT INTO push_keys (id, private_key, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
		candidate, now()); err != nil {
		return "", fmt.Errorf("store: store the VAPID keys: %w", err)
	}
	var text string
	// Read from the writer: a reader could run before the insert is seen.
	if err := s.write.queryRow(ctx, "SELECT private_key FROM push_keys WHERE id = 1").Scan(&text); err != nil {
		return "", fmt.Errorf("store: read the VAPID keys: %w", err)
	}
	return text, nil
}

// PushSubscription is one device of a user that takes Web Push messages.
type PushSubscription struct {
	ID     int64
	UserID int64
	push.Subscription
	// UserAgent is a short label of the browser, for the list of one's
	// devices.
	UserAgent string
	CreatedAt time.Time
	// LastSuccess is when a push service last took a message for it; zero
	// if never.
	LastSuccess time.Time
}

// MaxPushSubscriptions bounds one user's devices: saving one more forgets
// the one subscribed longest ago.
const MaxPushSubscriptions = 20

// SavePushSubscription stores sub as a device of the user. An endpoint
// belongs to one browser profile: subscribing it again (new keys, or
// another account signed in on that browser) replaces what was stored for
// it, so that a device never gets another account's notifications. The
// caller validates sub.
func (s *Store) SavePushSubscription(ctx context.Context, userID int64, sub push.Subscription, userAgent string) (PushSubscription, error) {
	p := PushSubscription{UserID: userID, Subscription: sub, UserAgent: userAgent, CreatedAt: now()}
	err := s.write.inTx(ctx, func(tx querier) error {
		err := tx.queryRow(ctx, `
			INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, user_agent, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, p256dh = excluded.p256dh,
				auth = excluded.auth, user_agent = excluded.user_agent, created_at = excluded.created_at,
				last_success = NULL
			RETURNING id`,
			userID, sub.Endpoint, sub.P256dh, sub.Auth, userAgent, p.CreatedAt).Scan(&p.ID)
		if err != nil {
			return err
		}
		_, err = tx.exec(ctx, `
			DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN (
				SELECT id FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)`,
			userID, MaxPushSubscriptions)
		return err
	})
	switch {
	case isForeignKeyViolation(err):
		return PushSubscription{}, chat.Errorf(chat.ENotFound, "No such user.")
	case isDataException(err):
		return PushSubscription{}, chat.Errorf(chat.EInvalid, "The subscription holds text that cannot be stored.")
	case err != nil:
		return PushSubscription{}, fmt.Errorf("store: save push subscription: %w", err)
	}
	return p, nil
}

// PushSubscriptions returns the user's devices, the newest first.
func (s *Store) PushSubscriptions(ctx context.Context, userID int64) ([]PushSubscription, error) {
	return queryAll(ctx, s.read, "push subscriptions", func(r row) (PushSubscription, error) {
		var p PushSubscription
		err := r.Scan(&p.ID, &p.UserID, &p.Endpoint, &p.P256dh, &p.Auth, &p.UserAgent,
			timeCol{&p.CreatedAt}, nullTimeCol{&p.LastSuccess})
		return p, err
	}, `SELECT id, user_id, endpoint, p256dh, auth, user_agent, created_at, last_success
		FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC`, userID)
}

// DeletePushSubscription deletes the user's device at endpoint, and
// reports whether there was one. Another user's device is left alone.
func (s *Store) DeletePushSubscription(ctx context.Context, userID int64, endpoint string) (bool, error) {
	n, err := s.write.exec(ctx, "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2", userID, endpoint)
	if err != nil {
		return false, fmt.Errorf("store: delete push subscription: %w", err)
	}
	return n > 0, nil
}

// DeletePushEndpoint deletes the subscription at endpoint, whoever's it
// is: its push service answered that it no longer exists.
func (s *Store) DeletePushEndpoint(ctx context.Context, endpoint string) error {
	if _, err := s.write.exec(ctx, "DELETE FROM push_subscriptions WHERE endpoint = $1", endpoint); err != nil {
		return fmt.Errorf("store: delete push endpoint: %w", err)
	}
	return nil
}

// PushSucceeded records that a push service took a message for endpoint
// at at.
func (s *Store) PushSucceeded(ctx context.Context, endpoint string, at time.Time) error {
	if _, err := s.write.exec(ctx, "UPDATE push_subscriptions SET last_success = $1 WHERE endpoint = $2",
		at.UTC().Truncate(time.Microsecond), endpoint); err != nil {
		return fmt.Errorf("store: push succeeded: %w", err)
	}
	return nil
}

// PushCandidate is a user with at least one push subscription who may be
// notified of a message: mentioned by it, or a member of its room when
// everyone there is concerned. Whether they are is decided by the caller.
type PushCandidate struct {
	User chat.User
	// Mentioned: the message mentions the user by name.
	Mentioned bool
	// Member: the user has a room_members row for the room; LastRead is
	// its read marker (0 when not a member), Level their level in it.
	Member   bool
	LastRead int64
	Level    chat.Level
	// Kind is the room's.
	Kind chat.RoomKind
}

// PushCandidates returns the users with a push subscription whom the
// message at (room, seq) mentions, and, if members is set, every member of
// the room with one. At most limit are returned (limit ≤ 0: 10000), so that
// one message to a huge room costs a bounded read.
func (s *Store) PushCandidates(ctx context.Context, room string, seq int64, members bool, limit int) ([]PushCandidate, error) {
	if limit <= 0 {
		limit = 10000
	}
	all := 0
	if members {
		all = 1
	}
	// From the few users concerned to their subscriptions, never over
	// every subscribed user: mentions by (room, seq), members by room.
	rs, err := s.read.query(ctx, `
		SELECT u.id, u.name, u.role, u.created_at,
			EXISTS (SELECT 1 FROM mentions n WHERE n.room = $1 AND n.seq = $2 AND n.user_id = u.id),
			m.user_id IS NOT NULL, COALESCE(m.last_read, 0), COALESCE(m.level, 'every'),
			COALESCE((SELECT kind FROM rooms WHERE name = $1), 'public')
		FROM users u
		LEFT JOIN room_members m ON m.user_id = u.id AND m.room = $1
		WHERE u.id IN (
				SELECT n.user_id FROM mentions n WHERE n.room = $1 AND n.seq = $2
				UNION
				SELECT r.user_id FROM room_members r WHERE r.room = $1 AND $3 = 1)
			AND u.deactivated_at IS NULL
			AND EXISTS (SELECT 1 FROM push_subscriptions p WHERE p.user_id = u.id)
		ORDER BY u.id LIMIT $4`, room, seq, all, limit)
	if err != nil {
		return nil, fmt.Errorf("store: push candidates: %w", err)
	}
	cs, err := collect(rs, func(r row) (PushCandidate, error) {
		var c PushCandidate
		var role, level, kind string
		err := r.Scan(&c.User.ID, &c.User.Name, &role, timeCol{&c.User.CreatedAt},
			boolCol{&c.Mentioned}, boolCol{&c.Member}, &c.LastRead, &level, &kind)
		c.User.Role, c.Level, c.Kind = chat.Role(role), chat.Level(level), chat.RoomKind(kind)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: push candidates: %w", err)
	}
	return cs, nil
}
