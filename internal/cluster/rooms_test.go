package cluster_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
)

// Removing a member from a private room on one process closes their
// socket in it on another, with 4404, within a few seconds; a mute made
// on one process refuses the next send on the other at once.
func TestRoomChangesAcrossProcesses(t *testing.T) {
	srvs, room, names, tokens := startCluster(t, 2, 2)
	owner, member := tokens[0], tokens[1]
	if r := apptest.Do(t, "POST", srvs[0].URL+"/api/v1/rooms", owner, map[string]string{"name": room, "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create a private room: %s", r.Status)
	}
	if r := apptest.Do(t, "POST", srvs[0].URL+"/api/v1/rooms/"+room+"/members", owner, map[string]string{"user": names[1]}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("add a member: %s", r.Status)
	}
	onB := openOn(t, srvs[1], room, apptest.DialOptions{Token: member, Extensions: true})

	// A mute on A: the next send on B is refused.
	if r := apptest.Do(t, "POST", srvs[0].URL+"/api/v1/rooms/"+room+"/mutes", owner, map[string]any{"user": names[1], "minutes": 10}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("mute on A: %s", r.Status)
	}
	apptest.Wait(t, 10*time.Second, "the mute reaches process B", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), ackWait)
		defer cancel()
		if err := onB.Write(ctx, websocket.MessageText, []byte(`{"command":"new_message","message":"hi","client_id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		for {
			_, data, err := onB.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s := string(data); strings.Contains(s, `"client_id":"x"`) {
				return strings.Contains(s, `"code":"forbidden"`) && strings.Contains(s, "muted")
			}
		}
	})

	// Removal on A closes the socket on B.
	if r := apptest.Do(t, "DELETE", srvs[0].URL+"/api/v1/rooms/"+room+"/members/"+names[1], owner, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("remove on A: %s", r.Status)
	}
	start := time.Now()
	if code := closeCode(t, onB); code != 4404 {
		t.Fatalf("the removed member's socket on B closed with %d; want 4404", code)
	}
	t.Logf("closed on process B %v after the removal on A", time.Since(start).Round(time.Millisecond))
	if _, resp, err := srvs[1].TryDial(room, apptest.DialOptions{Token: member}); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the removed member's upgrade on B: %v %v", err, resp)
	}
}
