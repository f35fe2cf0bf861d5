#!/usr/bin/env bash
# Fills a room with N messages in one bulk insert, for the history
# benchmark (docs/BENCHMARKS.md). The database must already be migrated
# (`parley migrate --db DSN`). Needs the sqlite3 or psql client.
#
#   scripts/history-data.sh sqlite:/tmp/history.db 1000000 [ROOM]
#   scripts/history-data.sh 'postgres://root@127.0.0.1:5432/bench?sslmode=disable' 1000000 [ROOM]
set -euo pipefail

if [[ $# -lt 2 ]]; then
	echo "usage: $0 DSN COUNT [ROOM]" >&2
	exit 2
fi
dsn="$1"
count="$2"
room="${3:-history}"
if ! [[ "$count" =~ ^[0-9]+$ ]] || ! [[ "$room" =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
	echo "$0: COUNT must be a number and ROOM a room name" >&2
	exit 2
fi

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
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $count)
INSERT INTO messages (room, seq, author, content, created_at)
	SELECT '$room', r.last_seq + c.i, 'history-bot',
		'history message number ' || (r.last_seq + c.i) || ', of an ordinary length for a chat line',
		CAST(strftime('%s','now') AS INTEGER) * 1000000 - ($count - c.i) * 1000
	FROM c, (SELECT last_seq FROM rooms WHERE name = '$room') AS r;
UPDATE rooms SET last_seq = last_seq + $count WHERE name = '$room';
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
INSERT INTO messages (room, seq, author, content, created_at)
	SELECT '$room', r.last_seq + i, 'history-bot',
		'history message number ' || (r.last_seq + i) || ', of an ordinary length for a chat line',
		now() - ($count - i) * interval '1 millisecond'
	FROM generate_series(1, $count) AS i, (SELECT last_seq FROM rooms WHERE name = '$room') AS r;
UPDATE rooms SET last_seq = last_seq + $count WHERE name = '$room';
COMMIT;
VACUUM ANALYZE messages;
EOF
	;;
*)
	echo "$0: DSN must be sqlite:PATH or postgres://…" >&2
	exit 2
	;;
esac
echo "history-data: $room has $count more messages"
