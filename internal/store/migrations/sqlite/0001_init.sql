-- Timestamps are INTEGER unix microseconds, UTC.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL UNIQUE,
	password_hash TEXT    NOT NULL,
	admin         INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);

-- Browser sessions and API tokens. Only a hash of the secret is stored.
CREATE TABLE sessions (
	hash       BLOB    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT    NOT NULL CHECK (kind IN ('session', 'token')),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- last_seq is the seq of the room's latest message, which is also the number
-- of messages in the room: seqs count 1, 2, 3, ... without gaps.
CREATE TABLE rooms (
	name          TEXT    PRIMARY KEY,
	last_seq      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	last_activity INTEGER NOT NULL
);

-- The rooms a user entered or posted in, with how far they have read.
CREATE TABLE room_members (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room       TEXT    NOT NULL REFERENCES rooms (name),
	last_read  INTEGER NOT NULL DEFAULT 0,
	entered_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, room)
) WITHOUT ROWID;

CREATE TABLE messages (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	room       TEXT    NOT NULL REFERENCES rooms (name),
	seq        INTEGER NOT NULL,
	author     TEXT    NOT NULL,
	content    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	client_id  TEXT,
	UNIQUE (room, seq)
);
-- A repeated (room, author, client_id) is the same message. Messages without
-- a client_id (NULL) are never duplicates of each other, so they stay out of
-- the index.
CREATE UNIQUE INDEX messages_client_id ON messages (room, author, client_id)
	WHERE client_id IS NOT NULL;
