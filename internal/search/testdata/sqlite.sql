-- Full-text search over messages.content (package search).
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

-- New messages are indexed by the transaction that inserts them, once,
-- after all its inserts (search.SQLiteIndexNew):
--
--   INSERT INTO messages_fts (rowid, content)
--   SELECT id, content FROM messages WHERE id >= $1   -- the first new id
--
-- Not by an AFTER INSERT trigger, nor by that statement after each insert:
-- both put each message's statement in a statement journal, and the
-- journal's savepoint makes FTS5 write its pending words to disk at every
-- message instead of once a transaction. Measured per message, in
-- transactions of 64 (BenchmarkIndexSQLite, two runs of -count 8 or 10 on
-- a busy 2-core machine): 5.6-6.6 µs without the index, 13-15.5 µs with
-- this statement once a transaction, 26-44 µs with a trigger, 38-42 µs
-- with this statement after each insert.

-- Edits (an erased content included) and deletions, rare, are followed by
-- triggers, in the statement that makes them, whatever makes them. An
-- external-content index forgets a row by being given the words it
-- indexed, hence old.content.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
	INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

-- The messages stored before this migration.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
