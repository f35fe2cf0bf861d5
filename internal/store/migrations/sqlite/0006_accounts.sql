-- Accounts (docs/API.md, Administration): roles, deactivation, invites,
-- reset links and the audit log.

-- role is the one source of truth of what an account may do; admin is
-- kept equal to (role = 'admin') for whatever still reads it, and read by
-- nothing here.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member'
	CHECK (role IN ('admin', 'moderator', 'member'));
UPDATE users SET role = 'admin' WHERE admin <> 0;
-- A database without an admin (made before the first account became one)
-- gets one: its oldest account, as a new database's first account is.
UPDATE users SET role = 'admin', admin = 1
	WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1)
	AND NOT EXISTS (SELECT 1 FROM users WHERE admin <> 0);
-- When the account was deactivated; NULL while it is active.
ALTER TABLE users ADD COLUMN deactivated_at INTEGER;

-- What "your sessions" shows of each: the address and browser it was
-- made from (a label, not the whole User-Agent).
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN agent TEXT NOT NULL DEFAULT '';

-- Invite links /join/CODE. Only a hash of the code is kept; an invite is
-- named by its id in lists. used counts sign-ups through it, at most
-- max_uses.
CREATE TABLE invites (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	hash       BLOB    NOT NULL UNIQUE,
	created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	max_uses   INTEGER NOT NULL CHECK (max_uses > 0),
	used       INTEGER NOT NULL DEFAULT 0,
	revoked_at INTEGER
);

-- One-time password reset links /reset/CODE, by the hash of the code.
CREATE TABLE reset_links (
	hash       BLOB    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
);
CREATE INDEX reset_links_user_id ON reset_links (user_id);

-- Every admin and moderator action. actor is the actor's name as it was
-- (kept when the account goes); address the client's, or "shell".
CREATE TABLE audit_log (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	at       INTEGER NOT NULL,
	actor_id INTEGER,
	actor    TEXT    NOT NULL,
	action   TEXT    NOT NULL,
	target   TEXT    NOT NULL DEFAULT '',
	detail   TEXT    NOT NULL DEFAULT '',
	address  TEXT    NOT NULL DEFAULT ''
);
