package app_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
)

// closedWith waits (up to 5 s: "within a few seconds") for the socket to
// be closed, and returns its close code.
func closedWith(t *testing.T, c *apptest.Conn) websocket.StatusCode {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.TryNext(time.Until(deadline)); err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			return websocket.CloseStatus(err)
		}
	}
	t.Fatal("the socket was still open after 5 s")
	return 0
}

// TestRevocationClosesSockets (finding 8): revoking a token, revoking all
// of them and logging out close every socket that credential opened,
// with 4401, and what such a socket sends after is not stored.
func TestRevocationClosesSockets(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	t1 := srv.User(t, "revoker")
	t2 := srv.Token(t, "revoker")
	cookie := loginCookie(t, srv, "revoker")
	watcher := srv.User(t, "watcher")
	s1 := srv.Dial(t, "revocation", apptest.DialOptions{Token: t1})
	s2 := srv.Dial(t, "revocation", apptest.DialOptions{Token: t2})
	s3 := srv.Dial(t, "revocation", apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {srv.URL}}})
	s1.Post("before", "b1")

	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/tokens/current", t1, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %s", r.Status)
	}
	if code := closedWith(t, s1); code != 4401 {
		t.Fatalf("the revoked token's socket closed with %d; want 4401", code)
	}
	// Whatever the client still sends is not acted on.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = s1.C.Write(ctx, websocket.MessageText, []byte(`{"command":"new_message","message":"after","client_id":"a1"}`))
	cancel()

	r := postForm(t, srv, "/accounts/logout/", url.Values{}, cookie)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", r.Status)
	}
	if code := closedWith(t, s3); code != 4401 {
		t.Fatalf("the session's socket closed with %d after logout; want 4401", code)
	}

	var revoked struct{ Revoked int }
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/tokens", t2, nil, &revoked); r.StatusCode != http.StatusOK || revoked.Revoked != 1 {
		t.Fatalf("revoke all: %s, %+v; want 200, 1 revoked", r.Status, revoked)
	}
	if code := closedWith(t, s2); code != 4401 {
		t.Fatalf("the socket of a token revoked with all closed with %d; want 4401", code)
	}
	var page struct{ Messages []struct{ Content string } }
	apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/revocation/messages?after=0", watcher, nil, &page)
	if len(page.Messages) != 1 || page.Messages[0].Content != "before" {
		t.Fatalf("stored: %+v; want only the message sent before the revocation", page.Messages)
	}
	for _, tok := range []string{t1, t2} {
		if _, resp, err := srv.TryDial("revocation", apptest.DialOptions{Token: tok}); err == nil || resp.StatusCode != 401 {
			t.Fatalf("a revoked token opens a socket: %v", err)
		}
	}
}
