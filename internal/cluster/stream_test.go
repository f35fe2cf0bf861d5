package cluster_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
	"parley/internal/testsvc"
)

// streamCounts are a room's counts on a user stream.
type streamCounts struct {
	Room             string
	Unread, Mentions int64
	LastSeq          int64 `json:"last_seq"`
}

// streamRoomOf reads a user stream's frames until a frame of room (the
// counts, or a room frame) whose counts satisfy ok, within longWait.
func streamRoomOf(t *testing.T, c *apptest.Conn, room string, ok func(unread, mentions int64) bool) {
	t.Helper()
	streamRoomWhere(t, c, room, func(r streamCounts) bool { return ok(r.Unread, r.Mentions) })
}

// streamRoomWhere is streamRoomOf with a condition on all of a room's
// counts.
func streamRoomWhere(t *testing.T, c *apptest.Conn, room string, ok func(streamCounts) bool) {
	t.Helper()
	type counts = streamCounts
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
			if r.Room == room && ok(r) {
				return
			}
		}
	}
	t.Fatalf("the user stream never had %s as wanted", room)
}

// TestUserStreamAcrossProcesses: two processes share PostgreSQL and
// Redis. A message posted on A bumps the count of alice's stream on B; her
// read, on B, clears the count of her stream on A. With Redis killed
// meanwhile, the message and the read reach the streams once it is back
// (the processes recover the room's log from the store, and read their
// streams' counts again).
func TestUserStreamAcrossProcesses(t *testing.T) {
	withRedisKilledOrNot(t, streamAcrossProcesses)
}

func streamAcrossProcesses(t *testing.T, redisURL string, rds *testsvc.Redis) {
	srvs := startServers(t, 2, storetest.PostgresDSN(t), redisURL)
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

	if rds != nil {
		rds.Kill()
		waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
		last = bobWS.Post("three", "3")
		streamRoomOf(t, onA, room, func(u, m int64) bool { return u == 3 && m == 1 })
	}
	aliceWS.Send(map[string]any{"command": "read", "seq": last.Seq})
	if rds != nil {
		streamRoomOf(t, onB, room, func(u, m int64) bool { return u == 0 && m == 0 })
		rds.Start()
		waitReady(t, srvs, http.StatusOK, longWait)
	}
	streamRoomOf(t, onA, room, func(u, m int64) bool { return u == 0 && m == 0 })
	streamRoomOf(t, onB, room, func(u, m int64) bool { return u == 0 && m == 0 })
	// What each stream holds is exact: one message more is one unread.
	four := bobWS.Post("four", "4")
	for _, s := range []*apptest.Conn{onA, onB} {
		streamRoomWhere(t, s, room, func(r streamCounts) bool {
			if r.LastSeq == four.Seq && (r.Unread != 1 || r.Mentions != 0) {
				t.Fatalf("after one more message: %+v; want 1 unread", r)
			}
			return r.LastSeq == four.Seq
		})
	}
}
