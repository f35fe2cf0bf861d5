-- Web Push (docs/API.md, Push).

-- The server's VAPID key pair, one row, made by the first process that
-- needs it (Store.VAPIDKeys: insert if absent, then read): the private
-- scalar in base64url. Every subscription is bound to its public key, so
-- it is never replaced.
CREATE TABLE push_keys (
	id          integer     PRIMARY KEY CHECK (id = 1),
	private_key text        NOT NULL,
	created_at  timestamptz NOT NULL
);

-- A browser's push subscription (PushSubscription.toJSON()): endpoint is
-- the push service's URL for that device, a capability, unique; p256dh
-- and auth are the device's keys, base64url. user_agent is a short label
-- for the list of one's devices; last_success when a push service last
-- took a message for it, NULL if never.
CREATE TABLE push_subscriptions (
	id           bigserial   PRIMARY KEY,
	user_id      bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	endpoint     text        NOT NULL UNIQUE,
	p256dh       text        NOT NULL,
	auth         text        NOT NULL,
	user_agent   text        NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	last_success timestamptz
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);

-- The members of a room, for the people to notify of @room or of a
-- message in a direct conversation (room_members' key starts with the
-- user). Named as any index of room_members by room would be.
CREATE INDEX IF NOT EXISTS room_members_room ON room_members (room, user_id);
