package browsertest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"parley/internal/apptest"
)

// The everyday feel of the pages: what a new person trips over in their
// first ten minutes, each checked as they would meet it.

// A name as long as a username may be (150 characters, none of which
// breaks a line), and a room name as long as one may be (64).
var (
	longName = strings.Repeat("bartholomew.featherstonehaugh_", 5)
	longRoom = "the-quarterly-planning-and-retrospective-of-the-platform-team-42"
)

// shoot checks the page in both themes with axe-core, and saves it as
// name.png and name-dark.png when screenshots are asked for.
func shoot(t *testing.T, b *browser, axe, name string) {
	t.Helper()
	for _, theme := range []string{"light", "dark"} {
		b.theme(theme)
		b.settle()
		file := name + ".png"
		if theme == "dark" {
			file = name + "-dark.png"
		}
		b.screenshot(file)
		t.Run(name+"/"+theme, func(t *testing.T) { checkAxe(t, b, axe) })
	}
	b.theme("light")
	b.settle()
}

// layoutProblems lists what breaks the page's layout at the browser's
// width: the page wider than the screen, a control of the header out of
// view, a count cut off.
const layoutProblems = `(() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > w) out.push('the page is ' + document.documentElement.scrollWidth + ' px wide on a ' + w + ' px screen');
  for (const e of document.querySelectorAll('.site-header a, .site-header button, .site-header summary, .site-header .nav-user, .presence-panel, .nav-menu-panel')) {
    const r = e.getBoundingClientRect();
    if (r.width === 0 || e.closest('[hidden]') || getComputedStyle(e).visibility === 'hidden') continue;
    if (r.left < -0.5 || r.right > w + 0.5) out.push('"' + (e.textContent.trim() || e.className) + '" is out of view (' + Math.round(r.left) + ' to ' + Math.round(r.right) + ')');
  }
  for (const e of document.querySelectorAll('.presence-count, .badge, .room-meta, .enter-hint')) {
    if (e.getBoundingClientRect().width > 0 && e.scrollWidth > e.clientWidth + 1) out.push('"' + e.textContent + '" is cut off');
  }
  return out;
})()`

// checkLayout fails the test for each layout problem of the page.
func checkLayout(t *testing.T, b *browser, where string) {
	t.Helper()
	for _, p := range eval[[]string](b, layoutProblems) {
		t.Errorf("%s: %s", where, p)
	}
}

// TestLongNamesOnPhone: a 150-character name and a 64-character room on a
// 390 px screen keep every page within the screen, the header's controls
// in view and the presence count whole (issue: "Long names break the
// phone layout").
func TestLongNamesOnPhone(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	long := srv.User(t, longName)
	ana := srv.User(t, "ana")
	post(t, srv, ana, longRoom, "Morning! The agenda is in the doc, please add your points before 10.")
	post(t, srv, long, longRoom, "Added mine. Can we start with the on-call rota? It has been bothering people for weeks.")
	post(t, srv, long, longRoom, "Also: the staging database needs a bigger disk.")
	post(t, srv, ana, longRoom, "Sure, rota first.")
	post(t, srv, ana, "lobby", "Hello!")
	srv.Dial(t, longRoom, apptest.DialOptions{Token: ana, Extensions: true}) // ana is here

	b := newBrowser(t, ctx, "long")
	b.phone()
	b.logIn(srv.URL, longName, "password-"+longName)
	checkLayout(t, b, "dashboard")
	shoot(t, b, axe, "phone-dashboard-long-name")

	b.open(srv.URL + "/chats/")
	b.waitFor("the rooms", `document.querySelectorAll('#room-results .room-row').length === 2`)
	checkLayout(t, b, "rooms")

	b.open(srv.URL + "/chats/" + longRoom + "/")
	b.waitRoom(longRoom)
	b.waitFor("2 people here", `document.getElementById('presence-count').textContent === '2 here'`)
	checkLayout(t, b, "room")
	shoot(t, b, axe, "phone-room-long-names")

	// Who is here, in full, behind "2 here".
	b.do("open who is here", chromedp.Click(chromedp.ID("presence-toggle")))
	b.waitFor("the list of who is here", `!document.getElementById('presence-panel').hidden`)
	checkLayout(t, b, "room, who is here")
	got := eval[string](b, `[...document.querySelectorAll('#presence .presence-name')].map((e) => e.textContent).join(', ')`)
	if want := "ana, " + longName + " (you)"; got != want {
		t.Errorf("the list of who is here reads %q, want %q", got, want)
	}
	shoot(t, b, axe, "phone-room-who-is-here")
}

// evalAwait evaluates a JavaScript expression whose value is a promise,
// and decodes what it resolves to.
func evalAwait[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// fill empties the field and types text into it.
func (b *browser) fill(sel, text string) {
	b.t.Helper()
	b.do("empty "+sel, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+js(sel)+`).value = ''`))
	b.typeInto(sel, text)
}

// TestOpensWhereYouLeftOff: coming back to a room with unread messages
// opens it at the first of them, under a "New messages" line, with a few
// read ones above it, and offers the way down to the latest (issue:
// "Coming back to a room does not show where you left off").
func TestOpensWhereYouLeftOff(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	sam := srv.User(t, "sam")
	for i := 1; i <= 40; i++ {
		post(t, srv, sam, "standup", fmt.Sprintf("Earlier %d", i))
	}
	b := newBrowser(t, ctx, "ines")
	b.signUp(srv.URL, "ines", "ines's long password")
	b.open(srv.URL + "/chats/standup/")
	b.waitRoom("standup")
	b.waitMessage("sam", "Earlier 40")
	// The page marks the room read once the newest message is in view;
	// the dashboard shows it.
	b.open(srv.URL + "/")
	for i := 0; eval[bool](b, `!!document.querySelector('.my-rooms a[href="/chats/standup/"] .badge')`); i++ {
		if i == 20 {
			t.Fatal("the room is still unread after ines read it")
		}
		b.open(srv.URL + "/")
	}

	for i := 1; i <= 30; i++ {
		post(t, srv, sam, "standup", fmt.Sprintf("New %d", i))
	}
	b.open(srv.URL + "/")
	if badge := eval[string](b, `document.querySelector('.my-rooms a[href="/chats/standup/"] .badge')?.textContent || ''`); badge != "30 unread" {
		t.Fatalf("the dashboard says %q", badge)
	}
	b.open(srv.URL + "/chats/standup/")
	b.waitRoom("standup")
	b.waitFor("the New messages line before the first unread",
		`document.querySelector('#messages .unread-divider')?.nextElementSibling === `+messageJS("sam", "New 1"))
	top := eval[float64](b, `(() => {
  const s = document.getElementById('scroller').getBoundingClientRect();
  return (document.querySelector('.unread-divider').getBoundingClientRect().top - s.top) / s.height;
})()`)
	if top < 0 || top > 0.5 {
		t.Errorf("the New messages line is at %.0f%% of the list's height, want it in the upper half", top*100)
	}
	if !eval[bool](b, `(() => {
  const r = `+messageJS("sam", "Earlier 40")+`.getBoundingClientRect();
  const s = document.getElementById('scroller').getBoundingClientRect();
  return r.bottom > s.top && r.top < s.bottom;
})()`) {
		t.Error("the last message read is not in view above the line")
	}
	// The rest arrives over the socket; the way down says how much.
	b.waitMessage("sam", "New 30")
	b.waitFor("Jump to latest · 30 new messages", `document.getElementById('jump-latest').textContent === 'Jump to latest · 30 new messages' &&
  !document.getElementById('jump-latest').hidden`)
}

// TestDraftsAndUnsentKept: a draft stays with its room when the person
// goes to another, a message written while the server is away survives
// leaving the page and goes out (once) when the room is opened again, and
// leaving with it unsent asks first (issue: "Drafts and queued messages
// are lost").
func TestDraftsAndUnsentKept(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	opts := apptest.Options{DB: "sqlite:" + t.TempDir() + "/parley.db", Args: []string{"--addr=" + freeAddr(t)}}
	srv := apptest.Start(t, opts)
	base := srv.URL
	b := newBrowser(t, ctx, "olga")
	b.signUp(base, "olga", "olga's long password")

	b.open(base + "/chats/kitchen/")
	b.waitRoom("kitchen")
	b.typeInto("#chat-message-input", "Who took the last coffee filter?")
	b.open(base + "/chats/garden/")
	b.waitRoom("garden")
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "" {
		t.Errorf("the garden's composer holds %q", v)
	}
	b.typeInto("#chat-message-input", "The tomatoes need water.")
	b.open(base + "/chats/kitchen/")
	b.waitRoom("kitchen")
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "Who took the last coffee filter?" {
		t.Errorf("back in the kitchen, the composer holds %q", v)
	}

	// The server goes away; the draft is sent into the void.
	b.tolerate(`WebSocket connection to .* failed`, `net::ERR_CONNECTION_REFUSED`, `a beforeunload dialog opened`)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the page to notice", `document.getElementById('conn-state').dataset.state !== 'open'`)
	b.do("focus the composer", chromedp.Focus(chromedp.ID("chat-message-input")))
	b.press("\r")
	b.waitFor("the unsent message", `[...document.querySelectorAll('#pending .msg-body')].some((e) => e.textContent === 'Who took the last coffee filter?')`)

	// Leaving asks first; staying keeps the page.
	b.answerDialogs(false)
	b.do("leave for the garden", chromedp.Evaluate[chromedp.Void](`location.assign('/chats/garden/')`))
	deadline := time.Now().Add(stepTimeout)
	for !slices.Contains(b.answerDialogs(false), "beforeunload") {
		if time.Now().After(deadline) {
			t.Fatal("leaving with an unsent message did not ask first")
		}
		time.Sleep(25 * time.Millisecond)
	}
	b.settle()
	if path := eval[string](b, `location.pathname`); path != "/chats/kitchen/" {
		t.Fatalf("after staying, the page is %s", path)
	}

	// Leaving anyway, while the server is away, loses nothing.
	b.typeInto("#chat-message-input", "And the milk.")
	b.answerDialogs(true)
	b.do("leave", chromedp.Navigate("about:blank"))
	_ = apptest.Start(t, opts) // the server is back where the page expects it
	b.open(base + "/chats/kitchen/")
	b.waitRoom("kitchen")
	b.waitMessage("olga", "Who took the last coffee filter?")
	b.waitFor("nothing pending", `document.querySelector('#pending .msg') === null`)
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "And the milk." {
		t.Errorf("the draft written while away came back as %q", v)
	}
	b.open(base + "/chats/kitchen/")
	b.waitRoom("kitchen")
	if n := eval[int](b, `[...document.querySelectorAll('#messages .msg-body')].filter((e) => e.textContent === 'Who took the last coffee filter?').length`); n != 1 {
		t.Errorf("the message sent while away is stored %d times", n)
	}
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "And the milk." {
		t.Errorf("the draft is now %q", v)
	}
}

// TestPendingDoesNotJump: a message on its way looks as it will once
// stored, so a message sent right after another of yours does not change
// height when the server has it (issue: "Your own message jumps when it
// is stored").
func TestPendingDoesNotJump(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "pablo")
	b.signUp(srv.URL, "pablo", "pablo's long password")
	b.enterRoom(srv.URL, "jumps")
	b.send("First of a few.")
	pending := eval[struct {
		Height  float64
		Grouped bool
	}](b, `(() => {
  document.getElementById('chat-message-input').value = 'Second, right after.';
  document.getElementById('composer').requestSubmit();
  const p = [...document.querySelectorAll('#pending .msg')].at(-1);
  return {height: p.getBoundingClientRect().height, grouped: p.classList.contains('grouped')};
})()`)
	b.waitMessage("pablo", "Second, right after.")
	b.waitFor("nothing pending", `document.querySelector('#pending .msg') === null`)
	stored := eval[float64](b, messageJS("pablo", "Second, right after.")+`.getBoundingClientRect().height`)
	if !pending.Grouped || pending.Height-stored > 1 || stored-pending.Height > 1 {
		t.Errorf("the message was %.0f px high on its way (grouped: %v) and %.0f px stored", pending.Height, pending.Grouped, stored)
	}
}

// TestPhoneReturnIsNewLine: on a touch screen Return writes a new line and
// the Send button sends (issue: "On phones, Return always sends").
func TestPhoneReturnIsNewLine(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "rosa")
	b.phone()
	b.signUp(srv.URL, "rosa", "rosa's long password")
	b.enterRoom(srv.URL, "shopping")
	b.typeInto("#chat-message-input", "Eggs\nFlour")
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "Eggs\nFlour" {
		t.Fatalf("after Return the composer holds %q", v)
	}
	if eval[bool](b, `document.querySelector('#messages .msg, #pending .msg') !== null`) {
		t.Fatal("Return sent the message")
	}
	b.do("tap Send", chromedp.Click(chromedp.ID("chat-message-submit")))
	b.waitMessage("rosa", "Eggs\nFlour")
}

// TestKeyboardScrollsMessages: the message list takes the focus, with a
// ring that shows it; PageUp and PageDown scroll it from the composer, and
// Escape goes to the latest (issue: "The message list cannot be scrolled
// from the keyboard").
func TestKeyboardScrollsMessages(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	carol := srv.User(t, "carol")
	for i := 1; i <= 20; i++ {
		post(t, srv, carol, "links", fmt.Sprintf("Notes %d are at https://example.com/notes/%d and https://example.org/%d", i, i, i))
	}
	b := newBrowser(t, ctx, "kai")
	b.signUp(srv.URL, "kai", "kai's long password")
	b.open(srv.URL + "/chats/links/")
	b.waitRoom("links")
	b.waitMessage("carol", "Notes 20 are at https://example.com/notes/20 and https://example.org/20")
	b.do("focus the composer", chromedp.Focus(chromedp.ID("chat-message-input")))
	scrollTop := func() float64 { return eval[float64](b, `document.getElementById('scroller').scrollTop`) }
	bottom := scrollTop()
	b.press(kb.PageUp)
	b.waitFor("a page up", fmt.Sprintf(`document.getElementById('scroller').scrollTop < %f - 100`, bottom))
	up := scrollTop()
	b.press(kb.PageDown)
	b.waitFor("a page down", fmt.Sprintf(`document.getElementById('scroller').scrollTop > %f + 100`, up))
	b.press(kb.PageUp)
	b.press(kb.PageUp)
	b.waitFor("two pages up", fmt.Sprintf(`document.getElementById('scroller').scrollTop < %f - 100`, bottom))
	b.press(kb.Escape)
	b.waitFor("the latest, after Escape", `(() => {
  const s = document.getElementById('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 2;
})()`)
	if f := eval[string](b, `document.activeElement.id`); f != "chat-message-input" {
		t.Errorf("the keys moved the focus to %q", f)
	}

	// Shift+Tab from the composer reaches the list, past the links.
	for i := 0; !eval[bool](b, `document.activeElement.id === 'scroller'`); i++ {
		if i == 80 {
			t.Fatal("80 presses of Shift+Tab from the composer did not reach the message list")
		}
		b.do("press Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	}
	ring := eval[string](b, `(() => { const s = getComputedStyle(document.getElementById('scroller')); return s.outlineStyle + ' ' + s.outlineWidth; })()`)
	if strings.HasPrefix(ring, "none") || strings.HasSuffix(ring, " 0px") {
		t.Errorf("the focused list shows no ring: outline %s", ring)
	}
}

// attempts is a stand-in for a server that is down but reachable: it
// accepts each connection, notes when a WebSocket upgrade to the room was
// asked for, and closes it unanswered.
type attempts struct {
	l     net.Listener
	mu    sync.Mutex
	times []time.Time
}

func refuseAt(t *testing.T, addr string) *attempts {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	a := &attempts{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				line, _ := bufio.NewReader(c).ReadString('\n')
				if strings.HasPrefix(line, "GET /ws/chat/") {
					a.mu.Lock()
					a.times = append(a.times, time.Now())
					a.mu.Unlock()
				}
			}()
		}
	}()
	return a
}

func (a *attempts) seen() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.times)
}

// TestReconnectSoon: when the server goes away the page tries again
// within a second, then keeps trying every few seconds at most; after a
// few seconds down it says so in a banner with "Retry now", which tries at
// once; and it is back as soon as the server is (issue: "Reconnecting
// after the server returns takes 4–6 s").
func TestReconnectSoon(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	addr := freeAddr(t)
	opts := apptest.Options{DB: "sqlite:" + t.TempDir() + "/parley.db", Args: []string{"--addr=" + addr}}
	srv := apptest.Start(t, opts)
	b := newBrowser(t, ctx, longName)
	b.phone()
	b.signUp(srv.URL, longName, "a long name's long password")
	b.enterRoom(srv.URL, longRoom)
	b.typeInto("#chat-message-input", "Deploying now.")
	b.do("tap Send", chromedp.Click(chromedp.ID("chat-message-submit")))
	b.waitMessage(longName, "Deploying now.")

	b.tolerate(`WebSocket connection to .* failed`, `net::ERR_CONNECTION_REFUSED`, `net::ERR_EMPTY_RESPONSE`, `net::ERR_CONNECTION_RESET`)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	refused := refuseAt(t, addr)
	b.waitFor("the banner", `!document.getElementById('conn-banner').hidden`)
	if since := eval[float64](b, `Date.now() - +document.getElementById('conn-banner').dataset.downSince`); since < 2500 {
		t.Errorf("the banner showed %.0f ms after the connection was lost: a blip is not worth a banner", since)
	}
	if !eval[bool](b, `!document.getElementById('conn-retry').hidden && document.getElementById('conn-banner-text').textContent.includes('kept')`) {
		t.Error("the banner offers no Retry now, or does not say that what is written is kept")
	}
	b.typeInto("#chat-message-input", "Is it down for everyone?")
	shoot(t, b, axe, "phone-reconnect-banner")

	b.waitForWithin(30*time.Second, "10 s without the server", `Date.now() - +document.getElementById('conn-banner').dataset.downSince > 10000`)
	tries := refused.seen()
	if len(tries) < 4 {
		t.Fatalf("the page tried %d times in 10 s", len(tries))
	}
	if first := tries[0].Sub(down); first > 1500*time.Millisecond {
		t.Errorf("the first try came %v after the server went away", first)
	}
	for i := 1; i < len(tries); i++ {
		if gap := tries[i].Sub(tries[i-1]); gap > 3*time.Second {
			t.Errorf("the page waited %v between tries %d and %d", gap.Round(time.Millisecond), i, i+1)
		}
	}

	// Retry now tries at once.
	before := len(refused.seen())
	b.do("Retry now", chromedp.Click(chromedp.ID("conn-retry")))
	clicked := time.Now()
	for len(refused.seen()) == before {
		if time.Since(clicked) > time.Second {
			t.Fatal("Retry now did not try within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Back as soon as the server is.
	refused.l.Close()
	_ = apptest.Start(t, opts) // the server is back where the page expects it
	back := time.Now()
	b.waitFor("the connection", `document.getElementById('conn-state').dataset.state === 'open'`)
	if d := time.Since(back); d > 4*time.Second {
		t.Errorf("the page reconnected %v after the server was back", d.Round(time.Millisecond))
	}
	b.waitFor("the banner gone", `document.getElementById('conn-banner').hidden`)
}

// sessionCookie is the browser's session cookie, as a Cookie header.
func (b *browser) sessionCookie() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "sessionid" {
			return "sessionid=" + c.Value
		}
	}
	b.t.Fatal("no session cookie")
	return ""
}

// TestSessionEndedKeepsDraft: when the session ends elsewhere, the room
// says so, keeps the draft, and sends the person to log in with their
// name filled in, back to the room after (issue: "A session that ends
// redirects without a word").
func TestSessionEndedKeepsDraft(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	opts := apptest.Options{DB: "sqlite:" + t.TempDir() + "/parley.db", Args: []string{"--addr=" + freeAddr(t)}}
	srv := apptest.Start(t, opts)
	b := newBrowser(t, ctx, longName)
	b.phone()
	b.signUp(srv.URL, longName, "a long name's long password")
	b.enterRoom(srv.URL, longRoom)
	b.typeInto("#chat-message-input", "Half a thought")

	// Logged out from elsewhere: the server closes the session's socket
	// (4401), and the page knows at once.
	req, _ := http.NewRequest("POST", srv.URL+"/accounts/logout/", nil)
	req.Header.Set("Cookie", b.sessionCookie())
	req.Header.Set("Origin", srv.URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b.tolerate(`status of 401`)
	b.waitFor("the page to say the session ended", `document.getElementById('conn-banner').dataset.ended === 'true' &&
  document.getElementById('conn-banner-text').textContent.startsWith('Your session has ended.')`)
	if eval[bool](b, `location.pathname !== `+js("/chats/"+longRoom+"/")) {
		t.Fatal("the page left before saying why")
	}
	shoot(t, b, axe, "phone-session-ended")

	b.waitFor("the log-in form", `location.pathname === '/accounts/login/' && document.getElementById('id_password') !== null`)
	b.waitFor("the password field focused", `document.activeElement?.id === 'id_password'`)
	if name := eval[string](b, `document.getElementById('id_username').value`); name != longName {
		t.Errorf("the log-in form's name is %q", name)
	}
	if text := eval[string](b, `document.querySelector('main').textContent`); !strings.Contains(text, "Your session has ended") || !strings.Contains(text, "#"+longRoom) {
		t.Errorf("the log-in page does not say the session ended, or which room: %q", text)
	}
	checkLayout(t, b, "log-in after the session ended")
	shoot(t, b, axe, "phone-login-session-ended")
	b.typeInto("#id_password", "a long name's long password\n")
	b.waitRoom(longRoom)
	if v := eval[string](b, `document.getElementById('chat-message-input').value`); v != "Half a thought" {
		t.Errorf("back in the room, the draft is %q", v)
	}
}

// TestSignUpSaysEverythingAtOnce: a taken name, a short password and a
// mismatch are all reported by one answer, the focus on the first field
// to fix; what was right is kept; the most common passwords are refused
// (issue: "Sign-up errors arrive one at a time").
func TestSignUpSaysEverythingAtOnce(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, longName)
	b := newBrowser(t, ctx, "quinn")
	b.phone()
	b.tolerate(`status of 409`, `status of 422`)
	b.open(srv.URL + "/signup/")
	b.typeInto("#id_username", longName)
	b.typeInto("#id_password1", "short")
	b.typeInto("#id_password2", "shorter\n")
	b.waitFor("three errors", `document.querySelectorAll('.field-error').length === 3`)
	b.waitFor("the focus on the name", `document.activeElement?.id === 'id_username'`)
	errs := eval[string](b, `[...document.querySelectorAll('.field-error')].map((e) => e.textContent).join(' | ')`)
	for _, want := range []string{"taken", "at least 8", "do not match"} {
		if !strings.Contains(errs, want) {
			t.Errorf("the errors %q do not say %q", errs, want)
		}
	}
	checkLayout(t, b, "sign-up")
	shoot(t, b, axe, "phone-signup-errors")

	// Only the name is wrong: the passwords stay.
	b.fill("#id_password1", "a sound passphrase")
	b.fill("#id_password2", "a sound passphrase\n")
	b.waitFor("one error", `document.querySelectorAll('.field-error').length === 1`)
	b.waitFor("the focus on the name", `document.activeElement?.id === 'id_username'`)
	if kept := eval[string](b, `document.getElementById('id_password1').value + '/' + document.getElementById('id_password2').value`); kept != "a sound passphrase/a sound passphrase" {
		t.Errorf("the passwords that were right came back as %q", kept)
	}

	// A common password.
	b.fill("#id_username", "quinn2")
	b.fill("#id_password1", "Password1")
	b.fill("#id_password2", "Password1\n")
	b.waitFor("the password refused", `document.getElementById('password1-error')?.textContent.includes('common')`)
	b.waitFor("the focus on the password", `document.activeElement?.id === 'id_password1'`)
	if name := eval[string](b, `document.getElementById('id_username').value`); name != "quinn2" {
		t.Errorf("the name came back as %q", name)
	}
	b.fill("#id_password1", "a sound passphrase")
	b.fill("#id_password2", "a sound passphrase\n")
	b.waitFor("the dashboard", `document.body.classList.contains('page-dashboard')`)
}

// TestRoomsPageOneBox: the Rooms page has one box, which lists the rooms
// that match as one types, says once when none does, and offers to create
// the room, with an invalid name made valid (issues: "The Rooms page has
// two boxes for one job", "Invalid room names are refused instead of
// fixed").
func TestRoomsPageOneBox(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	tok := srv.User(t, "ravi")
	for _, room := range []string{"release-2-4", "research-notes", "random", longRoom} {
		post(t, srv, tok, room, "Hello, "+room)
	}
	b := newBrowser(t, ctx, longName)
	b.phone()
	b.signUp(srv.URL, longName, "a long name's long password")
	b.open(srv.URL + "/chats/")
	if n := eval[int](b, `document.querySelectorAll('main input:not([type="hidden"])').length`); n != 1 {
		t.Errorf("the Rooms page has %d boxes", n)
	}
	b.typeInto("#room-name-input", "re")
	b.waitFor("the matches", `document.getElementById('search-status').textContent === '3 rooms match “re”'`)
	rows := eval[[]string](b, `[...document.querySelectorAll('#room-results .room-name')].map((e) => e.textContent)`)
	// Created public (Enter), or private.
	if strings.Join(rows, ", ") != "Create #re, Create #re as a private room, "+longRoom+", research-notes, release-2-4" {
		t.Errorf("the list for “re” is %q", rows)
	}
	checkLayout(t, b, "rooms")

	b.fill("#room-name-input", "zzz")
	b.waitFor("no match", `document.getElementById('search-status').textContent === 'No room matches “zzz”.'`)
	text := eval[string](b, `document.querySelector('main').innerText`)
	if strings.Count(text, "No room matches") != 1 || strings.Contains(text, "0 rooms") {
		t.Errorf("a search that finds nothing says so more than once: %q", text)
	}

	b.fill("#room-name-input", "My Room!")
	b.waitFor("the offer", `document.querySelector('#room-results .create-row .room-name')?.textContent === 'Create #my-room'`)
	if meta := eval[string](b, `document.querySelector('#room-results .create-row .room-meta').textContent`); !strings.Contains(meta, "“My Room!” becomes #my-room") {
		t.Errorf("the offer does not say what changed: %q", meta)
	}
	checkLayout(t, b, "rooms, creating")
	shoot(t, b, axe, "phone-rooms-create")
	b.press(kb.ArrowDown)
	if f := eval[string](b, `document.activeElement.closest('.create-row') ? 'create' : document.activeElement.id`); f != "create" {
		t.Errorf("ArrowDown from the box went to %q", f)
	}
	b.do("back to the box", chromedp.Focus(chromedp.ID("room-name-input")))
	b.press("\r")
	b.waitRoom("my-room")
}

// TestPhoneRoomBar: on a phone the room has one bar on top, "N here" opens
// the list of who is here, a tap on a message shows its full time, and a
// long room name does not wrap in the composer (issue: "On phones the room
// wastes space and hides who is here").
func TestPhoneRoomBar(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	theo := srv.User(t, "theo")
	post(t, srv, theo, longRoom, "The numbers for the quarter are in.")
	post(t, srv, theo, longRoom, "Revenue is up, costs are flat.")
	srv.Dial(t, longRoom, apptest.DialOptions{Token: theo, Extensions: true})
	b := newBrowser(t, ctx, "vera")
	b.phone()
	b.signUp(srv.URL, "vera", "vera's long password")
	b.open(srv.URL + "/chats/" + longRoom + "/")
	b.waitRoom(longRoom)
	b.waitFor("2 people here", `document.getElementById('presence-count').textContent === '2 here'`)

	if top := eval[float64](b, `document.getElementById('scroller').getBoundingClientRect().top`); top > 64 {
		t.Errorf("the messages start %.0f px down the screen: the bars above take too much", top)
	}
	if n := eval[int](b, `document.querySelectorAll('header').length`); n != 1 {
		t.Errorf("the room has %d header bars", n)
	}

	b.do("tap who is here", chromedp.Click(chromedp.ID("presence-toggle")))
	b.waitFor("the list", `!document.getElementById('presence-panel').hidden`)
	if got := eval[string](b, `[...document.querySelectorAll('#presence .presence-name')].map((e) => e.textContent).join(', ')`); got != "theo, vera (you)" {
		t.Errorf("who is here: %q", got)
	}
	b.press(kb.Escape)
	b.waitFor("the list closed", `document.getElementById('presence-panel').hidden && document.activeElement.id === 'presence-toggle'`)

	// The second message is grouped: its time is not drawn until tapped.
	b.do("tap a message", chromedp.Click(chromedp.CSS(`#messages .msg.grouped .msg-body`)))
	b.waitFor("its full time", `(() => {
  const w = document.querySelector('#messages .msg.grouped .msg-when');
  return w && w.getBoundingClientRect().height > 0 && /\d{4}/.test(w.textContent);
})()`)

	if wraps := eval[bool](b, `(() => { const i = document.getElementById('chat-message-input'); return i.scrollHeight > i.clientHeight + 2; })()`); wraps {
		t.Error("the composer's placeholder wraps")
	}
	checkLayout(t, b, "room")
}

// TestSmallerThings: the smaller points of the issue, each as a person
// meets it.
func TestSmallerThings(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	base := srv.URL
	others := []string{"ada", "ben", "cy", "dee", "eve", "fay", "gus"}
	tokens := map[string]string{}
	for _, name := range others {
		tokens[name] = srv.User(t, name)
	}
	for i := 1; i <= 150; i++ {
		post(t, srv, tokens[others[i%len(others)]], "busy", fmt.Sprintf("Message %d: %s", i, strings.Repeat("words and more words ", 6)))
	}
	post(t, srv, tokens["ada"], "busy", "The guide is at www.example.org/guide.")
	post(t, srv, tokens["ben"], "busy", strings.Repeat("A very long message. ", 190))

	b := newBrowser(t, ctx, "zoe")

	// The log-in page reached from a room's link names the room.
	b.open(base + "/chats/busy/")
	b.waitFor("the log-in form", `location.pathname === '/accounts/login/'`)
	if sub := eval[string](b, `document.querySelector('.auth-sub').textContent`); !strings.Contains(sub, "#busy") {
		t.Errorf("the log-in page from a room's link says %q", sub)
	}
	b.do("to sign-up", chromedp.Click(chromedp.CSS(`.auth-switch a`)))
	b.waitFor("the sign-up form", `document.body.classList.contains('page-signup')`)
	b.typeInto("#id_username", "zoe")
	b.typeInto("#id_password1", "zoe's long password")
	b.typeInto("#id_password2", "zoe's long password\n")
	b.waitRoom("busy")

	// Connected is not worth a word: the pill shows only other states.
	if w := eval[float64](b, `document.getElementById('conn-state').getBoundingClientRect().width`); w > 1 {
		t.Errorf("the connection state takes %.0f px while connected", w)
	}

	// www. addresses are links, on the page as it comes and live.
	b.waitMessage("ada", "The guide is at www.example.org/guide.")
	if href := eval[string](b, `document.querySelector('#messages a[href^="https://www.example.org"]')?.getAttribute('href') || ''`); href != "https://www.example.org/guide" {
		t.Errorf("www.example.org/guide links to %q", href)
	}
	post(t, srv, tokens["cy"], "busy", "Mirror: www.example.net/guide")
	b.waitFor("the live link", `!!document.querySelector('#messages a[href="https://www.example.net/guide"]')`)

	// A 4,000-character message shows its start and "Show more".
	b.waitFor("the long message collapsed", `(() => {
  const m = [...document.querySelectorAll('#messages .msg-body')].find((e) => e.textContent.startsWith('A very long message. A very'));
  return m && m.classList.contains('collapsed') && m.getBoundingClientRect().height < 400 &&
    m.nextElementSibling?.textContent === 'Show more';
})()`)
	b.do("show more", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#messages .show-more')][0].click()`))
	if h := eval[float64](b, `[...document.querySelectorAll('#messages .msg-body')].find((e) => e.textContent.startsWith('A very long message. A very')).getBoundingClientRect().height`); h < 400 {
		t.Errorf("after Show more the message is %.0f px high", h)
	}

	// With seven others here, "+N" never hides yourself.
	for _, name := range others {
		srv.Dial(t, "busy", apptest.DialOptions{Token: tokens[name], Extensions: true})
	}
	b.waitFor("8 here", `document.getElementById('presence-count').textContent === '8 here'`)
	shown := eval[[]string](b, `[...document.querySelectorAll('#presence-avatars .avatar[data-name]')].map((a) => a.dataset.name)`)
	if !slices.Contains(shown, "zoe") {
		t.Errorf("the faces shown are %v: yours is hidden behind %q", shown,
			eval[string](b, `document.querySelector('#presence-avatars .presence-more')?.textContent || ''`))
	}

	// Jump to latest from far up: there at once, not after a long glide.
	b.do("read back", chromedp.Evaluate[chromedp.Void](`document.getElementById('scroller').scrollTop = 0`))
	b.waitFor("older messages", `+document.querySelector('#messages .msg').dataset.seq < 100`)
	b.do("read back further", chromedp.Evaluate[chromedp.Void](`document.getElementById('scroller').scrollTop = 0`))
	post(t, srv, tokens["dee"], "busy", "Anyone still here?")
	b.waitFor("Jump to latest", `!document.getElementById('jump-latest').hidden`)
	left := evalAwait[float64](b, `new Promise((done) => {
  document.getElementById('jump-latest').click();
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const s = document.getElementById('scroller');
    done((s.scrollHeight - s.scrollTop - s.clientHeight) / s.clientHeight);
  }));
})`)
	if left > 1 {
		t.Errorf("two frames after Jump to latest the newest message is still %.1f screens away", left)
	}
	b.waitFor("the latest", `(() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight < 2; })()`)

	// The dashboard's room box is the first thing in it, on the screen as
	// in the tab order.
	b.open(base + "/")
	first := eval[string](b, `[...document.querySelectorAll('main a, main input, main button')].find((e) => e.tabIndex >= 0)?.id || ''`)
	if first != "dash-room" {
		t.Errorf("the dashboard's first tab stop is %q", first)
	}
	if !eval[bool](b, `(() => {
  const enter = document.querySelector('.enter-panel').getBoundingClientRect();
  return [...document.querySelectorAll('.my-rooms, .recent-rooms')].every((p) => {
    const r = p.getBoundingClientRect();
    return enter.left <= r.left && enter.top <= r.top;
  });
})()`) {
		t.Error("the room box, first in the tab order, is not first on the screen")
	}
}
