#!/usr/bin/env bash
# Runs the hot room and the idle sockets scenarios against Parley and the
# gorilla/websocket chat example, alternated, a fresh server each run (and
# user-streams or idle-streams, Parley's alone, if named with -s), and
# prints each run's JSON line (docs/BENCHMARKS.md reads them). Optionally
# the persistence scenario on SQLite and PostgreSQL too.
#
#   scripts/bench-pair.sh [-n PAIRS] [-d DURATION] [-p] [-s hot-room,idle] PARLEY_BINARY [LABEL]
#
# PARLEY_BINARY is a built parley (go build -o /tmp/parley ./cmd/parley);
# the load tool is built from this tree, and the gorilla example installed
# from the module proxy, once. -p adds persistence (PostgreSQL through
# PARLEY_BENCH_POSTGRES, default the local server's "test" database, a
# fresh database of its own each run). Everything listens on loopback.
set -euo pipefail

pairs=3
duration=20s
persistence=0
scenarios="hot-room,idle"
while getopts "n:d:ps:" opt; do
	case "$opt" in
	n) pairs="$OPTARG" ;;
	d) duration="$OPTARG" ;;
	p) persistence=1 ;;
	s) scenarios="$OPTARG" ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [[ $# -lt 1 ]]; then
	echo "usage: $0 [-n PAIRS] [-d DURATION] [-p] [-s SCENARIOS] PARLEY_BINARY [LABEL]" >&2
	exit 2
fi
parley="$1"
label="${2:-$(basename "$parley")}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d /tmp/parley-bench.XXXXXX)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$root" && go build -o "$work/parley-load" ./cmd/parley-load)
gorilla="${GORILLA:-/tmp/gorilla/chat}"
if [[ ! -x "$gorilla" ]]; then
	GOBIN="$(dirname "$gorilla")" go install github.com/gorilla/websocket/examples/chat@v1.5.3
fi
nice=()
if [[ $(id -u) -eq 0 ]]; then nice=(nice -n -10); fi

wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	return 1
}

# Every limit off, as the load tool needs; an older build (a "before")
# may not have some of them.
limits=(--send-limit=off --user-sockets=0)
for l in history-limit signup-limit room-create-limit; do
	if "$parley" serve -h 2>&1 | grep -q -- "-$l"; then limits+=("--$l=off"); fi
done

start_parley() { # PORT DB [ARGS...]
	local port="$1" db="$2"
	shift 2
	"${nice[@]}" "$parley" serve --addr "127.0.0.1:$port" --db "$db" "${limits[@]}" \
		--log-level=warn "$@" >/dev/null 2>"$work/parley.log" &
	PID=$!
	wait_port "$port"
}

start_gorilla() { # PORT
	(cd "$work" && exec "${nice[@]}" "$gorilla" -addr "127.0.0.1:$1") &
	GPID=$!
	wait_port "$1"
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

run() { # NAME PID ARGS...
	local name="$1" pid="$2"
	shift 2
	"${nice[@]}" "$work/parley-load" --pid "$pid" "$@" 2>"$work/load.log" | sed "s/^/{\"label\":\"$name\",\"line\":/; s/\$/}/"
}

for i in $(seq 1 "$pairs"); do
	for sc in ${scenarios//,/ }; do
		extra=()
		[[ "$sc" == hot-room || "$sc" == user-streams ]] && extra=(--duration "$duration")
		rm -f "$work"/bench.db*
		start_parley 18100 "sqlite:$work/bench.db" --max-sockets 19500
		run "$label $sc $i" "$PID" --scenario "$sc" --url http://127.0.0.1:18100 "${extra[@]}"
		stop "$PID"
		# The user streams are Parley's alone: no gorilla run beside them.
		[[ "$sc" == *streams ]] && continue
		start_gorilla 18082
		gargs=(--scenario "$sc" --proto plain --url http://127.0.0.1:18082)
		[[ "$sc" == idle ]] && gargs+=(--rooms 1)
		run "gorilla $sc $i" "$GPID" "${gargs[@]}" "${extra[@]}"
		stop "$GPID"
	done
done

if [[ $persistence -eq 1 ]]; then
	rm -f "$work"/bench.db*
	start_parley 18100 "sqlite:$work/bench.db"
	run "$label persistence sqlite" "$PID" --scenario persistence --url http://127.0.0.1:18100
	stop "$PID"
	pg="${PARLEY_BENCH_POSTGRES:-postgres://root@127.0.0.1:5432/test?sslmode=disable}"
	name="parley_bench_$$"
	psql -q "$pg" -c "CREATE DATABASE $name" >/dev/null
	start_parley 18100 "${pg/\/test\?//$name?}"
	run "$label persistence postgres" "$PID" --scenario persistence --url http://127.0.0.1:18100
	stop "$PID"
	psql -q "$pg" -c "DROP DATABASE $name" >/dev/null
fi
