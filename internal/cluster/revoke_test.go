package cluster_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
)

// Revoking a token, and logging out, on one process closes the sockets
// that token or session opened on another, with 4401, within a few
// seconds; what such a socket sends after is not stored.
func TestRevocationAcrossProcesses(t *testing.T) {
	srvs, room, names, tokens := startCluster(t, 2, 2)
	owner, watcher := tokens[0], tokens[1]

	onB := openOn(t, srvs[1], room, apptest.DialOptions{Token: owner})
	if r := apptest.Do(t, "DELETE", srvs[0].URL+"/api/v1/tokens/current", owner, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke on process A: %s", r.Status)
	}
	start := time.Now()
	if code := closeCode(t, onB); code != 4401 {
		t.Fatalf("the socket on process B closed with %d; want 4401", code)
	}
	t.Logf("closed on process B %v after the revocation on A", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = onB.Write(ctx, websocket.MessageText, []byte(`{"command":"new_message","message":"after","client_id":"late"}`))
	cancel()

	// A session, logged out on A, its socket on B.
	cookie := formLogin(t, srvs[0], names[0])
	onB = openOn(t, srvs[1], room, apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {srvs[1].URL}}})
	req, _ := http.NewRequest("POST", srvs[0].URL+"/accounts/logout/", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Origin", srvs[0].URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on A: %s", resp.Status)
	}
	if code := closeCode(t, onB); code != 4401 {
		t.Fatalf("the session's socket on B closed with %d after logout on A; want 4401", code)
	}
	if got := history(t, srvs[0], watcher, room); len(got) != 0 {
		t.Fatalf("stored after the revocation: %+v", got)
	}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// openOn opens a socket on srv and waits until it is served.
func openOn(t *testing.T, srv *apptest.Server, room string, opt apptest.DialOptions) *websocket.Conn {
	t.Helper()
	c, resp, err := srv.TryDial(room, opt)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", srv.Addr, err, resp)
	}
	t.Cleanup(func() { c.CloseNow() })
	ctx, cancel := context.WithTimeout(context.Background(), ackWait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"command":"fetch_messages"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), `"command":"messages"`) {
			return c
		}
	}
}

// closeCode reads until the socket closes, within 5 s, and returns the
// close code.
func closeCode(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	_, code := framesUntilClose(t, c, 5*time.Second)
	return code
}

// formLogin logs name in through srv's form and returns the session
// cookie as a Cookie header.
func formLogin(t *testing.T, srv *apptest.Server, name string) string {
	t.Helper()
	f := url.Values{"username": {name}, "password": {"password-" + name}}
	req, _ := http.NewRequest("POST", srv.URL+"/accounts/login/", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" {
			return "sessionid=" + c.Value
		}
	}
	t.Fatalf("log-in: %s, no session cookie", resp.Status)
	return ""
}
