package store

import (
	"context"
	"fmt"

	"parley/internal/chat"
)

// CreateUser stores a new account. The caller hashes the password. A name
// already taken, compared case-sensitively, is a *chat.Error with code
// chat.EConflict.
func (s *Store) CreateUser(ctx context.Context, name, passwordHash string, admin bool) (chat.User, error) {
	if err := chat.CheckUsername(name); err != nil {
		return chat.User{}, err
	}
	u := chat.User{Name: name, Admin: admin, CreatedAt: now()}
	err := s.write.queryRow(ctx,
		"INSERT INTO users (name, password_hash, admin, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
		name, passwordHash, admin, u.CreatedAt).Scan(&u.ID)
	if isUniqueViolation(err) {
		return chat.User{}, chat.Errorf(chat.EConflict, "That username is taken.")
	}
	if err != nil {
		return chat.User{}, fmt.Errorf("store: create user: %w", err)
	}
	return u, nil
}

// UserByName returns the user called name and their password hash, or a
// *chat.Error with code chat.ENotFound.
func (s *Store) UserByName(ctx context.Context, name string) (chat.User, string, error) {
	if !chat.ValidUsername(name) {
		// No user has such a name, and PostgreSQL would refuse one with NUL.
		return chat.User{}, "", chat.Errorf(chat.ENotFound, "No such user.")
	}
	u := chat.User{Name: name}
	var hash string
	err := s.read.queryRow(ctx,
		"SELECT id, password_hash, admin, created_at FROM users WHERE name = $1", name).
		Scan(&u.ID, &hash, &u.Admin, timeCol{&u.CreatedAt})
	if isNoRows(err) {
		return chat.User{}, "", chat.Errorf(chat.ENotFound, "No such user.")
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
