package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
