package app_test

import (
	"net/http"
	"strings"
	"testing"

	"parley/internal/apptest"
)

// TestOperationsGuarded (finding 11): the static folder lists nothing;
// /metrics asks for its token when one is set; logged-in pages stay out
// of caches.
func TestOperationsGuarded(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--metrics-token=let-me-see"}})
	for path, want := range map[string]int{"/static/": 404, "/static/app.css": 200, "/static/app.css/": 404} {
		if r, _ := get(t, srv, path, ""); r.StatusCode != want {
			t.Errorf("GET %s: %s; want %d", path, r.Status, want)
		}
	}
	metrics := func(auth string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	for _, auth := range []string{"", "Bearer wrong", "let-me-see", "Basic bGV0LW1lLXNlZQ=="} {
		if r := metrics(auth); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("/metrics with %q: %s; want 401 asking for a bearer token", auth, r.Status)
		}
	}
	if r := metrics("Bearer let-me-see"); r.StatusCode != http.StatusOK {
		t.Errorf("/metrics with its token: %s", r.Status)
	}
	if strings.Contains(srv.Log(), "let-me-see") {
		t.Error("the metrics token is in the log")
	}

	srv.User(t, "cached")
	cookie := loginCookie(t, srv, "cached")
	for _, path := range []string{"/", "/chats/", "/chats/lobby/"} {
		if r, _ := get(t, srv, path, cookie); r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s logged in: %s, Cache-Control %q; want no-store", path, r.Status, r.Header.Get("Cache-Control"))
		}
	}
	if r, _ := get(t, srv, "/", ""); r.Header.Get("Cache-Control") == "no-store" {
		t.Error("the landing page, for everybody, need not be no-store")
	}
}
