-- Full-text search over messages.content (package search, docs/API.md,
-- Search).
--
-- An external-content FTS5 table: it keeps only the index, the words are
-- read from messages.content. unicode61 with remove_diacritics 2 folds case
-- and Latin diacritics; search.Vector gives PostgreSQL the same words.
-- columnsize = 0: results are ordered by id, never by rank, so the
-- per-message word counts that rank needs are not kept.
CREATE VIRTUAL TABLE messages_fts USING fts5(
	content,
	content = 'messages',
	content_rowid = 'id',
	columnsize = 0,
	tokenize = 'unicode61 remove_diacritics 2'
);

-- New messages are indexed by the batch writer's transaction that inserts
-- them, once, after its inserts (search.SQLiteIndexNew):
--
--   INSERT INTO messages_fts (rowid, content)
--   SELECT id, content FROM messages WHERE id >= $1   -- the first new id
--
-- Not by an AFTER INSERT trigger, nor by that statement after each insert:
-- both put each message's statement in a statement journal, whose
-- savepoint makes FTS5 write its pending words to disk at every message
-- instead of once a transaction (about 13-15 µs a message once a
-- transaction against 26-44 µs with a trigger, BenchmarkIndexSQLite).
-- Every message must be indexed so: the triggers below tell the index to
-- forget a row's old words, and for a row it never had that fails
-- ("database disk image is malformed").

-- Edits and deletions (which erase the content) are followed by triggers,
-- in the statement that makes them. An external-content index forgets a
-- row by being given the words it indexed, hence old.content. The WHEN
-- keeps the index out of the updates that set content to what it was: a
-- reaction rewrites the row's state, its content unchanged.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages
WHEN old.content IS NOT new.content BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
	INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

-- The messages stored before this migration. A deleted message's content
-- is erased (''): it gives the index no word.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
