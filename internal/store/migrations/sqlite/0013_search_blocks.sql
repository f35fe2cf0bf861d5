-- Nothing on SQLite: its FTS5 index hands out a word's matches newest
-- first already (the PostgreSQL migration of this number gives GIN the
-- blocks of ids it needs for the same).
SELECT 1;
