-- Room names are compared and sorted byte by byte (COLLATE "C"), as SQLite does.

CREATE TABLE users (
	id            bigserial   PRIMARY KEY,
	name          text        NOT NULL UNIQUE,
	password_hash text        NOT NULL,
	admin         boolean     NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL
);

-- Browser sessions and API tokens. Only a hash of the secret is stored.
CREATE TABLE sessions (
	hash       bytea       PRIMARY KEY,
	user_id    bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       text        NOT NULL CHECK (kind IN ('session', 'token')),
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- last_seq is the seq of the room's latest message, which is also the number
-- of messages in the room: seqs count 1, 2, 3, ... without gaps.
CREATE TABLE rooms (
	name          text COLLATE "C" PRIMARY KEY,
	last_seq      bigint      NOT NULL DEFAULT 0,
	created_at    timestamptz NOT NULL,
	last_activity timestamptz NOT NULL
);

-- The rooms a user entered or posted in, with how far they have read.
CREATE TABLE room_members (
	user_id    bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	room       text COLLATE "C" NOT NULL REFERENCES rooms (name),
	last_read  bigint           NOT NULL DEFAULT 0,
	entered_at timestamptz      NOT NULL,
	PRIMARY KEY (user_id, room)
);

CREATE TABLE messages (
	id         bigserial        PRIMARY KEY,
	room       text COLLATE "C" NOT NULL REFERENCES rooms (name),
	seq        bigint           NOT NULL,
	author     text             NOT NULL,
	content    text             NOT NULL,
	created_at timestamptz      NOT NULL,
	client_id  text,
	UNIQUE (room, seq)
);
-- A repeated (room, author, client_id) is the same message. Messages without
-- a client_id (NULL) are never duplicates of each other, so they stay out of
-- the index.
CREATE UNIQUE INDEX messages_client_id ON messages (room, author, client_id)
	WHERE client_id IS NOT NULL;
