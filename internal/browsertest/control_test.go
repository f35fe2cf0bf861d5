package browsertest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestRoomSettingsAndMute: a private room made from the Rooms box, set up
// from its settings page (topic, a member, a mute) by keyboard and
// clicks; the muted member's composer says until when, both from the
// page and from the refusal of a send made before the mute; a person's
// name in the room leads to a direct conversation with them.
func TestRoomSettingsAndMute(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	srv.User(t, "root") // the first account, the admin: everyone below is a member
	srv.User(t, "omar")
	srv.User(t, "pia")
	ines := newBrowser(t, ctx, "ines")
	ines.signUp(srv.URL, "ines", "password-ines")

	// A private room, from its Create row.
	ines.open(srv.URL + "/chats/")
	ines.typeInto("#room-name-input", "design-crit")
	ines.waitFor("the private Create row", `document.querySelector('#room-results .create-private-row') !== null`)
	ines.do("create it private", chromedp.Click(chromedp.CSS(`#room-results .create-private-row button`)))
	ines.waitRoom("design-crit")
	ines.send("Critique starts at ten.")

	// Its settings: the topic, a member, another.
	ines.do("open the settings", chromedp.Click(chromedp.CSS(`a[href="/chats/design-crit/settings/"]`)))
	ines.waitFor("the settings page", `document.body.classList.contains('page-room_settings')`)
	ines.typeInto("#topic", "Weekly design critique: bring one screen\n")
	ines.waitFor("the topic saved", `document.querySelector('.flash')?.textContent === 'Topic saved.'`)
	ines.typeInto("#add-user", "omar\n")
	ines.waitFor("omar added", `document.querySelector('.flash')?.textContent === 'Member added.'`)
	ines.typeInto("#add-user", "pia\n")
	ines.waitFor("pia added", `[...document.querySelectorAll('.member-name')].map((e) => e.textContent).join() === 'ines,omar,pia'`)
	// A name that is no one's keeps what was typed, and says so.
	stop := ines.tolerate(`status of 404`)
	ines.typeInto("#add-user", "nobody-here\n")
	ines.waitFor("the error", `document.getElementById('add-error')?.textContent === 'No such user: nobody-here.'`)
	if v := eval[string](ines, `document.getElementById('add-user').value`); v != "nobody-here" {
		t.Errorf("the refused name is not kept: %q", v)
	}
	stop()

	// omar has the room open, then ines mutes him from the page.
	omar := newBrowser(t, ctx, "omar")
	omar.logIn(srv.URL, "omar", "password-omar")
	omar.open(srv.URL + "/chats/design-crit/")
	omar.waitRoom("design-crit")
	if topic := eval[string](omar, `document.querySelector('.room-topic')?.textContent || ''`); !strings.Contains(topic, "Weekly design critique") {
		t.Errorf("the room shows the topic %q", topic)
	}
	ines.open(srv.URL + "/chats/design-crit/settings/")
	ines.typeInto("#mute-user", "omar")
	ines.do("mute for an hour", chromedp.SetValue(chromedp.CSS("#mute-minutes"), "60"))
	ines.do("mute", chromedp.Click(chromedp.CSS(`#mute-user ~ button`)))
	ines.waitFor("the mute listed", `document.querySelector('.flash')?.textContent === 'Mute saved.'`)
	checkLayout(t, ines, "room settings")
	shoot(t, ines, axe, "room-settings")

	omar.typeInto("#chat-message-input", "Can I say something?\n")
	omar.waitFor("the composer says he is muted",
		`document.getElementById('room-notice').textContent.startsWith('You are muted in this room until')`)
	// The page opened anew says so too. (omar's own page keeps the
	// message that was refused, and asks before it is left.)
	again := newBrowser(t, ctx, "omar")
	again.logIn(srv.URL, "omar", "password-omar")
	again.open(srv.URL + "/chats/design-crit/")
	again.waitRoom("design-crit")
	if n := eval[string](again, `document.getElementById('room-notice').hidden ? '' : document.getElementById('room-notice').textContent`); !strings.HasPrefix(n, "You are muted in this room until") {
		t.Errorf("the page of a muted member says %q", n)
	}

	// ines's name leads to a direct conversation, titled by her name.
	again.do("message ines", chromedp.Click(chromedp.CSS(`#messages a.author[href="/dm/ines/"]`)))
	again.waitFor("the direct conversation", `location.pathname.startsWith('/chats/dm-') && document.title === 'ines · Parley'`)
	again.waitRoom(strings.Trim(eval[string](again, `location.pathname`)[len("/chats"):], "/"))
	if p := eval[string](again, `document.getElementById('chat-message-input').placeholder`); p != "Message ines" {
		t.Errorf("the conversation's composer says %q", p)
	}
	again.send("Is the mute about the last screen?")

	// ines's dashboard lists it under Direct messages, by omar's name.
	ines.open(srv.URL + "/")
	ines.waitFor("the direct messages", `document.querySelector('.direct-rooms .room-name')?.textContent === 'omar'`)
	checkLayout(t, ines, "dashboard with a direct conversation")
	shoot(t, ines, axe, "dashboard-direct")

	// pia may not open the settings: 403.
	pia := newBrowser(t, ctx, "pia")
	pia.logIn(srv.URL, "pia", "password-pia")
	stop = pia.tolerate(`status of 403`)
	pia.open(srv.URL + "/chats/design-crit/settings/")
	pia.waitFor("the refusal", `document.body.classList.contains('page-error')`)
	stop()
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/design-crit", srv.Token(t, "pia"), nil, nil); r.StatusCode != http.StatusOK {
		t.Errorf("pia reads the room's settings: %s", r.Status)
	}
}

// TestRemovedWhileAway: a member removed from a private room while their
// page was offline learns it when the page comes back: its upgrade is
// refused, the page asks the API why, and says they are no longer a
// member, rather than retrying for ever.
func TestRemovedWhileAway(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	srv.User(t, "root")
	ines := srv.User(t, "ines")
	b := newBrowser(t, ctx, "oli")
	b.cutSocketsOnDemand()
	b.tolerate(`status of 404`)
	b.signUp(srv.URL, "oli", "oli's long password")
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", ines, map[string]string{"name": "plans", "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("a private room: %s", r.Status)
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/plans/members", ines, map[string]string{"user": "oli"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("oli in it: %s", r.Status)
	}
	b.open(srv.URL + "/chats/plans/")
	b.waitRoom("plans")

	eval[bool](b, `window.goOffline()`)
	b.waitFor("the page offline", `document.getElementById('conn-state').dataset.state !== 'open'`)
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/plans/members/oli", ines, nil, nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("oli removed: %s", r.Status)
	}
	eval[bool](b, `window.goOnline()`)
	b.waitForWithin(time.Minute, "the page says so", `document.getElementById('conn-state').dataset.state === 'ended' && document.body.textContent.includes('You are no longer a member of this room.')`)
	if eval[bool](b, `document.getElementById('chat-message-input').disabled`) != true {
		t.Error("the composer of a room one was removed from is enabled")
	}
}
