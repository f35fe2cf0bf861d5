-- When a session or token was last used, to within a few minutes (the
-- web server records it at most every five minutes of each): shown in
-- its owner's list. NULL until its first use.
ALTER TABLE sessions ADD COLUMN used_at timestamptz;
