package browsertest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
	"parley/internal/push/pushtest"
)

// TestPushInTheBrowser: every page links the manifest; the settings'
// Notifications panel asks nothing on load; its button registers the
// service worker at the root; and a real push — a mention, encrypted by
// the server for a device of the loopback push service, which decrypts
// it — delivered to that worker shows the notification the payload
// describes.
//
// Headless Chromium subscribes through its vendor's push service, which a
// test cannot replace with a loopback one: whether pushManager.subscribe
// succeeds here is logged, not asserted, and the payload is handed to the
// worker over the DevTools protocol instead (ServiceWorker.deliverPushMessage).
func TestPushInTheBrowser(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	svc := pushtest.NewService(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{
		"--push-contact=mailto:ops@parley.example", "--push-delay=0s"}})
	bob := srv.User(t, "bob")
	b := newBrowser(t, ctx, "alice")

	const manifest = `document.querySelector('link[rel=manifest]')?.getAttribute('href') === '/manifest.webmanifest'`
	for _, path := range []string{"/", "/accounts/login/", "/signup/"} {
		b.open(srv.URL + path)
		b.waitFor("the manifest linked from "+path, manifest)
	}
	b.signUp(srv.URL, "alice", "password-alice")
	b.waitFor("the manifest linked from the dashboard", manifest)
	b.open(srv.URL + "/settings/")
	b.waitFor("the Notifications panel", `document.querySelector('[data-push-enable]')?.textContent === 'Enable push on this device'`)
	if got := eval[string](b, `Notification.permission`); got != "default" {
		t.Fatalf("notification permission %q after loading the settings: something asked", got)
	}
	if d := b.answerDialogs(true); len(d) > 0 {
		t.Fatalf("dialogs on load: %v", d)
	}

	// Allow notifications for the site, as the person would in the prompt.
	c := chromedp.FromContext(b.ctx)
	if err := c.Browser.Call(b.ctx, "Browser.grantPermissions", map[string]any{
		"origin": srv.URL, "permissions": []string{"notifications"}}, nil); err != nil {
		t.Fatalf("grant notifications: %v", err)
	}

	// The worker's registration, as DevTools reports it.
	var tab *chromedp.Target
	b.do("find the tab", chromedp.Func(func(_ context.Context, tg *chromedp.Target) error { tab = tg; return nil }))
	evctx, stop := context.WithCancel(b.ctx)
	defer stop()
	regs := make(chan serviceworker.RegistrationID, 1)
	events := cdp.Events(evctx, tab, serviceworker.WorkerRegistrationUpdated)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			for _, r := range ev.Registrations {
				if r.ScopeURL == srv.URL+"/" && !r.IsDeleted {
					select {
					case regs <- r.RegistrationID:
					default:
					}
					return
				}
			}
		}
	}()
	if _, err := cdp.Call(b.ctx, tab, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("ServiceWorker.enable: %v", err)
	}

	b.do("enable push", chromedp.Click(chromedp.CSS("[data-push-enable]")))
	// Subscribing ends, either way, within push.js's 10 s.
	b.waitFor("enabling to end", `(() => { const s = document.querySelector('[data-push-status]').textContent;
		return s !== '' && s !== 'Enabling…'; })()`)
	status := eval[string](b, `document.querySelector('[data-push-status]').textContent`)
	t.Logf("subscribing in headless Chromium: %s", status)
	if status != "Push notifications are on for this device." && !strings.HasPrefix(status, "Could not enable push: ") {
		t.Fatalf("status after enabling: %q", status)
	}
	if scope := evalAwait[string](b, `navigator.serviceWorker.ready.then((r) => r.scope)`); scope != srv.URL+"/" {
		t.Fatalf("service worker scope %q, want %s/", scope, srv.URL)
	}
	var reg serviceworker.RegistrationID
	select {
	case reg = <-regs:
	case <-time.After(stepTimeout):
		t.Fatal("DevTools reported no registration of the service worker")
	}

	// A real push for alice: bob mentions her; the push service decrypts it.
	sub := svc.Subscribe()
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/subscriptions", srv.Token(t, "alice"), map[string]any{
		"endpoint": sub.Endpoint, "keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth}}, nil); r.StatusCode != 201 {
		t.Fatalf("subscribe alice's device: %s", r.Status)
	}
	post(t, srv, bob, "lobby", "@alice the build is green")
	req := svc.Wait(t, 1)[0]
	if req.PayloadErr != nil {
		t.Fatal(req.PayloadErr)
	}
	if _, err := cdp.Call(b.ctx, tab, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
		Origin: srv.URL, RegistrationID: reg, Data: string(req.Payload)}); err != nil {
		t.Fatalf("deliver the push: %v", err)
	}
	// Each poll asks the worker's registration again and looks at what the
	// previous one found.
	b.waitFor("the notification", `(navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) => {
		window.parleyShown = ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url}));
	}), (window.parleyShown || []).length > 0)`)
	var got []struct{ Title, Body, Tag, URL string }
	if err := json.Unmarshal([]byte(eval[string](b, `JSON.stringify(window.parleyShown)`)), &got); err != nil {
		t.Fatal(err)
	}
	n := got[0]
	if n.Title != "bob in #lobby" || n.Body != "@alice the build is green" || n.Tag != "room-lobby" ||
		!strings.HasPrefix(n.URL, srv.URL+"/chats/lobby/?at=") {
		t.Fatalf("notification %+v", n)
	}
}
