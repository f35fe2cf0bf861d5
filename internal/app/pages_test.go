package app_test

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"parley/internal/apptest"
)

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
	// The most common passwords are refused, on the form and the API.
	r = postForm(t, srv, "/signup/", url.Values{"username": {"ivan"}, "password1": {"Password"}, "password2": {"Password"}}, "")
	if page := body(t, r); r.StatusCode != 422 || !strings.Contains(page, "most common") || !strings.Contains(page, `value="ivan"`) {
		t.Fatalf("sign-up with \"Password\": %s", r.Status)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", map[string]string{"username": "ivan", "password": "iloveyou"}, &e); r.StatusCode != 400 || !strings.Contains(e.Error.Message, "common") {
		t.Fatalf("API sign-up with \"iloveyou\": %s %+v", r.Status, e)
	}
	// Every field is checked at once: a taken name, a short password and a
	// mismatch in one answer, the focus on the first.
	r = postForm(t, srv, "/signup/", url.Values{"username": {"henry"}, "password1": {"short"}, "password2": {"other"}}, "")
	page := body(t, r)
	for _, want := range []string{"taken", "at least 8", "do not match"} {
		if !strings.Contains(page, want) {
			t.Errorf("a sign-up wrong three ways does not say %q", want)
		}
	}
	if r.StatusCode != 422 || !regexp.MustCompile(`id="id_username"[^>]*autofocus`).MatchString(page) || strings.Contains(page, `id="id_password1" [^>]*autofocus`) {
		t.Errorf("a sign-up wrong three ways: %s, or the focus is not on the name", r.Status)
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

// TestRoomPageHistory: the room page holds its latest messages in its
// HTML, so that they show before the socket answers, and opens where the
// reader left off, with the "New messages" line before the first unread.
func TestRoomPageHistory(t *testing.T) {
	srv := unlimited(t)
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	const room = "hist"
	post := func(from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", bob,
				map[string]string{"content": fmt.Sprintf("message %d", i), "client_id": fmt.Sprintf("bob-%d", i)}, nil)
			if r.StatusCode != http.StatusCreated {
				t.Fatalf("post %d: %s", i, r.Status)
			}
		}
	}
	// read moves alice's read marker as the room page's socket does.
	read := func(seq int64) {
		t.Helper()
		c := srv.Dial(t, room, apptest.DialOptions{Token: alice, Extensions: true})
		defer c.Close()
		c.Send(map[string]any{"command": "read", "seq": seq})
		c.Send(map[string]string{"command": "fetch_messages"}) // answered once the read is stored
		c.Expect("messages")
	}
	seqsRe := regexp.MustCompile(`class="msg[^"]*" data-seq="(\d+)"`)
	open := func(cookie string) (seqs []int, divider string, page string) {
		t.Helper()
		r, page := get(t, srv, "/chats/"+room+"/", cookie)
		if r.StatusCode != 200 {
			t.Fatalf("room page: %s", r.Status)
		}
		for _, m := range seqsRe.FindAllStringSubmatch(page, -1) {
			n, _ := strconv.Atoi(m[1])
			seqs = append(seqs, n)
		}
		if m := regexp.MustCompile(`class="unread-divider"[^>]*data-before="(\d+)"`).FindStringSubmatch(page); m != nil {
			divider = m[1]
		}
		return seqs, divider, page
	}
	span := func(seqs []int) string {
		if len(seqs) == 0 {
			return "none"
		}
		for i := range seqs {
			if seqs[i] != seqs[0]+i {
				return fmt.Sprint(seqs)
			}
		}
		return fmt.Sprintf("%d-%d", seqs[0], seqs[len(seqs)-1])
	}

	aliceCookie := loginCookie(t, srv, "alice")
	seqs, divider, page := open(aliceCookie)
	if len(seqs) != 0 || divider != "" || !strings.Contains(page, `id="empty-room" class="history-start empty-room">`) {
		t.Fatalf("an empty room shows %v, divider %q, or hides its welcome", seqs, divider)
	}
	if strings.Contains(page, "disabled") {
		t.Error("the composer is disabled until the socket opens")
	}

	// Viewing it made nothing: the page says its first message would.
	if !strings.Contains(page, "does not exist yet") {
		t.Fatal("the page of a room that does not exist does not say so")
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms?q="+room, alice, nil, nil); r.StatusCode != 200 {
		t.Fatal(r.Status)
	}
	// bob makes the room; alice enters it (her page's socket) while it
	// is empty: all 30 are new to her.
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", bob, map[string]string{"name": room}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create the room: %s", r.Status)
	}
	read(0)
	post(1, 30)
	seqs, divider, page = open(aliceCookie)
	if span(seqs) != "1-20" || divider != "1" || !strings.Contains(page, `data-has-older="false"`) {
		t.Fatalf("alice's room page, 30 unread: messages %s, divider before %q; want 1-20, before 1", span(seqs), divider)
	}
	if strings.Contains(page, "data-client-id") {
		t.Error("alice's page holds bob's client_ids")
	}

	read(25)
	post(31, 35)
	seqs, divider, page = open(aliceCookie)
	if !strings.Contains(page, `data-has-older="true"`) {
		t.Error("the page does not say that older messages are there")
	}
	if span(seqs) != "16-35" || divider != "26" {
		t.Fatalf("10 unread: messages %s, divider before %q; want 16-35, before 26", span(seqs), divider)
	}

	read(35)
	post(36, 75)
	seqs, divider, _ = open(aliceCookie)
	if span(seqs) != "33-52" || divider != "36" {
		t.Fatalf("40 unread: messages %s, divider before %q; want 33-52 (the first unread, 3 read above), before 36", span(seqs), divider)
	}

	// bob's own messages carry their client_ids, for his page to match
	// what it kept unsent.
	seqs, divider, page = open(loginCookie(t, srv, "bob"))
	if span(seqs) != "56-75" || divider != "" || !strings.Contains(page, `data-client-id="bob-75"`) {
		t.Fatalf("bob's page: messages %s, divider %q, client_ids shown: %v", span(seqs), divider, strings.Contains(page, "data-client-id"))
	}

	// A newcomer starts at the latest, with nothing marked unread, even
	// if they leave before the page's socket says they read it (its
	// socket entering the room is what makes them a member); what comes
	// after is new to them.
	dave := srv.User(t, "dave")
	daveCookie := loginCookie(t, srv, "dave")
	seqs, divider, _ = open(daveCookie)
	if span(seqs) != "56-75" || divider != "" {
		t.Fatalf("a newcomer's page: messages %s, divider %q", span(seqs), divider)
	}
	c := srv.Dial(t, room, apptest.DialOptions{Token: dave, Extensions: true})
	c.Send(map[string]string{"command": "fetch_messages"})
	c.Expect("messages")
	c.Close()
	post(76, 77)
	seqs, divider, _ = open(daveCookie)
	if span(seqs) != "58-77" || divider != "76" {
		t.Fatalf("the newcomer back: messages %s, divider before %q; want 58-77, before 76", span(seqs), divider)
	}

	// Links: http(s) and www., the sentence's punctuation left out; the
	// rest is text.
	srv2 := unlimited(t)
	carol := srv2.User(t, "carol")
	apptest.Do(t, "POST", srv2.URL+"/api/v1/rooms/links/messages", carol,
		map[string]string{"content": "see www.example.org/a_(b). and https://example.com/x?y=1, <b>not bold</b>"}, nil)
	_, page = get(t, srv2, "/chats/links/", loginCookie(t, srv2, "carol"))
	for _, want := range []string{
		`see <a href="https://www.example.org/a_%28b%29" target="_blank" rel="noopener noreferrer">www.example.org/a_(b)</a>. and ` +
			`<a href="https://example.com/x?y=1" target="_blank" rel="noopener noreferrer">https://example.com/x?y=1</a>, &lt;b&gt;not bold&lt;/b&gt;</div>`,
		`data-has-older="false"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the room page lacks %s", want)
		}
	}
}

// TestBadRoomNameSuggestsOne: an invalid room name is answered with a
// valid one to go to instead.
func TestBadRoomNameSuggestsOne(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, "dora")
	cookie := loginCookie(t, srv, "dora")
	r, page := get(t, srv, "/chats/My%20Room!/", cookie)
	if r.StatusCode != http.StatusNotFound || !strings.Contains(page, `<a href="/chats/my-room/">#my-room</a>`) {
		t.Fatalf("/chats/My Room!/: %s, suggestion shown: %v", r.Status, strings.Contains(page, "my-room"))
	}
	r, page = get(t, srv, "/chats/?room=My+Room%21", cookie)
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(page, `value="my-room"`) || !strings.Contains(page, "my-room") {
		t.Fatalf("?room=My Room!: %s, the box does not offer my-room", r.Status)
	}
}
