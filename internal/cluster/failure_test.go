package cluster_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
	"parley/internal/testsvc"
)

// Redis, a server of the test's own, is killed in the middle of a steady
// stream over three processes and started again. While it is down, /readyz
// says so and every process still delivers its own clients' messages; when
// it is back, each process reads from the store what the others sent
// meanwhile (parley_messages_recovered_total), and every socket, none of
// which closed, has seen every message once, in order.
func TestRedisRestart(t *testing.T) {
	rds := testsvc.StartRedis(t)
	db := storetest.PostgresDSN(t)
	srvs := startServers(t, 3, db, rds.URL)
	room := roomName()
	names, tokens := users(t, srvs[0], 5)
	socks := spread(t, srvs, room, names, tokens, 12)
	senders := socks[:9] // three on each process
	const perSender = 30

	// Two thirds of the stream at most before Redis is back; the rest after.
	back := make(chan struct{})
	st := startHeldStream(t, senders, perSender, 10*time.Millisecond, nil, back, 2*perSender/3)
	st.waitAcks(60, longWait)
	rds.Kill()
	bodies := waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
	for i, b := range bodies {
		if strings.TrimSpace(b) != "redis not answering" { // the why is in the log, not here
			t.Errorf("process %d: /readyz says %q with Redis down; want the reason", i, b)
		}
	}
	// Sends go on, delivered by each process to its own sockets: to the
	// senders, and to the sockets that only listen.
	down := st.acks.Load()
	listeners := socks[9:]
	seen := make([]int, len(listeners))
	for i, s := range listeners {
		seen[i] = s.seen()
	}
	st.waitAcks(down+27, longWait)
	apptest.Wait(t, longWait, "listening sockets to receive messages with Redis down", func() bool {
		for i, s := range listeners {
			if s.seen() < seen[i]+3 {
				return false
			}
		}
		return true
	})
	rds.Start()
	waitReady(t, srvs, http.StatusOK, longWait)
	up := st.acks.Load()
	close(back)

	st.wait()
	total := len(senders) * perSender
	waitAll(t, socks, total)
	t.Logf("Redis down from %d to %d acknowledged of %d", down, up, total)
	for i, srv := range srvs {
		if n := metric(t, srv, "parley_messages_recovered_total"); n == 0 {
			t.Errorf("process %d recovered no message from the store", i)
		}
	}

	checkNothingLost(t, srvs[0], tokens[0], room, socks, wantKeys(senders, perSender))
}

// PostgreSQL, a cluster of the test's own, stops (an immediate shutdown,
// as in a crash) in the middle of a steady stream over two processes, and
// starts again. Sends meanwhile are answered with an internal error and not
// acknowledged; /readyz says 503 with the reason and then 200 again; the
// processes run on and recover by themselves; the clients send again what
// was refused, and every socket has seen every message once, in order.
func TestPostgresRestart(t *testing.T) {
	redisURL := sharedRedis(t)
	pg := testsvc.StartPostgres(t)
	db := pg.CreateDB("parley")
	srvs := startServers(t, 2, db, redisURL)
	room := roomName()
	names, tokens := users(t, srvs[0], 4)
	socks := spread(t, srvs, room, names, tokens, 8)
	senders := socks[:6]
	const perSender = 30

	back := make(chan struct{}) // closed when the database is back
	st := startStream(t, senders, perSender, 10*time.Millisecond, retryInternalWhen(back))
	st.waitAcks(60, longWait)
	pg.Stop()
	waitDatabaseGone(t, srvs, senders)
	down := st.acks.Load()
	pg.Start()
	waitReady(t, srvs, http.StatusOK, longWait)
	close(back)

	st.wait()
	total := len(senders) * perSender
	waitAll(t, socks, total)
	t.Logf("database down at %d of %d acknowledged; %d sends refused", down, total, st.troubles.Load())
	checkRefusedInternal(t, senders)
	for i, srv := range srvs {
		if r := apptest.Do(t, "GET", srv.URL+"/healthz", "", nil, nil); r.StatusCode != http.StatusOK {
			t.Errorf("process %d: /healthz %s after the outage", i, r.Status)
		}
	}

	checkNothingLost(t, srvs[1], tokens[0], room, socks, wantKeys(senders, perSender))
}

// Redis goes silent (its process stopped: to Parley, a network that lost
// its packets). /readyz says so; a process still delivers its own clients'
// messages to its own sockets, each answered at once rather than after the
// last one's publish gave up; the events Redis did not take are counted;
// a socket entering a room that its process is not yet subscribed to is
// refused with 503 (try again) in bounded time, not left hanging; and when
// Redis answers again, the other process catches up.
func TestRedisSilent(t *testing.T) {
	rds := testsvc.StartRedis(t)
	db := storetest.PostgresDSN(t)
	srvs := startServers(t, 2, db, rds.URL)
	room := roomName()
	names, tokens := users(t, srvs[0], 2)
	socks := spread(t, srvs, room, names, tokens, 4) // 0, 2 on process 0; 1, 3 on 1
	if m := socks[0].post("before", "before"); m.code != "" || m.err != nil {
		t.Fatalf("post before: %+v", m)
	}

	rds.Pause()
	defer rds.Resume() // should the test fail: the processes stop before Redis is killed
	waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
	// A socket's messages are published in order, one after the other: had
	// each waited for its publish to give up (2 s), the fifth would be
	// answered 8 s after the first.
	const silent = 5
	start := time.Now()
	for i := range silent {
		if r := socks[0].post("while Redis is silent", fmt.Sprint("silent-", i)); r.code != "" || r.err != nil {
			t.Fatalf("post %d while Redis is silent: %+v", i, r)
		}
	}
	took := time.Since(start)
	t.Logf("%d sends with Redis silent took %v", silent, took.Round(time.Millisecond))
	if took >= 4*time.Second {
		t.Errorf("%d sends with Redis silent took %v: each waited for the last one's publish", silent, took)
	}
	apptest.Wait(t, longWait, "the other socket of process 0 to get the messages", func() bool { return socks[2].seen() == 1+silent })
	apptest.Wait(t, longWait, "process 0 to count the events Redis did not take", func() bool {
		return metric(t, srvs[0], "parley_publish_errors_total") >= silent
	})

	start = time.Now()
	c, resp, err := srvs[0].TryDial(roomName(), apptest.DialOptions{Token: tokens[0]})
	if err == nil {
		c.CloseNow()
		t.Fatal("a socket entered a new room with Redis silent")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a socket entering a new room with Redis silent: %v after %v; want 503", err, time.Since(start))
	}
	t.Logf("a new room with Redis silent: refused with 503 after %v", time.Since(start).Round(time.Millisecond))

	rds.Resume()
	waitReady(t, srvs, http.StatusOK, longWait)
	waitAll(t, socks, 1+silent)
	if n := metric(t, srvs[1], "parley_messages_recovered_total"); n == 0 {
		t.Error("process 1 recovered no message from the store")
	}
	hist := history(t, srvs[1], tokens[0], room)
	checkViews(t, socks, hist)
}
