package browsertest

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// originalRoom is the original application's room page as its Django
// template renders it: a textarea #chat-log, an input and a button, and
// its script, kept as it was written: it asks for the history on open,
// renders every frame that is not "messages" as a chat line from
// data.message, and sends the template's username as "from".
var originalRoom = template.Must(template.New("room").Parse(`<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8"/>
    <title>Chat Room</title>
</head>
<body>
    <textarea id="chat-log" cols="100" rows="20"></textarea><br/>
    <input id="chat-message-input" type="text" size="100"/><br/>
    <input id="chat-message-submit" type="button" value="Send"/>
</body>
<script>
    var roomName = {{.Room}};
    var username = {{.Username}};

    var chatSocket = new WebSocket(
        'ws://' + window.location.host +
        '/ws/chat/' + roomName + '/');

    chatSocket.onopen = function(e) {
        fetchMessages();
    }

    chatSocket.onmessage = function(e) {
        var data = JSON.parse(e.data);
        if (data['command'] === 'messages') {
            for (let i = 0; i < data['messages'].length; i++) {
                createMessage(data['messages'][i]);
            }
        } else {
            createMessage(data['message']);
        }
    };

    chatSocket.onclose = function(e) {
        console.log('Chat socket closed');
    };

    document.querySelector('#chat-message-input').focus();
    document.querySelector('#chat-message-input').onkeyup = function(e) {
        if (e.keyCode === 13) {  // enter, return
            document.querySelector('#chat-message-submit').click();
        }
    };

    document.querySelector('#chat-message-submit').onclick = function(e) {
        var messageInputDom = document.querySelector('#chat-message-input');
        var message = messageInputDom.value;
        chatSocket.send(JSON.stringify({
            'message': message,
            'command': 'new_message',
            'from': username
        }));
        messageInputDom.value = '';
    };

    function fetchMessages() {
        chatSocket.send(JSON.stringify({'command': 'fetch_messages'}));
    }

    function createMessage(data) {
        var author = data['author'];
        var msg = data['content'];
        var timestamp = new Date(data['timestamp']);
        document.querySelector('#chat-log').value += (author + ' ' + timestamp.toLocaleString() + '\n' + msg + '\n');
    }
</script>
</html>
`))

// originalFront is the original application's web server in front of
// Parley, as a deployment that keeps its pages would run it: it serves the
// room page itself, filled for the logged-in user the query names, and
// passes everything else to Parley, the Host header kept (as
// deploy/nginx.conf does), so that the socket is same-origin.
func originalFront(t *testing.T, parley string) string {
	t.Helper()
	target, err := url.Parse(parley)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /chats/{room}/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = originalRoom.Execute(w, map[string]string{"Room": r.PathValue("room"), "Username": r.URL.Query().Get("as")})
	})
	mux.Handle("/", proxy)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return front.URL
}

// chatLog is what the original page's textarea shows.
func chatLog(b *browser) string {
	return eval[string](b, `document.querySelector('#chat-log').value`)
}

// logEntries splits the log into (author, content) pairs: the page writes
// each message as "author date\ncontent\n".
func logEntries(t *testing.T, log string) [][2]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	if len(lines)%2 != 0 {
		t.Fatalf("the log is not pairs of lines:\n%s", log)
	}
	var out [][2]string
	for i := 0; i < len(lines); i += 2 {
		author, _, _ := strings.Cut(lines[i], " ")
		out = append(out, [2]string{author, lines[i+1]})
	}
	return out
}

// TestOriginalPage runs the original application's own room page, served
// as it was, against Parley in two real browsers: history on open, live
// messages both ways, the real author whatever the page claims, errors as
// legible lines, and in a busy room history then live, in order, none
// twice.
func TestOriginalPage(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	front := originalFront(t, srv.URL)
	srv.User(t, "alice")
	srv.User(t, "bob")
	botTok := srv.User(t, "bot")
	for i := 1; i <= 25; i++ {
		post(t, srv, botTok, "lobby", fmt.Sprintf("old %d", i))
	}

	alice := newBrowser(t, ctx, "alice")
	alice.logIn(front, "alice", "password-alice")
	// The page claims to be bob: the server knows better.
	alice.open(front + "/chats/lobby/?as=bob")
	alice.waitFor("the latest 20", `document.querySelector('#chat-log').value.split('\n').length >= 41`)
	got := logEntries(t, chatLog(alice))
	if len(got) != 20 || got[0][1] != "old 6" || got[19][1] != "old 25" {
		t.Fatalf("on open the page shows %d messages, %q to %q; want the latest 20, old 6 to old 25", len(got), got[0], got[len(got)-1])
	}

	bob := newBrowser(t, ctx, "bob")
	bob.logIn(front, "bob", "password-bob")
	bob.open(front + "/chats/lobby/?as=bob")
	bob.waitFor("bob's history", `document.querySelector('#chat-log').value.includes('old 25')`)

	// Live, both ways: a click in one, Enter in the other.
	alice.typeInto("#chat-message-input", "hello from alice")
	alice.do("click Send", chromedp.Click(chromedp.CSS("#chat-message-submit")))
	bob.typeInto("#chat-message-input", "hello from bob\n")
	for _, b := range []*browser{alice, bob} {
		b.waitFor("both live messages", `document.querySelector('#chat-log').value.includes('hello from bob') &&
  document.querySelector('#chat-log').value.includes('hello from alice')`)
		for _, e := range logEntries(t, chatLog(b)) {
			if e[1] == "hello from alice" && e[0] != "alice" {
				t.Errorf("%s's page shows alice's message as %q's (the page sent from: bob)", b.name, e[0])
			}
		}
	}

	// Refused sends are legible lines, on the sender's page alone.
	alice.do("click Send with nothing typed", chromedp.Click(chromedp.CSS("#chat-message-submit")))
	alice.typeInto("#chat-message-input", "   \n")
	alice.paste("#chat-message-input", strings.Repeat("y", 4001))
	alice.typeInto("#chat-message-input", "\n")
	alice.waitFor("three errors", `(document.querySelector('#chat-log').value.match(/^Parley /gm) || []).length >= 3`)
	log := chatLog(alice)
	if strings.Contains(log, "undefined") || strings.Contains(log, "Invalid Date") {
		t.Fatalf("the original page shows garbage for an error:\n%s", log[strings.LastIndex(log, "hello from"):])
	}
	for _, want := range []string{"The message is empty.", "A message has at most 4000 characters."} {
		if !strings.Contains(log, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	if strings.Contains(chatLog(bob), "Parley ") {
		t.Error("bob's page shows alice's errors")
	}

	// A room with edits, deletions and reactions: the page shows each
	// message's current content, no deleted one, and no line for a change,
	// in its history and live.
	editor := srv.Dial(t, "edits", apptest.DialOptions{Token: botTok, Extensions: true})
	keep := editor.Post("keep me", "k1")
	typo := editor.Post("a tpyo", "k2")
	gone := editor.Post("delete me", "k3")
	for _, c := range []struct {
		command string
		seq     int64
		arg     string
	}{{"edit_message", typo.Seq, "a typo, fixed"}, {"delete_message", gone.Seq, ""}, {"react", keep.Seq, "👍"}} {
		if ch, f := editor.Change(c.command, c.seq, c.arg, fmt.Sprint("c", c.seq, c.command)); ch == nil {
			t.Fatalf("%s: %s", c.command, f.Raw)
		}
	}
	alice.open(front + "/chats/edits/?as=alice")
	alice.waitFor("the edited room's history", `document.querySelector('#chat-log').value.includes('a typo, fixed')`)
	want := [][2]string{{"bot", "keep me"}, {"bot", "a typo, fixed"}}
	if got := logEntries(t, chatLog(alice)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the original page shows %q; want %q", got, want)
	}
	for _, c := range []struct {
		command string
		seq     int64
		arg     string
	}{{"edit_message", keep.Seq, "keep me, edited"}, {"delete_message", typo.Seq, ""}, {"unreact", keep.Seq, "👍"}, {"react", keep.Seq, "🎉"}} {
		if ch, f := editor.Change(c.command, c.seq, c.arg, fmt.Sprint("live", c.seq, c.command)); ch == nil {
			t.Fatalf("%s: %s", c.command, f.Raw)
		}
	}
	editor.Post("after the changes", "k4")
	alice.waitFor("the message after the changes", `document.querySelector('#chat-log').value.includes('after the changes')`)
	want = append(want, [2]string{"bot", "after the changes"})
	if got := logEntries(t, chatLog(alice)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after live changes the original page shows %q; want %q (no line for a change)", got, want)
	}
	if log := chatLog(alice); strings.Contains(log, "undefined") || strings.Contains(log, "Invalid Date") {
		t.Fatalf("the original page shows garbage:\n%s", log)
	}

	// A busy room: a bot posts a few hundred messages a second while a
	// page opens.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	bot := srv.Dial(t, "busy", apptest.DialOptions{Token: botTok, Extensions: true})
	for i := range 30 {
		bot.Post(fmt.Sprintf("m%05d", i), fmt.Sprint("s", i))
	}
	wg.Go(func() { postEvery3ms(bot, 30, stop) })
	for _, b := range []*browser{alice, bob} {
		b.open(front + "/chats/busy/?as=" + b.name)
		b.waitFor("history and live messages", `document.querySelector('#chat-log').value.split('\n').length > 120`)
		entries := logEntries(t, chatLog(b))
		prev := -1
		num := regexp.MustCompile(`^m(\d{5})$`)
		for i, e := range entries {
			m := num.FindStringSubmatch(e[1])
			if m == nil {
				t.Fatalf("%s: line %d is %q", b.name, i, e)
			}
			n, _ := strconv.Atoi(m[1])
			if prev >= 0 && n != prev+1 {
				t.Fatalf("%s's page shows m%05d after m%05d: not history then live, in order, once each", b.name, n, prev)
			}
			prev = n
		}
	}
}

// TestRoomPageBusyRoom: Parley's own room page (parley.v1, never held)
// opened while a bot posts a few hundred messages a second shows each
// message once, in seq order, with no gap, though its history answers
// and live messages cross.
func TestRoomPageBusyRoom(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	botTok := srv.User(t, "bot")
	bot := srv.Dial(t, "busy", apptest.DialOptions{Token: botTok, Extensions: true})
	for i := range 60 {
		bot.Post(fmt.Sprintf("m%05d", i), fmt.Sprint("s", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	wg.Go(func() { postEvery3ms(bot, 60, stop) })
	b := newBrowser(t, ctx, "reader")
	b.signUp(srv.URL, "reader", "password-reader")
	b.open(srv.URL + "/chats/busy/")
	b.waitFor("history and live messages", `document.querySelectorAll('#messages .msg').length > 150`)
	seqs := eval[[]int](b, `[...document.querySelectorAll('#messages .msg')].map((m) => Number(m.dataset.seq))`)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("the room page shows seq %d after %d", seqs[i], seqs[i-1])
		}
	}
}

// TestRoomPageWithChanges: Parley's own room page, which shows no change
// yet, takes edits, deletions and reactions in its stride: their seqs are
// no gap it fetches again, new messages keep coming, and a reload shows
// each message's current content and no deleted one.
func TestRoomPageWithChanges(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	botTok := srv.User(t, "bot")
	bot := srv.Dial(t, "changes", apptest.DialOptions{Token: botTok, Extensions: true})
	var ms []int64
	for i := range 5 {
		ms = append(ms, bot.Post(fmt.Sprint("message ", i+1), fmt.Sprint("m", i)).Seq)
	}
	b := newBrowser(t, ctx, "reader")
	b.signUp(srv.URL, "reader", "password-reader")
	b.open(srv.URL + "/chats/changes/")
	b.waitRoom("changes")
	b.waitMessage("bot", "message 5")
	// Every frame the page sends, from now on.
	eval[bool](b, `(() => {
  window.sentFrames = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { window.sentFrames.push(String(data)); return send.call(this, data); };
  return true;
})()`)

	for i, c := range []struct {
		command string
		seq     int64
		arg     string
	}{{"react", ms[0], "👍"}, {"edit_message", ms[1], "message 2, edited"}, {"delete_message", ms[2], ""}, {"react", ms[0], "🎉"}} {
		if ch, f := bot.Change(c.command, c.seq, c.arg, fmt.Sprint("c", i)); ch == nil {
			t.Fatalf("%s: %s", c.command, f.Raw)
		}
	}
	bot.Post("after the changes", "m5")
	b.waitMessage("bot", "after the changes")
	seqs := eval[[]int](b, `[...document.querySelectorAll('#messages .msg')].map((m) => Number(m.dataset.seq))`)
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("the room page shows seq %d after %d", seqs[i], seqs[i-1])
		}
	}
	if n := eval[int](b, `window.sentFrames.filter((f) => JSON.parse(f).after !== undefined).length`); n != 0 {
		t.Fatalf("the page fetched %d times after the changes: %v", n, eval[[]string](b, `window.sentFrames`))
	}

	b.open(srv.URL + "/chats/changes/")
	b.waitRoom("changes")
	b.waitMessage("bot", "message 2, edited")
	texts := eval[[]string](b, `[...document.querySelectorAll('#messages .msg .msg-body')].map((m) => m.textContent)`)
	if want := []string{"message 1", "message 2, edited", "message 4", "message 5", "after the changes"}; fmt.Sprint(texts) != fmt.Sprint(want) {
		t.Fatalf("after a reload the page shows %q; want %q", texts, want)
	}
}

// postEvery3ms has the bot send m{from}, m{from+1}, ... every 3 ms, a few
// hundred messages a second, until stop is closed (or 30,000 are sent).
func postEvery3ms(bot *apptest.Conn, from int, stop <-chan struct{}) {
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for i := from; i < 30_000; i++ { // bounded; stopped long before
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if bot.C.Write(context.Background(), 1, fmt.Appendf(nil, `{"command":"new_message","message":"m%05d"}`, i)) != nil {
			return
		}
	}
}
