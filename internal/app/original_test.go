package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/chat"
)

// TestBusyRoomHistoryThenLive opens plain sockets, as the original page
// does (fetch_messages on open), in a room where a bot posts hundreds of
// messages a second: each socket's first answer ends where its live
// messages begin. What the page shows — history, then live — runs in seq
// order with no message twice and none missing. A parley.v1 socket is not
// held: it gets live messages at once.
func TestBusyRoomHistoryThenLive(t *testing.T) {
	srv := unlimited(t)
	botTok := srv.User(t, "bot")
	reader := srv.User(t, "reader")
	bot := srv.Dial(t, "busy", apptest.DialOptions{Token: botTok, Extensions: true})
	for i := range 30 {
		bot.Post(fmt.Sprintf("before %d", i), fmt.Sprintf("b%d", i))
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 20_000; i++ { // bounded: the test stops it long before
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			bot.Send(map[string]string{"command": "new_message", "message": fmt.Sprintf("live %d", i), "client_id": fmt.Sprintf("l%d", i)})
		}
	})
	defer func() { stop(); wg.Wait() }()

	for range 5 {
		time.Sleep(30 * time.Millisecond) // open while the bot talks, at different moments
		ws := srv.Dial(t, "busy", apptest.DialOptions{Token: reader})
		ws.SendRaw([]byte(`{"command": "fetch_messages"}`))
		var shown []int64
		first := ws.Next()
		if first.Command != "messages" {
			t.Fatalf("the first frame is %s; a plain socket gets its history first", first.Raw)
		}
		for _, m := range first.Messages {
			shown = append(shown, m.Seq)
		}
		if len(shown) != 20 {
			t.Fatalf("the first answer holds %d messages; want the latest 20", len(shown))
		}
		for len(shown) < 80 {
			f := ws.Next()
			if f.Command != "new_message" {
				t.Fatalf("got %s", f.Raw)
			}
			shown = append(shown, f.Msg().Seq)
		}
		for i := 1; i < len(shown); i++ {
			if shown[i] != shown[i-1]+1 {
				t.Fatalf("the page shows seqs %v: not history then live, in order, once each", shown)
			}
		}
		ws.Close()
	}

	// A parley.v1 socket gets live messages before it asks for anything.
	v1 := srv.Dial(t, "busy", apptest.DialOptions{Token: reader, Extensions: true})
	for {
		f, err := v1.TryNext(2 * time.Second)
		if err != nil {
			t.Fatalf("a parley.v1 socket got no live message at once: %v", err)
		}
		if f.Command == "new_message" {
			break
		}
	}
}

// TestHeldSocketStillGetsLive: a plain socket that never fetches gets its
// live messages all the same, after the hold's bound (time, and count),
// and one that sends before it fetches is not held at all.
func TestHeldSocketStillGetsLive(t *testing.T) {
	srv := unlimited(t)
	poster := srv.Dial(t, "quiet", apptest.DialOptions{Token: srv.User(t, "poster"), Extensions: true})
	listener := srv.Dial(t, "quiet", apptest.DialOptions{Token: srv.User(t, "listener")})
	start := time.Now()
	poster.Post("hello", "h1")
	f := listener.Expect("new_message")
	if f.Msg().Content != "hello" {
		t.Fatalf("got %s", f.Raw)
	}
	if waited := time.Since(start); waited > 9*time.Second {
		t.Fatalf("a socket that never fetches waited %v for a live message", waited)
	}
	// Past the count bound (100) the held messages go out without waiting.
	counted := srv.Dial(t, "quiet", apptest.DialOptions{Token: srv.User(t, "counter")})
	for i := range 101 {
		poster.Send(map[string]string{"command": "new_message", "message": fmt.Sprint(i), "client_id": fmt.Sprint("c", i)})
	}
	start = time.Now()
	for i := range 101 {
		if got := counted.Expect("new_message").Msg().Content; got != fmt.Sprint(i) {
			t.Fatalf("message %d reads %q", i, got)
		}
	}
	if waited := time.Since(start); waited > 4*time.Second {
		t.Fatalf("101 messages took %v: the count bound did not let them go", waited)
	}
	// A plain socket that sends first is not held.
	sender := srv.Dial(t, "quiet", apptest.DialOptions{Token: srv.User(t, "sender")})
	start = time.Now()
	if m := sender.Post("mine", "m1"); m.Content != "mine" || time.Since(start) > 4*time.Second {
		t.Fatalf("a plain socket's own message came back after %v", time.Since(start))
	}
}

// TestHistoryAnswersStayUnderOneMiB: a room of 100 messages of 4,000
// characters that JSON escapes six-fold (control characters) is answered
// in pages under 1 MiB, has_more saying the rest is there; a message of
// 4,000 '<' travels as 4,000 bytes, not 24,000.
func TestHistoryAnswersStayUnderOneMiB(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "big")
	ws := srv.Dial(t, "huge", apptest.DialOptions{Token: tok, Extensions: true})
	escaped := strings.Repeat("\x01", chat.MaxContentLength-2)
	for i := range 100 {
		ws.Post(fmt.Sprintf("%02d%s", i, escaped), fmt.Sprint("e", i))
	}
	for _, q := range []struct {
		frame   string
		forward bool
	}{
		{`{"command":"fetch_messages","limit":100}`, false},
		{`{"command":"fetch_messages","before":101,"limit":100}`, false},
		{`{"command":"fetch_messages","after":0,"limit":100}`, true},
	} {
		ws.SendRaw([]byte(q.frame))
		f := ws.Expect("messages")
		n := len(f.Messages)
		if len(f.Raw) >= 1<<20 || n == 0 || n == 100 || f.HasMore == nil || !*f.HasMore {
			t.Fatalf("%s: %d bytes, %d messages, has_more %v; want under 1 MiB, fewer than 100, has_more", q.frame, len(f.Raw), n, f.HasMore)
		}
		// A page going back keeps the newest; one going forward the oldest.
		if q.forward && f.Messages[0].Seq != 1 || !q.forward && f.Messages[n-1].Seq != 100 {
			t.Fatalf("%s: seqs %d..%d", q.frame, f.Messages[0].Seq, f.Messages[n-1].Seq)
		}
	}
	var page struct {
		Messages []chat.Message `json:"messages"`
		HasMore  bool           `json:"has_more"`
	}
	r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/huge/messages?limit=100", tok, nil, &page)
	if r.StatusCode != 200 || len(page.Messages) == 100 || !page.HasMore || page.Messages[len(page.Messages)-1].Seq != 100 {
		t.Fatalf("API: %s, %d messages, has_more %v", r.Status, len(page.Messages), page.HasMore)
	}

	lt := strings.Repeat("<", chat.MaxContentLength)
	ws.Post(lt, "lt")
	ws.SendRaw([]byte(`{"command":"fetch_messages","limit":1}`))
	if f := ws.Expect("messages"); !strings.Contains(string(f.Raw), lt) || len(f.Raw) > 4400 {
		t.Fatalf("4,000 '<' took %d bytes: escaped?", len(f.Raw))
	}
}
