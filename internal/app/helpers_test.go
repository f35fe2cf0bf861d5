package app_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"parley/internal/apptest"
)

// noRedirect is an HTTP client that shows redirects instead of following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error {
	return http.ErrUseLastResponse
}}

// get fetches a page with a cookie (or none), without following
// redirects, and returns the response and its body.
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

// body reads the rest of a response's body.
func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// postForm posts a form as a browser on this site would.
func postForm(t *testing.T, srv *apptest.Server, path string, form url.Values, cookie string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// loginCookie logs an existing user in through the form and returns the
// session cookie as a Cookie header value.
func loginCookie(t *testing.T, srv *apptest.Server, name string) string {
	t.Helper()
	resp := postForm(t, srv, "/accounts/login/", url.Values{"username": {name}, "password": {"password-" + name}}, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %s", name, resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "sessionid" {
			return "sessionid=" + c.Value
		}
	}
	t.Fatal("login set no session cookie")
	return ""
}
