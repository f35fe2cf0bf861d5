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

-- The index changes with the message, in the statement that changes it: an
-- insert, an edit of the content (an erased content included), a deletion.
-- An external-content index forgets a row by being given the words it
-- indexed, hence old.content.
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
	INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
	INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
	INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;

-- The messages stored before this migration.
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
