-- Room names are lower-case ("General" is "general"). This migration's
-- step (lowerCaseRooms, rooms.go) renames the rooms that are not: of the
-- rooms whose names are one when lower-cased, the oldest takes the
-- lower-cased name and each other one that name and "-2", "-3", ...; it
-- also fills room_words for every room.

-- Who made the room: whoever posted its first message, or confirmed it
-- (POST /api/v1/rooms); NULL for rooms made before this was recorded.
ALTER TABLE rooms ADD COLUMN created_by INTEGER REFERENCES users (id);

-- Room search by prefix (Store.Rooms): each room's name, and each tail of
-- it that starts a word (after a "-" or "_"): "dev-ops_team" is found by
-- "dev", "ops" and "team", by a range of this index, not by reading every
-- room.
CREATE TABLE room_words (
	word TEXT NOT NULL,
	room TEXT NOT NULL REFERENCES rooms (name),
	PRIMARY KEY (word, room)
) WITHOUT ROWID;
CREATE INDEX room_words_room ON room_words (room);

-- "Recently active": the rooms with a message, by their last one.
CREATE INDEX rooms_recent ON rooms (last_activity DESC, name) WHERE last_seq > 0;
