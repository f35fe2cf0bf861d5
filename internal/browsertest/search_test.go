package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// TestSearchFromTheHeader: on any signed-in page "/" puts the cursor in
// the header's search box (not while one types in a field); Enter lists
// the matching messages with the matches marked; a click on one opens its
// room at that message. The page passes axe-core in both themes, and the
// header fits a phone.
func TestSearchFromTheHeader(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	lena, omar := srv.User(t, "lena"), srv.User(t, "omar")
	for i, m := range []struct{ tok, room, text string }{
		{lena, "release-2-4", "The deploy to staging failed again: see https://ci.example.com/build/812"},
		{omar, "ops", "Rolled back the deploy; the database migration was the culprit."},
		{lena, "general", "Lunch at noon? The café on the corner reopened."},
		{omar, "release-2-4", "@lena the fixed deploy is green, <script>-free and ready to ship."},
		{lena, "release-2-4", "Thanks! Deploying to production after the stand-up."},
	} {
		post(t, srv, m.tok, m.room, m.text)
		for j := range 3 { // some talk around each, so that results sit in a history
			post(t, srv, omar, m.room, fmt.Sprintf("note %d.%d", i, j))
		}
	}

	b := newBrowser(t, ctx, "lena")
	b.logIn(srv.URL, "lena", "password-lena")

	// "/" in a field types a "/"; elsewhere it goes to the search box.
	b.typeInto("#dash-room", "a")
	b.pressSlash()
	b.typeInto("#dash-room", "b")
	if v := eval[string](b, `document.getElementById('dash-room').value`); v != "a/b" {
		t.Errorf("typing a / in a field: the field holds %q", v)
	}
	b.do("leave the field", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	b.pressSlash()
	b.waitFor("the search box to have the focus", `document.activeElement?.id === 'header-search-q'`)
	b.press("deploy\n")
	b.waitFor("the results", `document.body.classList.contains('page-search') && document.querySelectorAll('.search-result').length > 0`)

	// Whole words: "Deploying" is another word.
	if n := eval[int](b, `document.querySelectorAll('.search-result').length`); n != 3 {
		t.Errorf("%d results for deploy, want 3", n)
	}
	if got := eval[string](b, `document.querySelector('.search-result-body mark')?.textContent || ''`); got != "deploy" {
		t.Errorf("the newest result marks %q, want deploy", got)
	}
	if eval[bool](b, `[...document.querySelectorAll('.search-result-body')].some((e) => e.querySelector('script'))`) {
		t.Error("a result's content is rendered as markup")
	}
	if q := eval[string](b, `document.getElementById('search-q').value`); q != "deploy" {
		t.Errorf("the page's box holds %q", q)
	}
	b.do("leave the box", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	b.pressSlash()
	b.waitFor("the search page's own box to have the focus", `document.activeElement?.id === 'search-q'`)
	b.do("leave the box", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	b.screenshot("search.png")
	for _, theme := range []string{"light", "dark"} {
		b.theme(theme)
		b.settle()
		t.Run("axe/"+theme, func(t *testing.T) { checkAxe(t, b, axe) })
	}
	b.theme("light")

	// The newest result: omar's in release-2-4, its fifth message.
	target := eval[string](b, `document.querySelector('.search-result-link').getAttribute('href')`)
	if target != "/chats/release-2-4/?at=5" {
		t.Errorf("the newest result links to %q", target)
	}
	b.do("click the newest result", chromedp.Click(chromedp.CSS(`.search-result-link`)))
	b.waitRoom("release-2-4")
	b.waitFor("the message found", `document.querySelector('#messages .msg[data-seq="5"] .msg-body')?.textContent.includes('fixed deploy')`)

	// On a phone the header keeps its box, and nothing runs off the side.
	b.phone()
	b.open(srv.URL + "/search/?q=" + "caf%C3%A9")
	b.waitFor("the results", `document.querySelectorAll('.search-result').length === 1`)
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the search page is %d px wide on a 390 px phone: %s", w, eval[string](b, `[...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > 390).map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().left) + '-' + Math.round(e.getBoundingClientRect().right)).join('\n')`))
	}
	if !eval[bool](b, `document.getElementById('header-search-q').offsetWidth >= 80`) {
		t.Error("the header's search box is too narrow to use on a phone")
	}
	b.screenshot("phone-search.png")
}

// pressSlash presses "/" as a keyboard does: one key-down that carries its
// text, which the page may cancel. (chromedp's KeyEvent sends the text in
// an event of its own, which no key-down handler can cancel.)
func (b *browser) pressSlash() {
	b.t.Helper()
	key := input.DispatchKeyEventParams{Key: "/", Code: "Slash", WindowsVirtualKeyCode: 191, NativeVirtualKeyCode: 191}
	down, up := key, key
	down.Type, down.Text, down.UnmodifiedText = input.DispatchKeyEventTypeKeyDown, "/", "/"
	up.Type = input.DispatchKeyEventTypeKeyUp
	b.do("press /", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, p := range []input.DispatchKeyEventParams{down, up} {
			if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, p); err != nil {
				return err
			}
		}
		return nil
	}))
}
