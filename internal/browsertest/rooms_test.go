package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestRoomNamesOneCase: "General" is #general wherever it is typed: the
// address bar, and the Rooms box, which offers the room there is rather
// than a new one beside it (issue: "Room names are case-sensitive").
func TestRoomNamesOneCase(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	gus := srv.User(t, "gus")
	post(t, srv, gus, "general", "Welcome to general")
	b := newBrowser(t, ctx, "nia")
	b.signUp(srv.URL, "nia", "nia's long password")

	b.open(srv.URL + "/chats/General/")
	b.waitRoom("general")
	b.waitMessage("gus", "Welcome to general")

	b.open(srv.URL + "/chats/")
	b.typeInto("#room-name-input", "General")
	b.waitFor("#general offered", `document.querySelector('#room-results .room-row .room-name')?.textContent === 'general'`)
	if eval[bool](b, `document.querySelector('#room-results .create-row') !== null`) {
		t.Error("the Rooms box offers to create General beside general")
	}
	b.press("\r")
	b.waitRoom("general")
	b.waitMessage("gus", "Welcome to general")
}

// TestNewRoomsAndLeaving: a room is made by its Create row (a POST) or
// by its first message, never by looking at it; "Recently active" lists
// only rooms with a message; a person leaves a room from the dashboard or
// from the room, by keyboard, and entering it again brings it back
// (issues: "A typo makes a permanent public room", finding 7).
func TestNewRoomsAndLeaving(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "lena")
	b.phone()
	b.signUp(srv.URL, "lena", "lena's long password")

	// Created from the Rooms box: Enter on the Create row.
	b.open(srv.URL + "/chats/")
	b.typeInto("#room-name-input", "Team Lunch")
	b.waitFor("the offer", `document.querySelector('#room-results .create-row .room-name')?.textContent === 'Create #team-lunch'`)
	b.press("\r")
	b.waitRoom("team-lunch")
	if eval[bool](b, `document.getElementById('room-new') !== null`) {
		t.Error("the room made by its Create row says it does not exist yet")
	}

	b.open(srv.URL + "/")
	mine := `[...document.querySelectorAll('.my-rooms .room-name')].map((e) => e.textContent)`
	recent := `[...document.querySelectorAll('.recent-rooms .room-name')].map((e) => e.textContent)`
	if got := eval[[]string](b, mine); strings.Join(got, ",") != "team-lunch" {
		t.Errorf("your rooms: %q", got)
	}
	if got := eval[[]string](b, recent); len(got) != 0 {
		t.Errorf("recently active lists rooms without a message: %q", got)
	}
	checkLayout(t, b, "dashboard with a room to leave")
	shoot(t, b, axe, "phone-dashboard-leave")

	// A room looked at is not made: the page says its first message
	// makes it, and the message does.
	b.open(srv.URL + "/chats/not-yet/")
	b.waitRoom("not-yet")
	if text := eval[string](b, `document.getElementById('empty-room').textContent`); !strings.Contains(text, "does not exist yet: your first message creates it") {
		t.Errorf("the page of a room not made yet says %q", text)
	}
	checkLayout(t, b, "a room not made yet")
	shoot(t, b, axe, "phone-room-not-made-yet")
	b.typeInto("#chat-message-input", "First!")
	b.do("tap Send", chromedp.Click(chromedp.ID("chat-message-submit"))) // Return is a new line on a phone
	b.waitMessage("lena", "First!")
	b.open(srv.URL + "/")
	if got := eval[[]string](b, recent); strings.Join(got, ",") != "not-yet" {
		t.Errorf("recently active after the first message: %q", got)
	}

	// Leaving from the dashboard, by keyboard.
	b.tabTo(`.my-room-row form[action="/chats/team-lunch/leave/"] button`)
	b.press("\r")
	b.waitFor("the dashboard to say team-lunch was left", `document.querySelector('.flash')?.textContent.includes('#team-lunch')`)
	if got := eval[[]string](b, mine); strings.Join(got, ",") != "not-yet" {
		t.Errorf("your rooms after leaving team-lunch: %q", got)
	}
	checkLayout(t, b, "dashboard after leaving")
	shoot(t, b, axe, "phone-dashboard-left")

	// Leaving from the room, through its menu, by keyboard.
	b.open(srv.URL + "/chats/not-yet/")
	b.waitRoom("not-yet")
	b.do("open the menu", chromedp.Focus(chromedp.CSS("#nav-menu summary")))
	b.press("\r")
	b.waitFor("the menu open", `document.getElementById('nav-menu').open`)
	b.tabTo(`.nav-menu-panel .leave-form button`)
	checkLayout(t, b, "room menu")
	b.press("\r")
	b.waitFor("the dashboard to say not-yet was left", `document.querySelector('.flash')?.textContent.includes('#not-yet')`)
	if got := eval[[]string](b, mine); len(got) != 0 {
		t.Errorf("your rooms after leaving both: %q", got)
	}
	// Entering again brings it back.
	b.enterRoom(srv.URL, "team-lunch")
	b.open(srv.URL + "/")
	if got := eval[[]string](b, mine); strings.Join(got, ",") != "team-lunch" {
		t.Errorf("your rooms after entering team-lunch again: %q", got)
	}
}
