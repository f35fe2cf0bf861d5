package browsertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestSignUpEnterRoomAndSend is the core issue's browser test: a new person
// signs up through the form, enters a room by typing its name on /chats/
// and pressing Enter, sends a message with Enter and sees it.
func TestSignUpEnterRoomAndSend(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "ada")

	b.signUp(srv.URL, "ada", "analytical engine")
	b.enterRoom(srv.URL, "lobby")
	b.send("Hello, lobby!")
	if !eval[bool](b, messageJS("ada", "Hello, lobby!")+`.classList.contains('mine')`) {
		t.Error("ada's own message is not marked as hers")
	}
}

// TestTwoPeopleTalk is the web interface issue's main flow, in two browser
// profiles: both sign up through the forms and enter the same room by
// typing its name; they see who is here and who is typing, talk live, keep
// the history across a reload, scroll back through it, survive a server
// restart without losing a message, and never see a message as markup.
func TestTwoPeopleTalk(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	const room = "book-club"
	// The same address and database across the restart below. The sending
	// limit is off only so that the history can be seeded quickly.
	opts := apptest.Options{
		DB:   "sqlite:" + t.TempDir() + "/parley.db",
		Args: []string{"--addr=" + freeAddr(t), "--send-limit=off"},
	}
	srv := apptest.Start(t, opts)
	base := srv.URL

	// 120 older messages to scroll back through, from a third member.
	carol := srv.User(t, "carol")
	for i := 1; i <= 120; i++ {
		post(t, srv, carol, room, fmt.Sprintf("Older message %d", i))
	}

	alice := newBrowser(t, ctx, "alice")
	bob := newBrowser(t, ctx, "bob")
	both := []*browser{alice, bob}
	alice.signUp(base, "alice", "alice's long password")
	bob.signUp(base, "bob", "bob's long password")
	alice.enterRoom(base, room)
	bob.enterRoom(base, room)

	checkPresence(t, alice, "bob, alice (you)")
	checkPresence(t, bob, "alice, bob (you)")

	// Typing shows on the other page and clears by itself. (Before anyone
	// talks: the sender announces typing at most every 3 s.)
	const draft = "Has everyone finished the book?"
	bob.typeInto("#chat-message-input", draft)
	alice.waitFor("bob is typing", `document.getElementById('typing').textContent === 'bob is typing…'`)
	if s := eval[string](bob, `document.getElementById('typing').textContent`); s != "" {
		t.Errorf("bob's own page says %q", s)
	}
	alice.waitFor("the typing notice to clear by itself", `document.getElementById('typing').textContent === ''`)
	bob.press("\r")

	// Each sees the other's messages live, and their own distinguished.
	conversation := []struct {
		who  *browser
		text string
	}{
		{bob, draft},
		{alice, "Last night. That ending!"},
		{bob, "No spoilers, Carol is on chapter 3."},
	}
	for i, m := range conversation {
		if i > 0 {
			m.who.send(m.text)
		}
		for _, b := range both {
			b.waitMessage(m.who.name, m.text)
			mine := eval[bool](b, messageJS(m.who.name, m.text)+`.classList.contains('mine')`)
			if mine != (b == m.who) {
				t.Errorf("on %s's page, %s's message %q: marked as own = %v", b.name, m.who.name, m.text, mine)
			}
		}
	}

	// Markup in a message is shown as text. (Had a dialog opened, the
	// browser's checks would fail the test.)
	for _, p := range []string{`<script>alert(1)</script>`, `<img src=x onerror=alert(1)>`, `<b>not bold</b> & "quoted"`} {
		alice.send(p)
		bob.waitMessage("alice", p)
	}
	for _, b := range both {
		n := eval[int](b, `document.querySelectorAll('#messages img, #messages script, #messages b').length`)
		if n != 0 {
			t.Errorf("%s's page made %d elements out of message text", b.name, n)
		}
	}

	// A reload keeps the history.
	alice.do("reload", chromedp.Reload())
	alice.waitRoom(room)
	for _, m := range conversation {
		if !eval[bool](alice, `!!`+messageJS(m.who.name, m.text)) {
			t.Errorf("after a reload alice does not see %s's %q", m.who.name, m.text)
		}
	}

	scrollBackToStart(t, alice)
	if !eval[bool](alice, `!!`+messageJS("carol", "Older message 1")) {
		t.Error("the oldest message is not shown")
	}

	// Scrolled up, alice is told of a new message rather than moved to it.
	bob.send("Alice, are you still with us?")
	alice.waitFor("the jump-to-latest button", `document.getElementById('jump-latest').textContent === 'Jump to latest · 1 new message'`)
	alice.waitFor("the new-messages line", `document.querySelector('.unread-divider')?.nextElementSibling === `+
		messageJS("bob", "Alice, are you still with us?"))
	if title := eval[string](alice, `document.title`); title != "(1) "+room+" · Parley" {
		t.Errorf("alice's title is %q", title)
	}
	alice.do("jump to the latest message", chromedp.Click(chromedp.ID("jump-latest")))
	alice.waitFor("the bottom of the room", `(() => {
  const s = document.getElementById('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 2 && document.getElementById('jump-latest').hidden;
})()`)

	// A server restart shows "Reconnecting…"; afterwards the pages recover
	// what was posted meanwhile, and send what was written meanwhile,
	// without a reload.
	for _, b := range both {
		b.do("mark the page", chromedp.Evaluate[chromedp.Void](`window.parleyTestMark = 'not reloaded'`))
		// The browser reports the refused connections while the server is
		// down, and again when the test's cleanup stops the last server
		// before the browsers' own cleanup checks what they reported.
		b.tolerate(`WebSocket connection to .* failed`, `net::ERR_CONNECTION_REFUSED`)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	for _, b := range both {
		b.waitFor("Reconnecting…", `document.getElementById('conn-state').textContent === 'Reconnecting…'`)
	}
	const offline = "Writing this while the server is down."
	bob.typeInto("#chat-message-input", offline+"\n")
	bob.waitFor("the pending message", `[...document.querySelectorAll('#pending .msg.pending .msg-body')]
  .some((b) => b.textContent === `+js(offline)+`)`)
	// carol posts through another process on the same database.
	const meanwhile = "Posted while you were away."
	other := apptest.Start(t, apptest.Options{DB: opts.DB, Args: []string{"--send-limit=off"}})
	post(t, other, carol, room, meanwhile)
	if err := other.Stop(); err != nil {
		t.Fatalf("stop the other process: %v", err)
	}

	apptest.Start(t, opts) // on the same address; the test's cleanup stops it
	for _, b := range both {
		b.waitFor("Connected", `document.getElementById('conn-state').textContent === 'Connected'`)
		b.waitMessage("carol", meanwhile)
		b.waitMessage("bob", offline)
		b.waitFor("nothing pending", `document.querySelector('#pending .msg') === null`)
		n := eval[int](b, `[...document.querySelectorAll('#messages .msg-body')].filter((m) => m.textContent === `+js(offline)+`).length`)
		if n != 1 {
			t.Errorf("%s sees bob's offline message %d times", b.name, n)
		}
		if mark := eval[string](b, `window.parleyTestMark || ''`); mark != "not reloaded" {
			t.Errorf("%s's page was reloaded", b.name)
		}
	}
	alice.send("Welcome back, everyone.")
	bob.waitMessage("alice", "Welcome back, everyone.")
	checkPresence(t, alice, "bob, alice (you)")
}

// checkPresence waits for two people in the room and checks who they are,
// as screen readers hear the list.
func checkPresence(t *testing.T, b *browser, want string) {
	t.Helper()
	b.waitFor("2 people here", `document.getElementById('presence-count').textContent === '2 here'`)
	got := eval[string](b, `[...document.querySelectorAll('#presence .presence-name')].map((e) => e.textContent).join(', ')`)
	if got != want {
		t.Errorf("%s sees %q here, want %q", b.name, got, want)
	}
}

// scrollBackToStart scrolls the room to the top again and again until the
// whole history is loaded, checking each time that the message that was on
// top stays in view (the view does not jump) and at the end that every seq
// is there once, in order.
func scrollBackToStart(t *testing.T, b *browser) {
	t.Helper()
	total := eval[int](b, `+[...document.querySelectorAll('#messages .msg')].at(-1).dataset.seq`)
	for i := 0; ; i++ {
		first := eval[int](b, `+document.querySelector('#messages .msg').dataset.seq`)
		if first == 1 {
			break
		}
		if i == 10 {
			t.Fatalf("still at seq %d after scrolling up %d times", first, i)
		}
		// Let a frame pass, as between any two real scrolls, so that the
		// page has seen the last answer move the top out of view.
		b.settle()
		before := eval[float64](b, `(() => {
  document.getElementById('scroller').scrollTop = 0;
  return document.querySelector('#messages .msg .msg-row').getBoundingClientRect().top;
})()`)
		b.waitFor("older messages", fmt.Sprintf(`+document.querySelector('#messages .msg').dataset.seq < %d`, first))
		after := eval[float64](b, fmt.Sprintf(`(() => {
  const r = document.querySelector('#messages .msg[data-seq="%d"] .msg-row').getBoundingClientRect();
  const s = document.getElementById('scroller').getBoundingClientRect();
  return r.bottom > s.top && r.top < s.bottom ? r.top : -1e6;
})()`, first))
		if d := after - before; d < -2 || d > 2 {
			t.Fatalf("loading older messages moved message %d from y=%.0f to y=%.0f", first, before, after)
		}
	}
	b.waitFor("the start of the room", `!document.getElementById('history-start').hidden`)
	seqs := eval[[]int](b, `[...document.querySelectorAll('#messages .msg')].map((m) => +m.dataset.seq)`)
	if len(seqs) != total {
		t.Fatalf("%s holds %d messages after scrolling back, want %d", b.name, len(seqs), total)
	}
	for i, s := range seqs {
		if s != i+1 {
			t.Fatalf("message %d of the log has seq %d", i+1, s)
		}
	}
}

// TestKeyboardOnly signs up, enters a room and sends a message with key
// presses alone: Tab to move, typing, Enter. Nothing is clicked.
func TestKeyboardOnly(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "kim")
	const password = "keyboard warrior"

	b.open(srv.URL + "/")
	b.tabTo(`.site-header a[href="/signup/"]`)
	b.press("\r")
	b.waitFor("the sign-up form", `document.body.classList.contains('page-signup')`)
	b.tabTo("#id_username") // the form focuses it itself: no key press needed
	b.press("kim")
	b.tabTo("#id_password1")
	b.press(password)
	b.tabTo("#id_password2")
	b.press(password + "\r")
	b.waitFor("the dashboard", `document.body.classList.contains('page-dashboard')`)

	b.tabTo(`.site-nav a[href="/chats/"]`)
	b.press("\r")
	b.waitFor("/chats/", `document.body.classList.contains('page-chats')`)
	b.tabTo("#room-name-input")
	b.press("quiet-room\r")
	b.waitRoom("quiet-room")

	b.tabTo("#chat-message-input")
	b.press("Typed without a mouse.")
	b.do("press Shift+Enter", chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)))
	b.press("Shift+Enter made this line.\r")
	b.waitMessage("kim", "Typed without a mouse.\nShift+Enter made this line.")
	b.waitFor("nothing pending", `document.querySelector('#pending .msg') === null`)
}
