package browsertest

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestLiveCounts: the user stream keeps the dashboard's badges and the
// tab's title current without a reload; a room set to mentions counts
// its mentions; the list beside a room shows the other rooms' counts and
// not the one being read; notifications are opt-in, by a button, and,
// once granted, a mention shows one while the page is hidden, which opens
// the room at the message.
func TestLiveCounts(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{})
	gus := srv.User(t, "gus")
	for _, room := range []string{"lobby", "ops", "random"} {
		post(t, srv, gus, room, "Welcome to "+room)
	}
	b := newBrowser(t, ctx, "nia")
	b.signUp(srv.URL, "nia", "nia's long password")
	for _, room := range []string{"random", "ops", "lobby"} {
		b.enterRoom(srv.URL, room)
	}

	b.open(srv.URL + "/")
	badge := func(room string) string {
		return `document.querySelector('.my-rooms .room-row[data-room="` + room + `"] .badge')?.firstChild?.textContent`
	}
	b.waitFor("the level selects the stream adds", `document.querySelectorAll('.my-rooms select[data-level-room]').length === 3`)
	if eval[bool](b, badge("lobby")+` !== undefined`) {
		t.Fatal("a badge on a room with nothing unread")
	}
	optin := `document.querySelector('.my-rooms [data-notify-optin]')`
	if eval[bool](b, optin+`.hidden`) || eval[string](b, optin+`.textContent`) != "Turn on notifications" {
		t.Fatal("no button to turn notifications on")
	}

	post(t, srv, gus, "lobby", "Is anyone here?")
	b.waitFor("lobby's badge to say 1", badge("lobby")+` === '1'`)
	b.waitFor("the title to count 1", `document.title === '(1) Dashboard · Parley'`)
	post(t, srv, gus, "ops", "@nia the deploy is stuck")
	post(t, srv, gus, "ops", "never mind")
	b.waitFor("ops's badge to say 2", badge("ops")+` === '2'`)
	b.waitFor("the title to count 3", `document.title === '(3) Dashboard · Parley'`)

	// Mentions only: ops counts its one mention.
	b.pick(`.my-rooms select[data-level-room="ops"]`, "mentions")
	b.waitFor("ops's badge to say @1", badge("ops")+` === '@1'`)
	b.waitFor("the title to count 2", `document.title === '(2) Dashboard · Parley'`)
	// Muted: random counts nothing.
	b.pick(`.my-rooms select[data-level-room="random"]`, "muted")
	post(t, srv, gus, "random", "cat pictures")
	b.waitFor("random's dim badge", `document.querySelector('.my-rooms .room-row[data-room="random"] .badge')?.classList.contains('badge-dim')`)
	if title := eval[string](b, `document.title`); title != "(2) Dashboard · Parley" {
		t.Fatalf("a muted room counts in the title: %q", title)
	}
	shoot(t, b, axe, "dashboard-live-counts")

	// Notifications: granted, turned on by the button; a mention while
	// the page is hidden shows one.
	origin := (&url.URL{Scheme: "http", Host: srv.Addr}).String()
	b.do("grant notifications", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := cdp.Call(ctx, chromedp.FromContext(ctx).Browser, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
			Permission: &cdpbrowser.PermissionDescriptor{Name: "notifications"}, Setting: cdpbrowser.PermissionSettingGranted, Origin: origin})
		return err
	}))
	b.do("turn notifications on", chromedp.Click(chromedp.CSS(`.my-rooms [data-notify-optin]`)))
	b.waitFor("the button to say they are on", optin+`.textContent === 'Notifications on'`)
	// The page is hidden, and the notifications it shows are recorded.
	b.do("hide the page", chromedp.Evaluate[chromedp.Void](`(() => {
  Object.defineProperty(document, 'hidden', { get: () => true });
  window.shown = [];
  const Real = Notification;
  window.Notification = class extends Real {
    constructor(title, opts) { super(title, opts); window.shown.push({ title, body: opts.body, tag: opts.tag }); window.lastNote = this; }
    static get permission() { return Real.permission; }
  };
})()`))
	post(t, srv, gus, "lobby", "just chatting")
	post(t, srv, gus, "lobby", "@nia lunch at noon?") // lobby's fourth message
	b.waitFor("a notification", `window.shown.length > 0`)
	b.settle()
	shown := eval[[]map[string]string](b, `window.shown`)
	if len(shown) != 1 || shown[0]["title"] != "gus in #lobby" || shown[0]["body"] != "@nia lunch at noon?" || shown[0]["tag"] != "lobby:4" {
		t.Fatalf("notifications shown: %+v; want one, of the mention alone", shown)
	}
	b.do("click the notification", chromedp.Evaluate[chromedp.Void](`window.lastNote.onclick()`))
	b.waitFor("the room at the message", `location.pathname === '/chats/lobby/' && location.search === '?at=4'`)
	b.waitRoom("lobby")

	// The list beside the room: the other rooms with their counts; the
	// room being read is not counted.
	b.waitFor("the list of rooms", `!document.getElementById('room-side').hidden && document.querySelectorAll('#room-side-list .room-row').length === 3`)
	side := func(room string) string {
		return `document.querySelector('#room-side-list .room-row[data-room="` + room + `"] .badge')?.firstChild?.textContent`
	}
	b.waitFor("ops's badge in the list", side("ops")+` === '@1'`)
	if got := eval[bool](b, side("lobby")+` === undefined`); !got {
		t.Error("the room being read has a badge in the list")
	}
	if got := eval[string](b, `document.querySelector('#room-side-list [aria-current="page"] .room-name').textContent`); got != "lobby" {
		t.Errorf("the list marks %q as the room shown", got)
	}
	b.waitFor("the title to count ops's mention", `/^\(1\) lobby/.test(document.title)`)
	post(t, srv, gus, "ops", "@nia still stuck")
	b.waitFor("ops's badge in the list to say @2", side("ops")+` === '@2'`)
	b.waitFor("the title to count 2", `/^\(2\) lobby/.test(document.title)`)
	if eval[string](b, `document.getElementById('room-level').value`) != "every" {
		t.Error("the room's level select does not show its level")
	}
	checkLayout(t, b, "room with the list of rooms")
	shoot(t, b, axe, "room-list")
	if !strings.Contains(eval[string](b, `getComputedStyle(document.getElementById('room-side')).display`), "flex") {
		t.Error("the list of rooms is not shown at desktop width")
	}
}

// pick chooses value in the select sel: focused, its value set, and the
// change event a person's choice fires.
func (b *browser) pick(sel, value string) {
	b.t.Helper()
	b.do("pick "+value+" in "+sel, chromedp.Evaluate[chromedp.Void](`(() => {
  const s = document.querySelector(`+js(sel)+`);
  s.focus();
  s.value = `+js(value)+`;
  s.dispatchEvent(new Event('change', { bubbles: true }));
})()`))
}
