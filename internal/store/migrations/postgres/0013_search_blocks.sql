-- The full-text index knows each message's block of ids, its room and
-- its author (package search, postgresIndexed): beside its words, three
-- lexemes no word can be, '#b' and id >> 16, '#r' and the room's name,
-- '#a' and the author's. A search ANDs its words to the newest blocks
-- first, and to the rooms of in: and the authors of from:, and GIN keeps
-- those matches alone, where an index of words alone handed
-- out every match of the words, in no order, for the statement to sort
-- (at 10,000,000 messages: two words p99 221 ms, with a room, a date and
-- an excluded word 1,935 ms; docs/BENCHMARKS.md, Search).
--
-- The new index is built before the old one is dropped: searches keep
-- the old one until this migration's transaction commits. Building it
-- reads every message: about four minutes at 10,000,000, during which
-- messages cannot be written (DEPLOY.md, Migrations).
CREATE INDEX messages_search ON messages USING gin (
	(search_vector || array_to_tsvector(ARRAY['#b' || (id >> 16)::text, '#r' || room, '#a' || author])));
DROP INDEX messages_search_vector;
