package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"parley/internal/apptest"
)

// roomNames lists the rooms GET /api/v1/rooms?q= finds.
func roomNames(t *testing.T, srv *apptest.Server, token, q string) []string {
	t.Helper()
	var out struct{ Rooms []struct{ Name string } }
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms?q="+url.QueryEscape(q), token, nil, &out); r.StatusCode != http.StatusOK {
		t.Fatalf("rooms ?q=%s: %s", q, r.Status)
	}
	var names []string
	for _, r := range out.Rooms {
		names = append(names, r.Name)
	}
	return names
}

// section returns the part of a page from the element with id on.
func section(page, id string) string {
	if i := strings.Index(page, `id="`+id+`"`); i >= 0 {
		return page[i:]
	}
	return ""
}

// TestGetMakesNoRoom (finding 7): viewing a room's page, entering a name
// in the Rooms box, following a link from another site and opening a
// socket make no room: a room is made by its first message or by a POST.
func TestGetMakesNoRoom(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	tok := srv.User(t, "viewer")
	cookie := loginCookie(t, srv, "viewer")
	r, page := get(t, srv, "/chats/ghost/", cookie)
	if r.StatusCode != http.StatusOK || !strings.Contains(page, "does not exist yet: your first message creates it") {
		t.Fatalf("the page of a room that does not exist: %s", r.Status)
	}
	// A link from elsewhere is a GET like any other.
	req, _ := http.NewRequest("GET", srv.URL+"/chats/phantom/", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Referer", "https://evil.example/")
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a cross-site link: %v %v", resp, err)
	}
	if r, _ := get(t, srv, "/chats/?room=Spectre", cookie); r.Header.Get("Location") != "/chats/spectre/" {
		t.Fatalf("?room=Spectre goes to %q", r.Header.Get("Location"))
	}
	c := srv.Dial(t, "wraith", apptest.DialOptions{Token: tok, Extensions: true})
	c.Send(map[string]string{"command": "fetch_messages"})
	if f := c.Expect("messages"); len(f.Messages) != 0 {
		t.Fatalf("history of no room: %s", f.Raw)
	}
	c.Close()
	for _, q := range []string{"ghost", "phantom", "spectre", "wraith"} {
		if got := roomNames(t, srv, tok, q); len(got) != 0 {
			t.Errorf("%s was made: %v", q, got)
		}
	}
	if _, page := get(t, srv, "/", cookie); strings.Contains(page, "/chats/ghost/") || strings.Contains(page, "/chats/wraith/") {
		t.Error("the dashboard lists a room that was only viewed")
	}
}

// TestRoomNamesIgnoreCase (issue 18, point 1): "General" is #general,
// on the page (301), the API, the socket and the Rooms box.
func TestRoomNamesIgnoreCase(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	tok := srv.User(t, "caser")
	cookie := loginCookie(t, srv, "caser")
	var m struct{ Room string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/General/messages", tok, map[string]string{"content": "hello"}, &m); r.StatusCode != http.StatusCreated || m.Room != "general" {
		t.Fatalf("post to General: %s, room %q", r.Status, m.Room)
	}
	r, _ := get(t, srv, "/chats/General/?x=1", cookie)
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/chats/general/?x=1" {
		t.Fatalf("/chats/General/: %s to %q; want 301 to /chats/general/", r.Status, r.Header.Get("Location"))
	}
	c := srv.Dial(t, "GENERAL", apptest.DialOptions{Token: tok, Extensions: true})
	c.Send(map[string]string{"command": "fetch_messages"})
	if f := c.Expect("messages"); len(f.Messages) != 1 || f.Messages[0].Content != "hello" {
		t.Fatalf("the socket of GENERAL: %s", f.Raw)
	}
	if got := c.Post("again", "g2"); got.Room != "general" || got.Seq != 2 {
		t.Fatalf("posted through GENERAL: %+v", got)
	}
	var room struct{ Name string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", tok, map[string]string{"name": "GeNeRaL"}, &room); r.StatusCode != http.StatusOK || room.Name != "general" {
		t.Fatalf("create GeNeRaL: %s %+v; want 200, the room general", r.Status, room)
	}
	if got := roomNames(t, srv, tok, "GEN"); fmt.Sprint(got) != "[general]" {
		t.Fatalf("search GEN: %v", got)
	}
}

// TestRoomCreateLimit (finding 7): new rooms are limited per user
// (--room-create-limit), by POST, by a first message over the API and
// on a socket, and on the Rooms page's form; posting into a room that
// exists is not; a user's many sockets making one room together spend
// one.
func TestRoomCreateLimit(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--room-create-limit=1/h,2", "--send-limit=off"}})
	tok := srv.User(t, "maker")
	create := func(token, name string) *http.Response {
		return apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", token, map[string]string{"name": name}, nil)
	}
	for _, name := range []string{"first", "second"} {
		if r := create(tok, name); r.StatusCode != http.StatusCreated {
			t.Fatalf("create %s: %s", name, r.Status)
		}
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", tok, map[string]string{"name": "third"}, &e)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || e.Error.Code != "rate_limited" {
		t.Fatalf("a third room: %s, Retry-After %q, %+v", r.Status, r.Header.Get("Retry-After"), e)
	}
	if r := create(tok, "First"); r.StatusCode != http.StatusOK {
		t.Fatalf("an existing room again: %s; want 200, free", r.Status)
	}
	// A first message over the API.
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/fourth/messages", tok, map[string]string{"content": "x"}, nil)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("a first message over the limit: %s", r.Status)
	}
	// Many messages into rooms that exist: no limit.
	for i := range 30 {
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/first/messages", tok, map[string]string{"content": fmt.Sprint(i)}, nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("message %d into a room that exists: %s", i, r.Status)
		}
	}
	// On a socket.
	c := srv.Dial(t, "fifth", apptest.DialOptions{Token: tok, Extensions: true})
	c.Send(map[string]string{"command": "new_message", "message": "x", "client_id": "n1"})
	f := c.Expect("error")
	var frame struct {
		RetryAfter int `json:"retry_after"`
	}
	_ = json.Unmarshal(f.Raw, &frame)
	if f.Code != "rate_limited" || f.ClientID != "n1" || frame.RetryAfter < 60 {
		t.Fatalf("a first message on a socket over the limit: %s", f.Raw)
	}
	in := srv.Dial(t, "second", apptest.DialOptions{Token: tok, Extensions: true})
	if m := in.Post("fine", "s1"); m.Room != "second" {
		t.Fatalf("a socket in a room that exists: %+v", m)
	}
	// The Rooms page's form.
	cookie := loginCookie(t, srv, "maker")
	resp := postForm(t, srv, "/chats/", url.Values{"room": {"sixth"}}, cookie)
	if page := body(t, resp); resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "many rooms lately") {
		t.Fatalf("the Create form over the limit: %s", resp.Status)
	}
	for _, name := range []string{"third", "fourth", "fifth", "sixth"} {
		if got := roomNames(t, srv, tok, name); len(got) != 0 {
			t.Errorf("%s was made over the limit", name)
		}
	}

	// Another user's five sockets, sending their first messages into a
	// new room at once: one room, one token.
	other := srv.User(t, "crowd")
	var socks []*apptest.Conn
	for range 5 {
		socks = append(socks, srv.Dial(t, "crowded", apptest.DialOptions{Token: other, Extensions: true}))
	}
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Go(func() { s.Post("hi", fmt.Sprint("c", i)) })
	}
	wg.Wait()
	// So crowd has one left: the form, within the limit, makes the room
	// and goes there; the next is over it.
	resp = postForm(t, srv, "/chats/", url.Values{"room": {"Formed"}}, loginCookie(t, srv, "crowd"))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chats/formed/" {
		t.Fatalf("crowd's second room, by the Create form: %s to %q; the first cost more than one", resp.Status, resp.Header.Get("Location"))
	}
	if r := create(other, "another"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("crowd's third room: %s", r.Status)
	}
}

// TestRecentAndLeave (issue 18, point 12): "Recently active" lists the
// rooms with a message, by the last one; a person can leave a room, on
// the page and over the API, and entering it again brings it back.
func TestRecentAndLeave(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	tok := srv.User(t, "leaver")
	cookie := loginCookie(t, srv, "leaver")
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", tok, map[string]string{"name": "typo"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create typo: %s", r.Status)
	}
	for _, room := range []string{"older", "newer"} {
		apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", tok, map[string]string{"content": "hi"}, nil)
	}
	_, page := get(t, srv, "/", cookie)
	recent := section(page, "recent-title")
	mine := section(page, "my-rooms-title")
	mine = mine[:strings.Index(mine, `id="recent-title"`)]
	if strings.Contains(recent, "/chats/typo/") || !strings.Contains(recent, "/chats/newer/") ||
		strings.Index(recent, "/chats/newer/") > strings.Index(recent, "/chats/older/") {
		t.Fatalf("recently active: the empty room listed, or not newest first:\n%s", recent)
	}
	if !strings.Contains(mine, "/chats/typo/") || !strings.Contains(mine, `action="/chats/typo/leave/"`) {
		t.Fatalf("your rooms lack typo and its Leave button:\n%s", mine)
	}
	if got := roomNames(t, srv, tok, ""); fmt.Sprint(got) != "[newer older]" {
		t.Fatalf("the API's recent rooms: %v", got)
	}
	if got := roomNames(t, srv, tok, "typ"); fmt.Sprint(got) != "[typo]" {
		t.Fatalf("search finds the empty room: %v", got)
	}

	// Leaving on the page.
	r := postForm(t, srv, "/chats/typo/leave/", url.Values{}, cookie)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/?left=typo" {
		t.Fatalf("leave: %s to %q", r.Status, r.Header.Get("Location"))
	}
	_, page = get(t, srv, "/?left=typo", cookie)
	if strings.Contains(section(page, "my-rooms-title"), "/chats/typo/\"") || !strings.Contains(page, "You left <strong>#typo</strong>") {
		t.Fatal("after leaving, the dashboard still lists typo, or does not say it was left")
	}
	// Over the API.
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/Older/membership", tok, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("leave over the API: %s", r.Status)
	}
	_, page = get(t, srv, "/", cookie)
	if strings.Contains(section(page, "my-rooms-title")[:strings.Index(section(page, "my-rooms-title"), `id="recent-title"`)], "/chats/older/") {
		t.Fatal("older is still in your rooms after leaving it over the API")
	}
	// Entering again brings it back.
	c := srv.Dial(t, "typo", apptest.DialOptions{Token: tok, Extensions: true})
	c.Send(map[string]string{"command": "fetch_messages"})
	c.Expect("messages")
	_, page = get(t, srv, "/", cookie)
	if !strings.Contains(section(page, "my-rooms-title"), "/chats/typo/") {
		t.Fatal("entering typo again did not bring it back")
	}
	// Cross-site leaving is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/chats/typo/leave/", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := noRedirect.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site leave: %v %v", resp, err)
	}
}
