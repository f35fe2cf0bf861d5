package cluster_test

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
	"parley/internal/testsvc"
)

// nginxConf is deploy/nginx.conf, the one compose.yaml runs, made to
// listen on listen and to pass to the processes at backends.
func nginxConf(t *testing.T, listen string, backends []string) string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	port := regexp.MustCompile(`(?m)^(\s*)listen 80;`)
	if n := len(port.FindAllString(conf, -1)); n != 1 {
		t.Fatalf("deploy/nginx.conf has %d \"listen 80;\" lines; want one", n)
	}
	conf = port.ReplaceAllString(conf, "${1}listen "+listen+";")
	upstream := regexp.MustCompile(`(?m)^\s*server parley\d+:8000`)
	if n := len(upstream.FindAllString(conf, -1)); n != len(backends) {
		t.Fatalf("deploy/nginx.conf has %d upstream servers; the test has %d processes", n, len(backends))
	}
	i := 0
	return upstream.ReplaceAllStringFunc(conf, func(s string) string {
		i++
		return strings.TrimSuffix(s, strings.TrimSpace(s)) + "server " + backends[i-1]
	})
}

// The chat through nginx, with deploy/nginx.conf, in front of two
// processes: WebSocket upgrades pass, sockets are spread over both
// processes, users on different processes see each other's messages, and a
// browser's session cookie and Origin work through the proxy.
func TestNginx(t *testing.T) {
	redisURL := sharedRedis(t)
	testsvc.NginxBinary(t)
	db := storetest.PostgresDSN(t)
	srvs := startServers(t, 2, db, redisURL)
	addr := "127.0.0.1:" + strconv.Itoa(testsvc.FreePort(t))
	ngx := testsvc.StartNginx(t, nginxConf(t, addr, []string{srvs[0].Addr, srvs[1].Addr}), addr)
	proxy := &apptest.Server{URL: "http://" + addr, Addr: addr}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("nginx:\n%s", ngx.Log())
		}
	})

	room := roomName()
	alice := proxy.User(t, "alice")
	bob := proxy.User(t, "bob")
	a := proxy.Dial(t, room, apptest.DialOptions{Token: alice})
	waitSockets(t, srvs, 1)
	b := proxy.Dial(t, room, apptest.DialOptions{Token: bob})
	waitSockets(t, srvs, 2)
	for i, srv := range srvs {
		if n := metric(t, srv, "parley_sockets"); n != 1 {
			t.Fatalf("process %d holds %v sockets; nginx should have put one on each", i, n)
		}
	}

	m := a.Post("hello from one process", "a1")
	if got := b.Expect("new_message").Msg(); got.ID != m.ID || got.Author != "alice" {
		t.Fatalf("bob got %+v; want alice's %+v", got, m)
	}
	m = b.Post("and hello from the other", "b1")
	if got := a.Expect("new_message").Msg(); got.ID != m.ID || got.Author != "bob" {
		t.Fatalf("alice got %+v; want bob's %+v", got, m)
	}

	// A browser: the login form and a cookie-authenticated WebSocket, both
	// checked against the Origin, which names the proxy's host and port.
	origin := proxy.URL
	form := url.Values{"username": {"alice"}, "password": {"password-alice"}}
	req, _ := http.NewRequest("POST", proxy.URL+"/accounts/login/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie string
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" && c.Value != "" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode/100 != 3 || cookie == "" {
		t.Fatalf("login through nginx: %s, cookie %q", resp.Status, cookie)
	}
	browser := proxy.Dial(t, room, apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {origin}}})
	m = browser.Post("from the browser", "c1")
	for _, c := range []*apptest.Conn{a, b} {
		if got := c.Expect("new_message").Msg(); got.ID != m.ID {
			t.Fatalf("got %+v; want the browser's %+v", got, m)
		}
	}
	_, resp, err = proxy.TryDial(room, apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cookie WebSocket from a foreign origin through nginx: %v, %v; want 403", err, resp)
	}
}

// waitSockets waits until the processes hold n sockets in all.
func waitSockets(t *testing.T, srvs []*apptest.Server, n int) {
	t.Helper()
	apptest.Wait(t, 10*time.Second, strconv.Itoa(n)+" sockets open", func() bool {
		sum := 0.0
		for _, srv := range srvs {
			sum += metric(t, srv, "parley_sockets")
		}
		return sum == float64(n)
	})
}
