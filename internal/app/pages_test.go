package app_test

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"parley/internal/apptest"
)

func get(t *testing.T, srv *apptest.Server, path, cookie string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestSignupForm(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	for _, tc := range []struct {
		name       string
		form       url.Values
		status     int
		wantInPage string
	}{
		{"bad username", url.Values{"username": {"no spaces!"}, "password1": {"longenough"}, "password2": {"longenough"}}, 422, "letters, digits"},
		{"short password", url.Values{"username": {"henry"}, "password1": {"short"}, "password2": {"short"}}, 422, "at least 8"},
		{"mismatch", url.Values{"username": {"henry"}, "password1": {"longenough1"}, "password2": {"longenough2"}}, 422, "do not match"},
		{"empty", url.Values{}, 422, "Enter a username"},
	} {
		r := postForm(t, srv, "/signup/", tc.form, "")
		page := body(t, r)
		if r.StatusCode != tc.status || !strings.Contains(page, tc.wantInPage) {
			t.Errorf("%s: %s; want %d and %q in the page", tc.name, r.Status, tc.status, tc.wantInPage)
		}
		if u := tc.form.Get("username"); u != "" && !strings.Contains(page, `value="`+template.HTMLEscapeString(u)+`"`) {
			t.Errorf("%s: the username %q was not kept", tc.name, u)
		}
		if pw := tc.form.Get("password1"); pw != "" && strings.Contains(page, pw) {
			t.Errorf("%s: the page echoes the password", tc.name)
		}
	}
	// Success: a session cookie, HttpOnly and SameSite=Lax, and the redirect to next.
	r := postForm(t, srv, "/signup/", url.Values{"username": {"henry"}, "password1": {"longenough"}, "password2": {"longenough"}, "next": {"/chats/lobby/"}}, "")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/chats/lobby/" {
		t.Fatalf("signup: %s to %q", r.Status, r.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "sessionid" {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("session cookie %+v", cookie)
	}
	_, home := get(t, srv, "/", "sessionid="+cookie.Value)
	if !strings.Contains(home, "henry") {
		t.Fatal("the dashboard does not greet the new user")
	}
	// The name is taken now.
	r = postForm(t, srv, "/signup/", url.Values{"username": {"henry"}, "password1": {"longenough"}, "password2": {"longenough"}}, "")
	if r.StatusCode != http.StatusConflict || !strings.Contains(body(t, r), "taken") {
		t.Fatalf("signup of a taken name: %s", r.Status)
	}
}

func TestLoginNextAndLogout(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, "ivy")
	// Pages that need a login send visitors to it, with next.
	r, _ := get(t, srv, "/chats/lobby/", "")
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusFound || loc != "/accounts/login/?next=%2Fchats%2Flobby%2F" {
		t.Fatalf("visitor at a room: %s to %q", r.Status, loc)
	}
	for next, want := range map[string]string{
		"/chats/lobby/":            "/chats/lobby/",
		"https://evil.example/":    "/",
		"//evil.example/":          "/",
		"/\\evil.example/":         "/",
		"javascript:alert(1)":      "/",
		"/%2F%2Fevil.example":      "/%2F%2Fevil.example",
		"http:/\\/evil.example":    "/",
		" //evil.example":          "/",
		"/chats/?q=a&room=b#frag1": "/chats/?q=a&room=b#frag1",
	} {
		r := postForm(t, srv, "/accounts/login/?next="+url.QueryEscape(next), url.Values{"username": {"ivy"}, "password": {"password-ivy"}}, "")
		if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != want {
			t.Errorf("next=%q: %s to %q; want %q", next, r.Status, loc, want)
		}
	}
	r = postForm(t, srv, "/accounts/login/", url.Values{"username": {"ivy"}, "password": {"wrong-password"}}, "")
	if page := body(t, r); r.StatusCode != 400 || !strings.Contains(page, "Wrong username or password") || !strings.Contains(page, `value="ivy"`) {
		t.Fatalf("wrong password: %s", r.Status)
	}
	// Log out ends the session on the server: the old cookie is worthless.
	cookie := loginCookie(t, srv, "ivy")
	if r, _ := get(t, srv, "/chats/", cookie); r.StatusCode != 200 {
		t.Fatalf("logged in /chats/: %s", r.Status)
	}
	if r := postForm(t, srv, "/accounts/logout/", nil, cookie); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", r.Status)
	}
	if r, _ := get(t, srv, "/chats/", cookie); r.StatusCode != http.StatusFound {
		t.Fatalf("after logout the old cookie still works: %s", r.Status)
	}
}

func TestChatsPage(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	tok := srv.User(t, "jack")
	for _, room := range []string{"lobby", "lobster-fans", "random"} {
		apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", tok, map[string]string{"content": "hi"}, nil)
	}
	cookie := loginCookie(t, srv, "jack")
	r, page := get(t, srv, "/chats/", cookie)
	if r.StatusCode != 200 || !strings.Contains(page, "What chat room would you like to enter?") {
		t.Fatalf("/chats/: %s", r.Status)
	}
	r, page = get(t, srv, "/chats/?q=lob", cookie)
	if !strings.Contains(page, "lobster-fans") || !strings.Contains(page, "/chats/lobby/") || strings.Contains(page, "/chats/random/") {
		t.Fatalf("search ?q=lob: %s", r.Status)
	}
	r, _ = get(t, srv, "/chats/?room=new-room", cookie)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/chats/new-room/" {
		t.Fatalf("?room=new-room: %s to %q", r.Status, r.Header.Get("Location"))
	}
	r, page = get(t, srv, "/chats/?room=bad+name%3Cb%3E", cookie)
	if r.StatusCode != 400 || !strings.Contains(page, "bad name&lt;b&gt;") {
		t.Fatalf("?room=bad name: %s", r.Status)
	}
	r, _ = get(t, srv, "/chats/bad%20room/", cookie)
	if r.StatusCode != 404 {
		t.Fatalf("bad room page: %s", r.Status)
	}
	r, page = get(t, srv, "/chats/lobby/", cookie)
	if r.StatusCode != 200 || !strings.Contains(page, `data-room="lobby"`) || !strings.Contains(page, "chat-message-input") {
		t.Fatalf("room page: %s", r.Status)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " onclick=") || strings.Contains(page, " onload=") {
		t.Fatal("the room page has inline script")
	}
	// The API lists rooms for the search box.
	var rooms struct {
		Rooms []struct{ Name string }
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/rooms?q=LOB", tok, nil, &rooms)
	if len(rooms.Rooms) != 2 {
		t.Fatalf("API search: %+v", rooms)
	}
}

// TestHTMLStoredVerbatim: markup in a message is stored and sent as it
// was written, and no page renders it.
func TestHTMLStoredVerbatim(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "kim")
	payload := `<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"`
	ws := srv.Dial(t, "xss", apptest.DialOptions{Token: tok})
	if m := ws.Post(payload, "p1"); m.Content != payload {
		t.Fatalf("stored %q", m.Content)
	}
	cookie := loginCookie(t, srv, "kim")
	for _, path := range []string{"/", "/chats/", "/chats/?q=xss", "/chats/xss/"} {
		if _, page := get(t, srv, path, cookie); strings.Contains(page, "<img src=x") || strings.Contains(page, `<script>alert`) {
			t.Fatalf("%s renders the payload as markup", path)
		}
	}
}

func TestCrossSiteFormRefused(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, "lena")
	cookie := loginCookie(t, srv, "lena")
	req, _ := http.NewRequest("POST", srv.URL+"/accounts/logout/", nil)
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site logout: %s", resp.Status)
	}
	if r, _ := get(t, srv, "/chats/", cookie); r.StatusCode != 200 {
		t.Fatal("a refused cross-site logout still ended the session")
	}
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/rooms/lobby/messages", strings.NewReader(`{"content":"csrf"}`))
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site API post with a cookie: %s", resp.Status)
	}
}

func TestOperations(t *testing.T) {
	srv := unlimited(t)
	ws := srv.Dial(t, "ops", apptest.DialOptions{Token: srv.User(t, "mia")})
	ws.Post("counted", "o1")
	if r, b := get(t, srv, "/healthz", ""); r.StatusCode != 200 || strings.TrimSpace(b) != "ok" {
		t.Fatalf("healthz %s %q", r.Status, b)
	}
	if r, _ := get(t, srv, "/readyz", ""); r.StatusCode != 200 {
		t.Fatalf("readyz %s", r.Status)
	}
	_, metrics := get(t, srv, "/metrics", "")
	for _, want := range []string{"parley_sockets 1", "parley_rooms 1", "parley_messages_in_total 1",
		"parley_messages_out_total 1", "parley_broadcast_latency_seconds_count 1", "parley_ready 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// An 8 MiB body gets 413 and the server stays healthy.
	big := bytes.Repeat([]byte("a"), 8<<20)
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/signup", bytes.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("8 MiB body: %s", resp.Status)
		}
	}
	if r, _ := get(t, srv, "/healthz", ""); r.StatusCode != 200 {
		t.Fatal("unhealthy after a big body")
	}
	// API errors have the contract's shape.
	var e struct {
		Error struct{ Code, Message string }
	}
	r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", "", nil, &e)
	if r.StatusCode != 401 || e.Error.Code != "unauthorized" || e.Error.Message == "" {
		t.Fatalf("API without auth: %s %+v", r.Status, e)
	}
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", map[string]string{"username": "mia", "password": "whatever-pass"}, &e)
	if r.StatusCode != 409 || e.Error.Code != "conflict" {
		t.Fatalf("API signup of a taken name: %s %+v", r.Status, e)
	}
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": "mia", "password": "wrong-pass"}, &e)
	if r.StatusCode != 401 {
		t.Fatalf("API token with a wrong password: %s", r.Status)
	}
}
