-- The messages of an author in a room, newest first (package search:
-- from:NAME, with or without in:ROOM): from: and in: together read their
-- matches and nothing else, already in id order; from: alone reads the
-- author's messages in the searcher's rooms. Without it, from:u in:r
-- walked the messages of the room or of the author: at 10,000,000
-- messages p99 603 ms, against 2 ms with it (docs/BENCHMARKS.md, Search).
CREATE INDEX messages_author_room ON messages (author, room, id);
