#!/usr/bin/env bash
# Runs every fuzz target (func FuzzX in a _test.go file) for a bounded time
# each, FUZZTIME (default 10s); go test -fuzz takes one target per run. Plain
# `go test` already runs each target over its seed corpus; this explores
# beyond it. A failing input is written to the package's testdata/fuzz/FuzzX/
# folder, where it becomes a seed once committed.
set -euo pipefail

fuzztime="${FUZZTIME:-10s}"
# Minimising each new input for up to the default minute can eat a short
# run whole; a failing input is still written, if less minimal.
minimize="${FUZZMINIMIZETIME:-2s}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

mapfile -t found < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' cmd internal | sed -E 's/\($//' | sort -u)
if [[ ${#found[@]} -eq 0 ]]; then
	echo "no fuzz targets found" >&2
	exit 1
fi

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
runs=0
for hit in "${found[@]}"; do
	file="${hit%%:*}"
	name="${hit##*func }"
	pkg="./$(dirname "$file")"
	printf '\n== %s %s (%s)\n' "$pkg" "$name" "$fuzztime"
	for try in 1 2; do
		corpus="$(ls "$pkg/testdata/fuzz/$name" 2>/dev/null | sort || true)"
		set +e
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$pkg" 2>&1 | tee "$out"
		status=${PIPESTATUS[0]}
		set -e
		[[ $status -eq 0 ]] && break
		# Go 1.26's fuzzing coordinator can report its own -fuzztime
		# deadline as a failure (go.dev/issue/75804): no input is
		# written, and the target says "context deadline exceeded". That
		# run is tried once more; any other failure, or a new input in
		# the corpus, fails here.
		if [[ $try -eq 1 && "$(ls "$pkg/testdata/fuzz/$name" 2>/dev/null | sort || true)" == "$corpus" ]] &&
			grep -qE '^[[:space:]]+context deadline exceeded$' "$out"; then
			echo "fuzz: $name stopped at its deadline with no failing input (go.dev/issue/75804): once more"
			continue
		fi
		exit "$status"
	done
	runs=$((runs + 1))
done
printf '\nfuzz: %d passed, 0 failed\n' "$runs"
