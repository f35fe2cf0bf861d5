-- Per-room levels (docs/API.md, Levels): how much of a room its member
-- wants to hear about. 'every' counts every unread message in the room's
-- badge; 'mentions' only those that mention them; 'muted' nothing. Which
-- messages notify is chat.Notifies.
ALTER TABLE room_members ADD COLUMN level TEXT NOT NULL DEFAULT 'every'
	CHECK (level IN ('every', 'mentions', 'muted'));

-- Mention counts (Store.RoomCounts) count a room's @room messages after a
-- read marker through this index, not by reading every unread message.
CREATE INDEX messages_room_mentions ON messages (room, seq) WHERE mentions_room = 1;
