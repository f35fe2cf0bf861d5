-- Rooms you control (docs/API.md, Rooms; docs/SECURITY.md, Private rooms).
--
-- kind: who may enter. 'public' (the default, and every room made before
-- this migration): anyone signed in. 'private' and 'direct': the members
-- only, a member being a row of room_members; to anyone else the room does
-- not exist.
ALTER TABLE rooms ADD COLUMN kind text NOT NULL DEFAULT 'public'
	CHECK (kind IN ('public', 'private', 'direct'));
-- topic: a line the room page shows under its name; '' for none.
ALTER TABLE rooms ADD COLUMN topic text NOT NULL DEFAULT '';
-- archived_at: when the room was made read-only; NULL if it is not.
ALTER TABLE rooms ADD COLUMN archived_at timestamptz;

-- Who may not send in a room until when. A mute that has ended may stay
-- until it is replaced or lifted: it is compared with the time of each
-- send. by is who muted (NULL once that account is gone).
CREATE TABLE room_mutes (
	room    text COLLATE "C" NOT NULL REFERENCES rooms (name),
	user_id bigint           NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	until   timestamptz      NOT NULL,
	by      bigint           REFERENCES users (id) ON DELETE SET NULL,
	PRIMARY KEY (room, user_id)
);

-- The members of a room (private rooms' settings, direct messages'
-- names): room_members by room.
CREATE INDEX room_members_room ON room_members (room, user_id);
