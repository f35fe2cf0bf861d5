package cluster_test

import (
	"testing"
	"time"
)

// Three processes on one PostgreSQL database and one Redis; twelve sockets
// in one room, four on each; ten of them send thirty messages each. Every
// socket receives all 300 in seq order, without gap or duplicate, and they
// are the room's history.
func TestThreeProcesses(t *testing.T) {
	srvs, room, names, tokens := startCluster(t, 3, 5)
	socks := spread(t, srvs, room, names, tokens, 12)
	senders := socks[:10]
	const perSender = 30

	start := time.Now()
	st := startStream(t, senders, perSender, 0, nil)
	st.wait()
	waitAll(t, socks, len(senders)*perSender)
	t.Logf("%d messages to %d sockets on 3 processes in %v", len(senders)*perSender, len(socks), time.Since(start).Round(time.Millisecond))

	checkNothingLost(t, srvs[2], tokens[0], room, socks, wantKeys(senders, perSender))
}
