package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
	"parley/internal/chat"
)

// unlimited is a server without the sending and sign-up limits: the tests
// that use it send fast, and make many accounts from one address.
func unlimited(t *testing.T) *apptest.Server {
	return apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off", "--signup-limit=off"}})
}

// TestOriginalClient speaks exactly the frames of the original
// application's page script, and checks what it would print.
func TestOriginalClient(t *testing.T) {
	srv := unlimited(t)
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	// History from before the page opened.
	bobWS := srv.Dial(t, "lobby", apptest.DialOptions{Token: bob})
	for i := 1; i <= 25; i++ {
		bobWS.Post(fmt.Sprintf("old %d", i), fmt.Sprintf("o%d", i))
	}

	ws := srv.Dial(t, "lobby", apptest.DialOptions{Token: alice})
	ws.SendRaw([]byte(`{"command": "fetch_messages"}`))
	var got []string
	print := func(author, ts, content string) {
		when, err := time.Parse(time.RFC3339Nano, ts) // new Date(timestamp)
		if err != nil {
			t.Fatalf("timestamp %q is not RFC 3339: %v", ts, err)
		}
		if when.Location() != time.UTC || !strings.HasSuffix(ts, "Z") {
			t.Errorf("timestamp %q is not UTC", ts)
		}
		got = append(got, author+": "+content)
	}
	var data struct {
		Command  string `json:"command"`
		Messages []struct{ Author, Content, Timestamp string }
		Message  struct{ Author, Content, Timestamp string }
	}
	raw := ws.Next().Raw
	if err := json.Unmarshal(raw, &data); err != nil || data.Command != "messages" {
		t.Fatalf("first frame %s: %v", raw, err)
	}
	for _, m := range data.Messages {
		print(m.Author, m.Timestamp, m.Content)
	}
	if len(got) != 20 || got[0] != "bob: old 6" || got[19] != "bob: old 25" {
		t.Fatalf("opening a room printed %d messages %q…; want the latest 20, old 6 to old 25, oldest first", len(got), got)
	}

	// Enter: the original client sends "from", which must be ignored.
	ws.SendRaw([]byte(`{"message": "hello from the page", "command": "new_message", "from": "bob"}`))
	raw = ws.Next().Raw
	data.Command = ""
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	print(data.Message.Author, data.Message.Timestamp, data.Message.Content)
	if last := got[len(got)-1]; last != "alice: hello from the page" {
		t.Fatalf("after sending, the page printed %q; want the message under alice's name (frame %s)", last, raw)
	}
}

func TestFetchPaging(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "pager")
	ws := srv.Dial(t, "paging", apptest.DialOptions{Token: tok})
	for i := 1; i <= 250; i++ {
		ws.Send(map[string]any{"command": "new_message", "message": fmt.Sprint("m", i), "client_id": fmt.Sprint(i)})
	}
	for i := 1; i <= 250; i++ {
		if m := ws.Expect("new_message").Msg(); m.Seq != int64(i) {
			t.Fatalf("broadcast %d has seq %d", i, m.Seq)
		}
	}
	seqs := func(ms []chat.Message) (first, last int64, n int) {
		if len(ms) == 0 {
			return 0, 0, 0
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].Seq != ms[i-1].Seq+1 {
				t.Fatalf("page not consecutive ascending: %d then %d", ms[i-1].Seq, ms[i].Seq)
			}
		}
		return ms[0].Seq, ms[len(ms)-1].Seq, len(ms)
	}
	for _, tc := range []struct {
		frame               string
		first, last         int64
		n                   int
		hasMore             bool
		echoBefore, echoAft bool
	}{
		{`{"command":"fetch_messages"}`, 231, 250, 20, true, false, false},
		{`{"command":"fetch_messages","limit":100}`, 151, 250, 100, true, false, false},
		{`{"command":"fetch_messages","before":231,"limit":50}`, 181, 230, 50, true, true, false},
		{`{"command":"fetch_messages","before":51,"limit":50}`, 1, 50, 50, false, true, false},
		{`{"command":"fetch_messages","before":30,"limit":50}`, 1, 29, 29, false, true, false},
		{`{"command":"fetch_messages","after":0,"limit":100}`, 1, 100, 100, true, false, true},
		{`{"command":"fetch_messages","after":200,"limit":50}`, 201, 250, 50, false, false, true},
		{`{"command":"fetch_messages","after":240,"limit":5}`, 241, 245, 5, true, false, true},
		{`{"command":"fetch_messages","after":250}`, 0, 0, 0, false, false, true},
	} {
		ws.SendRaw([]byte(tc.frame))
		f := ws.Expect("messages")
		first, last, n := seqs(f.Messages)
		if first != tc.first || last != tc.last || n != tc.n || f.HasMore == nil || *f.HasMore != tc.hasMore {
			t.Errorf("%s: got seq %d..%d (%d), has_more %v; want %d..%d (%d), %v",
				tc.frame, first, last, n, f.HasMore != nil && *f.HasMore, tc.first, tc.last, tc.n, tc.hasMore)
		}
		if got := strings.Contains(string(f.Raw), `"before":`); got != tc.echoBefore {
			t.Errorf("%s: echoes before: %v", tc.frame, got)
		}
	}

	// The API pages the same way.
	var page struct {
		Messages []chat.Message `json:"messages"`
		HasMore  bool           `json:"has_more"`
	}
	r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/paging/messages?before=101&limit=100", tok, nil, &page)
	if first, last, n := seqs(page.Messages); r.StatusCode != 200 || first != 1 || last != 100 || n != 100 || page.HasMore {
		t.Errorf("API before=101: %s seq %d..%d (%d) has_more %v", r.Status, first, last, n, page.HasMore)
	}
	r = apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/paging/messages?after=150&limit=100", tok, nil, &page)
	if first, last, n := seqs(page.Messages); r.StatusCode != 200 || first != 151 || last != 250 || n != 100 || page.HasMore {
		t.Errorf("API after=150: %s seq %d..%d (%d) has_more %v", r.Status, first, last, n, page.HasMore)
	}
	r = apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/paging/messages", tok, nil, &page)
	if first, last, _ := seqs(page.Messages); first != 231 || last != 250 || !page.HasMore {
		t.Errorf("API latest: %s seq %d..%d has_more %v", r.Status, first, last, page.HasMore)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "before=0", "after=-1", "before=5&after=3"} {
		if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/paging/messages?"+q, tok, nil, nil); r.StatusCode != 400 {
			t.Errorf("API ?%s: %s, want 400", q, r.Status)
		}
	}
}

// TestErrorFrames sends every kind of bad frame: each gets an error frame
// with its code, on the offending socket only, which stays open.
func TestErrorFrames(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=2/s,3"}})
	tok := srv.User(t, "carol")
	ws := srv.Dial(t, "errors", apptest.DialOptions{Token: tok})
	other := srv.Dial(t, "errors", apptest.DialOptions{Token: srv.User(t, "dave")})
	ext := srv.Dial(t, "errors-v1", apptest.DialOptions{Token: srv.User(t, "erin"), Extensions: true})
	for _, tc := range []struct {
		frame, code, clientID string
	}{
		{`not json`, "bad_request", ""},
		{`[1,2]`, "bad_request", ""},
		{`{"command":"dance"}`, "bad_request", ""},
		{`{"message":"no command"}`, "bad_request", ""},
		{`{"command":"new_message","message":42,"client_id":"k1"}`, "bad_request", "k1"},
		{`{"command":"new_message","client_id":"k2"}`, "bad_request", "k2"},
		{`{"command":"new_message","message":"   ","client_id":"k3"}`, "bad_request", "k3"},
		{`{"command":"new_message","message":"` + strings.Repeat("é", 4001) + `","client_id":"k4"}`, "too_long", "k4"},
		{`{"command":"new_message","message":"hi","client_id":"` + strings.Repeat("x", 65) + `"}`, "bad_request", ""},
		{`{"command":"fetch_messages","limit":0}`, "bad_request", ""},
		{`{"command":"fetch_messages","limit":"ten"}`, "bad_request", ""},
		{`{"command":"fetch_messages","before":3,"after":1}`, "bad_request", ""},
		{`{"command":"fetch_messages","after":99}`, "not_found", ""},
		{`{"command":"typing"}`, "bad_request", ""}, // an extension, not negotiated
	} {
		// A socket without the extensions gets the error as a chat line
		// the original client shows (docs/PROTOCOL.md, Errors); one with
		// them gets the message as a string.
		ws.SendRaw([]byte(tc.frame))
		f := ws.Expect("error")
		if f.Code != tc.code || f.ClientID != tc.clientID {
			t.Errorf("%.60s: got %s; want code %q client_id %q", tc.frame, f.Raw, tc.code, tc.clientID)
		}
		var e struct {
			Message struct{ Author, Content, Timestamp string }
		}
		_ = json.Unmarshal(f.Raw, &e)
		if _, err := time.Parse(time.RFC3339Nano, e.Message.Timestamp); e.Message.Author != "Parley" || e.Message.Content == "" || err != nil {
			t.Errorf("%.60s: not a chat line the original client can show: %s", tc.frame, f.Raw)
		}
		if tc.code == "bad_request" && strings.Contains(tc.frame, "typing") {
			continue // an extension: a parley.v1 socket would take it
		}
		ext.SendRaw([]byte(tc.frame))
		f = ext.Expect("error")
		var ee map[string]any
		_ = json.Unmarshal(f.Raw, &ee)
		if msg, _ := ee["message"].(string); msg == "" || f.Code != tc.code || f.ClientID != tc.clientID {
			t.Errorf("%.60s: parley.v1 error frame: %s", tc.frame, f.Raw)
		}
	}
	// Exactly 4,000 characters pass.
	long := ws.Post(strings.Repeat("é", 4000), "long")
	if len([]rune(long.Content)) != 4000 {
		t.Fatalf("4,000-character message stored with %d", len([]rune(long.Content)))
	}
	// The burst of 3 is spent by the one above and two more; the next is refused.
	ws.Post("two", "c2")
	ws.Post("three", "c3")
	ws.Send(map[string]string{"command": "new_message", "message": "four", "client_id": "c4"})
	if f := ws.Expect("error"); f.Code != "rate_limited" || f.ClientID != "c4" {
		t.Fatalf("over the limit: %s", f.Raw)
	}
	// The other socket saw the three broadcasts and no error.
	for i := 0; i < 3; i++ {
		if f := other.Expect("new_message"); f.Msg().Author != "carol" {
			t.Fatalf("other socket got %s", f.Raw)
		}
	}
	if f, err := other.TryNext(200 * time.Millisecond); err == nil {
		t.Fatalf("other socket got a frame meant for the sender: %s", f.Raw)
	}
	// Nothing refused was stored.
	ws.SendRaw([]byte(`{"command":"fetch_messages","after":0,"limit":100}`))
	if f := ws.Expect("messages"); len(f.Messages) != 3 {
		t.Fatalf("stored %d messages; want the 3 accepted", len(f.Messages))
	}
}

func TestFrameTooLargeCloses1009(t *testing.T) {
	srv := unlimited(t)
	ws := srv.Dial(t, "big", apptest.DialOptions{Token: srv.User(t, "erin")})
	ws.SendRaw([]byte(`{"command":"new_message","message":"` + strings.Repeat("a", 65<<10) + `"}`))
	_, err := ws.TryNext(10 * time.Second)
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (%v); want 1009", got, err)
	}
}

func TestSpoofedAuthorAndIdempotentRetry(t *testing.T) {
	srv := unlimited(t)
	mallory := srv.User(t, "mallory")
	srv.User(t, "victim")
	ws := srv.Dial(t, "lobby", apptest.DialOptions{Token: mallory})
	ws.Send(map[string]string{"command": "new_message", "message": "  I am victim  ", "from": "victim", "client_id": "x1"})
	m := ws.Expect("new_message").Msg()
	if m.Author != "mallory" || m.Content != "I am victim" || m.Seq != 1 {
		t.Fatalf("stored %+v; want author mallory, trimmed content, seq 1", m)
	}
	// A retry with the same client_id gets the same message, seq included.
	ws.Send(map[string]string{"command": "new_message", "message": "I am victim", "client_id": "x1"})
	again := ws.Expect("new_message").Msg()
	if again.Seq != m.Seq || again.ID != m.ID {
		t.Fatalf("retry stored anew: %+v vs %+v", again, m)
	}
	// The next message takes the next seq: the retry took none.
	if next := ws.Post("next", "x2"); next.Seq != 2 {
		t.Fatalf("after a retry the next seq is %d; want 2", next.Seq)
	}
	// Over the API the same client_id in the same room is the same message.
	var got chat.Message
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/lobby/messages", mallory,
		map[string]string{"content": "I am victim", "client_id": "x1"}, &got)
	if r.StatusCode != 200 || got.Seq != 1 {
		t.Fatalf("API retry: %s seq %d", r.Status, got.Seq)
	}
}

// TestConcurrentSenders: 20 senders in one room; seq 1..N without a gap or a
// duplicate, and every socket sees them in that order.
func TestConcurrentSenders(t *testing.T) {
	srv := unlimited(t)
	const senders, each = 20, 15
	var socks []*apptest.Conn
	for i := 0; i < senders; i++ {
		socks = append(socks, srv.Dial(t, "busy", apptest.DialOptions{Token: srv.User(t, fmt.Sprint("s", i))}))
	}
	listener := srv.Dial(t, "busy", apptest.DialOptions{Token: srv.User(t, "listener")})
	var wg sync.WaitGroup
	for i, ws := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				ws.Send(map[string]string{"command": "new_message", "message": fmt.Sprintf("%d-%d", i, j), "client_id": fmt.Sprint(j)})
			}
		}()
	}
	wg.Wait()
	check := func(name string, ws *apptest.Conn) {
		seen := map[string]bool{}
		for want := int64(1); want <= senders*each; want++ {
			m := ws.Expect("new_message").Msg()
			if m.Seq != want {
				t.Fatalf("%s: got seq %d, want %d", name, m.Seq, want)
			}
			if seen[m.Content] {
				t.Fatalf("%s: %q twice", name, m.Content)
			}
			seen[m.Content] = true
		}
	}
	check("listener", listener)
	for i, ws := range socks {
		check(fmt.Sprint("sender ", i), ws)
	}
}

func TestUpgradeRefusals(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "frank")
	cookie := loginCookie(t, srv, "frank")
	for _, tc := range []struct {
		name   string
		room   string
		opt    apptest.DialOptions
		status int
	}{
		{"no credentials", "lobby", apptest.DialOptions{}, 401},
		{"bad token", "lobby", apptest.DialOptions{Token: "nope"}, 401},
		{"bad session cookie", "lobby", apptest.DialOptions{Header: http.Header{"Cookie": {"sessionid=forged"}}}, 401},
		{"cookie from a foreign origin", "lobby", apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {"https://evil.example"}}}, 403},
		// The scheme and the port are part of the origin (finding 11).
		{"cookie from this host over another scheme", "lobby", apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {"https://" + srv.Addr}}}, 403},
		{"cookie from this host on another port", "lobby", apptest.DialOptions{Header: http.Header{"Cookie": {cookie}, "Origin": {"http://127.0.0.1:1"}}}, 403},
		{"bad room name", "no%20spaces", apptest.DialOptions{Token: tok}, 404},
		{"too long a room name", strings.Repeat("r", 65), apptest.DialOptions{Token: tok}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := srv.TryDial(tc.room, tc.opt)
			if err == nil {
				c.CloseNow()
				t.Fatal("the upgrade succeeded")
			}
			if resp == nil || resp.StatusCode != tc.status {
				t.Fatalf("got %v, %v; want status %d", resp, err, tc.status)
			}
		})
	}
	// Allowed: a cookie from this origin, and a bearer token from anywhere.
	for name, opt := range map[string]apptest.DialOptions{
		"cookie, same origin": {Header: http.Header{"Cookie": {cookie}, "Origin": {srv.URL}}},
		"cookie, no origin":   {Header: http.Header{"Cookie": {cookie}}},
		"bearer, any origin":  {Token: tok, Header: http.Header{"Origin": {"https://bot.example"}}},
	} {
		c, _, err := srv.TryDial("lobby", opt)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		c.CloseNow()
	}
}

// TestExtensionsOnlyWhenAsked: a parley.v1 socket gets presence and typing;
// a plain one gets only the original protocol's frames.
func TestExtensionsOnlyWhenAsked(t *testing.T) {
	srv := unlimited(t)
	plain := srv.Dial(t, "ext", apptest.DialOptions{Token: srv.User(t, "plain")})
	v1 := srv.Dial(t, "ext", apptest.DialOptions{Token: srv.User(t, "modern"), Extensions: true})
	if v1.C.Subprotocol() != "parley.v1" || plain.C.Subprotocol() != "" {
		t.Fatalf("subprotocols %q / %q", v1.C.Subprotocol(), plain.C.Subprotocol())
	}
	third := srv.Dial(t, "ext", apptest.DialOptions{Token: srv.User(t, "third"), Extensions: true})
	for {
		f := v1.Expect("presence")
		if strings.Join(f.Users, ",") == "modern,plain,third" {
			break
		}
	}
	third.Send(map[string]string{"command": "typing"})
	if f := v1.Expect("typing"); f.User != "third" {
		t.Fatalf("typing frame %s", f.Raw)
	}
	third.Send(map[string]string{"command": "read", "seq": "x"})
	if f := third.Expect("error"); f.Code != "bad_request" {
		t.Fatalf("bad read frame: %s", f.Raw)
	}
	m := third.Post("after typing", "t1")
	// The plain socket's first frame is the message: no presence, no typing.
	if f := plain.Next(); f.Command != "new_message" || f.Msg().ID != m.ID {
		t.Fatalf("plain socket got %s before the message", f.Raw)
	}
}

// TestVanishedPeersAreReleased: clients that drop their connections without
// a close handshake leave no socket and no file descriptor behind.
func TestVanishedPeersAreReleased(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--user-sockets=0"}})
	tok := srv.User(t, "ghost")
	metric := func(name string) float64 {
		_, text := get(t, srv, "/metrics", "")
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				var f float64
				fmt.Sscan(v, &f)
				return f
			}
		}
		t.Fatalf("no metric %s", name)
		return 0
	}
	before := metric("process_open_fds")
	var socks []*apptest.Conn
	for i := 0; i < 50; i++ {
		socks = append(socks, srv.Dial(t, "haunted", apptest.DialOptions{Token: tok}))
	}
	// The server counts a socket just after answering its upgrade.
	apptest.Wait(t, 10*time.Second, "50 sockets open", func() bool { return metric("parley_sockets") == 50 })
	for _, ws := range socks {
		ws.C.CloseNow() // no close frame: the peer just goes
	}
	apptest.Wait(t, 10*time.Second, "the server to release the vanished sockets", func() bool {
		return metric("parley_sockets") == 0 && metric("process_open_fds") <= before+2
	})
}
