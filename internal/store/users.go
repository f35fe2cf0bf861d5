package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"parley/internal/chat"
	"parley/internal/username"
)

// CreateUser stores a new account. The caller hashes the password. A name
// already taken is a *chat.Error with code chat.EConflict: taken means
// another account's name has the same key (username.Key), so "Alice" and
// "ａｌｉｃｅ" are taken once "alice" is. admin makes it an admin; the
// first account of an empty database is one anyway (CreateAccount).
func (s *Store) CreateUser(ctx context.Context, name, passwordHash string, admin bool) (chat.User, error) {
	return s.CreateAccount(ctx, NewAccount{Name: name, PasswordHash: passwordHash, Admin: admin})
}

// userCols are the columns scanUser reads, of users (no alias).
const userCols = "id, name, role, deactivated_at, created_at"

// scanUser reads userCols.
func scanUser(r row, extra ...any) (chat.User, error) {
	var u chat.User
	var role string
	var deactivated time.Time
	dest := append([]any{&u.ID, &u.Name, &role, nullTimeCol{&deactivated}, timeCol{&u.CreatedAt}}, extra...)
	if err := r.Scan(dest...); err != nil {
		return chat.User{}, err
	}
	u.Role, u.Deactivated = chat.Role(role), !deactivated.IsZero()
	return u, nil
}

// UserByName returns the user called name and their password hash, or a
// *chat.Error with code chat.ENotFound. Any spelling of the name's key
// finds the account ("ALICE" finds "alice"); an account whose name is
// exactly name comes first, which only matters for accounts made before
// names were compared by key (backfillNameKeys). A deactivated account
// is found, with Deactivated set.
func (s *Store) UserByName(ctx context.Context, name string) (chat.User, string, error) {
	return s.userByName(ctx, s.read, name)
}

func (s *Store) userByName(ctx context.Context, q querier, name string) (chat.User, string, error) {
	if !chat.ValidUsername(name) {
		// No user has such a name, and PostgreSQL would refuse one with NUL.
		return chat.User{}, "", chat.Errorf(chat.ENotFound, "No such user.")
	}
	var hash string
	u, err := scanUser(q.queryRow(ctx, `
		SELECT `+userCols+`, password_hash FROM users
		WHERE name = $1 OR name_key = $2
		ORDER BY CASE WHEN name = $1 THEN 0 ELSE 1 END LIMIT 1`, name, username.Key(name)), &hash)
	if isNoRows(err) {
		return chat.User{}, "", chat.Errorf(chat.ENotFound, "No such user: %s.", name)
	}
	if err != nil {
		return chat.User{}, "", fmt.Errorf("store: user by name: %w", err)
	}
	return u, hash, nil
}

// SetPasswordHash replaces a user's password hash. An unknown userID is a
// *chat.Error with code chat.ENotFound.
func (s *Store) SetPasswordHash(ctx context.Context, userID int64, hash string) error {
	n, err := s.write.exec(ctx, "UPDATE users SET password_hash = $1 WHERE id = $2", hash, userID)
	if err != nil {
		return fmt.Errorf("store: set password hash: %w", err)
	}
	if n == 0 {
		return chat.Errorf(chat.ENotFound, "No such user.")
	}
	return nil
}

// backfillNameKeys is migration 2's step: it gives every account its key.
// Accounts made before keys whose keys collide ("Alice" and "alice") all
// keep working: the oldest gets the key, each other one its key and
// "#ID" ("alice#7"), which no name can fold to ('#' is not allowed in
// names). Each still logs in by its exact name; any other spelling of the
// key finds the oldest.
func backfillNameKeys(ctx context.Context, tx querier) error {
	rs, err := tx.query(ctx, "SELECT id, name FROM users ORDER BY created_at, id")
	if err != nil {
		return err
	}
	type user struct {
		id   int64
		name string
	}
	var users []user
	for rs.Next() {
		var u user
		if err := rs.Scan(&u.id, &u.name); err != nil {
			rs.Close()
			return err
		}
		users = append(users, u)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	taken := make(map[string]bool, len(users))
	for _, u := range users {
		key := username.Key(u.name)
		if taken[key] {
			key += "#" + strconv.FormatInt(u.id, 10)
		}
		taken[key] = true
		if _, err := tx.exec(ctx, "UPDATE users SET name_key = $1 WHERE id = $2", key, u.id); err != nil {
			return err
		}
	}
	return nil
}

// MaxKnownDevices is how many browsers each account is remembered on;
// a log-in on one more forgets the one used longest ago.
const MaxKnownDevices = 20

// AddKnownDevice records that the user logged in on the browser whose
// device secret hashes to hash, forgetting the user's devices past
// MaxKnownDevices, longest unused first.
func (s *Store) AddKnownDevice(ctx context.Context, hash []byte, userID int64, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	err := s.write.inTx(ctx, func(tx querier) error {
		if _, err := tx.exec(ctx,
			"INSERT INTO known_devices (hash, user_id, created_at, used_at) VALUES ($1, $2, $3, $3)",
			hash, userID, at); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `
			DELETE FROM known_devices WHERE user_id = $1 AND hash NOT IN (
				SELECT hash FROM known_devices WHERE user_id = $1 ORDER BY used_at DESC, created_at DESC LIMIT $2)`,
			userID, MaxKnownDevices)
		return err
	})
	switch {
	case isUniqueViolation(err):
		return chat.Errorf(chat.EConflict, "That device is known already.")
	case isForeignKeyViolation(err):
		return chat.Errorf(chat.ENotFound, "No such user.")
	case err != nil:
		return fmt.Errorf("store: add known device: %w", err)
	}
	return nil
}

// KnownDevice returns the user whose browser's device secret hashes to
// hash, or 0 if no account knows it.
func (s *Store) KnownDevice(ctx context.Context, hash []byte) (int64, error) {
	var id int64
	err := s.read.queryRow(ctx, "SELECT user_id FROM known_devices WHERE hash = $1", hash).Scan(&id)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: known device: %w", err)
	}
	return id, nil
}

// UseKnownDevice records that the device was used to log in at at, which
// keeps it among the user's MaxKnownDevices.
func (s *Store) UseKnownDevice(ctx context.Context, hash []byte, at time.Time) error {
	if _, err := s.write.exec(ctx, "UPDATE known_devices SET used_at = $1 WHERE hash = $2",
		at.UTC().Truncate(time.Microsecond), hash); err != nil {
		return fmt.Errorf("store: use known device: %w", err)
	}
	return nil
}
