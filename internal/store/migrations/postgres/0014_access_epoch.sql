-- A room's access epoch: one more at every change that may take someone's
-- right to read the room (made private or a direct conversation, a member
-- removed or gone). The message and change writers read it with the
-- room's last_seq, under the same lock, and stamp each entry with it; a
-- socket whose access was checked under an older epoch is sent nothing
-- newer until it is checked again (docs/ARCHITECTURE.md, Access epochs).
-- Rooms that exist keep 0: what their sockets checked holds.
ALTER TABLE rooms ADD COLUMN access_epoch bigint NOT NULL DEFAULT 0;
