package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
	"parley/internal/testenv"
)

// stepTimeout bounds one browser step or one wait for a condition. A step
// that takes longer is a failure, not slowness: pages here answer in
// milliseconds.
const stepTimeout = 20 * time.Second

// browserPath is the browser the tests drive, from PARLEY_TEST_BROWSER.
func browserPath(t *testing.T) string {
	t.Helper()
	path := testenv.Need(t, testenv.Browser, "browser tests")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("PARLEY_TEST_BROWSER=%s: %v", path, err)
	}
	return path
}

// browserTest skips the test when there is no browser to drive, and
// returns the context that bounds the whole test: every browser of the test
// lives in it.
func browserTest(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	browserPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cspBinding is the function through which pages report Content Security
// Policy violations to the test (see cspReporter).
const cspBinding = "__parleyTestCSP"

// cspReporter runs in every document before the page's own scripts and
// passes each securitypolicyviolation event on to the test.
const cspReporter = `document.addEventListener('securitypolicyviolation', (e) => {
  window.` + cspBinding + `(JSON.stringify({directive: e.violatedDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample}));
}, true);`

// browser is one person's browser: its own Chromium process and profile,
// one tab. It records every script error, console error, CSP violation and
// dialog the pages cause; the test fails on any of them when it ends.
type browser struct {
	t    *testing.T
	name string
	ctx  context.Context // the tab

	mu        sync.Mutex
	problems  []string
	tolerated []*regexp.Regexp
	dialogs   []string // the dialogs that opened, by type
	accept    bool     // answer dialogs with OK rather than Cancel
}

// newBrowser starts a headless Chromium with a fresh profile, 1280×800.
func newBrowser(t *testing.T, parent context.Context, name string) *browser {
	t.Helper()
	exe := browserPath(t)
	profile := t.TempDir() // created first, so removed after the browser exits
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
	)
	b := &browser{t: t, name: name}
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.onEvent))
	b.ctx = ctx
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to end
	})
	t.Cleanup(b.checkClean)

	// The first action starts the browser and binds its life to ctx, so it
	// must not run under a step's shorter deadline.
	err := chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := cdp.Call(ctx, tg, runtime.AddBinding, runtime.AddBindingParams{Name: cspBinding}); err != nil {
				return err
			}
			_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter})
			return err
		}),
		chromedp.EmulateViewport(1280, 800),
	)
	if err != nil {
		t.Fatalf("%s: start %s: %v", name, exe, err)
	}
	return b
}

// onEvent runs in the tab's event loop: it must return fast and send no
// command.
func (b *browser) onEvent(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		b.problem("uncaught exception: " + exceptionText(ev.ExceptionDetails))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				if len(a.Value) > 0 {
					args = append(args, string(a.Value))
				} else {
					args = append(args, a.Description)
				}
			}
			b.problem("console." + string(ev.Type) + ": " + strings.Join(args, " "))
		}
	case *cdplog.EventEntryAdded:
		if e := ev.Entry; e.Level == cdplog.EntryLevelError {
			b.problem(fmt.Sprintf("console error (%s): %s [%s]", e.Source, e.Text, e.URL))
		}
	case *runtime.EventBindingCalled:
		if ev.Name == cspBinding {
			b.problem("CSP violation: " + ev.Payload)
		}
	case *page.EventJavascriptDialogOpening:
		b.problem(fmt.Sprintf("a %s dialog opened: %q", ev.Type, ev.Message))
		b.mu.Lock()
		b.dialogs = append(b.dialogs, string(ev.Type))
		accept := b.accept
		b.mu.Unlock()
		// The dialog blocks the page until someone answers it.
		go func() {
			_, _ = chromedp.Call(b.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept})
		}()
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return ""
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d)", s, d.URL, d.LineNumber+1)
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, re := range b.tolerated {
		if re.MatchString(s) {
			return
		}
	}
	b.problems = append(b.problems, s)
}

// tolerate accepts console errors matching any of patterns until the
// returned function is called: the browser's own reports of a server that
// is down, say.
func (b *browser) tolerate(patterns ...string) (stop func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.tolerated
	for _, p := range patterns {
		b.tolerated = append(b.tolerated, regexp.MustCompile(p))
	}
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.tolerated = old
	}
}

// answerDialogs makes the browser answer dialogs with OK (true) or Cancel
// (false, the default), and returns the types of those opened so far.
func (b *browser) answerDialogs(ok bool) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.accept = ok
	return slices.Clone(b.dialogs)
}

// saw reports whether a recorded problem contains sub.
func (b *browser) saw(sub string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// takeProblems returns the problems recorded so far and forgets them.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// checkClean fails the test if a page logged an error, threw, violated the
// Content Security Policy or opened a dialog since the last check.
func (b *browser) checkClean() {
	b.t.Helper()
	for _, p := range b.takeProblems() {
		b.t.Errorf("%s's browser: %s", b.name, p)
	}
}

// do runs browser actions within stepTimeout.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %s: %v", b.name, what, err)
	}
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: evaluate %s: %v", b.name, expr, err)
	}
	return v
}

// waitFor polls the JavaScript expression until it is true, failing the
// test after stepTimeout. It keeps polling across page loads.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	b.waitForWithin(stepTimeout, what, expr)
}

func (b *browser) waitForWithin(d time.Duration, what, expr string) {
	b.t.Helper()
	if err := b.poll(d, expr); err != nil {
		where, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: waiting for %s (at %s): %v", b.name, what, where, err)
	}
}

// becomes reports whether the JavaScript expression turns true within d.
func (b *browser) becomes(d time.Duration, expr string) bool {
	return b.poll(d, expr) == nil
}

func (b *browser) poll(d time.Duration, expr string) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return nil
		}
		if err != nil {
			lastErr = err // a page in the middle of loading
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v (last error: %v)", d, lastErr)
		}
		select {
		case <-tick.C:
		case <-b.ctx.Done():
			return b.ctx.Err()
		}
	}
}

// open loads url and waits for the page to be there.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
}

// typeInto focuses the element and types text as key presses; "\n" is Enter.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// paste puts text into the field at once, as a paste does: typing
// thousands of characters key by key takes longer than a step may.
func (b *browser) paste(sel, text string) {
	b.t.Helper()
	b.do("paste into "+sel, chromedp.SetValue(chromedp.CSS(sel), text))
}

// press sends key presses to whatever has the focus.
func (b *browser) press(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// tabTo presses Tab until the focused element matches sel, as a keyboard
// user moves through a page.
func (b *browser) tabTo(sel string) {
	b.t.Helper()
	for range 40 {
		if eval[bool](b, `!!document.activeElement && document.activeElement.matches(`+js(sel)+`)`) {
			return
		}
		b.press("\t")
	}
	b.t.Fatalf("%s: 40 presses of Tab did not reach %s", b.name, sel)
}

// phone makes the browser a phone: 390×844, touch, twice the pixels.
func (b *browser) phone() {
	b.t.Helper()
	b.do("emulate a phone", chromedp.EmulateViewport(390, 844,
		chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
}

// theme switches prefers-color-scheme between "light" and "dark".
func (b *browser) theme(scheme string) {
	b.t.Helper()
	b.do("emulate the "+scheme+" theme", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
}

// settle waits until the last change is painted: two animation frames,
// then every running CSS transition (a theme switch fades colours) of an
// element that is drawn: one inside a closed <details> never ends.
func (b *browser) settle() {
	b.t.Helper()
	b.do("let the page settle", chromedp.Evaluate[chromedp.Void](`new Promise((done) =>
  requestAnimationFrame(() => requestAnimationFrame(() => Promise.all(document.getAnimations()
    .filter((a) => a instanceof CSSTransition && a.effect?.target?.checkVisibility?.() !== false)
    .map((a) => a.finished.catch(() => {}))).then(() => done()))))`,
		chromedp.EvalAwaitPromise))
}

// screenshot saves what the browser shows as name (a .png) in the folder
// PARLEY_SCREENSHOTS names, if it names one.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("PARLEY_SCREENSHOTS")
	if dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		// Tests run in their package's folder; a relative path means one
		// from the top of the repository, where go.mod is.
		dir = filepath.Join(moduleRoot(b.t), dir)
	}
	b.settle()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot %s: %v", b.name, name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// moduleRoot is the folder of go.mod, above the working directory.
func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	q, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Go string always encodes
	}
	return string(q)
}

// ---------- Parley's pages ----------

// signUp creates an account through the sign-up form and waits for the
// dashboard.
func (b *browser) signUp(base, name, password string) {
	b.t.Helper()
	b.open(base + "/signup/")
	b.typeInto("#id_username", name)
	b.typeInto("#id_password1", password)
	b.typeInto("#id_password2", password+"\n")
	b.waitFor("the dashboard after signing up", `document.body.classList.contains('page-dashboard')`)
}

// logIn logs in through the log-in form and waits for the dashboard.
func (b *browser) logIn(base, name, password string) {
	b.t.Helper()
	b.open(base + "/accounts/login/")
	b.typeInto("#id_username", name)
	b.typeInto("#id_password", password+"\n")
	b.waitFor("the dashboard after logging in", `document.body.classList.contains('page-dashboard')`)
}

// enterRoom types the room's name into the box on /chats/, presses Enter
// and waits for the room to be live.
func (b *browser) enterRoom(base, room string) {
	b.t.Helper()
	b.open(base + "/chats/")
	b.typeInto("#room-name-input", room+"\n")
	b.waitRoom(room)
}

// roomReady is true on the room page once its socket is open and the
// history has arrived.
const roomReady = `document.getElementById('conn-state')?.dataset.state === 'open' &&
  (document.querySelector('#messages .msg') !== null || !document.getElementById('empty-room').hidden)`

func (b *browser) waitRoom(room string) {
	b.t.Helper()
	b.waitFor("room "+room+" to be live",
		`location.pathname === `+js("/chats/"+room+"/")+` && `+roomReady)
}

// send types a message into the composer, presses Enter and waits for the
// server's acknowledgement: the message in the log, no longer pending.
func (b *browser) send(text string) {
	b.t.Helper()
	b.typeInto("#chat-message-input", text+"\n")
	b.waitMessage(b.name, text)
	b.waitFor("no pending message", `document.querySelector('#pending .msg') === null`)
}

// messageJS is an expression for the stored message (in the log) by author
// with exactly this content, or undefined.
func messageJS(author, text string) string {
	return `[...document.querySelectorAll('#messages .msg')].find((m) =>
  m.querySelector('.author')?.textContent === ` + js(author) + ` &&
  m.querySelector('.msg-body')?.textContent === ` + js(text) + `)`
}

// waitMessage waits until the log shows author's message text.
func (b *browser) waitMessage(author, text string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%s's message %q", author, text), messageJS(author, text))
}

// ---------- The server ----------

// freeAddr is a loopback address that nobody listens on, so that a test can
// stop the server and start it again where the pages expect it.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// post stores a message through the JSON API.
func post(t *testing.T, srv *apptest.Server, token, room, content string) {
	t.Helper()
	resp := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", token,
		map[string]string{"content": content}, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("post %q to %s: %s", content, room, resp.Status)
	}
}
