#!/usr/bin/env bash
# Fills a room with N messages in one bulk insert, for the history
# benchmark (docs/BENCHMARKS.md), and, with CHANGES above 0, that many
# changes after each message, mixed into the room's log as a busy room
# has them. The database must already be migrated (`parley migrate --db
# DSN`). Needs the sqlite3 or psql client.
#
#   scripts/history-data.sh sqlite:/tmp/history.db 1000000 [ROOM] [CHANGES]
#   scripts/history-data.sh 'postgres://root@127.0.0.1:5432/bench?sslmode=disable' 1000000 [ROOM] [CHANGES]
#
# With CHANGES = K, the room's log gets N × (1 + K) entries: each message
# is followed by its K changes. Most are reactions, each by a user of its
# own (so a message has K reactions); every 50th message's first change is
# an edit instead (a second version of its content), and every 200th
# message's last change deletes it (a tombstone: no content, reactions or
# versions). N = 5,000,000 with K = 1 is a log of 10 million entries.
set -euo pipefail

if [[ $# -lt 2 ]]; then
	echo "usage: $0 DSN COUNT [ROOM] [CHANGES]" >&2
	exit 2
fi
dsn="$1"
count="$2"
room="${3:-history}"
k="${4:-0}"
if ! [[ "$count" =~ ^[0-9]+$ ]] || ! [[ "$k" =~ ^[0-9]+$ ]] || ! [[ "$room" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
	echo "$0: COUNT and CHANGES must be numbers and ROOM a room name" >&2
	exit 2
fi
if ((k > 20)); then
	echo "$0: CHANGES is at most 20 (a message takes at most 20 different reactions)" >&2
	exit 2
fi
step=$((k + 1))
deleted=0
if ((k > 0)); then
	deleted=$((count / 200))
fi

# For message i (1..COUNT) of the run, with the room's last seq and
# message count before it, b and n:
#   seq  b + (i-1)·step + 1, num n + i
#   its changes j = 1..K at seq + j: a reaction 👍 of user reactorJ, but
#   for an edit (j = 1 of every 50th) and a deletion (j = K of every 200th)
#   rev  its last change's seq (its own seq without changes)
case "$dsn" in
sqlite:*)
	path="${dsn#sqlite:}"
	path="${path%%\?*}"
	# Timestamps are unix microseconds; one message a millisecond, ending now.
	sqlite3 "$path" <<EOF
PRAGMA journal_mode = WAL;
BEGIN;
INSERT OR IGNORE INTO rooms (name, last_seq, created_at, last_activity)
	VALUES ('$room', 0, CAST(strftime('%s','now') AS INTEGER) * 1000000, CAST(strftime('%s','now') AS INTEGER) * 1000000);
CREATE TEMP TABLE base AS SELECT last_seq AS b, msg_count AS n, CAST(strftime('%s','now') AS INTEGER) * 1000000 AS now
	FROM rooms WHERE name = '$room';
CREATE TEMP TABLE ks AS WITH RECURSIVE c(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM c WHERE j < $k) SELECT j FROM c WHERE $k > 0;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $count)
INSERT INTO messages (room, seq, num, author, content, created_at, rev, edited_at, deleted_at, reactions)
	SELECT '$room', b + (i - 1) * $step + 1, n + i, 'history-bot',
		CASE WHEN $k > 0 AND i % 200 = 0 THEN ''
			WHEN $k > 0 AND i % 50 = 0 THEN 'history message number ' || (b + (i - 1) * $step + 1) || ', edited to a new length for a chat line'
			ELSE 'history message number ' || (b + (i - 1) * $step + 1) || ', of an ordinary length for a chat line' END,
		now - ($count - i) * 1000,
		CASE WHEN $k > 0 THEN b + i * $step END,
		CASE WHEN $k > 0 AND i % 50 = 0 AND i % 200 <> 0 THEN now - ($count - i) * 1000 + 500 END,
		CASE WHEN $k > 0 AND i % 200 = 0 THEN now - ($count - i) * 1000 + 500 END,
		CASE WHEN $k = 0 OR i % 200 = 0 THEN 0 WHEN i % 50 = 0 THEN $k - 1 ELSE $k END
	FROM c, base;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $count),
	x AS (SELECT i, j, b + (i - 1) * $step + 1 AS target, now - ($count - i) * 1000 + 500 AS at,
		CASE WHEN i % 200 = 0 AND j = $k THEN 'delete' WHEN i % 50 = 0 AND j = 1 THEN 'edit' ELSE 'react' END AS kind
		FROM c, ks, base)
INSERT INTO changes (room, seq, kind, target, author, content, emoji, created_at)
	SELECT '$room', target + j, kind, target, CASE WHEN kind = 'react' THEN 'reactor' || j ELSE 'history-bot' END,
		CASE WHEN kind = 'edit' AND i % 200 <> 0 THEN 'history message number ' || target || ', edited to a new length for a chat line' END,
		CASE WHEN kind = 'react' THEN '👍' END, at
	FROM x;
INSERT INTO reactions (room, target, emoji, author, present, seq)
	SELECT room, target, emoji, author, 1, seq FROM changes
	WHERE room = '$room' AND kind = 'react' AND seq > (SELECT b FROM base)
		AND (target - (SELECT b FROM base) - 1) / $step % 200 <> 199;
INSERT INTO message_versions (room, seq, rev, content, created_at)
	SELECT m.room, m.seq, m.seq, 'history message number ' || m.seq || ', of an ordinary length for a chat line', m.created_at
	FROM messages m WHERE m.room = '$room' AND m.seq > (SELECT b FROM base) AND m.edited_at IS NOT NULL
	UNION ALL
	SELECT c.room, c.target, c.seq, c.content, c.created_at FROM changes c
	WHERE c.room = '$room' AND c.seq > (SELECT b FROM base) AND c.kind = 'edit' AND c.content IS NOT NULL;
UPDATE rooms SET last_seq = last_seq + $count * $step, msg_count = msg_count + $count, deleted_count = deleted_count + $deleted
	WHERE name = '$room';
COMMIT;
PRAGMA wal_checkpoint(TRUNCATE);
ANALYZE;
EOF
	;;
postgres://* | postgresql://*)
	psql -q -v ON_ERROR_STOP=1 "$dsn" <<EOF
BEGIN;
INSERT INTO rooms (name, last_seq, created_at, last_activity)
	VALUES ('$room', 0, now(), now()) ON CONFLICT (name) DO NOTHING;
CREATE TEMP TABLE base ON COMMIT DROP AS SELECT last_seq AS b, msg_count AS n, now() AS now FROM rooms WHERE name = '$room';
INSERT INTO messages (room, seq, num, author, content, created_at, rev, edited_at, deleted_at, reactions)
	SELECT '$room', b + (i - 1) * $step + 1, n + i, 'history-bot',
		CASE WHEN $k > 0 AND i % 200 = 0 THEN ''
			WHEN $k > 0 AND i % 50 = 0 THEN 'history message number ' || (b + (i - 1) * $step + 1) || ', edited to a new length for a chat line'
			ELSE 'history message number ' || (b + (i - 1) * $step + 1) || ', of an ordinary length for a chat line' END,
		now - ($count - i) * interval '1 millisecond',
		CASE WHEN $k > 0 THEN b + i * $step END,
		CASE WHEN $k > 0 AND i % 50 = 0 AND i % 200 <> 0 THEN now - ($count - i) * interval '1 millisecond' + interval '500 microseconds' END,
		CASE WHEN $k > 0 AND i % 200 = 0 THEN now - ($count - i) * interval '1 millisecond' + interval '500 microseconds' END,
		CASE WHEN $k = 0 OR i % 200 = 0 THEN 0 WHEN i % 50 = 0 THEN $k - 1 ELSE $k END
	FROM generate_series(1, $count) AS i, base;
INSERT INTO changes (room, seq, kind, target, author, content, emoji, created_at)
	SELECT '$room', target + j, kind, target, CASE WHEN kind = 'react' THEN 'reactor' || j ELSE 'history-bot' END,
		CASE WHEN kind = 'edit' AND i % 200 <> 0 THEN 'history message number ' || target || ', edited to a new length for a chat line' END,
		CASE WHEN kind = 'react' THEN '👍' END, at
	FROM (SELECT i, j, b + (i - 1) * $step + 1 AS target, now - ($count - i) * interval '1 millisecond' + interval '500 microseconds' AS at,
			CASE WHEN i % 200 = 0 AND j = $k THEN 'delete' WHEN i % 50 = 0 AND j = 1 THEN 'edit' ELSE 'react' END AS kind
		FROM generate_series(1, $count) AS i, generate_series(1, $k) AS j, base) AS x;
INSERT INTO reactions (room, target, emoji, author, present, seq)
	SELECT room, target, emoji, author, true, seq FROM changes, base
	WHERE room = '$room' AND kind = 'react' AND seq > b AND (target - b - 1) / $step % 200 <> 199;
INSERT INTO message_versions (room, seq, rev, content, created_at)
	SELECT m.room, m.seq, m.seq, 'history message number ' || m.seq || ', of an ordinary length for a chat line', m.created_at
	FROM messages m, base WHERE m.room = '$room' AND m.seq > b AND m.edited_at IS NOT NULL
	UNION ALL
	SELECT c.room, c.target, c.seq, c.content, c.created_at FROM changes c, base
	WHERE c.room = '$room' AND c.seq > b AND c.kind = 'edit' AND c.content IS NOT NULL;
UPDATE rooms SET last_seq = last_seq + $count * $step, msg_count = msg_count + $count, deleted_count = deleted_count + $deleted
	WHERE name = '$room';
COMMIT;
VACUUM ANALYZE messages;
VACUUM ANALYZE changes;
VACUUM ANALYZE reactions;
EOF
	;;
*)
	echo "$0: DSN must be sqlite:PATH or postgres://…" >&2
	exit 2
	;;
esac
echo "history-data: $room has $count more messages and $((count * k)) more changes"
