#!/usr/bin/env bash
# Static security checks, each tool at a pinned version: govulncheck against
# an offline copy of the Go vulnerability database, staticcheck and gosec.
# Needs no network but the Go module proxy. Exits non-zero on any finding.
#
# The tools and the database are built once into a cache folder
# (PARLEY_TOOLS_CACHE, default ~/.cache/parley-tools), keyed by version.
set -euo pipefail

# Pinned versions. Bump them on purpose, one at a time.
govulncheck_version=v1.9.0 # golang.org/x/vuln
staticcheck_version=v0.8.2 # honnef.co/go/tools (staticcheck 2026.1.2)
gosec_version=v2.30.0      # github.com/securego/gosec/v2
# golang.org/x/vulndb at a commit: its data/osv folder is the database, and
# its cmd/indexdb turns that folder into the v1 layout govulncheck reads.
vulndb_version=v0.0.0-20261105234957-e22db6528018

# Test-support packages, which start databases, proxies and the program
# itself as a test's tools; none is linked into a binary (checked below).
# gosec skips them: every exec.Command there would be a "finding".
test_support=(internal/apptest internal/browsertest internal/testsvc internal/store/storetest internal/broker/brokertest
	internal/testenv internal/push/pushtest)

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Check the code with the toolchain go.mod pins, as CI builds it: with an
# older installed Go, govulncheck would report that Go's standard library.
pinned="$(awk '$1 == "toolchain" { print $2 }' go.mod)"
export GOTOOLCHAIN="${pinned:+$pinned+}auto"

cache="${PARLEY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/parley-tools}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

# tool PACKAGE VERSION prints the path of the package's binary, installing
# it first if this version is not in the cache yet.
tool() {
	local pkg="$1" version="$2"
	local dir="$cache/$(go env GOVERSION)/${pkg//\//_}@$version"
	local bin="$dir/$(basename "$pkg")"
	if [[ ! -x "$bin" ]]; then
		echo "installing $pkg@$version" >&2
		# Outside the module, so that nothing touches go.mod or go.sum.
		(cd "$work" && GOBIN="$dir" GOFLAGS=-buildvcs=false go install "$pkg@$version")
	fi
	echo "$bin"
}

step "tools"
govulncheck="$(tool golang.org/x/vuln/cmd/govulncheck "$govulncheck_version")"
staticcheck="$(tool honnef.co/go/tools/cmd/staticcheck "$staticcheck_version")"
gosec="$(tool github.com/securego/gosec/v2/cmd/gosec "$gosec_version")"
indexdb="$(tool golang.org/x/vulndb/cmd/indexdb "$vulndb_version")"
go version
"$govulncheck" -version | grep -i '^scanner:' || true

step "vulnerability database golang.org/x/vulndb@$vulndb_version"
db="$cache/vulndb@$vulndb_version"
if [[ ! -s "$db/index/modules.json" ]]; then
	(cd "$work" && go mod download golang.org/x/vulndb@"$vulndb_version")
	osv="$(go env GOMODCACHE)/golang.org/x/vulndb@$vulndb_version/data/osv"
	rm -rf "$db.tmp"
	"$indexdb" -vulns "$osv" -out "$db.tmp"
	rm -rf "$db"
	mv "$db.tmp" "$db"
fi
echo "$(ls "$db/ID" | wc -l) entries in $db"

# A database that finds nothing would pass every scan. It must find a known
# vulnerability: golang.org/x/text v0.3.5 with language.Parse (GO-2021-0113).
step "govulncheck finds a known vulnerability in a probe module"
probe="$work/probe"
mkdir -p "$probe"
cat >"$probe/go.mod" <<'EOF'
module probe

go 1.26

require golang.org/x/text v0.3.5
EOF
cat >"$probe/main.go" <<'EOF'
package main

import "golang.org/x/text/language"

func main() { _, _ = language.Parse("en-US") }
EOF
(cd "$probe" && GOFLAGS=-mod=mod go mod tidy)
set +e
(cd "$probe" && "$govulncheck" -db "file://$db" ./...) >"$work/probe.out" 2>&1
rc=$?
set -e
if [[ $rc -ne 3 ]] || ! grep -q 'GO-2021-0113' "$work/probe.out"; then
	cat "$work/probe.out"
	echo "the offline vulnerability database did not find GO-2021-0113 (exit $rc)" >&2
	exit 1
fi
echo "found GO-2021-0113, as it should"

# Every check runs, so that one run shows every finding.
failed=()

step "govulncheck ./..."
"$govulncheck" -db "file://$db" ./... || failed+=(govulncheck)

step "staticcheck ./..."
"$staticcheck" ./... || failed+=(staticcheck)

step "gosec ./..."
linked="$(go list -deps ./cmd/... | grep -E "^parley/($(
	IFS='|'
	echo "${test_support[*]}"
))\$" || true)"
if [[ -n "$linked" ]]; then
	echo "test-support packages are linked into a binary, so gosec must check them: $linked" >&2
	exit 1
fi
excludes=()
for d in "${test_support[@]}"; do
	excludes+=(-exclude-dir="$d")
done
"$gosec" -quiet -fmt text "${excludes[@]}" ./... || failed+=(gosec)

if [[ ${#failed[@]} -gt 0 ]]; then
	echo "security checks failed: ${failed[*]}" >&2
	exit 1
fi
step "security checks passed"
