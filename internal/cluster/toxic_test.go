package cluster_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
	"parley/internal/testsvc"
)

// slowLatency is the delay that toxiproxy adds each way on a slowed
// connection: well beyond a query's time on loopback, well within
// /readyz's two seconds.
const slowLatency = 200 * time.Millisecond

// slow adds slowLatency to both directions of p's connections.
func slow(t *testing.T, p *toxiproxy.Proxy) {
	t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		if _, err := p.AddToxic("slow_"+stream, "latency", stream, 1,
			toxiproxy.Attributes{"latency": slowLatency.Milliseconds()}); err != nil {
			t.Fatalf("toxiproxy: add latency: %v", err)
		}
	}
}

// unslow removes what slow added.
func unslow(t *testing.T, p *toxiproxy.Proxy) {
	t.Helper()
	for _, stream := range []string{"upstream", "downstream"} {
		if err := p.RemoveToxic("slow_" + stream); err != nil {
			t.Fatalf("toxiproxy: remove latency: %v", err)
		}
	}
}

// retryInternal is a stream's trouble function for a database that may
// not answer: a send refused with internal is sent again, at the stream's
// pace, until it is acknowledged.
func retryInternal(_ *stream, _ *sock, r result) bool { return r.code == "internal" }

// proxiedPostgresStream starts two processes whose database is reached
// through toxiproxy, with six sockets in one room, four of them senders.
func proxiedPostgresStream(t *testing.T) (pg *toxiproxy.Proxy, srvs []*apptest.Server, room string, tokens []string, socks, senders []*sock) {
	t.Helper()
	tp := testsvc.StartToxiproxy(t)
	pg, db := tp.ProxyURL("postgres", storetest.PostgresDSN(t))
	srvs = startServers(t, 2, db, sharedRedis(t))
	room = roomName()
	names, tokens := users(t, srvs[0], 4)
	socks = spread(t, srvs, room, names, tokens, 6)
	return pg, srvs, room, tokens, socks, socks[:4]
}

// retryInternalWhen retries a send refused with internal once back is
// closed: the fault the test made is over.
func retryInternalWhen(back <-chan struct{}) func(*stream, *sock, result) bool {
	return func(st *stream, _ *sock, r result) bool {
		if r.code != "internal" {
			return false
		}
		select {
		case <-back:
			return true
		case <-st.quit:
			return false
		}
	}
}

// checkRefusedInternal checks that every refused send of senders was
// refused with internal, the one code a database fault may give.
func checkRefusedInternal(t *testing.T, senders []*sock) {
	t.Helper()
	for _, s := range senders {
		s.mu.Lock()
		for id, codes := range s.refused {
			for _, c := range codes {
				if c != "internal" {
					t.Errorf("%s: send %s refused with %q; want internal", s.name, id, c)
				}
			}
		}
		s.mu.Unlock()
	}
}

// PostgreSQL slowed: every packet between Parley and the database waits
// 200 ms each way, in the middle of a steady stream over two processes.
// Sends go on, slower; each is acknowledged or refused with internal;
// /readyz stays 200, as the database does answer; when the latency goes,
// the stream runs at its pace again, and every socket has seen every
// message once, in order.
func TestPostgresSlow(t *testing.T) {
	pg, srvs, room, tokens, socks, senders := proxiedPostgresStream(t)
	const perSender = 20

	st := startStream(t, senders, perSender, 10*time.Millisecond, retryInternal)
	st.waitAcks(20, longWait)
	slow(t, pg)
	slowAt := st.acks.Load()
	start := time.Now()
	st.waitAcks(slowAt+8, longWait)
	slowTook := time.Since(start)
	// The latency is in effect: 8 sends from 4 senders, each send at least
	// one round trip to the database, cannot take less than two.
	if slowTook < 2*slowLatency {
		t.Errorf("8 sends took %v with the database slowed by %v each way", slowTook, slowLatency)
	}
	for i, srv := range srvs {
		if code, body := readyz(srv); code != http.StatusOK {
			t.Errorf("process %d: /readyz %d %q with the database slow but answering; want 200", i, code, body)
		}
	}
	unslow(t, pg)

	st.wait()
	total := len(senders) * perSender
	waitAll(t, socks, total)
	t.Logf("8 sends took %v with the database slowed; %d sends refused", slowTook.Round(time.Millisecond), st.troubles.Load())
	checkRefusedInternal(t, senders)
	checkNothingLost(t, srvs[1], tokens[0], room, socks, wantKeys(senders, perSender))
}

// PostgreSQL cut off: the proxy between Parley and the database drops
// every connection and refuses new ones, in the middle of a steady
// stream; then lets them through again. While cut, sends are refused with
// internal and /readyz says 503 with the reason; afterwards it says 200,
// the clients send again what was refused, and every socket has seen
// every message once, in order.
func TestPostgresCut(t *testing.T) {
	pg, srvs, room, tokens, socks, senders := proxiedPostgresStream(t)
	const perSender = 20

	back := make(chan struct{}) // closed when the database is reachable again
	st := startStream(t, senders, perSender, 10*time.Millisecond, retryInternalWhen(back))
	st.waitAcks(20, longWait)
	if err := pg.Disable(); err != nil {
		t.Fatalf("toxiproxy: disable: %v", err)
	}
	waitDatabaseGone(t, srvs, senders)
	cutAt := st.acks.Load()
	if err := pg.Enable(); err != nil {
		t.Fatalf("toxiproxy: enable: %v", err)
	}
	waitReady(t, srvs, http.StatusOK, longWait)
	close(back)

	st.wait()
	total := len(senders) * perSender
	waitAll(t, socks, total)
	t.Logf("database cut off at %d of %d acknowledged; %d sends refused", cutAt, total, st.troubles.Load())
	checkRefusedInternal(t, senders)
	checkNothingLost(t, srvs[0], tokens[0], room, socks, wantKeys(senders, perSender))
}

// Redis slowed, then cut off, under a steady stream over two processes.
// Slowed, every message still reaches every socket. Cut off, /readyz says
// so and each process still delivers its own clients' messages to its own
// sockets. When Redis is reachable again, each process reads from the
// store what the other sent meanwhile (parley_messages_recovered_total),
// and every socket, none of which closed, has seen every message once, in
// order.
func TestRedisSlowAndCut(t *testing.T) {
	tp := testsvc.StartToxiproxy(t)
	rds, redisURL := tp.ProxyURL("redis", sharedRedis(t))
	db := storetest.PostgresDSN(t)
	srvs := startServers(t, 2, db, redisURL)
	room := roomName()
	names, tokens := users(t, srvs[0], 4)
	socks := spread(t, srvs, room, names, tokens, 8)
	senders := socks[:6] // three on each process
	listeners := socks[6:]
	const perSender = 20

	// Half the stream at most before Redis is reachable again; the rest
	// after, so that it follows what was sent while Redis was cut off.
	back := make(chan struct{})
	st := startHeldStream(t, senders, perSender, 10*time.Millisecond, nil, back, perSender/2)
	st.waitAcks(12, longWait)

	slow(t, rds)
	seen := make([]int, len(listeners))
	for i, s := range listeners {
		seen[i] = s.seen()
	}
	start := time.Now()
	// Messages cross from process to process through slowed Redis.
	apptest.Wait(t, longWait, "listening sockets to receive messages with Redis slow", func() bool {
		for i, s := range listeners {
			if s.seen() < seen[i]+6 {
				return false
			}
		}
		return true
	})
	slowTook := time.Since(start)
	for i, srv := range srvs {
		if code, body := readyz(srv); code != http.StatusOK {
			t.Errorf("process %d: /readyz %d %q with Redis slow but answering; want 200", i, code, body)
		}
	}
	unslow(t, rds)

	if err := rds.Disable(); err != nil {
		t.Fatalf("toxiproxy: disable: %v", err)
	}
	bodies := waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
	for i, b := range bodies {
		if strings.TrimSpace(b) != "redis not answering" { // the why is in the log, not here
			t.Errorf("process %d: /readyz says %q with Redis cut off; want the reason", i, b)
		}
	}
	// Each process delivers its own clients' messages to its own sockets.
	// (The stream may already wait at its hold: these sends are the
	// test's own.)
	cutAt := st.acks.Load()
	extra := make(map[string]bool)
	for i, s := range senders[:2] {
		id := fmt.Sprintf("cut-%d", i)
		if r := s.post("while Redis is cut off", id); r.code != "" || r.err != nil {
			t.Fatalf("%s: post while Redis is cut off: %+v", s.name, r)
		}
		extra[s.user+"/"+id] = true
		local := listeners[i] // on the same process as s
		apptest.Wait(t, longWait, local.name+" to receive "+id+" with Redis cut off", func() bool {
			return local.has(s.user, id)
		})
	}
	if err := rds.Enable(); err != nil {
		t.Fatalf("toxiproxy: enable: %v", err)
	}
	waitReady(t, srvs, http.StatusOK, longWait)
	close(back)

	st.wait()
	total := len(senders)*perSender + len(extra)
	waitAll(t, socks, total)
	recovered := 0.0
	for _, srv := range srvs {
		recovered += metric(t, srv, "parley_messages_recovered_total")
	}
	if recovered == 0 {
		t.Error("no process recovered a message from the store after Redis was cut off")
	}
	t.Logf("6 messages crossed slowed Redis in %v; Redis cut off at %d of %d acknowledged; %v recovered from the store",
		slowTook.Round(time.Millisecond), cutAt, total, recovered)

	want := wantKeys(senders, perSender)
	for k := range extra {
		want[k] = true
	}
	checkNothingLost(t, srvs[0], tokens[0], room, socks, want)
}

// has reports whether the socket's view holds the message that user sent
// with clientID.
func (s *sock) has(user, clientID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.view {
		if m.Author == user && m.ClientID == clientID {
			return true
		}
	}
	return false
}
