package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/chat"
	"parley/internal/store/storetest"
)

// recover fetches everything after a seq on c, as a client that was away
// does, page by page, into s.
func recoverAfter(t *testing.T, c *apptest.Conn, s *apptest.RoomState, after int64) {
	t.Helper()
	for range 100 {
		c.Send(map[string]any{"command": "fetch_messages", "after": after, "limit": 3})
		var f apptest.Frame
		for f.Command != "messages" {
			f = c.Next() // live frames meanwhile count too
			s.Frame(f)
		}
		for _, m := range f.Messages {
			after = max(after, m.Seq)
		}
		for _, ch := range f.Changes {
			after = max(after, ch.Seq)
		}
		if f.HasMore == nil || !*f.HasMore {
			return
		}
	}
	t.Fatal("recovery did not end")
}

// readUntil applies c's frames to s until s has seen seq last.
func readUntil(t *testing.T, c *apptest.Conn, s *apptest.RoomState, last int64) {
	t.Helper()
	for s.Last() < last {
		s.Frame(c.Next())
	}
}

// TestRoomEventsRecovery: a parley.v1 socket closed before an edit, a
// deletion and reactions, reopened with after, ends with exactly the
// state of a socket that stayed; both saw every seq once. A socket without
// parley.v1 saw new messages only.
func TestRoomEventsRecovery(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { roomEventsRecovery(t, unlimited(t)) })
	t.Run("postgres", func(t *testing.T) {
		roomEventsRecovery(t, apptest.Start(t, apptest.Options{DB: storetest.PostgresDSN(t), Args: []string{"--send-limit=off"}}))
	})
}

func roomEventsRecovery(t *testing.T, srv *apptest.Server) {
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	stay := srv.Dial(t, "events", apptest.DialOptions{Token: bob, Extensions: true})
	plain := srv.Dial(t, "events", apptest.DialOptions{Token: bob})
	plain.Send(map[string]string{"command": "fetch_messages"})
	if f := plain.Expect("messages"); len(f.Messages) != 0 {
		t.Fatalf("an empty room's history: %s", f.Raw)
	}
	stayed := apptest.NewRoomState()

	a := srv.Dial(t, "events", apptest.DialOptions{Token: alice, Extensions: true})
	m1 := a.Post("first, with a tpyo", "m1")
	m2 := a.Post("second, to be deleted", "m2")
	m3 := a.Post("third", "m3")
	readUntil(t, stay, stayed, m3.Seq)

	// The socket that will be away has seen everything so far.
	away := srv.Dial(t, "events", apptest.DialOptions{Token: alice, Extensions: true})
	awayState := apptest.NewRoomState()
	recoverAfter(t, away, awayState, 0)
	if awayState.Last() != m3.Seq {
		t.Fatalf("before going away: up to %d, want %d", awayState.Last(), m3.Seq)
	}
	away.Close()

	e, fr := a.Change("edit_message", m1.Seq, "first, with a typo fixed", "e1")
	if e == nil {
		t.Fatalf("edit refused: %s", fr.Raw)
	}
	d, fr := a.Change("delete_message", m2.Seq, "", "d1")
	if d == nil {
		t.Fatalf("delete refused: %s", fr.Raw)
	}
	bobWS := srv.Dial(t, "events", apptest.DialOptions{Token: bob, Extensions: true})
	r1, fr := bobWS.Change("react", m1.Seq, "👍", "r1")
	if r1 == nil {
		t.Fatalf("reaction refused: %s", fr.Raw)
	}
	r2, _ := a.Change("react", m3.Seq, "🎉", "r2")
	m4 := a.Post("fourth, after the changes", "m4")
	if e.Seq != m3.Seq+1 || d.Seq != e.Seq+1 || r1.Seq != d.Seq+1 || r2.Seq != r1.Seq+1 || m4.Seq != r2.Seq+1 {
		t.Fatalf("seqs %d %d %d %d %d after %d: every change takes the next", e.Seq, d.Seq, r1.Seq, r2.Seq, m4.Seq, m3.Seq)
	}
	readUntil(t, stay, stayed, m4.Seq)

	away = srv.Dial(t, "events", apptest.DialOptions{Token: alice, Extensions: true})
	recoverAfter(t, away, awayState, m3.Seq)
	if diff := awayState.Diff(stayed, 1); diff != "" {
		t.Fatalf("the socket that was away differs from the one that stayed:\n%s", diff)
	}
	if !awayState.Gapless() || !stayed.Gapless() {
		t.Fatalf("seen %v and %v: want every seq", awayState.Seen, stayed.Seen)
	}
	if m := stayed.Msgs[m1.Seq]; m.Content != "first, with a typo fixed" || m.Edited.IsZero() || len(m.Reactions) != 1 ||
		m.Reactions[0].Users[0] != "bob" || m.Rev != r1.Seq {
		t.Fatalf("message 1: %+v", m)
	}
	if m := stayed.Msgs[m2.Seq]; !m.Deleted || m.Content != "" {
		t.Fatalf("message 2: %+v, want a tombstone", m)
	}

	// The socket without parley.v1 got the four messages as they were
	// sent, and nothing else.
	var got []string
	for len(got) < 4 {
		f := plain.Next()
		if f.Command != "new_message" {
			t.Fatalf("a plain socket got %s", f.Raw)
		}
		got = append(got, f.Msg().Content)
		if strings.Contains(string(f.Raw), `"rev"`) {
			t.Fatalf("a plain socket got a field it does not know: %s", f.Raw)
		}
	}
	if !slices.Equal(got, []string{"first, with a tpyo", "second, to be deleted", "third", "fourth, after the changes"}) {
		t.Fatalf("plain socket got %q", got)
	}
	// Its history shows current content, and no deleted message.
	plain.Send(map[string]any{"command": "fetch_messages"})
	f := plain.Expect("messages")
	var history []string
	for _, m := range f.Messages {
		history = append(history, m.Content)
	}
	if !slices.Equal(history, []string{"first, with a typo fixed", "third", "fourth, after the changes"}) {
		t.Fatalf("plain history %q", history)
	}
	if strings.Contains(string(f.Raw), `"changes"`) || strings.Contains(string(f.Raw), `"rev"`) || strings.Contains(string(f.Raw), `"reactions"`) {
		t.Fatalf("plain history has new fields: %s", f.Raw)
	}
	plain.Send(map[string]any{"command": "fetch_messages", "after": m1.Seq})
	f = plain.Expect("messages")
	if len(f.Messages) != 2 || f.Messages[0].Seq != m3.Seq || f.Messages[1].Seq != m4.Seq {
		t.Fatalf("plain after %d: %s", m1.Seq, f.Raw)
	}
	// Change commands need parley.v1.
	plain.Send(map[string]any{"command": "react", "seq": m1.Seq, "emoji": "👍"})
	if f := plain.Expect("error"); f.Code != "bad_request" {
		t.Fatalf("react on a plain socket: %s", f.Raw)
	}
}

// TestChangeRulesOverSocket: refusals, idempotency under retry, versions,
// replies and around, over parley.v1 sockets.
func TestChangeRulesOverSocket(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off", "--edit-window=1h"}})
	srv.User(t, "root") // the first account is an admin; alice and bob are members
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	a := srv.Dial(t, "rules", apptest.DialOptions{Token: alice, Extensions: true})
	b := srv.Dial(t, "rules", apptest.DialOptions{Token: bob, Extensions: true})
	m := a.Post("alice's words", "m1")
	// @room is the room's owner's (alice made "rules") and moderators':
	// bob tries it in a room alice made too.
	srv.Dial(t, "rules-other", apptest.DialOptions{Token: alice, Extensions: true}).Post("first", "o1")
	bo := srv.Dial(t, "rules-other", apptest.DialOptions{Token: bob, Extensions: true})
	mb := bo.Post("bob's words", "mb1")

	for _, tc := range []struct {
		conn    *apptest.Conn
		command string
		seq     int64
		arg     string
		code    string
	}{
		{b, "edit_message", m.Seq, "bob's words", "forbidden"},
		{b, "delete_message", m.Seq, "", "forbidden"},
		{a, "edit_message", 99, "x", "not_found"},
		{a, "react", m.Seq, "not an emoji", "bad_request"},
		{a, "unreact", m.Seq, "👍", "not_found"},
		{a, "edit_message", m.Seq, "", "bad_request"},
		{bo, "edit_message", mb.Seq, "@room, listen", "forbidden"},
		{a, "delete_message", 0, "", "bad_request"},
	} {
		c, f := tc.conn.Change(tc.command, tc.seq, tc.arg, "bad-"+tc.command+tc.code)
		if c != nil || f.Code != tc.code {
			t.Errorf("%s %d %q: %s; want %s", tc.command, tc.seq, tc.arg, f.Raw, tc.code)
		}
	}

	// Retries: the same client_id is the stored change; nothing new.
	e1, _ := a.Change("edit_message", m.Seq, "alice's words, edited", "e1")
	again, f := a.Change("edit_message", m.Seq, "something else", "e1")
	if e1 == nil || again == nil || again.Seq != e1.Seq || again.Content != e1.Content {
		t.Fatalf("edit retried: %+v, then %s", e1, f.Raw)
	}
	// Two sockets of one user add the same reaction at once: one
	// reaction, and each socket has its answer.
	a2 := srv.Dial(t, "rules", apptest.DialOptions{Token: alice, Extensions: true})
	var wg sync.WaitGroup
	added := make([]*chat.Change, 2)
	for i, c := range []*apptest.Conn{a, a2} {
		wg.Go(func() { added[i], _ = c.Change("react", m.Seq, "👍", fmt.Sprint("same-", i)) })
	}
	wg.Wait()
	if added[0] == nil || added[1] == nil || added[0].Seq != added[1].Seq {
		t.Fatalf("the same reaction from two sockets: %+v and %+v; want one change", added[0], added[1])
	}
	a.Send(map[string]any{"command": "fetch_messages", "around": m.Seq, "limit": 5})
	around := a.Answer("messages")
	if len(around.Messages) != 1 || len(around.Messages[0].Reactions) != 1 || around.Messages[0].Reactions[0].Count != 1 ||
		around.HasNewer == nil || *around.HasNewer {
		t.Fatalf("around %d: %s", m.Seq, around.Raw)
	}

	// Versions: the original and the edit, for anyone in the room.
	b.Send(map[string]any{"command": "fetch_versions", "seq": m.Seq})
	v := b.Answer("versions")
	if len(v.Versions) != 2 || v.Versions[0].Content != "alice's words" || v.Versions[1].Rev != e1.Seq || v.Seq != m.Seq {
		t.Fatalf("versions: %s", v.Raw)
	}

	// A reply, with a mention, quoting what it answers.
	b.Send(map[string]any{"command": "new_message", "message": "@alice agreed", "reply_to": m.Seq, "client_id": "re"})
	var reply chat.Message
	for reply.Seq == 0 {
		if f := b.Next(); f.Command == "new_message" && f.Msg().ClientID == "re" {
			reply = f.Msg()
		}
	}
	if reply.ReplyTo == nil || reply.ReplyTo.Seq != m.Seq || reply.ReplyTo.Author != "alice" ||
		reply.ReplyTo.Excerpt != "alice's words, edited" || !slices.Equal(reply.Mentions, []string{"alice"}) {
		t.Fatalf("reply %+v %+v", reply, reply.ReplyTo)
	}
	b.Send(map[string]any{"command": "new_message", "message": "?", "reply_to": 999, "client_id": "re2"})
	if f := b.Answer("error"); f.Code != "not_found" || f.ClientID != "re2" {
		t.Fatalf("a reply to nothing: %s", f.Raw)
	}
}

// TestEditingOff: --edit-window=0 turns editing off; other changes stay.
func TestEditingOff(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--edit-window=0"}})
	tok := srv.User(t, "alice")
	a := srv.Dial(t, "off", apptest.DialOptions{Token: tok, Extensions: true})
	m := a.Post("final", "m")
	if c, f := a.Change("edit_message", m.Seq, "not final", "e"); c != nil || f.Code != "forbidden" {
		t.Fatalf("edit with editing off: %s", f.Raw)
	}
	if c, f := a.Change("delete_message", m.Seq, "", "d"); c == nil {
		t.Fatalf("delete with editing off: %s", f.Raw)
	}
}

// TestChangesOverAPI: every change over /api/v1, with the same rules and
// the same idempotency, and history with changes.
func TestChangesOverAPI(t *testing.T) {
	srv := unlimited(t)
	alice := srv.User(t, "alice")
	bob := srv.User(t, "bob")
	base := srv.URL + "/api/v1/rooms/api/messages"
	var m chat.Message
	if r := apptest.Do(t, "POST", base, alice, map[string]any{"content": "hello", "client_id": "p1"}, &m); r.StatusCode != http.StatusCreated {
		t.Fatalf("post: %s", r.Status)
	}
	msg := fmt.Sprintf("%s/%d", base, m.Seq)
	type apiErr struct {
		Error struct{ Code, Message string }
	}
	for _, tc := range []struct {
		method, url, token string
		body               any
		status             int
		code               string
	}{
		{"PATCH", msg, bob, map[string]any{"content": "bob was here"}, 403, "forbidden"},
		{"PATCH", msg, alice, map[string]any{}, 400, "invalid"},
		{"PATCH", msg, alice, map[string]any{"content": strings.Repeat("x", 4001)}, 400, "too_long"},
		{"PATCH", base + "/77", alice, map[string]any{"content": "x"}, 404, "not_found"},
		{"PATCH", base + "/x", alice, map[string]any{"content": "x"}, 404, "not_found"},
		{"DELETE", msg, bob, nil, 403, "forbidden"},
		{"PUT", msg + "/reactions/ok", bob, nil, 400, "invalid"},
		{"DELETE", msg + "/reactions/" + url.PathEscape("👍"), bob, nil, 404, "not_found"},
		{"GET", base + "/77/versions", bob, nil, 404, "not_found"},
		{"GET", base + "?around=77", bob, nil, 404, "not_found"},
		{"GET", base + "?around=1&after=1", bob, nil, 400, "invalid"},
	} {
		var e apiErr
		if r := apptest.Do(t, tc.method, tc.url, tc.token, tc.body, &e); r.StatusCode != tc.status || e.Error.Code != tc.code {
			t.Errorf("%s %s: %s %+v; want %d %s", tc.method, tc.url, r.Status, e, tc.status, tc.code)
		}
	}

	var edit, again chat.Change
	if r := apptest.Do(t, "PATCH", msg, alice, map[string]any{"content": "hello, edited", "client_id": "e1"}, &edit); r.StatusCode != 201 ||
		edit.Kind != chat.ChangeEdit || edit.Content != "hello, edited" {
		t.Fatalf("edit: %s %+v", r.Status, edit)
	}
	if r := apptest.Do(t, "PATCH", msg, alice, map[string]any{"content": "other", "client_id": "e1"}, &again); r.StatusCode != 200 || again.Seq != edit.Seq {
		t.Fatalf("edit retried: %s %+v", r.Status, again)
	}
	var react, react2 chat.Change
	rURL := msg + "/reactions/" + url.PathEscape("🎉")
	if r := apptest.Do(t, "PUT", rURL, bob, nil, &react); r.StatusCode != 201 || react.Emoji != "🎉" || react.Author != "bob" {
		t.Fatalf("react: %s %+v", r.Status, react)
	}
	if r := apptest.Do(t, "PUT", rURL, bob, map[string]string{"client_id": "other"}, &react2); r.StatusCode != 200 || react2.Seq != react.Seq {
		t.Fatalf("react again: %s %+v", r.Status, react2)
	}
	var versions struct {
		Seq      int64
		Versions []apptest.Version
	}
	if r := apptest.Do(t, "GET", msg+"/versions", bob, nil, &versions); r.StatusCode != 200 || len(versions.Versions) != 2 ||
		versions.Versions[1].Content != "hello, edited" {
		t.Fatalf("versions: %s %+v", r.Status, versions)
	}
	var reply chat.Message
	if r := apptest.Do(t, "POST", base, bob, map[string]any{"content": "a reply", "reply_to": m.Seq}, &reply); r.StatusCode != 201 ||
		reply.ReplyTo == nil || reply.ReplyTo.Excerpt != "hello, edited" {
		t.Fatalf("reply: %s %+v", r.Status, reply)
	}
	var unreact, del chat.Change
	if r := apptest.Do(t, "DELETE", rURL, bob, nil, &unreact); r.StatusCode != 201 || unreact.Kind != chat.ChangeUnreact {
		t.Fatalf("unreact: %s %+v", r.Status, unreact)
	}
	if r := apptest.Do(t, "DELETE", msg, alice, nil, &del); r.StatusCode != 201 || del.Kind != chat.ChangeDelete {
		t.Fatalf("delete: %s %+v", r.Status, del)
	}
	if r := apptest.Do(t, "DELETE", msg, alice, nil, &again); r.StatusCode != 200 || again.Seq != del.Seq {
		t.Fatalf("delete again: %s %+v", r.Status, again)
	}

	// The log after 0: every entry, changes included, gapless.
	var page struct {
		Messages []chat.Message
		Changes  []chat.Change
		HasMore  bool `json:"has_more"`
	}
	if r := apptest.Do(t, "GET", base+"?after=0", bob, nil, &page); r.StatusCode != 200 {
		t.Fatalf("after=0: %s", r.Status)
	}
	var seqs []int64
	for _, x := range page.Messages {
		seqs = append(seqs, x.Seq)
	}
	for _, c := range page.Changes {
		seqs = append(seqs, c.Seq)
	}
	slices.Sort(seqs)
	if !slices.Equal(seqs, []int64{1, 2, 3, 4, 5, 6}) || page.HasMore {
		t.Fatalf("after=0: seqs %v, has_more %v", seqs, page.HasMore)
	}
	if !page.Messages[0].Deleted || page.Messages[1].ReplyTo == nil || !page.Messages[1].ReplyTo.Deleted {
		t.Fatalf("after the deletion: %+v", page.Messages)
	}
	// The latest page keeps the tombstone, with its place.
	var latest struct{ Messages []json.RawMessage }
	apptest.Do(t, "GET", base, bob, nil, &latest)
	if len(latest.Messages) != 2 || !strings.Contains(string(latest.Messages[0]), `"deleted":true`) ||
		strings.Contains(string(latest.Messages[0]), `"content"`) {
		t.Fatalf("latest: %s", latest.Messages)
	}
	// The rooms list counts messages, not changes, and not deleted ones.
	var rooms struct {
		Rooms []struct {
			Name             string
			Messages, Unread int64
		}
	}
	apptest.Do(t, "GET", srv.URL+"/api/v1/rooms?q=api", alice, nil, &rooms)
	if len(rooms.Rooms) != 1 || rooms.Rooms[0].Messages != 1 || rooms.Rooms[0].Unread != 1 {
		t.Fatalf("rooms: %+v", rooms.Rooms)
	}
}

// TestProtocolWorkedExample replays the worked example of
// docs/PROTOCOL.md (Room events, Recovering with after) and checks the
// answers it shows.
func TestProtocolWorkedExample(t *testing.T) {
	srv := unlimited(t)
	conns := map[string]*apptest.Conn{}
	for _, name := range []string{"alice", "bob", "carol", "dave"} {
		conns[name] = srv.Dial(t, "lobby", apptest.DialOptions{Token: srv.User(t, name), Extensions: true})
	}
	for i := range 9 {
		conns["carol"].Post(fmt.Sprint("earlier ", i), fmt.Sprint("x", i))
	}
	conns["bob"].Post("lunch?", "l1")
	conns["alice"].Post("at noon", "l2")
	conns["bob"].Post("ok", "l3")
	for _, c := range []struct {
		who, command string
		seq          int64
		arg          string
	}{
		{"bob", "edit_message", 10, "lunch at 1?"}, {"bob", "delete_message", 12, ""},
		{"carol", "react", 11, "👍"}, {"dave", "react", 11, "👍"}, {"dave", "unreact", 11, "👍"},
	} {
		if ch, f := conns[c.who].Change(c.command, c.seq, c.arg, c.command+fmt.Sprint(c.seq)); ch == nil {
			t.Fatalf("%s %s: %s", c.who, c.command, f.Raw)
		}
	}
	a := conns["alice"]
	a.Send(map[string]any{"command": "fetch_messages", "after": 12, "limit": 100})
	f := a.Answer("messages")
	var got []string
	for _, c := range f.Changes {
		got = append(got, fmt.Sprintf("%d %s %d %s %s %s", c.Seq, c.Kind, c.Target, c.Author, c.Content, c.Emoji))
	}
	want := []string{"13 edit 10 bob lunch at 1? ", "14 delete 12 bob  ", "15 react 11 carol  👍", "16 react 11 dave  👍", "17 unreact 11 dave  👍"}
	if len(f.Messages) != 0 || !slices.Equal(got, want) || f.HasMore == nil || *f.HasMore {
		t.Fatalf("after 12: %s", f.Raw)
	}
	a.Send(map[string]any{"command": "fetch_messages", "after": 9, "limit": 100})
	f = a.Answer("messages")
	if len(f.Messages) != 3 || len(f.Changes) != 5 {
		t.Fatalf("after 9: %s", f.Raw)
	}
	m10, m11, m12 := f.Messages[0], f.Messages[1], f.Messages[2]
	if m10.Content != "lunch at 1?" || m10.Rev != 13 || m10.Edited.IsZero() || m11.Rev != 17 ||
		len(m11.Reactions) != 1 || !slices.Equal(m11.Reactions[0].Users, []string{"carol"}) || !m12.Deleted || m12.Rev != 14 {
		t.Fatalf("after 9: %+v %+v %+v", m10, m11, m12)
	}
}

// TestChangesSpendSends: a change to a message spends one of its
// author's sends (--send-limit), as a message does: past the burst it is
// 429 with Retry-After, and changes nothing. A change to a room that does
// not exist is 404 and makes no room. The limit refills one a minute, so
// that what is asserted does not hang on how fast the machine runs it.
func TestChangesSpendSends(t *testing.T) {
	start := time.Now()
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=1/m,3"}})
	alice := srv.User(t, "alice")
	base := srv.URL + "/api/v1/rooms/spend/messages"
	var m chat.Message
	if r := apptest.Do(t, "POST", base, alice, map[string]any{"content": "hello"}, &m); r.StatusCode != http.StatusCreated {
		t.Fatalf("post: %s", r.Status)
	}
	emoji := []string{"👍", "🎉", "🎈", "🍕", "🚀", "🌈"}
	reacted := 0
	var r *http.Response
	for _, e := range emoji {
		r = apptest.Do(t, "PUT", fmt.Sprintf("%s/%d/reactions/%s", base, m.Seq, url.PathEscape(e)), alice, nil, nil)
		if r.StatusCode != http.StatusCreated {
			break
		}
		reacted++
	}
	refilled := int(time.Since(start) / time.Minute)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || reacted < 2 || reacted > 2+refilled {
		t.Fatalf("after %d reactions: %s, Retry-After %q; want the burst's last 2 sends to pass, then 429", reacted, r.Status, r.Header.Get("Retry-After"))
	}
	var page struct{ Messages []chat.Message }
	apptest.Do(t, "GET", base+"?after=0", alice, nil, &page)
	if len(page.Messages) != 1 || len(page.Messages[0].Reactions) != reacted {
		t.Fatalf("stored %+v; want %d reactions", page.Messages, reacted)
	}

	bob := srv.User(t, "bob")
	var e struct{ Error struct{ Code string } }
	nowhere := srv.URL + "/api/v1/rooms/nowhere/messages/1/reactions/" + url.PathEscape("👍")
	if r := apptest.Do(t, "PUT", nowhere, bob, nil, &e); r.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Fatalf("a reaction in no room: %s %+v; want 404 not_found", r.Status, e)
	}
	var rooms struct{ Rooms []chat.Room }
	if apptest.Do(t, "GET", srv.URL+"/api/v1/rooms?q=nowhere", bob, nil, &rooms); len(rooms.Rooms) != 0 {
		t.Fatalf("a change made a room: %+v", rooms.Rooms)
	}
}
