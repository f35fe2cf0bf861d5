package cluster_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/chat"
	"parley/internal/store/storetest"
	"parley/internal/testsvc"
)

// v1 is a parley.v1 client's socket and its view of the room.
type v1 struct {
	t     *testing.T
	c     *apptest.Conn
	state *apptest.RoomState
}

func dialV1(t *testing.T, srv *apptest.Server, room, token string, state *apptest.RoomState) *v1 {
	t.Helper()
	return &v1{t: t, c: srv.Dial(t, room, apptest.DialOptions{Token: token, Extensions: true}), state: state}
}

// until applies the socket's frames to its view until it has seen seq
// last, within longWait.
func (s *v1) until(last int64) {
	s.t.Helper()
	deadline := time.Now().Add(longWait)
	for s.state.Last() < last {
		f, err := s.c.TryNext(time.Until(deadline))
		if err != nil {
			s.t.Fatalf("waiting for seq %d, at %d: %v", last, s.state.Last(), err)
		}
		s.state.Frame(f)
	}
}

// recover fetches everything after seq after, page by page, applying
// live frames that come meanwhile as well.
func (s *v1) recover(after int64) {
	s.t.Helper()
	for range 100 {
		s.c.Send(map[string]any{"command": "fetch_messages", "after": after, "limit": 2})
		var f apptest.Frame
		for f.Command != "messages" {
			var err error
			if f, err = s.c.TryNext(ackWait); err != nil {
				s.t.Fatalf("recovering after %d: %v", after, err)
			}
			s.state.Frame(f)
		}
		for _, m := range f.Messages {
			after = max(after, m.Seq)
		}
		for _, c := range f.Changes {
			after = max(after, c.Seq)
		}
		if f.HasMore == nil || !*f.HasMore {
			return
		}
	}
	s.t.Fatal("recovery did not end")
}

// change makes a change and returns it, failing the test if it is
// refused; live frames read meanwhile count.
func (s *v1) change(command string, seq int64, arg, clientID string) chat.Change {
	s.t.Helper()
	c, f := s.c.Change(command, seq, arg, clientID)
	if c == nil {
		s.t.Fatalf("%s %d refused: %s", command, seq, f.Raw)
	}
	return *c
}

// TestRoomEventsAcrossProcesses: two processes share PostgreSQL and Redis.
// A socket on one process is closed before an edit, a deletion and
// reactions made on both; reopened on the other with after, it ends with
// exactly the state of a socket that stayed, every seq seen once — with
// Redis up all along, and with Redis killed before the changes and
// started again after them (the processes then recover the changes from
// the store).
func TestRoomEventsAcrossProcesses(t *testing.T) {
	withRedisKilledOrNot(t, func(t *testing.T, redisURL string, rds *testsvc.Redis) {
		srvs := startServers(t, 2, storetest.PostgresDSN(t), redisURL)
		room := roomName()
		_, tokens := users(t, srvs[0], 2)
		alice, bob := tokens[0], tokens[1]

		stayed := dialV1(t, srvs[1], room, bob, apptest.NewRoomState())
		a := dialV1(t, srvs[0], room, alice, apptest.NewRoomState())
		var ms []chat.Message
		for i := range 3 {
			ms = append(ms, a.c.Post(fmt.Sprint("message ", i+1), fmt.Sprint("m", i)))
		}
		stayed.until(ms[2].Seq)
		away := dialV1(t, srvs[1], room, alice, apptest.NewRoomState())
		away.recover(0)
		away.c.Close()

		if rds != nil {
			rds.Kill()
			waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
		}
		b := dialV1(t, srvs[1], room, bob, apptest.NewRoomState())
		a.change("edit_message", ms[0].Seq, "message 1, edited", "e1")
		b.change("react", ms[0].Seq, "👍", "r1")
		a.change("delete_message", ms[1].Seq, "", "d1")
		a.change("react", ms[0].Seq, "👍", "r2")
		b.change("unreact", ms[0].Seq, "👍", "u1")
		b.change("react", ms[2].Seq, "🎉", "r3")
		last := a.c.Post("after the changes", "m4")
		if rds != nil {
			rds.Start()
			waitReady(t, srvs, http.StatusOK, longWait)
		}
		stayed.until(last.Seq)

		away = dialV1(t, srvs[0], room, alice, away.state)
		away.recover(ms[2].Seq)
		if diff := away.state.Diff(stayed.state, 1); diff != "" {
			t.Fatalf("the socket that was away differs from the one that stayed:\n%s", diff)
		}
		if !away.state.Gapless() || !stayed.state.Gapless() || away.state.Last() != last.Seq {
			t.Fatalf("seqs seen: away %d (gapless %v), stayed %d (gapless %v); want %d", away.state.Last(),
				away.state.Gapless(), stayed.state.Last(), stayed.state.Gapless(), last.Seq)
		}
		m1 := stayed.state.Msgs[ms[0].Seq]
		if m1.Content != "message 1, edited" || len(m1.Reactions) != 1 || m1.Reactions[0].Count != 1 ||
			m1.Reactions[0].Users[0] != "user0" || !stayed.state.Msgs[ms[1].Seq].Deleted {
			t.Fatalf("the stayed view: %+v", stayed.state.Msgs)
		}
	})
}
