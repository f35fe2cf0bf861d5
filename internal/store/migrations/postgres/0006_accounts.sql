-- Accounts: see the SQLite migration of the same number (0006_accounts.sql),
-- which says what each column and table holds.
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'member'
	CHECK (role IN ('admin', 'moderator', 'member'));
UPDATE users SET role = 'admin' WHERE admin;
-- A database without an admin (made before the first account became one)
-- gets one: its oldest account, as a new database's first account is.
UPDATE users SET role = 'admin', admin = true
	WHERE id = (SELECT id FROM users ORDER BY created_at, id LIMIT 1)
	AND NOT EXISTS (SELECT 1 FROM users WHERE admin);
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;

ALTER TABLE sessions ADD COLUMN address text NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN agent text NOT NULL DEFAULT '';

CREATE TABLE invites (
	id         bigserial   PRIMARY KEY,
	hash       bytea       NOT NULL UNIQUE,
	created_by bigint      REFERENCES users (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	max_uses   integer     NOT NULL CHECK (max_uses > 0),
	used       integer     NOT NULL DEFAULT 0,
	revoked_at timestamptz
);

CREATE TABLE reset_links (
	hash       bytea       PRIMARY KEY,
	user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_by bigint      REFERENCES users (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz
);
CREATE INDEX reset_links_user_id ON reset_links (user_id);

CREATE TABLE audit_log (
	id       bigserial   PRIMARY KEY,
	at       timestamptz NOT NULL,
	actor_id bigint,
	actor    text        NOT NULL,
	action   text        NOT NULL,
	target   text        NOT NULL DEFAULT '',
	detail   text        NOT NULL DEFAULT '',
	address  text        NOT NULL DEFAULT ''
);
