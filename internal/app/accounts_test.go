package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/app"
	"parley/internal/apptest"
	"parley/internal/testenv"
)

type apiErr struct {
	Error struct{ Code, Message string }
}

// wantAPI checks an API answer's status and, for an error, its code.
func wantAPI(t *testing.T, what string, r *http.Response, e apiErr, status int, code string) {
	t.Helper()
	if r.StatusCode != status || e.Error.Code != code {
		t.Fatalf("%s: %s %+v; want %d %q", what, r.Status, e, status, code)
	}
}

// TestAdminAccess: the first account is an admin; the admin pages and
// API are an admin's: a visitor is sent to log in, a member gets 403.
func TestAdminAccess(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	root := srv.User(t, "root")
	bob := srv.User(t, "bob")
	rootCookie, bobCookie := loginCookie(t, srv, "root"), loginCookie(t, srv, "bob")

	for _, path := range []string{"/admin/", "/admin/users/", "/admin/invites/", "/admin/audit/", "/settings/"} {
		if r, _ := get(t, srv, path, ""); r.StatusCode != http.StatusFound || !strings.HasPrefix(r.Header.Get("Location"), "/accounts/login/?next=") {
			t.Errorf("%s signed out: %s %s; want a redirect to log in", path, r.Status, r.Header.Get("Location"))
		}
		if path == "/settings/" {
			continue
		}
		if r, body := get(t, srv, path, bobCookie); r.StatusCode != http.StatusForbidden || !strings.Contains(body, "Only an admin") {
			t.Errorf("%s as a member: %s", path, r.Status)
		}
		if r, _ := get(t, srv, path, rootCookie); r.StatusCode != http.StatusOK {
			t.Errorf("%s as the admin: %s", path, r.Status)
		}
	}
	for _, path := range []string{"/admin/users/root/role/", "/admin/users/root/deactivate/", "/admin/invites/", "/admin/invites/1/revoke/"} {
		if r := postForm(t, srv, path, url.Values{"role": {"member"}, "uses": {"1"}, "expires": {"1h"}}, bobCookie); r.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s as a member: %s", path, r.Status)
		}
	}
	if r := postForm(t, srv, "/admin/users/bob/frobnicate/", url.Values{}, rootCookie); r.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown action: %s", r.Status)
	}
	_, home := get(t, srv, "/admin/", rootCookie)
	for _, link := range []string{`href="/admin/users/"`, `href="/admin/invites/"`, `href="/admin/audit/"`} {
		if !strings.Contains(home, link) {
			t.Errorf("/admin/ has no link %s", link)
		}
	}
	if _, dash := get(t, srv, "/", bobCookie); strings.Contains(dash, `href="/admin/"`) {
		t.Error("a member's header links to /admin/")
	}
	if _, page := get(t, srv, "/admin/users/?q=B", rootCookie); !strings.Contains(page, "<th scope=\"row\">bob</th>") || strings.Contains(page, "<th scope=\"row\">root</th>") {
		t.Errorf("/admin/users/?q=B does not find bob alone:\n%s", page)
	}

	var e apiErr
	for _, call := range []struct{ method, path string }{
		{"GET", "/api/v1/admin/users"}, {"PATCH", "/api/v1/admin/users/root"}, {"POST", "/api/v1/admin/users/root/reset-link"},
		{"GET", "/api/v1/admin/invites"}, {"POST", "/api/v1/admin/invites"}, {"DELETE", "/api/v1/admin/invites/1"},
		{"GET", "/api/v1/admin/audit"},
	} {
		e = apiErr{}
		r := apptest.Do(t, call.method, srv.URL+call.path, bob, map[string]string{"role": "member"}, &e)
		wantAPI(t, call.method+" "+call.path+" as a member", r, e, http.StatusForbidden, "forbidden")
		e = apiErr{}
		r = apptest.Do(t, call.method, srv.URL+call.path, "", nil, &e)
		wantAPI(t, call.method+" "+call.path+" without a token", r, e, http.StatusUnauthorized, "unauthorized")
	}
	var users struct {
		Users []struct {
			Name, Role  string
			Deactivated bool
		}
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/admin/users", root, nil, &users)
	if len(users.Users) != 2 || users.Users[0].Name != "bob" || users.Users[0].Role != "member" || users.Users[1].Role != "admin" {
		t.Fatalf("users: %+v", users)
	}
}

// TestRoles: an admin changes roles over the API and the page; the next
// request sees the new role, the account's sockets reconnect, and the
// last admin stays one.
func TestRoles(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	root := srv.User(t, "root")
	bob := srv.User(t, "bob")
	carol := srv.User(t, "carol")
	sock := srv.Dial(t, "roles", apptest.DialOptions{Token: bob})

	var e apiErr
	var got struct{ Name, Role string }
	r := apptest.Do(t, "PATCH", srv.URL+"/api/v1/admin/users/BOB", root, map[string]string{"role": "moderator"}, &got)
	if r.StatusCode != http.StatusOK || got.Name != "bob" || got.Role != "moderator" {
		t.Fatalf("set role: %s %+v", r.Status, got)
	}
	if code := closedWith(t, sock); code != 1012 {
		t.Fatalf("bob's socket closed with %d on a role change; want 1012", code)
	}
	// A moderator may deactivate a member at once, not an admin.
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/carol/deactivate", bob, nil, &got)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("a moderator deactivating a member: %s", r.Status)
	}
	e = apiErr{}
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/root/deactivate", bob, nil, &e)
	wantAPI(t, "a moderator deactivating an admin", r, e, http.StatusForbidden, "forbidden")
	_ = carol

	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"root", `{"role":"member"}`, http.StatusConflict, "conflict"},
		{"bob", `{"role":"owner"}`, http.StatusBadRequest, "invalid"},
		{"nobody", `{"role":"admin"}`, http.StatusNotFound, "not_found"},
	} {
		e = apiErr{}
		req, _ := http.NewRequest("PATCH", srv.URL+"/api/v1/admin/users/"+tc.name, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+root)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := body(t, resp)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(body, `"code":"`+tc.code+`"`) {
			t.Errorf("PATCH %s %s: %s %s; want %d %s", tc.name, tc.body, resp.Status, body, tc.status, tc.code)
		}
	}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/admin/users/root/deactivate", root, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown call: %s", r.Status)
	}

	// The page: bob made an admin; then root, no longer the last, may be demoted.
	cookie := loginCookie(t, srv, "root")
	resp := postForm(t, srv, "/admin/users/bob/role/", url.Values{"role": {"admin"}}, cookie)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "bob is now admin.") {
		t.Fatalf("the role form: %s\n%s", resp.Status, page)
	}
	resp = postForm(t, srv, "/admin/users/root/role/", url.Values{"role": {"member"}}, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("demoting root with another admin: %s", resp.Status)
	}
	// At once: root's next request is a member's.
	e = apiErr{}
	r = apptest.Do(t, "GET", srv.URL+"/api/v1/admin/users", root, nil, &e)
	wantAPI(t, "the demoted admin's next call", r, e, http.StatusForbidden, "forbidden")
	resp = postForm(t, srv, "/admin/users/bob/role/", url.Values{"role": {"member"}}, loginCookie(t, srv, "bob"))
	if page := body(t, resp); resp.StatusCode != http.StatusConflict || !strings.Contains(page, "last active admin") {
		t.Fatalf("demoting the last admin on the page: %s", resp.Status)
	}
}

// TestDeactivation: at once, the account's sockets close, its sessions
// and tokens stop working and stay ended after reactivation, and log-in
// and new tokens are refused with 403, not a throttle.
func TestDeactivation(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	root := srv.User(t, "root")
	dave := srv.User(t, "dave")
	cookie := loginCookie(t, srv, "dave")
	byToken := srv.Dial(t, "deact", apptest.DialOptions{Token: dave})
	byCookie := srv.Dial(t, "deact", apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {srv.URL}}})

	var e apiErr
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/root/deactivate", root, nil, &e)
	wantAPI(t, "deactivating oneself", r, e, http.StatusForbidden, "forbidden")
	var got struct {
		Name        string
		Deactivated bool
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/dave/deactivate", root, nil, &got); r.StatusCode != http.StatusOK || !got.Deactivated {
		t.Fatalf("deactivate: %s %+v", r.Status, got)
	}
	for _, c := range []*apptest.Conn{byToken, byCookie} {
		if code := closedWith(t, c); code != 4401 {
			t.Fatalf("a deactivated account's socket closed with %d; want 4401", code)
		}
	}
	e = apiErr{}
	r = apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", dave, nil, &e)
	wantAPI(t, "a deactivated account's token", r, e, http.StatusUnauthorized, "unauthorized")
	if r, _ := get(t, srv, "/chats/", cookie); r.StatusCode != http.StatusFound {
		t.Fatalf("a deactivated account's session: %s", r.Status)
	}
	e = apiErr{}
	cred := map[string]string{"username": "dave", "password": "password-dave"}
	for range 3 { // refused each time, never throttled
		r = apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", cred, &e)
		wantAPI(t, "a token for a deactivated account", r, e, http.StatusForbidden, "forbidden")
	}
	if !strings.Contains(e.Error.Message, "deactivated") {
		t.Fatalf("message %q", e.Error.Message)
	}
	resp := postForm(t, srv, "/accounts/login/", url.Values{"username": {"dave"}, "password": {"password-dave"}}, "")
	if page := body(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "deactivated") || !strings.Contains(page, `value="dave"`) {
		t.Fatalf("log-in of a deactivated account: %s", resp.Status)
	}

	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/dave/reactivate", root, nil, &got); r.StatusCode != http.StatusOK || got.Deactivated {
		t.Fatalf("reactivate: %s %+v", r.Status, got)
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", dave, nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an old token works after reactivation: %s", r.Status)
	}
	srv.Token(t, "dave") // logs in again

	// The page's buttons.
	rc := loginCookie(t, srv, "root")
	resp = postForm(t, srv, "/admin/users/dave/deactivate/", url.Values{}, rc)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "dave is deactivated") || !strings.Contains(page, "/admin/users/dave/reactivate/") {
		t.Fatalf("deactivate form: %s", resp.Status)
	}
	resp = postForm(t, srv, "/admin/users/dave/reactivate/", url.Values{}, rc)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "dave is active again") {
		t.Fatalf("reactivate form: %s", resp.Status)
	}
	resp = postForm(t, srv, "/admin/users/nobody/deactivate/", url.Values{}, rc)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("deactivating nobody: %s", resp.Status)
	}
}

var joinLink = regexp.MustCompile(`/join/[A-Za-z0-9_-]+`)

// TestInvites: with --signup invite, sign-up is only through an invite
// link, which signs up as many as its uses, even at once, and no more.
func TestInvites(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	// The first account, made from the shell before sign-up closes.
	if out, err := runCLI(t, db, "createuser", "root"); err != nil || !strings.Contains(out, `admin "root"`) {
		t.Fatalf("createuser: %q %v", out, err)
	}
	srv := apptest.Start(t, apptest.Options{DB: db, Args: []string{"--signup=invite", "--signup-limit=off"}})
	root := srv.Token(t, "root")
	cred := map[string]string{"username": "eve", "password": "password-eve"}

	if r, page := get(t, srv, "/signup/", ""); r.StatusCode != http.StatusForbidden || !strings.Contains(page, "by invitation") {
		t.Fatalf("GET /signup/ when by invitation: %s", r.Status)
	}
	resp := postForm(t, srv, "/signup/", url.Values{"username": {"eve"}, "password1": {"password-eve"}, "password2": {"password-eve"}}, "")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST /signup/ when by invitation: %s", resp.Status)
	}
	var e apiErr
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", cred, &e)
	wantAPI(t, "API sign-up without an invite", r, e, http.StatusForbidden, "forbidden")

	var inv struct {
		ID         int64
		Code, Path string
		Uses       int64
		State      string
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/invites", root, map[string]any{"uses": 3, "expires": "2d"}, &inv); r.StatusCode != http.StatusCreated || inv.Path != "/join/"+inv.Code || inv.State != "active" {
		t.Fatalf("create invite: %s %+v", r.Status, inv)
	}
	for _, bad := range []map[string]any{{"uses": 0}, {"uses": 5000}, {"expires": "soon"}, {"expires": "0s"}} {
		e = apiErr{}
		r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/invites", root, bad, &e)
		wantAPI(t, fmt.Sprintf("create invite %v", bad), r, e, http.StatusBadRequest, "invalid")
	}
	if r, page := get(t, srv, inv.Path, ""); r.StatusCode != http.StatusOK || !strings.Contains(page, `action="`+inv.Path+`"`) {
		t.Fatalf("GET %s: %s", inv.Path, r.Status)
	}
	// One use through the form, then four at once over the API for the two left.
	resp = postForm(t, srv, inv.Path, url.Values{"username": {"frank"}, "password1": {"password-frank"}, "password2": {"password-frank"}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up through the invite form: %s %s", resp.Status, body(t, resp))
	}
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := map[string]string{"username": fmt.Sprintf("guest%d", i), "password": "password-guest", "invite": inv.Code}
			statuses[i] = apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", body, nil).StatusCode
		}()
	}
	wg.Wait()
	made := 0
	for _, st := range statuses {
		switch st {
		case http.StatusCreated:
			made++
		case http.StatusNotFound:
		default:
			t.Fatalf("concurrent sign-ups through an invite: %v", statuses)
		}
	}
	if made != 2 {
		t.Fatalf("%d of 4 concurrent sign-ups through the last 2 uses of an invite: %v", made, statuses)
	}
	if r, page := get(t, srv, inv.Path, ""); r.StatusCode != http.StatusGone || !strings.Contains(page, "used") {
		t.Fatalf("a used-up invite: %s", r.Status)
	}
	if r, _ := get(t, srv, "/join/no-such-code", ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown invite: %s", r.Status)
	}

	// List and revoke, through the API and the page.
	var list struct {
		Invites []struct {
			ID         int64
			Used, Uses int64
			State      string
			CreatedBy  string `json:"created_by"`
		}
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/admin/invites", root, nil, &list)
	if len(list.Invites) != 1 || list.Invites[0].Used != 3 || list.Invites[0].State != "used" || list.Invites[0].CreatedBy != "root" {
		t.Fatalf("invites: %+v", list)
	}
	cookie := loginCookie(t, srv, "root")
	resp = postForm(t, srv, "/admin/invites/", url.Values{"uses": {"1"}, "expires": {"1h"}}, cookie)
	page := body(t, resp)
	link := joinLink.FindString(page)
	if resp.StatusCode != http.StatusOK || link == "" {
		t.Fatalf("invite form: %s\n%s", resp.Status, page)
	}
	resp = postForm(t, srv, "/admin/invites/", url.Values{"uses": {"many"}, "expires": {"1h"}}, cookie)
	if page := body(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `value="many"`) {
		t.Fatalf("a bad invite form: %s", resp.Status)
	}
	code := strings.TrimPrefix(link, "/join/")
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/admin/invites/"+code, root, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("revoke by code: %s", r.Status)
	}
	if r, page := get(t, srv, link, ""); r.StatusCode != http.StatusGone || !strings.Contains(page, "revoked") {
		t.Fatalf("a revoked invite: %s", r.Status)
	}
	resp = postForm(t, srv, fmt.Sprintf("/admin/invites/%d/revoke/", inv.ID), url.Values{}, cookie)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke form: %s", resp.Status)
	}
	e = apiErr{}
	r = apptest.Do(t, "DELETE", srv.URL+"/api/v1/admin/invites/999", root, nil, &e)
	wantAPI(t, "revoking no invite", r, e, http.StatusNotFound, "not_found")
}

// TestSignupClosed: with --signup closed, nobody signs up without an
// invite, over the page or the API.
func TestSignupClosed(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--signup=closed"}})
	if r, page := get(t, srv, "/signup/", ""); r.StatusCode != http.StatusForbidden || !strings.Contains(page, "an admin makes accounts") {
		t.Fatalf("GET /signup/ when closed: %s", r.Status)
	}
	var e apiErr
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", map[string]string{"username": "x", "password": "password-x"}, &e)
	wantAPI(t, "API sign-up when closed", r, e, http.StatusForbidden, "forbidden")
}

var resetLink = regexp.MustCompile(`/reset/[A-Za-z0-9_-]+`)

// TestResetLink: an admin's reset link sets a password once and ends
// every session of the account, closing its sockets.
func TestResetLink(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	root := srv.User(t, "root")
	gina := srv.User(t, "gina")
	sock := srv.Dial(t, "reset", apptest.DialOptions{Token: gina})

	var link struct{ Path, URL string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/gina/reset-link", root, nil, &link); r.StatusCode != http.StatusCreated || !resetLink.MatchString(link.Path) || link.URL != srv.URL+link.Path {
		t.Fatalf("reset link: %s %+v", r.Status, link)
	}
	if r, page := get(t, srv, link.Path, ""); r.StatusCode != http.StatusOK || !strings.Contains(page, "gina") {
		t.Fatalf("GET %s: %s", link.Path, r.Status)
	}
	resp := postForm(t, srv, link.Path, url.Values{"password1": {"brand-new-pass"}, "password2": {"other"}}, "")
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("mismatched passwords: %s", resp.Status)
	}
	resp = postForm(t, srv, link.Path, url.Values{"password1": {"brand-new-pass"}, "password2": {"brand-new-pass"}}, "")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/accounts/login/") {
		t.Fatalf("set password: %s", resp.Status)
	}
	if code := closedWith(t, sock); code != 4401 {
		t.Fatalf("the socket closed with %d after a reset; want 4401", code)
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", gina, nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an old token after a reset: %s", r.Status)
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": "gina", "password": "brand-new-pass"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("log-in with the new password: %s", r.Status)
	}
	if r, _ := get(t, srv, link.Path, ""); r.StatusCode != http.StatusNotFound {
		t.Fatalf("a used reset link: %s", r.Status)
	}
	// The page's button shows the link once.
	resp = postForm(t, srv, "/admin/users/gina/reset-link/", url.Values{}, loginCookie(t, srv, "root"))
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !resetLink.MatchString(page) {
		t.Fatalf("reset link form: %s", resp.Status)
	}
	var e apiErr
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/nobody/reset-link", root, nil, &e)
	wantAPI(t, "a reset link for nobody", r, e, http.StatusNotFound, "not_found")
}

// TestSelfService: changing one's password takes the current one, and
// ends every other session and token; one's sessions are listed and
// ended one by one.
func TestSelfService(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, "root")
	keep := srv.User(t, "hal")
	other := srv.Token(t, "hal")
	sock := srv.Dial(t, "self", apptest.DialOptions{Token: other})

	var list struct {
		Sessions []struct {
			ID, Kind, Agent string
			Current         bool
			LastUsed        *time.Time `json:"last_used"`
		}
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/account/sessions", keep, nil, &list)
	if len(list.Sessions) != 2 || list.Sessions[0].Current == list.Sessions[1].Current || list.Sessions[0].Kind != "token" || list.Sessions[0].Agent != "Go program" {
		t.Fatalf("sessions: %+v", list)
	}
	// Each was used (other by its socket, keep by these calls): the
	// list shows it a few seconds after.
	start := time.Now()
	testenv.Eventually(t, 10*time.Second, "both tokens' last use shown", func() bool {
		apptest.Do(t, "GET", srv.URL+"/api/v1/account/sessions", keep, nil, &list)
		for _, s := range list.Sessions {
			if s.LastUsed == nil {
				return false
			}
			if s.LastUsed.Before(start.Add(-time.Minute)) || s.LastUsed.After(time.Now()) {
				t.Fatalf("last used %v, for a use since %v", s.LastUsed, start)
			}
		}
		return true
	})
	var e apiErr
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/account/password", keep, map[string]string{"current": "wrong-password", "new": "a-new-password"}, &e)
	wantAPI(t, "a wrong current password", r, e, http.StatusForbidden, "forbidden")
	e = apiErr{}
	r = apptest.Do(t, "POST", srv.URL+"/api/v1/account/password", keep, map[string]string{"current": "password-hal", "new": "short"}, &e)
	wantAPI(t, "a short new password", r, e, http.StatusBadRequest, "invalid")
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/account/password", keep, map[string]string{"current": "password-hal", "new": "a-new-password"}, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("change password: %s", r.Status)
	}
	if code := closedWith(t, sock); code != 4401 {
		t.Fatalf("another token's socket closed with %d; want 4401", code)
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", other, nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("another token after the change: %s", r.Status)
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", keep, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("the token that changed it: %s", r.Status)
	}

	// End one session by id; an unknown id is 404.
	third := apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": "hal", "password": "a-new-password"}, nil)
	if third.StatusCode != http.StatusCreated {
		t.Fatal(third.Status)
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/account/sessions", keep, nil, &list)
	var otherID string
	for _, s := range list.Sessions {
		if !s.Current {
			otherID = s.ID
		}
	}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/account/sessions/"+otherID, keep, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("end a session: %s", r.Status)
	}
	e = apiErr{}
	r = apptest.Do(t, "DELETE", srv.URL+"/api/v1/account/sessions/"+otherID, keep, nil, &e)
	wantAPI(t, "ending it again", r, e, http.StatusNotFound, "not_found")

	// The page: a wrong current password keeps the page, a right one changes it.
	cookie := loginCookieWith(t, srv, "hal", "a-new-password")
	if r, page := get(t, srv, "/settings/", cookie); r.StatusCode != http.StatusOK || !strings.Contains(page, "(this one)") {
		t.Fatalf("/settings/: %s", r.Status)
	}
	resp := postForm(t, srv, "/settings/password/", url.Values{"current": {"nope-nope"}, "password1": {"third-password"}, "password2": {"third-password"}}, cookie)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("settings, wrong current password: %s", resp.Status)
	}
	resp = postForm(t, srv, "/settings/password/", url.Values{"current": {"a-new-password"}, "password1": {"third-password"}, "password2": {"third-password"}}, cookie)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "Your password is changed") {
		t.Fatalf("settings, change password: %s", resp.Status)
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", keep, nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a token after a change made on the page: %s", r.Status)
	}
	if r, _ := get(t, srv, "/settings/", cookie); r.StatusCode != http.StatusOK {
		t.Fatalf("the session that changed the password ended: %s", r.Status)
	}

	// The page's buttons: end another session, then this one (a log-out).
	var tok struct{ Token string }
	apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": "hal", "password": "third-password"}, &tok)
	onOther := srv.Dial(t, "self", apptest.DialOptions{Token: tok.Token})
	apptest.Do(t, "GET", srv.URL+"/api/v1/account/sessions", tok.Token, nil, &list)
	var tokenID, pageID string
	for _, s := range list.Sessions {
		if s.Current {
			tokenID = s.ID
		} else if s.Kind == "session" {
			pageID = s.ID
		}
	}
	if tokenID == "" || pageID == "" {
		t.Fatalf("sessions: %+v", list)
	}
	resp = postForm(t, srv, "/settings/sessions/"+tokenID+"/end/", url.Values{}, cookie)
	if page := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "That session has ended") {
		t.Fatalf("end a token on the page: %s", resp.Status)
	}
	if code := closedWith(t, onOther); code != 4401 {
		t.Fatalf("the ended token's socket closed with %d; want 4401", code)
	}
	if resp := postForm(t, srv, "/settings/sessions/0123456789abcdef/end/", url.Values{}, cookie); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("end no session: %s", resp.Status)
	}
	resp = postForm(t, srv, "/settings/sessions/"+pageID+"/end/", url.Values{}, cookie)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/accounts/login/" {
		t.Fatalf("end this session: %s %s", resp.Status, resp.Header.Get("Location"))
	}
	if r, _ := get(t, srv, "/settings/", cookie); r.StatusCode != http.StatusFound {
		t.Fatalf("/settings/ after ending its session: %s", r.Status)
	}
}

// loginCookieWith logs in through the form with a password.
func loginCookieWith(t *testing.T, srv *apptest.Server, name, password string) string {
	t.Helper()
	resp := postForm(t, srv, "/accounts/login/", url.Values{"username": {name}, "password": {password}}, "")
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" {
			return "sessionid=" + c.Value
		}
	}
	t.Fatalf("login %s: %s", name, resp.Status)
	return ""
}

// TestAuditLog: each admin and moderator action is in the log, newest
// first, with who, what, to whom and from where; paged.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	root := srv.User(t, "root")
	srv.User(t, "ivy")
	apptest.Do(t, "PATCH", srv.URL+"/api/v1/admin/users/ivy", root, map[string]string{"role": "moderator"}, nil)
	apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/ivy/deactivate", root, nil, nil)
	apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/ivy/reactivate", root, nil, nil)
	apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/ivy/reset-link", root, nil, nil)
	var inv struct{ Code string }
	apptest.Do(t, "POST", srv.URL+"/api/v1/admin/invites", root, map[string]any{}, &inv)
	apptest.Do(t, "DELETE", srv.URL+"/api/v1/admin/invites/"+inv.Code, root, nil, nil)

	type entry struct {
		ID                                     int64
		Actor, Action, Target, Detail, Address string
	}
	var log struct {
		Entries []entry
		HasMore bool `json:"has_more"`
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/admin/audit", root, nil, &log)
	want := []string{"invite.revoke", "invite.create", "reset_link", "reactivate", "deactivate", "role"}
	if len(log.Entries) != len(want) || log.HasMore {
		t.Fatalf("audit: %+v", log)
	}
	for i, e := range log.Entries {
		if e.Action != want[i] || e.Actor != "root" || e.Address != "127.0.0.1" {
			t.Errorf("entry %d: %+v; want %s by root from 127.0.0.1", i, e, want[i])
		}
	}
	if e := log.Entries[5]; e.Target != "ivy" || e.Detail != "member -> moderator" {
		t.Errorf("role entry: %+v", e)
	}
	apptest.Do(t, "GET", fmt.Sprintf("%s/api/v1/admin/audit?limit=2&before=%d", srv.URL, log.Entries[1].ID), root, nil, &log)
	if len(log.Entries) != 2 || log.Entries[0].Action != "reset_link" || !log.HasMore {
		t.Fatalf("second page: %+v", log)
	}
	var e apiErr
	r := apptest.Do(t, "GET", srv.URL+"/api/v1/admin/audit?limit=0", root, nil, &e)
	wantAPI(t, "a bad limit", r, e, http.StatusBadRequest, "invalid")
	if r, page := get(t, srv, "/admin/audit/", loginCookie(t, srv, "root")); r.StatusCode != http.StatusOK || !strings.Contains(page, "member -&gt; moderator") {
		t.Fatalf("/admin/audit/: %s", r.Status)
	}
}

// runCLI runs a parley command on db and returns what it printed.
func runCLI(t *testing.T, db string, args ...string) (string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := app.Run(context.Background(), append(args, "--db="+db), app.Env{
		Getenv: func(k string) string {
			if k == "PARLEY_PASSWORD" {
				return "password-" + args[len(args)-1]
			}
			return ""
		},
		Stdout: &out, Stderr: &errOut,
	})
	return out.String() + errOut.String(), err
}

// TestShellCommands: parley user and parley invite act on the database
// the settings name, print the links they make, and are audited as the
// shell's.
func TestShellCommands(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	for _, name := range []string{"root", "jane", "kim"} {
		if _, err := runCLI(t, db, "createuser", name); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		args []string
		want string
		exit int
	}{
		{[]string{"user", "list"}, "jane  member  active", 0},
		{[]string{"user", "set-role", "jane", "moderator"}, "jane is now moderator", 0},
		{[]string{"user", "set-role", "root", "member"}, "last active admin", 1},
		{[]string{"user", "set-role", "jane", "boss"}, "bad role", 2},
		{[]string{"user", "deactivate", "kim"}, "kim is deactivated", 0},
		{[]string{"user", "list", "k"}, "kim   member  deactivated", 0},
		{[]string{"user", "reactivate", "kim"}, "kim is reactivated", 0},
		{[]string{"user", "deactivate", "nobody"}, "No such user", 1},
		{[]string{"user", "reset-link", "kim"}, "/reset/", 0},
		{[]string{"user", "frobnicate"}, "usage: parley user", 2},
		{[]string{"invite", "create", "--uses", "2", "--expires", "36h"}, "/join/", 0},
		{[]string{"invite", "create", "--uses=0"}, "1 to 1000 uses", 2},
		{[]string{"invite", "list"}, "1   active  0/2", 0},
		{[]string{"invite", "revoke", "1"}, "invite 1 is revoked", 0},
		{[]string{"invite", "revoke", "no-such-code"}, "No such invite", 1},
	}
	var reset, join string
	for _, st := range steps {
		out, err := runCLI(t, db, st.args...)
		if exitCode(err) != st.exit || !strings.Contains(out+fmt.Sprint(err), st.want) {
			t.Fatalf("parley %s: exit %d %q %v; want exit %d and %q", strings.Join(st.args, " "), exitCode(err), out, err, st.exit, st.want)
		}
		if s := resetLink.FindString(out); s != "" {
			reset = s
		}
		if s := joinLink.FindString(out); s != "" {
			join = s
		}
	}
	out, _ := runCLI(t, db, "invite", "create")
	join = joinLink.FindString(out)

	srv := apptest.Start(t, apptest.Options{DB: db})
	if r, page := get(t, srv, reset, ""); r.StatusCode != http.StatusOK || !strings.Contains(page, "kim") {
		t.Fatalf("the shell's reset link: %s", r.Status)
	}
	if r, _ := get(t, srv, join, ""); r.StatusCode != http.StatusOK {
		t.Fatalf("the shell's invite link %s: %s", join, r.Status)
	}
	var log struct {
		Entries []struct{ Actor, Action, Target, Address string }
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/admin/audit", srv.Token(t, "root"), nil, &log)
	if len(log.Entries) != 7 || log.Entries[6].Action != "role" || log.Entries[6].Actor != "shell" || log.Entries[6].Address != "shell" {
		t.Fatalf("the shell's audit entries: %+v", log.Entries)
	}
}

// TestDeactivateErases: an admin's deactivation may erase the account's
// messages, each through the deletions of room events: a change of its
// room's log, sent to the room's parley.v1 sockets, a tombstone in its
// place.
func TestDeactivateErases(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	root := srv.User(t, "root")
	troll := srv.User(t, "troll")
	watcher := srv.User(t, "watcher")
	w := srv.Dial(t, "erase-a", apptest.DialOptions{Token: watcher, Extensions: true})
	w.Expect("presence")
	t1 := srv.Dial(t, "erase-a", apptest.DialOptions{Token: troll})
	t1.Post("spam one", "s1")
	t1.Post("spam two", "s2")
	keep := w.Post("a message of the watcher's", "w1")
	t2 := srv.Dial(t, "erase-b", apptest.DialOptions{Token: troll})
	t2.Post("spam three", "s3")

	var got struct {
		Name        string
		Deactivated bool
		Erased      int
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/admin/users/troll/deactivate", root, map[string]bool{"erase": true}, &got); r.StatusCode != http.StatusOK || !got.Deactivated || got.Erased != 3 {
		t.Fatalf("deactivate and erase: %s %+v", r.Status, got)
	}
	deleted := map[int64]bool{}
	for len(deleted) < 2 {
		f := w.Next()
		if f.Command == "change" && f.Change.Kind == "delete" {
			if f.Change.Author != "root" {
				t.Fatalf("the deletion's author: %s", f.Raw)
			}
			deleted[f.Change.Target] = true
		}
	}
	var page struct {
		Messages []struct {
			Seq             int64
			Author, Content string
			Deleted         bool
		}
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/erase-a/messages", root, nil, &page)
	for _, m := range page.Messages {
		if m.Author == "troll" && (!m.Deleted || m.Content != "") || m.Seq == keep.Seq && m.Deleted {
			t.Fatalf("history after the erasure: %+v", page.Messages)
		}
	}
	var log struct {
		Entries []struct{ Action, Target, Detail string }
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/admin/audit", root, nil, &log)
	if len(log.Entries) != 2 || log.Entries[0].Action != "erase" || log.Entries[0].Detail != "3 messages deleted" || log.Entries[1].Action != "deactivate" {
		t.Fatalf("audit: %+v", log.Entries)
	}
}

// TestNoSignupLinksWhenClosed: a server that takes no open sign-ups offers
// no sign-up link, and says how accounts are made.
func TestNoSignupLinksWhenClosed(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"invite", "closed"} {
		srv := apptest.Start(t, apptest.Options{Args: []string{"--signup=" + mode}})
		for _, path := range []string{"/", "/accounts/login/"} {
			r, page := get(t, srv, path, "")
			if r.StatusCode != http.StatusOK || strings.Contains(page, `href="/signup/`) {
				t.Errorf("--signup=%s: %s links to /signup/", mode, path)
			}
		}
		if _, page := get(t, srv, "/", ""); !strings.Contains(page, "Accounts here are") {
			t.Errorf("--signup=%s: the landing page does not say how accounts are made", mode)
		}
	}
	srv := apptest.Start(t, apptest.Options{})
	if _, page := get(t, srv, "/", ""); !strings.Contains(page, `href="/signup/"`) {
		t.Error("an open server's landing page has no sign-up link")
	}
}

// TestShellErase: parley user deactivate NAME --erase deletes the
// account's messages in the store as the pages do. A running server
// without Redis, which the shell cannot tell, closes the account's
// sockets once it reads the shell's entries in the audit log, and sends
// each deletion to the room's sockets once its hub finds them in the
// room's log.
func TestShellErase(t *testing.T) {
	t.Parallel()
	db := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	srv := apptest.Start(t, apptest.Options{DB: db, Args: []string{"--send-limit=off"}})
	srv.User(t, "root")
	spammer := srv.User(t, "spammer")
	watcher := srv.User(t, "watcher")
	w := srv.Dial(t, "shell-erase", apptest.DialOptions{Token: watcher, Extensions: true})
	s := srv.Dial(t, "shell-erase", apptest.DialOptions{Token: spammer})
	first := s.Post("buy now", "b1")
	s.Post("buy again", "b2")

	out, err := runCLI(t, db, "user", "deactivate", "spammer", "--erase")
	if err != nil || !strings.Contains(out, "2 messages of spammer deleted") {
		t.Fatalf("parley user deactivate --erase: %q %v", out, err)
	}
	// Without Redis, the server learns it from the audit log.
	if code := closedWith(t, s); code != 4401 {
		t.Fatalf("the deactivated account's socket closed with %d; want 4401", code)
	}
	deleted := map[int64]bool{}
	for len(deleted) < 2 {
		f, err := w.TryNext(15 * time.Second)
		if err != nil {
			t.Fatalf("the deletions did not reach the room: %v (got %v)", err, deleted)
		}
		if f.Command == "change" && f.Change.Kind == "delete" && f.Change.Author == "shell" {
			deleted[f.Change.Target] = true
		}
	}
	if !deleted[first.Seq] {
		t.Fatalf("deleted %v", deleted)
	}
	// A role the shell changes reconnects the account's sockets too.
	if _, err := runCLI(t, db, "user", "set-role", "watcher", "moderator"); err != nil {
		t.Fatal(err)
	}
	if code := closedWith(t, w); code != 1012 {
		t.Fatalf("after the shell's role change the socket closed with %d; want 1012", code)
	}
	if _, err := runCLI(t, db, "user", "reactivate", "spammer", "--erase"); exitCode(err) != 2 {
		t.Fatalf("--erase with reactivate: %v", err)
	}
}
