package cluster_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// One user with a socket on each of two processes sends 40 messages,
// alternating: the limit is the user's, counted in Redis, so about one
// burst passes in all, not one per process.
func TestSendLimitIsShared(t *testing.T) {
	redisURL := sharedRedis(t)
	db := storetest.PostgresDSN(t)
	const burst, perSecond = 20, 1
	args := []string{"--redis=" + redisURL, fmt.Sprintf("--send-limit=%d/s,%d", perSecond, burst), "--user-sockets=0"}
	srvs := []*apptest.Server{
		apptest.Start(t, apptest.Options{DB: db, Args: args}),
		apptest.Start(t, apptest.Options{DB: db, Args: args}),
	}
	// Names of the test's own: the buckets in Redis outlive the run.
	name := roomName()
	token := srvs[0].User(t, name)
	room := roomName()
	socks := []*sock{
		dial(t, srvs[0], room, "s0", name, token),
		dial(t, srvs[1], room, "s1", name, token),
	}
	start := time.Now()
	accepted, limited := 0, 0
	for i := range 40 {
		s := socks[i%2]
		r := s.post("flood", clientID(s, i))
		switch {
		case r.err != nil:
			t.Fatalf("send %d: %v", i, r.err)
		case r.code == "rate_limited":
			limited++
		case r.code != "":
			t.Fatalf("send %d: %s", i, r.code)
		default:
			accepted++
		}
	}
	refill := int(time.Since(start).Seconds()*perSecond) + 1
	t.Logf("%d accepted, %d rate_limited in %v", accepted, limited, time.Since(start).Round(time.Millisecond))
	if accepted < burst || accepted > burst+refill {
		t.Fatalf("%d of 40 sends over two processes accepted; want the one burst of %d (+%d refilled), not one per process",
			accepted, burst, refill)
	}
}

// 40 wrong passwords for one account, alternating between two processes,
// meet 429 after the account's burst of 10 in all.
func TestLoginThrottleIsShared(t *testing.T) {
	redisURL := sharedRedis(t)
	db := storetest.PostgresDSN(t)
	// The client's address comes from X-Forwarded-For, so that this run
	// has an address bucket of its own in Redis.
	args := []string{"--redis=" + redisURL, "--trusted-proxies=127.0.0.1/32"}
	srvs := []*apptest.Server{
		apptest.Start(t, apptest.Options{DB: db, Args: args}),
		apptest.Start(t, apptest.Options{DB: db, Args: args}),
	}
	name := roomName()
	srvs[0].User(t, name)
	var b [3]byte
	rand.Read(b[:])
	addr := fmt.Sprintf("10.%d.%d.%d", b[0], b[1], b[2])
	start := time.Now()
	refused, throttled := 0, 0
	var retry string
	for i := range 40 {
		r := tokenRequest(t, srvs[i%2], name, fmt.Sprint("guess-", i), addr)
		switch r.StatusCode {
		case http.StatusUnauthorized:
			refused++
		case http.StatusTooManyRequests:
			throttled++
			retry = r.Header.Get("Retry-After")
		default:
			t.Fatalf("guess %d: %s", i, r.Status)
		}
	}
	// The account refills one try every 6 s.
	refill := int(time.Since(start).Seconds()/6) + 1
	t.Logf("%d refused, %d throttled in %v", refused, throttled, time.Since(start).Round(time.Millisecond))
	if refused < 10 || refused > 10+refill || retry == "" {
		t.Fatalf("%d of 40 guesses checked, %d throttled (Retry-After %q); want about 10 checked over both processes",
			refused, throttled, retry)
	}
}

// tokenRequest asks srv for a token as if from addr behind a proxy.
func tokenRequest(t *testing.T, srv *apptest.Server, name, password, addr string) *http.Response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	req, err := http.NewRequest("POST", srv.URL+"/api/v1/tokens", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", addr)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	return r
}
