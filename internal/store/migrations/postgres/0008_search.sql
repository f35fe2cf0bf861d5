-- Full-text search over messages.content (package search, docs/API.md,
-- Search).
--
-- The batch writer fills search_vector in the statement that inserts or
-- edits a message: CAST($n AS tsvector) of search.Vector(content), the
-- words SQLite's FTS5 index holds, at the same positions. PostgreSQL's own
-- parser (to_tsvector) would cut text otherwise (e-mail addresses, URLs,
-- hyphenated words are single lexemes there) and depends on the
-- database's locale. A deletion erases the content and writes the empty
-- vector, Vector('').
ALTER TABLE messages ADD COLUMN search_vector tsvector;
CREATE INDEX messages_search_vector ON messages USING gin (search_vector);

-- The messages stored before this migration get their vectors from this
-- migration's step (backfillSearchVectors, search.go), in the same
-- transaction, a thousand at a time: SQL cannot write search.Vector.
