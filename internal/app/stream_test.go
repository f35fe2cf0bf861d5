package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
	"parley/internal/web"
)

// streamRoom is a room of the user stream's frames.
type streamRoom struct {
	Room     string `json:"room"`
	Kind     string `json:"kind"`
	Title    string `json:"title"`
	Unread   int64  `json:"unread"`
	Mentions int64  `json:"mentions"`
	Level    string `json:"level"`
	LastSeq  int64  `json:"last_seq"`
	LastRead int64  `json:"last_read"`
}

// streamFrame is any frame of the user stream.
type streamFrame struct {
	Command string          `json:"command"`
	Rooms   []streamRoom    `json:"rooms"`
	Room    json.RawMessage `json:"room"`
	Notify  *struct {
		Seq     int64  `json:"seq"`
		Author  string `json:"author"`
		Excerpt string `json:"excerpt"`
		Mention bool   `json:"mention"`
	} `json:"notify"`
}

func nextStream(t *testing.T, c *apptest.Conn) streamFrame {
	t.Helper()
	raw := c.Next().Raw
	var f streamFrame
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("stream frame %s: %v", raw, err)
	}
	return f
}

// counts reads the stream's first frame, its rooms by name.
func counts(t *testing.T, c *apptest.Conn) map[string]streamRoom {
	t.Helper()
	f := nextStream(t, c)
	if f.Command != "counts" {
		t.Fatalf("first frame %q, want counts", f.Command)
	}
	out := map[string]streamRoom{}
	for _, r := range f.Rooms {
		out[r.Room] = r
	}
	return out
}

// waitRoom reads the stream's frames until a room frame of room that
// satisfies ok, and returns it; it fails on a removed room or after 10 s.
func waitRoom(t *testing.T, c *apptest.Conn, room string, ok func(streamRoom) bool) (streamRoom, streamFrame) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		f := nextStream(t, c)
		if f.Command != "room" {
			continue
		}
		var r streamRoom
		if err := json.Unmarshal(f.Room, &r); err != nil {
			t.Fatal(err)
		}
		if r.Room == room && ok(r) {
			return r, f
		}
	}
	t.Fatalf("no room frame of %s as wanted within 10 s", room)
	return streamRoom{}, streamFrame{}
}

// waitRemoved reads the stream's frames until room_removed of room.
func waitRemoved(t *testing.T, c *apptest.Conn, room string) {
	t.Helper()
	for {
		f := nextStream(t, c)
		var name string
		if f.Command == "room_removed" && json.Unmarshal(f.Room, &name) == nil && name == room {
			return
		}
	}
}

// TestUserStream: two users, three rooms. The counts frame is exact; a
// message by someone else bumps the count, a mention the mentions, and
// notifies; the user's own message reads the room; a read marker moved
// by a room socket clears the count on every stream of the user; levels
// are set and told; rooms entered and left come and go.
func TestUserStream(t *testing.T) {
	t.Parallel()
	userStream(t, apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}}))
}

// TestUserStreamPostgres is TestUserStream on PostgreSQL.
func TestUserStreamPostgres(t *testing.T) {
	t.Parallel()
	userStream(t, apptest.Start(t, apptest.Options{DB: storetest.PostgresDSN(t), Args: []string{"--send-limit=off"}}))
}

func userStream(t *testing.T, srv *apptest.Server) {
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	ext := func(tok string) apptest.DialOptions { return apptest.DialOptions{Token: tok, Extensions: true} }

	bobIn := map[string]*apptest.Conn{}
	for _, room := range []string{"lobby", "ops", "quiet"} {
		bobIn[room] = srv.Dial(t, room, ext(bob))
		bobIn[room].Post("hello "+room, "")
	}
	aliceLobby := srv.Dial(t, "lobby", ext(alice)) // entered: what was said is read
	srv.Dial(t, "ops", ext(alice)).Close()
	bobIn["lobby"].Post("one", "")
	bobIn["lobby"].Post("two", "")
	bobIn["ops"].Post("@alice are you there?", "")

	s1 := srv.DialUser(t, apptest.DialOptions{Token: alice})
	got := counts(t, s1)
	if len(got) != 2 || got["lobby"].Unread != 2 || got["lobby"].Mentions != 0 ||
		got["ops"].Unread != 1 || got["ops"].Mentions != 1 || got["ops"].Level != "every" {
		t.Fatalf("alice's counts %+v; want lobby 2 unread, ops 1 unread 1 mention, quiet not hers", got)
	}
	if r := got["lobby"]; r.Kind != "public" || r.Title != "lobby" || r.LastSeq != 3 || r.LastRead != 1 {
		t.Fatalf("lobby %+v; want public, titled lobby, last_seq 3, last_read 1", r)
	}
	s2 := srv.DialUser(t, apptest.DialOptions{Token: alice}) // another tab
	counts(t, s2)
	bs := srv.DialUser(t, apptest.DialOptions{Token: bob})
	if got := counts(t, bs); len(got) != 3 || got["lobby"].Unread != 0 {
		t.Fatalf("bob's counts %+v; want three rooms, his own messages read", got)
	}

	// A message bumps; a mention bumps the mentions and notifies.
	bobIn["lobby"].Post("three", "")
	if r, f := waitRoom(t, s1, "lobby", func(r streamRoom) bool { return r.Unread == 3 }); r.Mentions != 0 || f.Notify != nil {
		t.Fatalf("after a plain message: %+v, notify %+v", r, f.Notify)
	}
	m := bobIn["lobby"].Post("@alice lunch?", "")
	r, f := waitRoom(t, s1, "lobby", func(r streamRoom) bool { return r.Unread == 4 })
	if r.Mentions != 1 || r.LastSeq != m.Seq || f.Notify == nil || f.Notify.Seq != m.Seq ||
		f.Notify.Author != "bob" || f.Notify.Excerpt != "@alice lunch?" || !f.Notify.Mention {
		t.Fatalf("after a mention: %+v, notify %+v", r, f.Notify)
	}
	waitRoom(t, s2, "lobby", func(r streamRoom) bool { return r.Unread == 4 && r.Mentions == 1 })
	// bob's own message is read on his stream.
	waitRoom(t, bs, "lobby", func(r streamRoom) bool { return r.LastSeq == m.Seq && r.Unread == 0 && r.LastRead == m.Seq })

	// A burst: told in frames StreamPace apart, not one a message, and
	// counted exactly.
	// Two of its messages mention alice: each has a frame of its own,
	// which notifies her.
	const burst = 20
	start := time.Now()
	var mentions []int64
	for i := range burst {
		text := fmt.Sprint("burst ", i)
		if i == 7 || i == 8 {
			text = fmt.Sprint("@alice burst ", i)
		}
		if m := bobIn["lobby"].Post(text, ""); i == 7 || i == 8 {
			mentions = append(mentions, m.Seq)
		}
	}
	frames := 0
	var notified []int64
	for {
		f := nextStream(t, s2)
		var r streamRoom
		if f.Command != "room" || json.Unmarshal(f.Room, &r) != nil || r.Room != "lobby" {
			continue
		}
		frames++
		if f.Notify != nil {
			if f.Notify.Seq != r.LastSeq || !f.Notify.Mention {
				t.Fatalf("a notifying frame %+v with counts %+v: want its message's counts", f.Notify, r)
			}
			notified = append(notified, f.Notify.Seq)
		}
		if r.Unread == 4+burst {
			break
		}
		if r.Unread > 4+burst || frames > burst {
			t.Fatalf("after %d frames of the burst: %+v", frames, r)
		}
	}
	if fmt.Sprint(notified) != fmt.Sprint(mentions) {
		t.Errorf("notified of %v; want each mention, %v", notified, mentions)
	}
	if most := 1 + len(mentions) + int(time.Since(start)/web.StreamPace); frames > most {
		t.Errorf("a burst of %d messages took %d frames in %v; want at most %d, one a %v and one a mention", burst, frames, time.Since(start), most, web.StreamPace)
	}
	waitRoom(t, s1, "lobby", func(r streamRoom) bool { return r.Unread == 4+burst && r.Mentions == 3 })
	m = bobIn["lobby"].Post("@alice and now", "")
	waitRoom(t, s1, "lobby", func(r streamRoom) bool { return r.Unread == 5+burst && r.Mentions == 4 })
	waitRoom(t, s2, "lobby", func(r streamRoom) bool { return r.Unread == 5+burst && r.Mentions == 4 })

	// A read marker moved by a room socket: in the middle, the stream
	// counts again; at the end, nothing is unread, on both tabs.
	aliceLobby.Send(map[string]any{"command": "read", "seq": m.Seq - 1})
	waitRoom(t, s2, "lobby", func(r streamRoom) bool { return r.Unread == 1 && r.Mentions == 1 && r.LastRead == m.Seq-1 })
	aliceLobby.Send(map[string]any{"command": "read", "seq": m.Seq})
	waitRoom(t, s2, "lobby", func(r streamRoom) bool { return r.Unread == 0 && r.Mentions == 0 })
	waitRoom(t, s1, "lobby", func(r streamRoom) bool { return r.Unread == 0 && r.Mentions == 0 })

	// Levels: set, told, and a muted room notifies of nothing.
	var lv struct{ Room, Level string }
	if resp := apptest.Do(t, "PUT", srv.URL+"/api/v1/rooms/Ops/level", alice, map[string]string{"level": "muted"}, &lv); resp.StatusCode != http.StatusOK || lv.Level != "muted" || lv.Room != "ops" {
		t.Fatalf("PUT level: %s %+v", resp.Status, lv)
	}
	waitRoom(t, s1, "ops", func(r streamRoom) bool { return r.Level == "muted" })
	bobIn["ops"].Post("@alice deploy?", "")
	if r, f := waitRoom(t, s1, "ops", func(r streamRoom) bool { return r.Unread == 2 }); r.Mentions != 2 || f.Notify != nil {
		t.Fatalf("a mention in a muted room: %+v, notify %+v; want counted, not notified", r, f.Notify)
	}
	if resp := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/ops/level", alice, nil, &lv); resp.StatusCode != http.StatusOK || lv.Level != "muted" {
		t.Fatalf("GET level: %s %+v", resp.Status, lv)
	}
	var e struct{ Error struct{ Code string } }
	for _, body := range []any{map[string]string{"level": "loud"}, map[string]string{}, map[string]int{"level": 1}} {
		if resp := apptest.Do(t, "PUT", srv.URL+"/api/v1/rooms/ops/level", alice, body, &e); resp.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" {
			t.Fatalf("PUT level %v: %s %+v; want 400 invalid", body, resp.Status, e)
		}
	}
	if resp := apptest.Do(t, "PUT", srv.URL+"/api/v1/rooms/nowhere/level", alice, map[string]string{"level": "muted"}, &e); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("PUT level of a room that does not exist: %s", resp.Status)
	}

	// Rooms entered and left.
	srv.Dial(t, "quiet", ext(alice)).Close()
	waitRoom(t, s1, "quiet", func(r streamRoom) bool { return r.Unread == 0 && r.LastSeq == 1 })
	psst := bobIn["quiet"].Post("psst", "")
	waitRoom(t, s1, "quiet", func(r streamRoom) bool { return r.Unread == 1 })
	// A deletion after the marker: no longer unread.
	bobIn["quiet"].Post("@alice and this", "")
	waitRoom(t, s1, "quiet", func(r streamRoom) bool { return r.Unread == 2 && r.Mentions == 1 })
	if c, f := bobIn["quiet"].Change("delete_message", psst.Seq, "", "d1"); c == nil {
		t.Fatalf("delete refused: %s", f.Raw)
	}
	waitRoom(t, s1, "quiet", func(r streamRoom) bool { return r.Unread == 1 && r.Mentions == 1 })
	if resp := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/ops/membership", alice, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("leave: %s", resp.Status)
	}
	waitRemoved(t, s2, "ops")
	// A first message posted over the API makes the room hers, on her
	// streams too.
	if resp := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/ops/messages", alice, map[string]string{"content": "back again"}, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("post: %s", resp.Status)
	}
	waitRoom(t, s2, "ops", func(r streamRoom) bool { return r.Unread == 0 && r.LastRead == r.LastSeq })
	if resp := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/ops/membership", alice, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("leave: %s", resp.Status)
	}
	waitRemoved(t, s2, "ops")

	// A private room: added by its owner, she has it on her streams;
	// removed, it goes from them.
	if resp := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", bob, map[string]string{"name": "secret", "kind": "private"}, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create a private room: %s", resp.Status)
	}
	if resp := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/secret/members", bob, map[string]string{"user": "alice"}, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("add a member: %s", resp.Status)
	}
	waitRoom(t, s1, "secret", func(r streamRoom) bool { return r.Kind == "private" && r.Unread == 0 })
	if resp := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/secret/members/alice", bob, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove a member: %s", resp.Status)
	}
	waitRemoved(t, s1, "secret")

	// Reconnected, the stream reads the same counts from the database.
	again := counts(t, srv.DialUser(t, apptest.DialOptions{Token: alice}))
	if len(again) != 2 || again["lobby"].Unread != 0 || again["quiet"].Unread != 1 || again["quiet"].Mentions != 1 {
		t.Fatalf("counts after reconnecting %+v", again)
	}
}

// TestUserStreamAfterARemoval: a member removed from a private room: the
// room goes from their stream, and the others' streams go on counting and
// telling of mentions at once (the removal's event moves them to the
// room's new access epoch), on both engines.
func TestUserStreamAfterARemoval(t *testing.T) {
	t.Parallel()
	onBothEngines(t, []string{"--send-limit=off"}, func(t *testing.T, srv *apptest.Server) {
		ann, bob, eve := srv.User(t, "ann"), srv.User(t, "bob"), srv.User(t, "eve")
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", ann, map[string]string{"name": "plans", "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("a private room: %s", r.Status)
		}
		for _, n := range []string{"bob", "eve"} {
			if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/plans/members", ann, map[string]string{"user": n}, nil); r.StatusCode != http.StatusCreated {
				t.Fatalf("add %s: %s", n, r.Status)
			}
		}
		bs, es := srv.DialUser(t, apptest.DialOptions{Token: bob}), srv.DialUser(t, apptest.DialOptions{Token: eve})
		counts(t, bs)
		counts(t, es)
		if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/plans/members/eve", ann, nil, nil); r.StatusCode != http.StatusNoContent {
			t.Fatalf("remove eve: %s", r.Status)
		}
		waitRemoved(t, es, "plans")
		if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/plans/messages", ann, map[string]string{"content": "@bob after eve left"}, nil); r.StatusCode != http.StatusCreated {
			t.Fatalf("post: %s", r.Status)
		}
		if r, f := waitRoom(t, bs, "plans", func(r streamRoom) bool { return r.Mentions == 1 }); f.Notify == nil || f.Notify.Excerpt != "@bob after eve left" || r.Unread != 1 {
			t.Fatalf("bob's stream after eve's removal: %+v, notify %+v", r, f.Notify)
		}
	})
}

// TestUserStreamRefusals: the stream's upgrade is checked as a room
// socket's, and speaks parley.v1 only; it counts against --user-sockets,
// and its credential's end closes it with 4401.
func TestUserStreamRefusals(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--user-sockets=2"}})
	tok := srv.User(t, "carol")
	if _, resp, err := srv.TryDialUser(apptest.DialOptions{Token: tok}); err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("without parley.v1: %v %v; want 400", resp, err)
	}
	if _, resp, err := srv.TryDialUser(apptest.DialOptions{Extensions: true}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials: %v %v; want 401", resp, err)
	}
	st := srv.DialUser(t, apptest.DialOptions{Token: tok})
	counts(t, st)
	srv.Dial(t, "lobby", apptest.DialOptions{Token: tok})
	if _, resp, err := srv.TryDialUser(apptest.DialOptions{Token: tok, Extensions: true}); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("past --user-sockets: %v %v; want 429", resp, err)
	}
	// Its credential ended, the stream is closed as a room socket is.
	if resp := apptest.Do(t, "DELETE", srv.URL+"/api/v1/tokens/current", tok, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %s", resp.Status)
	}
	if code := closedWith(t, st); code != 4401 {
		t.Fatalf("the revoked token's stream closed with %d; want 4401", code)
	}
}

// TestLevelForm: the room page's select, without JavaScript, is a form:
// it shows the level, sets it, and refuses a level that is not one.
func TestLevelForm(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	tok := srv.User(t, "dana")
	srv.Dial(t, "lobby", apptest.DialOptions{Token: tok}).Post("hi", "")
	cookie := loginCookie(t, srv, "dana")
	if _, page := get(t, srv, "/chats/lobby/", cookie); !strings.Contains(page, `<option value="every" selected>`) {
		t.Fatal("the room page does not show the level every")
	}
	resp := postForm(t, srv, "/chats/lobby/level/", url.Values{"level": {"mentions"}}, cookie)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/chats/lobby/" {
		t.Fatalf("setting the level: %s to %q", resp.Status, resp.Header.Get("Location"))
	}
	if _, page := get(t, srv, "/chats/lobby/", cookie); !strings.Contains(page, `<option value="mentions" selected>`) {
		t.Fatal("the room page does not show the level set")
	}
	if resp := postForm(t, srv, "/chats/lobby/level/", url.Values{"level": {"muted"}, "back": {"home"}}, cookie); resp.Header.Get("Location") != "/" {
		t.Fatalf("back=home goes to %q", resp.Header.Get("Location"))
	}
	for _, bad := range []string{"", "loud"} {
		if resp := postForm(t, srv, "/chats/lobby/level/", url.Values{"level": {bad}}, cookie); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("level %q: %s; want 400", bad, resp.Status)
		}
	}
	if resp := postForm(t, srv, "/chats/nowhere/level/", url.Values{"level": {"muted"}}, cookie); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the level of a room that does not exist: %s; want 404", resp.Status)
	}
}
