package cluster_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/internal/app"
	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// Deactivating an account on one process closes its sockets on another
// (4401), a role change reconnects them (1012), and so does the shell's
// deactivation, which tells the servers through Redis.
func TestAccountChangesAcrossProcesses(t *testing.T) {
	redisURL := sharedRedis(t)
	db := storetest.PostgresDSN(t)
	srvs := startServers(t, 2, db, redisURL)
	room := roomName()
	names, tokens := users(t, srvs[0], 4) // user0, the first, is the admin
	admin := tokens[0]

	onB := openOn(t, srvs[1], room, apptest.DialOptions{Token: tokens[1]})
	start := time.Now()
	if r := apptest.Do(t, "POST", srvs[0].URL+"/api/v1/admin/users/"+names[1]+"/deactivate", admin, nil, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("deactivate on A: %s", r.Status)
	}
	if code := closeCode(t, onB); code != 4401 {
		t.Fatalf("a deactivated account's socket on B closed with %d; want 4401", code)
	}
	t.Logf("closed on B %v after the deactivation on A", time.Since(start).Round(time.Millisecond))
	if r := apptest.Do(t, "GET", srvs[1].URL+"/api/v1/rooms", tokens[1], nil, nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the deactivated account's token on B: %s", r.Status)
	}

	onB = openOn(t, srvs[1], room, apptest.DialOptions{Token: tokens[2]})
	if r := apptest.Do(t, "PATCH", srvs[0].URL+"/api/v1/admin/users/"+names[2], admin, map[string]string{"role": "moderator"}, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("set role on A: %s", r.Status)
	}
	if code := closeCode(t, onB); code != 1012 {
		t.Fatalf("the socket on B of an account whose role changed closed with %d; want 1012", code)
	}

	onB = openOn(t, srvs[1], room, apptest.DialOptions{Token: tokens[3]})
	var out strings.Builder
	err := app.Run(context.Background(), []string{"user", "deactivate", names[3], "--db", db, "--redis=" + redisURL},
		app.Env{Getenv: func(string) string { return "" }, Stdout: &out, Stderr: io.Discard})
	if err != nil {
		t.Fatalf("parley user deactivate: %v %s", err, out.String())
	}
	if code := closeCode(t, onB); code != 4401 {
		t.Fatalf("after the shell's deactivation the socket on B closed with %d; want 4401", code)
	}
}
