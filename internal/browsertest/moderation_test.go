package browsertest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestInviteAndModeration: on a server where only invited people sign
// up, an admin makes an invite link on /admin/invites/ and a newcomer
// signs up through it (and it is spent: a second use is refused); a
// private room shows to its member and is a 404 to the newcomer; a
// moderator deletes the newcomer's message and mutes them, and the
// newcomer's open page shows both as they happen.
func TestInviteAndModeration(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	root := srv.User(t, "root") // the first account: the admin
	mod := srv.User(t, "mod")
	ana := srv.User(t, "ana")
	if r := apptest.Do(t, "PATCH", srv.URL+"/api/v1/admin/users/mod", root, map[string]string{"role": "moderator"}, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("set role: %s", r.Status)
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms", ana, map[string]string{"name": "plans", "kind": "private"}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("create the private room: %s", r.Status)
	}
	post(t, srv, ana, "plans", "Only for us")

	// The admin makes a link with the form's defaults: one use, 7 days.
	admin := newBrowser(t, ctx, "root")
	admin.logIn(srv.URL, "root", "password-root")
	admin.open(srv.URL + "/admin/invites/")
	if v := eval[string](admin, `document.getElementById('invite-uses').value + ' ' + document.getElementById('invite-expires').value`); v != "1 7d" {
		t.Errorf("the invite form offers %q; want one use, 7 days", v)
	}
	admin.do("make the link", chromedp.Click(chromedp.CSS(`form[action="/admin/invites/"] button[type="submit"]`)))
	admin.waitFor("the link", `document.getElementById('made-link')?.value.includes('/join/')`)
	link := eval[string](admin, `document.getElementById('made-link').value`)

	// The newcomer signs up through it, and lands on the dashboard.
	newt := newBrowser(t, ctx, "newt")
	newt.open(link)
	newt.typeInto("#id_username", "newt")
	newt.typeInto("#id_password1", "password-newt")
	newt.typeInto("#id_password2", "password-newt\n")
	newt.waitFor("the dashboard after joining", `document.body.classList.contains('page-dashboard')`)
	if r, err := http.Get(link); err != nil || r.StatusCode != http.StatusGone {
		t.Errorf("a spent one-use link answers %v, %v; want 410", r.StatusCode, err)
	}

	// The private room: its member reads it; to the newcomer it does not
	// exist.
	reader := newBrowser(t, ctx, "ana")
	reader.logIn(srv.URL, "ana", "password-ana")
	reader.open(srv.URL + "/chats/plans/")
	reader.waitRoom("plans")
	reader.waitMessage("ana", "Only for us")
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms/plans/messages", srv.Token(t, "newt"), nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("the newcomer reads the private room's history: %s", r.Status)
	}
	stop := newt.tolerate(`status of 404`)
	newt.open(srv.URL + "/chats/plans/")
	newt.waitFor("the 404 page", `document.body.classList.contains('page-error') && document.querySelector('.error-code')?.textContent === '404'`)
	stop()

	// In a public room the newcomer's message is deleted by the moderator,
	// then the newcomer is muted; their page shows both live.
	newt.enterRoom(srv.URL, "lobby")
	newt.send("Cheap watches here")
	seq := eval[int](newt, `Number([...document.querySelectorAll('#messages .msg')].pop().dataset.seq)`)
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/lobby/messages/"+strconv.Itoa(seq), mod, nil, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("the moderator's delete: %s", r.Status)
	}
	newt.waitFor("the tombstone", `document.querySelector('#messages .msg[data-seq="`+strconv.Itoa(seq)+`"] .msg-deleted') !== null`)
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/lobby/mutes", mod, map[string]any{"user": "newt", "minutes": 30}, nil); r.StatusCode != http.StatusOK && r.StatusCode != http.StatusCreated {
		t.Fatalf("the moderator's mute: %s", r.Status)
	}
	newt.typeInto("#chat-message-input", "Why?\n")
	newt.waitFor("the composer says they are muted",
		`document.getElementById('room-notice').textContent.startsWith('You are muted in this room until')`)

	// The audit log has the moderator's actions.
	admin.open(srv.URL + "/admin/audit/")
	audit := eval[string](admin, `document.querySelector('main').textContent`)
	for _, want := range []string{"room.mute", "mod"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log lacks %q", want)
		}
	}
}
