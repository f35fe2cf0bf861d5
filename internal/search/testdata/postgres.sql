-- Full-text search over messages.content (package search).
--
-- The store writes search_vector in the statement that inserts or edits a
-- message: CAST($n AS tsvector) of search.Vector(content), the words SQLite's
-- FTS5 index holds, at the same positions. PostgreSQL's own parser
-- (to_tsvector) would cut text otherwise (e-mail addresses, URLs, hyphenated
-- words are single lexemes there) and depends on the database's locale.
-- A deleted row takes its vector with it; an erased content gets the empty
-- vector, Vector('').
ALTER TABLE messages ADD COLUMN search_vector tsvector;
CREATE INDEX messages_search_vector ON messages USING gin (search_vector);

-- The messages stored before this migration have no vector yet: the store
-- fills them after migrating, in batches, newest first, until none is left:
--
--   SELECT id, content FROM messages
--   WHERE search_vector IS NULL AND id < $1 ORDER BY id DESC LIMIT 1000;
--   UPDATE messages SET search_vector = CAST(v.vector AS tsvector)
--   FROM unnest($1::int8[], $2::text[]) AS v(id, vector) WHERE messages.id = v.id;
--
-- Until then those messages are found by operators alone, never by words.
