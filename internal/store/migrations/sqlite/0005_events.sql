-- Room events (docs/PROTOCOL.md, Room events): every change to a message
-- (an edit, a deletion, a reaction added or removed) is an entry of the
-- room's log with the room's next seq, like a new message. New messages
-- stay in messages, one row each, in their current state, so that a page
-- of history costs no replay; the other entries are rows of changes. The
-- two together hold every seq from 1 to rooms.last_seq once.
--
-- The current state of a message, beside its content:
--   num            its place among the room's messages (1, 2, 3, ...),
--                  for unread counts; NULL in rows stored before this
--                  migration, when every entry was a message and num = seq
--   rev            the seq of the last change applied to it; NULL = seq
--   edited_at      when it was last edited; NULL if never
--   deleted_at     when it was deleted (its content erased); NULL if not
--   reply_to       the seq of the message it answers; NULL for none
--   mentions       the names it mentions, separated by spaces (no name
--                  has one); NULL for none
--   mentions_room  it mentions @room
--   reactions      how many reactions it has now, so that a page reads
--                  reactions only when one of its messages has any
ALTER TABLE messages ADD COLUMN num INTEGER;
ALTER TABLE messages ADD COLUMN rev INTEGER;
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN deleted_at INTEGER;
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
ALTER TABLE messages ADD COLUMN mentions TEXT;
ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reactions INTEGER NOT NULL DEFAULT 0;
-- Unread counts leave out deleted messages: the few of a room after a
-- read marker are counted through this index.
CREATE INDEX messages_deleted ON messages (room, seq) WHERE deleted_at IS NOT NULL;

-- last_seq is now the room's latest entry; msg_count counts its messages
-- (the num of the latest), deleted_count those deleted.
ALTER TABLE rooms ADD COLUMN msg_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rooms ADD COLUMN deleted_count INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET msg_count = last_seq;

-- The changes of the log. target is the seq of the message changed;
-- author who made the change. An edit carries its content (erased, NULL,
-- when its message is deleted) and what it mentions; a reaction its emoji.
CREATE TABLE changes (
	room          TEXT    NOT NULL REFERENCES rooms (name),
	seq           INTEGER NOT NULL,
	kind          TEXT    NOT NULL CHECK (kind IN ('edit', 'delete', 'react', 'unreact')),
	target        INTEGER NOT NULL,
	author        TEXT    NOT NULL,
	content       TEXT,
	mentions      TEXT,
	mentions_room INTEGER NOT NULL DEFAULT 0,
	emoji         TEXT,
	created_at    INTEGER NOT NULL,
	client_id     TEXT,
	PRIMARY KEY (room, seq)
) WITHOUT ROWID;
-- A repeated (room, author, client_id) is the same change.
CREATE UNIQUE INDEX changes_client_id ON changes (room, author, client_id)
	WHERE client_id IS NOT NULL;
-- A deletion erases the content of its message's edits.
CREATE INDEX changes_edits ON changes (room, target) WHERE kind = 'edit';

-- Every version of an edited message's content, the current one included,
-- by the seq of the entry that wrote it (the message's own for the
-- first). A message never edited has none here: its content is its one
-- version.
CREATE TABLE message_versions (
	room       TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	rev        INTEGER NOT NULL,
	content    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (room, seq, rev)
) WITHOUT ROWID;

-- Reactions, one row per (message, emoji, user): present or removed, and
-- the seq of the change that made it so, which a repeated add or remove
-- answers with.
CREATE TABLE reactions (
	room    TEXT    NOT NULL,
	target  INTEGER NOT NULL,
	emoji   TEXT    NOT NULL,
	author  TEXT    NOT NULL,
	present INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	PRIMARY KEY (room, target, emoji, author)
) WITHOUT ROWID;

-- Who each message mentions, for counting and searching mentions by user.
CREATE TABLE mentions (
	room       TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	message_id INTEGER NOT NULL,
	PRIMARY KEY (room, seq, user_id)
) WITHOUT ROWID;
CREATE INDEX mentions_user ON mentions (user_id, room, seq);
