-- Every account has its key since the last migration: one account per key
-- from now on.
CREATE UNIQUE INDEX users_key ON users (name_key);
