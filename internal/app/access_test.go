package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/app"
	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// onBothEngines runs f on a server over SQLite and one over PostgreSQL
// (skipped without PARLEY_TEST_POSTGRES).
func onBothEngines(t *testing.T, args []string, f func(t *testing.T, srv *apptest.Server)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, apptest.Start(t, apptest.Options{Args: args}))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, apptest.Start(t, apptest.Options{DB: storetest.PostgresDSN(t), Args: args}))
	})
}

// apiStatus sends an API request and returns its status and body.
func apiStatus(t *testing.T, srv *apptest.Server, method, path, token string, body any) (int, string) {
	t.Helper()
	var raw rawJSON
	r := apptest.Do(t, method, srv.URL+path, token, body, &raw)
	return r.StatusCode, string(raw)
}

// rawJSON keeps an API answer as it came.
type rawJSON []byte

func (j *rawJSON) UnmarshalJSON(b []byte) error { *j = append((*j)[:0], b...); return nil }

// dialStatus tries a socket's upgrade and returns its status: 101, or
// the refusal's.
func dialStatus(t *testing.T, srv *apptest.Server, room, token string) (int, *websocket.Conn) {
	t.Helper()
	c, resp, err := srv.TryDial(room, apptest.DialOptions{Token: token, Extensions: true})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", room, err)
		}
		return resp.StatusCode, nil
	}
	t.Cleanup(func() { c.CloseNow() })
	return http.StatusSwitchingProtocols, c
}

// TestRoomAccess: every path into a room — its page, history and posts
// over the API, its socket's upgrade and its sends, the room lists, the
// search of rooms and the dashboard — answers as chat.Can says, for a
// public room, a private room (to a member and to someone else), a
// direct conversation (to a member and to someone else) and an archived
// room, on both engines. To anyone not in it a private room or a direct
// conversation is not there: 404, and absent from every list.
func TestRoomAccess(t *testing.T) {
	t.Parallel()
	onBothEngines(t, []string{"--send-limit=off"}, roomAccess)
}

func roomAccess(t *testing.T, srv *apptest.Server) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the server's log:\n%s", srv.Log())
		}
	})
	owner, member, outsider := srv.User(t, "owner"), srv.User(t, "member"), srv.User(t, "outsider")
	cookies := map[string]string{owner: loginCookie(t, srv, "owner"), member: loginCookie(t, srv, "member"), outsider: loginCookie(t, srv, "outsider")}

	mustAPI := func(method, path, token string, body any, want int) string {
		t.Helper()
		status, raw := apiStatus(t, srv, method, path, token, body)
		if status != want {
			t.Fatalf("%s %s: %d %s; want %d", method, path, status, raw, want)
		}
		return raw
	}
	mustAPI("POST", "/api/v1/rooms", owner, map[string]string{"name": "plaza"}, http.StatusCreated)
	mustAPI("POST", "/api/v1/rooms", owner, map[string]string{"name": "vault", "kind": "private"}, http.StatusCreated)
	mustAPI("POST", "/api/v1/rooms/vault/members", owner, map[string]string{"user": "member"}, http.StatusCreated)
	mustAPI("POST", "/api/v1/rooms", owner, map[string]string{"name": "museum"}, http.StatusCreated)
	var dm struct{ Name string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/dms", owner, map[string][]string{"users": {"member"}}, &dm); r.StatusCode != http.StatusCreated {
		t.Fatalf("open a direct conversation: %s", r.Status)
	}
	for _, room := range []string{"plaza", "vault", "museum", dm.Name} {
		mustAPI("POST", "/api/v1/rooms/"+room+"/messages", owner, map[string]string{"content": "hello " + room}, http.StatusCreated)
	}
	mustAPI("PATCH", "/api/v1/rooms/museum", owner, map[string]bool{"archived": true}, http.StatusOK)

	type access int
	const (
		hidden   access = iota // 404 everywhere, in no list
		readOnly               // read; sends forbidden
		full                   // read and send
	)
	for _, tc := range []struct {
		name   string
		room   string
		token  string
		access access
		listed bool // in the room lists and the search of rooms
	}{
		{"public", "plaza", outsider, full, true},
		{"private member", "vault", member, full, true},
		{"private non-member", "vault", outsider, hidden, false},
		{"direct member", dm.Name, member, full, false},
		{"direct non-member", dm.Name, outsider, hidden, false},
		{"archived", "museum", outsider, readOnly, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRead := http.StatusOK
			if tc.access == hidden {
				wantRead = http.StatusNotFound
			}
			// The page.
			r, page := get(t, srv, "/chats/"+tc.room+"/", cookies[tc.token])
			if r.StatusCode != wantRead {
				t.Errorf("page: %s", r.Status)
			}
			if tc.access == hidden && strings.Contains(page, "hello") {
				t.Errorf("the page of a hidden room shows its messages")
			}
			if tc.access == readOnly && !strings.Contains(page, "archived") {
				t.Errorf("the page of an archived room does not say so")
			}
			// History over the API.
			if status, raw := apiStatus(t, srv, "GET", "/api/v1/rooms/"+tc.room+"/messages", tc.token, nil); status != wantRead ||
				(tc.access != hidden) != strings.Contains(raw, "hello "+tc.room) {
				t.Errorf("history: %d %s", status, raw)
			}
			// Its settings over the API: readable by those who may read.
			if status, raw := apiStatus(t, srv, "GET", "/api/v1/rooms/"+tc.room, tc.token, nil); status != wantRead {
				t.Errorf("settings: %d %s", status, raw)
			}
			// A post over the API.
			wantPost := map[access]int{hidden: http.StatusNotFound, readOnly: http.StatusForbidden, full: http.StatusCreated}[tc.access]
			if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/"+tc.room+"/messages", tc.token,
				map[string]string{"content": "from the API"}); status != wantPost {
				t.Errorf("post: %d %s; want %d", status, raw, wantPost)
			}
			// The socket's upgrade, and a send on it.
			status, c := dialStatus(t, srv, tc.room, tc.token)
			switch {
			case tc.access == hidden && status != http.StatusNotFound:
				t.Errorf("upgrade: %d; want 404", status)
			case tc.access != hidden && status != http.StatusSwitchingProtocols:
				t.Errorf("upgrade: %d; want 101", status)
			case c != nil:
				sendFrame(t, c, map[string]string{"command": "new_message", "message": "from a socket", "client_id": "s1"})
				f := frameFor(t, c, "s1")
				if tc.access == full && f.Command != "new_message" {
					t.Errorf("send: %s", f.Raw)
				}
				if tc.access == readOnly && (f.Command != "error" || f.Code != "forbidden" || !strings.Contains(string(f.Raw), "archived")) {
					t.Errorf("send to an archived room: %s", f.Raw)
				}
			}
			// The lists: every room, the search of rooms, the Rooms page
			// and the dashboard.
			prefix := tc.room[:3]
			for _, q := range []string{"", prefix} {
				if got := slices.Contains(roomNames(t, srv, tc.token, q), tc.room); got != tc.listed {
					t.Errorf("GET /api/v1/rooms?q=%s lists it: %v", q, got)
				}
			}
			_, chats := get(t, srv, "/chats/?q="+url.QueryEscape(prefix), cookies[tc.token])
			if got := strings.Contains(chats, `href="/chats/`+tc.room+`/"`); got != tc.listed {
				t.Errorf("the Rooms page's search lists it: %v", got)
			}
			_, dash := get(t, srv, "/", cookies[tc.token])
			if tc.access == hidden && strings.Contains(dash, tc.room) {
				t.Errorf("the dashboard shows a room it may not: %s", tc.room)
			}
		})
	}

	// The direct conversation: on its members' dashboards by the other's
	// name, under Direct messages; its page titled by the names.
	_, dash := get(t, srv, "/", cookies[member])
	if d := section(dash, "direct-title"); !strings.Contains(d, "owner") || !strings.Contains(d, "/chats/"+dm.Name+"/") {
		t.Errorf("the member's dashboard has no direct conversation with owner")
	}
	if _, page := get(t, srv, "/chats/"+dm.Name+"/", cookies[member]); !strings.Contains(page, "<title>owner · Parley</title>") {
		t.Errorf("the direct conversation's page is not titled by the other's name")
	}
}

// sendFrame writes a JSON frame.
func sendFrame(t *testing.T, c *websocket.Conn, v map[string]string) {
	t.Helper()
	b := []byte("{")
	first := true
	for k, val := range v {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = fmt.Appendf(b, "%q:%q", k, val)
	}
	b = append(b, '}')
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// frameFor reads frames until the one that answers clientID: the
// broadcast of the message, or the error that refuses it.
func frameFor(t *testing.T, c *websocket.Conn, clientID string) apptest.Frame {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f apptest.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("frame %s: %v", data, err)
		}
		f.Raw = data
		if f.ClientID == clientID || f.Command == "new_message" && f.Msg().ClientID == clientID {
			return f
		}
	}
}

// closeCode waits for the socket's close and returns its code.
func closeCode(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := c.Read(ctx)
		cancel()
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code
			}
			t.Fatalf("socket ended without a close: %v", err)
		}
	}
}

// makeAdmin makes an admin account on the server's database, as the
// shell does, with the password apptest's users have.
func makeAdmin(t *testing.T, srv *apptest.Server, name string) string {
	t.Helper()
	err := app.Run(context.Background(), []string{"createuser", "--admin", "--db", srv.DB, name}, app.Env{
		Getenv: func(k string) string {
			if k == "PARLEY_PASSWORD" {
				return "password-" + name
			}
			return ""
		},
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
	})
	if err != nil {
		t.Fatalf("createuser --admin %s: %v", name, err)
	}
	return srv.Token(t, name)
}

// TestRoomControl: what a room's owner, moderators and admins do to a
// room, seen by its sockets at once: a mute refuses sends with when it
// ends and its lifting lets them through; removing a member closes their
// socket (4404) and their upgrade is then refused; making a room private
// closes the sockets of those not in it; the owner deletes anyone's
// message, a member only their own; only an admin sees /admin/rooms/.
func TestRoomControl(t *testing.T) {
	t.Parallel()
	onBothEngines(t, []string{"--send-limit=off"}, roomControl)
}

func roomControl(t *testing.T, srv *apptest.Server) {
	owner, member, passer := srv.User(t, "owner"), srv.User(t, "member"), srv.User(t, "passer")
	makeAdmin(t, srv, "boss")
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", owner, map[string]string{"name": "club", "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create: %s", r.Status)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/members", member, map[string]string{"user": "member"}); status != http.StatusNotFound {
		t.Fatalf("a non-member adds themselves: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/members", owner, map[string]string{"user": "member"}); status != http.StatusCreated || !strings.Contains(raw, `"member"`) {
		t.Fatalf("add member: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/members", member, map[string]string{"user": "passer"}); status != http.StatusForbidden {
		t.Fatalf("a member adds someone: %d %s", status, raw)
	}
	_, c := dialStatus(t, srv, "club", member)
	if c == nil {
		t.Fatal("the member's socket was refused")
	}

	// A mute: refused sends, which say until when; then lifted.
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/mutes", member, map[string]any{"user": "owner", "minutes": 5}); status != http.StatusForbidden {
		t.Fatalf("a member mutes the owner: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/mutes", owner, map[string]any{"user": "member", "minutes": 0}); status != http.StatusBadRequest {
		t.Fatalf("a mute of 0 minutes: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/mutes", owner, map[string]any{"user": "member", "minutes": 30}); status != http.StatusCreated {
		t.Fatalf("mute: %d %s", status, raw)
	}
	sendFrame(t, c, map[string]string{"command": "new_message", "message": "can I talk?", "client_id": "m1"})
	if f := frameFor(t, c, "m1"); f.Code != "forbidden" || !strings.Contains(string(f.Raw), "You are muted in this room until") {
		t.Fatalf("a muted member's send: %s", f.Raw)
	}
	if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/club/messages", member, map[string]string{"content": "and here?"}); status != http.StatusForbidden {
		t.Fatalf("a muted member's post: %d %s", status, raw)
	}
	// Nor is a muted member shown typing: the owner's socket gets the
	// next message, and no typing frame before it.
	watch := srv.Dial(t, "club", apptest.DialOptions{Token: owner, Extensions: true})
	typist := srv.Dial(t, "club", apptest.DialOptions{Token: member, Extensions: true})
	typed := func() bool {
		typist.Send(map[string]string{"command": "typing"})
		typist.Send(map[string]string{"command": "fetch_messages"})
		typist.Answer("messages") // the typing frame before it is handled
		var marker struct{ Seq int64 }
		apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/club/messages", owner, map[string]string{"content": "next"}, &marker)
		for {
			f := watch.Next()
			if f.Command == "typing" && f.User == "member" {
				return true
			}
			if f.Command == "new_message" && f.Msg().Seq == marker.Seq {
				return false
			}
		}
	}
	if typed() {
		t.Fatal("a muted member is shown typing")
	}
	if status, raw := apiStatus(t, srv, "DELETE", "/api/v1/rooms/club/mutes/member", owner, nil); status != http.StatusNoContent {
		t.Fatalf("unmute: %d %s", status, raw)
	}
	if !typed() {
		t.Fatal("an unmuted member is not shown typing")
	}
	sendFrame(t, c, map[string]string{"command": "new_message", "message": "thanks", "client_id": "m2"})
	f := frameFor(t, c, "m2")
	if f.Command != "new_message" {
		t.Fatalf("an unmuted member's send: %s", f.Raw)
	}
	said := f.Msg().Seq

	// Deleting: a member only their own; the owner anyone's.
	var mine struct{ Seq int64 }
	apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/club/messages", owner, map[string]string{"content": "owner's"}, &mine)
	if status, raw := apiStatus(t, srv, "DELETE", fmt.Sprintf("/api/v1/rooms/club/messages/%d", mine.Seq), member, nil); status != http.StatusForbidden {
		t.Fatalf("a member deletes the owner's message: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "DELETE", fmt.Sprintf("/api/v1/rooms/club/messages/%d", said), owner, nil); status != http.StatusCreated {
		t.Fatalf("the owner deletes a member's message: %d %s", status, raw)
	}

	// Removing the member closes their socket; they may not come back.
	if status, raw := apiStatus(t, srv, "DELETE", "/api/v1/rooms/club/members/member", owner, nil); status != http.StatusNoContent {
		t.Fatalf("remove: %d %s", status, raw)
	}
	if code := closeCode(t, c); code != 4404 {
		t.Fatalf("the removed member's socket closed with %d; want 4404", code)
	}
	if status, _ := dialStatus(t, srv, "club", member); status != http.StatusNotFound {
		t.Fatalf("the removed member's upgrade: %d", status)
	}

	// A public room made private keeps as members those who are in it
	// (entered or posted), and closes the sockets of the others: here
	// passer, who took it out of their rooms with a socket still open.
	apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", owner, map[string]string{"name": "porch"}, nil)
	_, pc := dialStatus(t, srv, "porch", passer)
	if pc == nil {
		t.Fatal("passer's socket in a public room refused")
	}
	_, stays := dialStatus(t, srv, "porch", member)
	if status, raw := apiStatus(t, srv, "DELETE", "/api/v1/rooms/porch/membership", passer, nil); status != http.StatusNoContent {
		t.Fatalf("passer leaves: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "PATCH", "/api/v1/rooms/porch", passer, map[string]string{"kind": "private"}); status != http.StatusForbidden {
		t.Fatalf("a passer changes the room: %d %s", status, raw)
	}
	if status, raw := apiStatus(t, srv, "PATCH", "/api/v1/rooms/porch", owner, map[string]any{"kind": "private", "topic": "  quiet  "}); status != http.StatusOK ||
		!strings.Contains(raw, `"topic":"quiet"`) || !strings.Contains(raw, `"kind":"private"`) {
		t.Fatalf("make private: %d %s", status, raw)
	}
	if code := closeCode(t, pc); code != 4404 {
		t.Fatalf("the passer's socket closed with %d; want 4404", code)
	}
	sendFrame(t, stays, map[string]string{"command": "new_message", "message": "still here", "client_id": "p1"})
	if f := frameFor(t, stays, "p1"); f.Command != "new_message" {
		t.Fatalf("a member's send after the room went private: %s", f.Raw)
	}
	if status, raw := apiStatus(t, srv, "PATCH", "/api/v1/rooms/porch", owner, map[string]string{"kind": "direct"}); status != http.StatusBadRequest {
		t.Fatalf("kind direct: %d %s", status, raw)
	}

	// The admin list.
	cookie := loginCookie(t, srv, "passer")
	if r, _ := get(t, srv, "/admin/rooms/", cookie); r.StatusCode != http.StatusForbidden {
		t.Fatalf("/admin/rooms/ to a member: %s", r.Status)
	}
	var r *http.Response
	var page string
	apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", owner, map[string]string{"name": "yard"}, nil)
	r, page = get(t, srv, "/admin/rooms/", loginCookie(t, srv, "boss"))
	if r.StatusCode != http.StatusOK || !strings.Contains(page, `href="/chats/club/"`) || !strings.Contains(page, "private") ||
		!strings.Contains(page, `href="/chats/yard/settings/"`) {
		t.Fatalf("/admin/rooms/ to an admin: %s", r.Status)
	}
	if r, _ := get(t, srv, "/chats/yard/settings/", loginCookie(t, srv, "boss")); r.StatusCode != http.StatusOK {
		t.Fatalf("an admin opens a public room's settings: %s", r.Status)
	}
	if r, _ := get(t, srv, "/chats/yard/settings/", cookie); r.StatusCode != http.StatusForbidden {
		t.Fatalf("a member opens another's room's settings: %s", r.Status)
	}
	if r, _ := get(t, srv, "/chats/club/settings/", cookie); r.StatusCode != http.StatusNotFound {
		t.Fatalf("a non-member opens a private room's settings: %s", r.Status)
	}
}

// TestDirectOpenedOnce: many opens of the same conversation at once, from
// both its people and in any order of their names, make one room; a
// person's name leads there (GET /dm/{name}/); a dm- name no conversation
// has is no page, no socket and no room.
func TestDirectOpenedOnce(t *testing.T) {
	t.Parallel()
	onBothEngines(t, nil, func(t *testing.T, srv *apptest.Server) {
		ann, bob := srv.User(t, "ann"), srv.User(t, "bob")
		srv.User(t, "cy")
		var wg sync.WaitGroup
		names := make([]string, 20)
		for i := range names {
			wg.Go(func() {
				tok, other := ann, "bob"
				if i%2 == 1 {
					tok, other = bob, "ann"
				}
				var out struct{ Name string }
				apptest.Do(t, "POST", srv.URL+"/api/v1/dms", tok, map[string][]string{"users": {other}}, &out)
				names[i] = out.Name
			})
		}
		wg.Wait()
		for _, n := range names {
			if n == "" || n != names[0] {
				t.Fatalf("one conversation, many names: %q", names)
			}
		}
		r, _ := get(t, srv, "/dm/ann/", loginCookie(t, srv, "bob"))
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/chats/"+names[0]+"/" {
			t.Fatalf("GET /dm/ann/: %s to %q", r.Status, r.Header.Get("Location"))
		}
		// A link from another site makes nothing: the page asks first.
		cy := loginCookie(t, srv, "cy")
		req, _ := http.NewRequest("GET", srv.URL+"/dm/ann/", nil)
		req.Header.Set("Cookie", cy)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a cross-site GET /dm/ann/: %s", resp.Status)
		}
		if _, dash := get(t, srv, "/", cy); strings.Contains(dash, "direct-title") {
			t.Fatal("a cross-site link opened a conversation")
		}
		if r := postForm(t, srv, "/dm/ann/", url.Values{}, cy); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/chats/dm-") {
			t.Fatalf("POST /dm/ann/: %s", r.Status)
		}
		if r, _ := get(t, srv, "/dm/bob/", loginCookie(t, srv, "bob")); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("a conversation with oneself: %s", r.Status)
		}
		if r, _ := get(t, srv, "/dm/nobody/", loginCookie(t, srv, "bob")); r.StatusCode != http.StatusNotFound {
			t.Fatalf("a conversation with nobody: %s", r.Status)
		}
		// Leaving it on the page: the dashboard says so without its
		// dm- name.
		bobCookie := loginCookie(t, srv, "bob")
		if r := postForm(t, srv, "/chats/"+names[0]+"/leave/", url.Values{}, bobCookie); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("bob leaves on the page: %s", r.Status)
		}
		if _, dash := get(t, srv, "/?left="+names[0], bobCookie); !strings.Contains(dash, "You left the direct conversation") || strings.Contains(dash, "#dm-") {
			t.Fatal("after leaving a direct conversation, the dashboard does not say so, or names it dm-…")
		}
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/dms", bob, map[string][]string{"users": {"ann"}}, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("bob opens it again: %s", r.Status)
		}
		// A dm- name nobody made is no page: conversations start from
		// a person's name.
		if r, page := get(t, srv, "/chats/dm-squat/", bobCookie); r.StatusCode != http.StatusNotFound || strings.Contains(page, "your first message creates it") {
			t.Fatalf("GET /chats/dm-squat/: %s", r.Status)
		}
		// Nor a socket: anyone can work out the name two people's
		// conversation will have, and must not wait there for it.
		if status, _ := dialStatus(t, srv, "dm-squat", bob); status != http.StatusNotFound {
			t.Fatalf("a socket on dm-squat: %d", status)
		}
		// Leaving it and opening it again brings its opener back.
		if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/"+names[0]+"/membership", ann, nil, nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("ann leaves: %s", r.Status)
		}
		if status, _ := apiStatus(t, srv, "GET", "/api/v1/rooms/"+names[0]+"/messages", ann, nil); status != http.StatusNotFound {
			t.Fatalf("history after leaving: %d", status)
		}
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/dms", ann, map[string][]string{"users": {"bob"}}, nil); r.StatusCode != http.StatusOK {
			t.Fatalf("opened again: %s", r.Status)
		}
		if status, _ := apiStatus(t, srv, "GET", "/api/v1/rooms/"+names[0]+"/messages", ann, nil); status != http.StatusOK {
			t.Fatalf("history after opening again: %d", status)
		}
		// Nobody makes a room named as direct conversations are.
		if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms", ann, map[string]string{"name": "dm-squat"}); status != http.StatusBadRequest {
			t.Fatalf("a room called dm-squat: %d %s", status, raw)
		}
		if status, raw := apiStatus(t, srv, "POST", "/api/v1/rooms/dm-squat/messages", ann, map[string]string{"content": "mine"}); status != http.StatusBadRequest {
			t.Fatalf("a first message into dm-squat: %d %s", status, raw)
		}
		// A group: three people, another room.
		var group struct{ Name string }
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/dms", ann, map[string][]string{"users": {"bob", "cy"}}, &group); r.StatusCode != http.StatusCreated || group.Name == names[0] {
			t.Fatalf("a group conversation: %s %q", r.Status, group.Name)
		}
		var members struct{ Members []string }
		apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/"+group.Name+"/members", bob, nil, &members)
		if !slices.Equal(members.Members, []string{"ann", "bob", "cy"}) {
			t.Fatalf("group members: %v", members.Members)
		}
	})
}
