package web_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"parley/internal/apptest"
	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/broker/redisbroker"
	"parley/internal/clock"
	"parley/internal/hub"
	"parley/internal/store"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
	"parley/internal/web"
	"parley/internal/wsock"
)

// node is one Parley process of a test: a server on a store and a broker,
// subscribed to the process-wide events as the program subscribes it.
type node struct {
	srv  *web.Server
	url  string
	addr string
}

func newNode(t *testing.T, st *store.Store, b broker.Broker, clk clock.Clock) *node {
	t.Helper()
	h := hub.New(hub.Options{Broker: b, History: st, Wire: wsock.Text})
	t.Cleanup(h.Close)
	tr, err := wsock.NewTransport(wsock.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.Close)
	s, err := web.New(web.Options{Store: st, Hub: h, Broker: b, Transport: tr, Clock: clk,
		Password: auth.Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Subscribe(t.Context(), "", s.Events()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { _ = s.Shutdown(t.Context()) })
	return &node{srv: s, url: hs.URL, addr: strings.TrimPrefix(hs.URL, "http://")}
}

// call posts JSON to path and decodes the answer into out.
func (n *node) call(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, n.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// token logs name in (signing it up first if asked) and returns a token.
func (n *node) token(t *testing.T, name string, signup bool) string {
	t.Helper()
	cred := `{"username":"` + name + `","password":"a long enough password"}`
	if signup {
		if code := n.call(t, "POST", "/api/v1/signup", "", cred, nil); code != http.StatusCreated {
			t.Fatalf("signup %s: %d", name, code)
		}
	}
	var tok struct{ Token string }
	if code := n.call(t, "POST", "/api/v1/tokens", "", cred, &tok); code != http.StatusCreated {
		t.Fatalf("token %s: %d", name, code)
	}
	return tok.Token
}

// sock is a raw client socket.
type sock struct {
	conn net.Conn
	br   *bufio.Reader
}

// open opens a socket to room with token and waits until it is served.
func (n *node) open(t *testing.T, room, token string) sock {
	t.Helper()
	conn, br := apptest.RawDial(t, n.addr, room, token, nil)
	started(t, conn, br)
	return sock{conn, br}
}

// wantClosed reads frames until a close frame, and checks its code.
func wantClosed(t *testing.T, s sock, code ws.StatusCode) {
	t.Helper()
	for {
		f, err := ws.ReadFrame(s.br)
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Header.OpCode == ws.OpClose {
			got, reason := ws.ParseCloseFrameData(f.Payload)
			if got != code {
				t.Fatalf("closed with %d %q; want %d", got, reason, code)
			}
			return
		}
	}
}

// A socket closes with 4401 when its token expires, at its expiry.
func TestExpiryClosesSocket(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	n := newNode(t, storetest.SQLite(t), broker.NewInProcess(), clk)
	tok := n.token(t, "expiring", true)
	br := n.open(t, "lobby", tok)
	expiry := clk.Now().Add(365 * 24 * time.Hour)
	clk.WaitTimer(t, expiry)
	clk.Advance(expiry.Sub(clk.Now()))
	wantClosed(t, br, web.StatusRevoked)
	if code := n.call(t, "GET", "/api/v1/rooms", tok, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("the expired token still works: %d", code)
	}
}

// One account holds at most MaxCredentials tokens: one more ends the
// oldest, whose socket closes.
func TestTokensCapped(t *testing.T) {
	n := newNode(t, storetest.SQLite(t), broker.NewInProcess(), nil)
	first := n.token(t, "hoarder", true)
	br := n.open(t, "lobby", first)
	for range web.MaxCredentials {
		n.token(t, "hoarder", false)
	}
	wantClosed(t, br, web.StatusRevoked)
	if code := n.call(t, "GET", "/api/v1/rooms", first, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("the oldest token still works: %d", code)
	}
}

// EndUserSessions, what a password change and a deactivation call,
// closes every socket of the user but those of the credential kept, on
// every process: here two servers on one database and one Redis.
func TestEndUserSessionsOnEveryProcess(t *testing.T) {
	url := testenv.Need(t, testenv.Redis, "two processes on one Redis")
	st := storetest.SQLite(t)
	var b [6]byte
	rand.Read(b[:])
	prefix := "parley:test:" + hex.EncodeToString(b[:]) + ":"
	var nodes []*node
	for i := range 2 {
		rb, err := redisbroker.New(t.Context(), url, redisbroker.Options{Prefix: prefix, Origin: "p" + string(rune('0'+i))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rb.Close() })
		nodes = append(nodes, newNode(t, st, rb, nil))
	}
	keep := nodes[0].token(t, "changer", true)
	other := nodes[0].token(t, "changer", false)
	bystander := nodes[0].token(t, "bystander", true)
	kept := nodes[1].open(t, "lobby", keep)
	closed := nodes[1].open(t, "lobby", other)
	alsoClosed := nodes[0].open(t, "lobby", other)
	fine := nodes[1].open(t, "lobby", bystander)

	u, _, err := st.UserByName(t.Context(), "changer")
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].srv.EndUserSessions(t.Context(), u, auth.SecretHash(keep)); err != nil {
		t.Fatal(err)
	}
	wantClosed(t, closed, web.StatusRevoked)
	wantClosed(t, alsoClosed, web.StatusRevoked)
	if code := nodes[1].call(t, "GET", "/api/v1/rooms", other, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("an ended token still works: %d", code)
	}
	// The kept credential's socket and another user's go on.
	started(t, kept.conn, kept.br)
	started(t, fine.conn, fine.br)
}
