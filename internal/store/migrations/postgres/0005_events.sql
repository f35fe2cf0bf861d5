-- Room events: see the SQLite migration of the same number (0005_events.sql), which says
-- what each column and table holds.
ALTER TABLE messages ADD COLUMN num bigint;
ALTER TABLE messages ADD COLUMN rev bigint;
ALTER TABLE messages ADD COLUMN edited_at timestamptz;
ALTER TABLE messages ADD COLUMN deleted_at timestamptz;
ALTER TABLE messages ADD COLUMN reply_to bigint;
ALTER TABLE messages ADD COLUMN mentions text;
ALTER TABLE messages ADD COLUMN mentions_room boolean NOT NULL DEFAULT false;
ALTER TABLE messages ADD COLUMN reactions integer NOT NULL DEFAULT 0;
CREATE INDEX messages_deleted ON messages (room, seq) WHERE deleted_at IS NOT NULL;

ALTER TABLE rooms ADD COLUMN msg_count bigint NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN deleted_count bigint NOT NULL DEFAULT 0;
UPDATE rooms SET msg_count = last_seq;

CREATE TABLE changes (
	room          text COLLATE "C" NOT NULL REFERENCES rooms (name),
	seq           bigint           NOT NULL,
	kind          text             NOT NULL CHECK (kind IN ('edit', 'delete', 'react', 'unreact')),
	target        bigint           NOT NULL,
	author        text             NOT NULL,
	content       text,
	mentions      text,
	mentions_room boolean          NOT NULL DEFAULT false,
	emoji         text,
	created_at    timestamptz      NOT NULL,
	client_id     text,
	PRIMARY KEY (room, seq)
);
CREATE UNIQUE INDEX changes_client_id ON changes (room, author, client_id)
	WHERE client_id IS NOT NULL;
CREATE INDEX changes_edits ON changes (room, target) WHERE kind = 'edit';

CREATE TABLE message_versions (
	room       text COLLATE "C" NOT NULL,
	seq        bigint           NOT NULL,
	rev        bigint           NOT NULL,
	content    text             NOT NULL,
	created_at timestamptz      NOT NULL,
	PRIMARY KEY (room, seq, rev)
);

CREATE TABLE reactions (
	room    text COLLATE "C" NOT NULL,
	target  bigint           NOT NULL,
	emoji   text             NOT NULL,
	author  text             NOT NULL,
	present boolean          NOT NULL,
	seq     bigint           NOT NULL,
	PRIMARY KEY (room, target, emoji, author)
);

CREATE TABLE mentions (
	room       text COLLATE "C" NOT NULL,
	seq        bigint           NOT NULL,
	user_id    bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	message_id bigint           NOT NULL,
	PRIMARY KEY (room, seq, user_id)
);
CREATE INDEX mentions_user ON mentions (user_id, room, seq);
