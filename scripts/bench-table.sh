#!/usr/bin/env bash
# Turns scripts/bench-pair.sh's JSON lines into table rows (tab-separated):
# label, delivered, lost, p99 ms, server CPU µs per delivery, sockets held,
# connects/s, KiB per held socket (the server's whole RSS over the
# sockets), stored msgs/s (persistence), other cores busy; with user
# streams, their frames a message, the streams whose count was wrong, and
# the server's CPU µs per message sent.
set -euo pipefail
grep '^{"label"' "${1:-/dev/stdin}" | jq -r '.label as $l | .line |
  [$l, .delivered, .lost, ((.latency_us.p99 // 0)/1000), (.server.cpu_us_per_delivery // ""),
   (.idle.held // ""), ((.connect.per_s // 0)|floor),
   ((.idle.server_kib_per_socket_whole // 0)*100|floor/100),
   ((.messages_per_s // 0)|floor), ((.machine.other_cores*100|floor)/100),
   (.user_streams.frames_per_message // ""), (.user_streams.wrong_counts // ""),
   (if .sent > 0 and .server then (.server.cpu_s*1e6/.sent|floor) else "" end)] | @tsv'
