#!/usr/bin/env bash
# A 10-second load smoke run: builds parley and parley-load, starts parley on
# a free loopback port with a temporary SQLite database, runs the smoke
# scenario (50 sockets in one room, 2 publishers × 10 msg/s) and fails unless
# every message was delivered to every socket exactly once.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
server_pid=""

cleanup() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

cd "$root"
go build -o "$work/parley" ./cmd/parley
go build -o "$work/parley-load" ./cmd/parley-load

# Port 0: the kernel picks a free port, and parley prints the address.
"$work/parley" serve --addr 127.0.0.1:0 --db "sqlite:$work/parley.db" \
	--send-limit=off --history-limit=off --signup-limit=off --room-create-limit=off --user-sockets=0 --log-level=warn >"$work/server.out" 2>"$work/server.log" &
server_pid=$!

url=""
for _ in $(seq 1 300); do
	url="$(sed -n 's|^parley: serving on \(http://127\.0\.0\.1:[0-9]*\)$|\1|p' "$work/server.out")"
	[[ -n "$url" ]] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "load-smoke: parley did not start:" >&2
		cat "$work/server.log" >&2
		exit 1
	fi
	sleep 0.1
done
if [[ -z "$url" ]]; then
	echo "load-smoke: parley did not report its address within 30s" >&2
	cat "$work/server.log" >&2
	exit 1
fi

# --check: exit 1 unless every delivery arrived once, nothing unsent, no
# error frames, no disconnects. The JSON line goes to stdout.
"$work/parley-load" --scenario smoke --url "$url" --pid "$server_pid" \
	--duration 10s --drain 10s --check --progress 0
echo "load-smoke: ok"
