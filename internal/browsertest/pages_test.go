package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"parley/internal/testenv"
)

// TestEveryPage visits every page, as a visitor and as a member, in the
// light and the dark theme: none may log an error or break the Content
// Security Policy, and axe-core (when PARLEY_TEST_AXE names axe.min.js)
// must find no serious or critical accessibility violation. With
// PARLEY_SCREENSHOTS set it also saves the screenshots of docs/screenshots.
func TestEveryPage(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	axe := axeSource(t)
	s := newScene(t)
	base := s.srv.URL
	maya := newBrowser(t, ctx, "maya")

	// visit checks the page maya's browser shows, in both themes, saving
	// the screenshots named (an empty name saves none). beforeShot, if set,
	// readies the page for each screenshot.
	var beforeShot func()
	visit := func(page, lightShot, darkShot string) {
		t.Helper()
		for _, theme := range []struct{ scheme, shot string }{{"light", lightShot}, {"dark", darkShot}} {
			maya.theme(theme.scheme)
			maya.settle()
			if theme.shot != "" {
				if beforeShot != nil {
					beforeShot()
				}
				maya.screenshot(theme.shot)
			}
			t.Run(page+"/"+theme.scheme, func(t *testing.T) { checkAxe(t, maya, axe) })
		}
		maya.theme("light")
		maya.checkClean()
	}

	maya.open(base + "/")
	visit("landing", "landing.png", "")

	maya.open(base + "/signup/")
	visit("sign-up", "", "")
	// The browser reports the form's 422 answer as an error of its own.
	stop := maya.tolerate(`status of 422`)
	maya.typeInto("#id_username", "maya lin")
	maya.typeInto("#id_password1", "my new password")
	maya.typeInto("#id_password2", "my new pasword\n")
	maya.waitFor("the form's errors", `document.querySelectorAll('.field-error').length === 2`)
	visit("sign-up with errors", "signup-error.png", "")
	stop()

	maya.open(base + "/accounts/login/")
	visit("log-in", "", "")
	maya.typeInto("#id_username", "maya")
	maya.typeInto("#id_password", "password-maya\n")
	maya.waitFor("the dashboard", `document.body.classList.contains('page-dashboard')`)
	// Three messages came after maya last read release-2-4.
	if badge := eval[string](maya, `document.querySelector('.my-rooms a[href="/chats/release-2-4/"] .badge')?.textContent || ''`); badge != "3 unread" {
		t.Errorf("release-2-4's unread badge on the dashboard reads %q, want 3 unread", badge)
	}
	visit("dashboard", "dashboard.png", "dashboard-dark.png")

	maya.open(base + "/chats/")
	maya.typeInto("#room-name-input", "re")
	maya.waitFor("live search results", `document.getElementById('search-status').textContent === '4 rooms match “re”'`)
	visit("search", "rooms-search.png", "")

	// In the room: theo is there too, typing; priya and sam have it open.
	s.present(t, "priya", showRoom)
	s.present(t, "sam", showRoom)
	theo := newBrowser(t, ctx, "theo")
	theo.logIn(base, "theo", "password-theo")
	theo.open(base + "/chats/" + showRoom + "/")
	theo.waitRoom(showRoom)
	maya.open(base + "/chats/" + showRoom + "/")
	maya.waitRoom(showRoom)
	last := showConversation[len(showConversation)-1]
	maya.waitMessage(last.who, last.text)
	maya.waitFor("4 people here", `document.getElementById('presence-count').textContent === '4 here'`)
	// theoTypes keeps theo typing until maya's page says so. (A page
	// announces typing at most every 3 s.)
	theoTypes := func() {
		t.Helper()
		for range 10 {
			theo.typeInto("#chat-message-input", "o")
			if maya.becomes(time.Second, `document.getElementById('typing').textContent === 'theo is typing…'`) {
				return
			}
		}
		t.Fatal("maya's page never showed theo typing")
	}
	theoTypes()
	beforeShot = theoTypes
	visit("room", "room-desktop.png", "room-dark.png")

	maya.do("emulate a phone", chromedp.EmulateViewport(390, 844,
		chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
	maya.do("reload", chromedp.Reload())
	maya.waitRoom(showRoom)
	theoTypes()
	visit("room on a phone", "room-phone.png", "")
	beforeShot = nil
	maya.do("back to the desktop", chromedp.EmulateViewport(1280, 800))

	// The browser reports the 404 of the page itself.
	stop = maya.tolerate(`status of 404`)
	maya.open(base + "/chats/not-a-room!/")
	maya.waitFor("the error page", `document.body.classList.contains('page-error')`)
	visit("error page", "", "")
	stop()
}

// axeSource is the text of axe.min.js from PARLEY_TEST_AXE, or "" when the
// variable is unset.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("PARLEY_TEST_AXE")
	if path == "" {
		return ""
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("PARLEY_TEST_AXE=%s: %v", path, err)
	}
	return string(src)
}

// axeResult is what checkAxe reads of axe-core's results.
type axeResult struct {
	Passes     int            `json:"passes"` // rules that found nothing wrong
	Violations []axeViolation `json:"violations"`
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// checkAxe runs axe-core on the page the browser shows and fails on any
// serious or critical violation; lesser ones are logged.
func checkAxe(t *testing.T, b *browser, src string) {
	t.Helper()
	if src == "" {
		testenv.Missing(t, "PARLEY_TEST_AXE not set: the axe-core check")
	}
	res, err := runAxe(b, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("    %s\n      %s", n.Target, strings.ReplaceAll(n.Summary, "\n", "\n      ")))
		}
		msg := fmt.Sprintf("axe: %s (%s): %s\n%s", v.ID, v.Impact, v.Help, strings.Join(where, "\n"))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// runAxe runs axe-core on the page the browser shows. The script goes in
// through the DevTools protocol, which the page's CSP does not govern.
func runAxe(b *browser, src string) (axeResult, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err == nil && !loaded {
		_, err = chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src))
	}
	if err != nil {
		return axeResult{}, fmt.Errorf("inject axe-core: %w", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[axeResult](`axe.run(document, {resultTypes: ['violations']})
  .then((r) => ({passes: r.passes.length, violations: r.violations.map((v) => ({id: v.id, impact: v.impact || '',
    help: v.help, nodes: v.nodes.map((n) => ({target: n.target.map(String).join(' '), summary: n.failureSummary || ''}))}))}))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		return axeResult{}, fmt.Errorf("run axe-core: %w", err)
	}
	if res.Passes == 0 {
		return axeResult{}, fmt.Errorf("axe-core checked nothing")
	}
	return res, nil
}
