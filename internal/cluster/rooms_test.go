package cluster_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
	"parley/internal/chat"
	"parley/internal/store/storetest"
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

// TestRoomChangeNotToldReachesNoSocket: two processes on one database
// with no broker between them, so that a change on one is never told to
// the other, as when Redis loses an event. A member removed on A while
// the room talks: B reads the new message from the database (its check
// of each room's tail) and, as it was written under a later access epoch
// than B's sockets were checked under, sends it to none of them; they
// close with 1012. The removed member's reconnect is refused, and their
// user stream drops the room without a word of the message; the owner's
// user2's stream reads the room again and tells of their mention, and the
// owner's reconnect finds the message. Another member removed on A asks B for
// the room's latest messages at once: the answer would hold one written
// after the change, so B reads the room's epoch first, and the request
// is not_found and the socket closed (4404), unless the tail check got
// there first (1012): either way, not a word of it.
func TestRoomChangeNotToldReachesNoSocket(t *testing.T) {
	db := storetest.PostgresDSN(t)
	args := serverArgs("")[1:] // no --redis
	a := apptest.Start(t, apptest.Options{DB: db, Args: args})
	b := apptest.Start(t, apptest.Options{DB: db, Args: args})
	names, tokens := users(t, a, 3)
	room := roomName()
	if r := apptest.Do(t, "POST", a.URL+"/api/v1/rooms", tokens[0], map[string]string{"name": room, "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create a private room: %s", r.Status)
	}
	for _, n := range names[1:] {
		if r := apptest.Do(t, "POST", a.URL+"/api/v1/rooms/"+room+"/members", tokens[0], map[string]string{"user": n}, nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("add %s: %s", n, r.Status)
		}
	}
	remove := func(i int) {
		t.Helper()
		if r := apptest.Do(t, "DELETE", a.URL+"/api/v1/rooms/"+room+"/members/"+names[i], tokens[0], nil, nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("remove %s on A: %s", names[i], r.Status)
		}
	}
	post := func(content string) chat.Message {
		t.Helper()
		var m chat.Message
		if r := apptest.Do(t, "POST", a.URL+"/api/v1/rooms/"+room+"/messages", tokens[0], map[string]string{"content": content}, &m); r.StatusCode != http.StatusCreated {
			t.Fatalf("post on A: %s", r.Status)
		}
		return m
	}
	told := func(who, content string, frames []string) {
		t.Helper()
		for _, f := range frames {
			if strings.Contains(f, content) {
				t.Fatalf("%s on B was sent the message written after the change: %s", who, f)
			}
		}
	}

	// Live: the owner's and user1's sockets on B, and user1's user
	// stream, which tells of a mention with its first words.
	socks := []*websocket.Conn{
		openOn(t, b, room, apptest.DialOptions{Token: tokens[0], Extensions: true}),
		openOn(t, b, room, apptest.DialOptions{Token: tokens[1], Extensions: true}),
	}
	stream := b.DialUser(t, apptest.DialOptions{Token: tokens[1]})
	stream.Expect("counts")
	otherStream := b.DialUser(t, apptest.DialOptions{Token: tokens[2]})
	otherStream.Expect("counts")
	remove(1)
	m := post("@user1 @user2 after user1 left")
	for i, c := range socks {
		frames, code := framesUntilClose(t, c, longWait)
		if code != 1012 {
			t.Fatalf("%s's socket on B closed with %d; want 1012", names[i], code)
		}
		told(names[i]+"'s socket", "after user1 left", frames)
	}
	if _, resp, err := b.TryDial(room, apptest.DialOptions{Token: tokens[1]}); err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the removed member's upgrade on B: %v %v", err, resp)
	}
	for {
		f, err := stream.TryNext(longWait)
		if err != nil {
			t.Fatalf("user1's stream on B: %v", err)
		}
		told("user1's stream", "after user1 left", []string{string(f.Raw)})
		if f.Command == "room_removed" && strings.Contains(string(f.Raw), room) {
			break
		}
	}
	// user2's stream reads the room's counts again before it counts the
	// message, finds the room still theirs, and tells of the mention.
	for {
		f, err := otherStream.TryNext(longWait)
		if err != nil {
			t.Fatalf("user2's stream on B: %v", err)
		}
		if strings.Contains(string(f.Raw), `"notify"`) {
			if !strings.Contains(string(f.Raw), `"excerpt":"@user1 @user2 after user1 left"`) {
				t.Fatalf("user2's stream on B: %s", f.Raw)
			}
			break
		}
	}
	owner := b.Dial(t, room, apptest.DialOptions{Token: tokens[0], Extensions: true})
	owner.Send(map[string]any{"command": "fetch_messages", "after": m.Seq - 1})
	if got := owner.Expect("messages").Messages; len(got) != 1 || got[0].Seq != m.Seq {
		t.Fatalf("the owner's reconnect on B, after %d: %+v", m.Seq-1, got)
	}

	// History: user2's request right after the change and a message.
	gone := openOn(t, b, room, apptest.DialOptions{Token: tokens[2], Extensions: true})
	remove(2)
	post("after user2 left")
	ctx, cancel := context.WithTimeout(context.Background(), ackWait)
	defer cancel()
	if err := gone.Write(ctx, websocket.MessageText, []byte(`{"command":"fetch_messages"}`)); err != nil {
		t.Fatal(err)
	}
	frames, code := framesUntilClose(t, gone, longWait)
	told("user2's socket", "after user2 left", frames)
	switch {
	case code == 4404 && len(frames) > 0 && strings.Contains(frames[len(frames)-1], `"code":"not_found"`):
	case code == 1012:
		t.Log("the tail check found the message before the request did")
	default:
		t.Fatalf("user2's request on B: closed with %d after %q; want not_found and 4404", code, frames)
	}
}

// framesUntilClose reads c's frames until it closes, within d, and returns
// them and the close code.
func framesUntilClose(t *testing.T, c *websocket.Conn, d time.Duration) ([]string, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var frames []string
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("the socket was still open after %v", d)
			}
			return frames, websocket.CloseStatus(err)
		}
		frames = append(frames, string(data))
	}
}
