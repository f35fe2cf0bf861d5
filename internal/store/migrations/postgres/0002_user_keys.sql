-- name_key is the name as accounts are told apart: NFKC, case-folded
-- (internal/username). It is filled in for existing accounts by this
-- migration's step (backfillNameKeys, users.go), and made unique by the
-- next migration.
ALTER TABLE users ADD COLUMN name_key text;

-- Browsers an account has logged in from: a long-lived cookie holds the
-- secret, and only its hash is kept. A log-in attempt that carries a
-- device's cookie spends the device's own throttle, not the account's.
CREATE TABLE known_devices (
	hash       bytea       PRIMARY KEY,
	user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL,
	used_at    timestamptz NOT NULL
);
CREATE INDEX known_devices_user_id ON known_devices (user_id, used_at);
