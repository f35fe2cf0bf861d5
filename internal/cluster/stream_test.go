package cluster_test

import (
	"encoding/json"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// streamRoomOf reads a user stream's frames until a frame of room (the
// counts, or a room frame) whose counts satisfy ok, within longWait.
func streamRoomOf(t *testing.T, c *apptest.Conn, room string, ok func(unread, mentions int64) bool) {
	t.Helper()
	type counts struct {
		Room             string
		Unread, Mentions int64
	}
	deadline := time.Now().Add(longWait)
	for time.Now().Before(deadline) {
		f, err := c.TryNext(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %s on the user stream: %v", room, err)
		}
		var fr struct {
			Command string
			Rooms   []counts
			Room    json.RawMessage
		}
		if err := json.Unmarshal(f.Raw, &fr); err != nil {
			t.Fatal(err)
		}
		var rs []counts
		switch fr.Command {
		case "counts":
			rs = fr.Rooms
		case "room":
			var r counts
			if err := json.Unmarshal(fr.Room, &r); err != nil {
				t.Fatal(err)
			}
			rs = []counts{r}
		}
		for _, r := range rs {
			if r.Room == room && ok(r.Unread, r.Mentions) {
				return
			}
		}
	}
	t.Fatalf("the user stream never had %s as wanted", room)
}

// TestUserStreamAcrossProcesses: two processes share PostgreSQL and
// Redis. A message posted on A bumps the count of alice's stream on B; her
// read, on B, clears the count of her stream on A.
func TestUserStreamAcrossProcesses(t *testing.T) {
	srvs := startServers(t, 2, storetest.PostgresDSN(t), sharedRedis(t))
	a, b := srvs[0], srvs[1]
	room := roomName()
	// Names of the test's own: the process-wide topic is shared by every
	// test on the one Redis.
	aliceName, bobName := roomName(), roomName()
	alice, bob := a.User(t, aliceName), a.User(t, bobName)

	bobWS := a.Dial(t, room, apptest.DialOptions{Token: bob, Extensions: true})
	bobWS.Post("hello", "h")
	aliceWS := b.Dial(t, room, apptest.DialOptions{Token: alice, Extensions: true})

	onB := b.DialUser(t, apptest.DialOptions{Token: alice})
	streamRoomOf(t, onB, room, func(u, m int64) bool { return u == 0 && m == 0 })
	onA := a.DialUser(t, apptest.DialOptions{Token: alice})
	streamRoomOf(t, onA, room, func(u, m int64) bool { return u == 0 && m == 0 })

	bobWS.Post("one", "1")
	last := bobWS.Post("@"+aliceName+" two", "2")
	streamRoomOf(t, onB, room, func(u, m int64) bool { return u == 2 && m == 1 })
	streamRoomOf(t, onA, room, func(u, m int64) bool { return u == 2 && m == 1 })

	aliceWS.Send(map[string]any{"command": "read", "seq": last.Seq})
	streamRoomOf(t, onA, room, func(u, m int64) bool { return u == 0 && m == 0 })
	streamRoomOf(t, onB, room, func(u, m int64) bool { return u == 0 && m == 0 })
}
