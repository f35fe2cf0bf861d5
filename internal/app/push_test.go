package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/app"
	"parley/internal/apptest"
	"parley/internal/push"
	"parley/internal/push/pushtest"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
)

const pushContact = "mailto:ops@parley.example"

// startPush runs Parley with push on and the given delay, on SQLite, or
// on the database of db.
func startPush(t *testing.T, delay string, db ...string) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{DB: strings.Join(db, ""), Args: []string{
		"--push-contact=" + pushContact, "--push-delay=" + delay, "--send-limit=off", "--room-create-limit=off"}})
}

// subscribe hands a device of svc to the server as name's.
func subscribe(t *testing.T, srv *apptest.Server, svc *pushtest.Service, token string) push.Subscription {
	t.Helper()
	sub := svc.Subscribe()
	body := map[string]any{"endpoint": sub.Endpoint, "expirationTime": nil,
		"keys": map[string]string{"p256dh": sub.P256dh, "auth": sub.Auth}}
	var dev struct {
		Endpoint  string `json:"endpoint"`
		UserAgent string `json:"user_agent"`
	}
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/subscriptions", token, body, &dev); r.StatusCode != http.StatusCreated {
		t.Fatalf("subscribe: %s", r.Status)
	}
	if dev.Endpoint != sub.Endpoint || dev.UserAgent == "" {
		t.Fatalf("subscribed device %+v", dev)
	}
	return sub
}

// postAPI posts content to room over the API as token's user.
func postAPI(t *testing.T, srv *apptest.Server, token, room, content string) int64 {
	t.Helper()
	var m struct{ Seq int64 }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", token, map[string]string{"content": content}, &m); r.StatusCode != http.StatusCreated {
		t.Fatalf("post to %s: %s", room, r.Status)
	}
	return m.Seq
}

// payload decodes a received push's payload.
func payload(t *testing.T, req pushtest.Request) map[string]any {
	t.Helper()
	if req.PayloadErr != nil {
		t.Fatalf("the push service could not read a push: %v", req.PayloadErr)
	}
	var p map[string]any
	if err := json.Unmarshal(req.Payload, &p); err != nil {
		t.Fatalf("payload %q: %v", req.Payload, err)
	}
	return p
}

// pushCounter reads parley_push_messages_total{result=...} from /metrics.
func pushCounter(t *testing.T, srv *apptest.Server, result string) int {
	t.Helper()
	return metric(t, srv, `parley_push_messages_total{result="`+result+`"}`)
}

// metric is the value of the series named (with its labels) in /metrics.
func metric(t *testing.T, srv *apptest.Server, series string) int {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	prefix := series + " "
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int(n)
		}
	}
	t.Fatalf("no %s in /metrics", series)
	return 0
}

// A mention reaches the subscribed person's device, encrypted for it and
// signed with the server's VAPID key, with what the service worker
// shows; a message by oneself, or that mentions nobody, does not.
func TestPushMention(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testPushMention(t, startPush(t, "50ms")) })
	t.Run("postgres", func(t *testing.T) { testPushMention(t, startPush(t, "50ms", storetest.PostgresDSN(t))) })
}

func testPushMention(t *testing.T, srv *apptest.Server) {
	svc := pushtest.NewService(t)
	alice, bob := srv.User(t, "alice"), srv.User(t, "bob")
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/push/key", bob, nil, &key); r.StatusCode != http.StatusOK || len(key.PublicKey) != 87 {
		t.Fatalf("push key: %s %q", r.Status, key.PublicKey)
	}
	sub := subscribe(t, srv, svc, bob)

	postAPI(t, srv, bob, "lobby", "note to self, @bob")
	postAPI(t, srv, alice, "lobby", "nobody mentioned here")
	long := "@bob " + strings.Repeat("lunch é ", 40)
	seq := postAPI(t, srv, alice, "lobby", long)

	req := svc.Wait(t, 1)[0]
	if req.Endpoint != sub.Endpoint {
		t.Fatalf("pushed to %s, want bob's device", req.Endpoint)
	}
	if v := req.VAPID; v.Err != nil || v.Key != key.PublicKey || v.Subject != pushContact || v.Audience != svc.URL {
		t.Fatalf("VAPID %+v; want signed with %s for %s", v, key.PublicKey, svc.URL)
	}
	got := payload(t, req)
	body := []rune(strings.Join(strings.Fields(long), " "))
	want := map[string]any{
		"title": "alice in #lobby", "body": strings.TrimRight(string(body[:199]), " ") + "…",
		"url": "/chats/lobby/?at=" + strconv.FormatInt(seq, 10), "room": "lobby", "seq": float64(seq), "tag": "room-lobby",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("payload %s = %#v, want %#v", k, got[k], v)
		}
	}
	if n := len([]rune(got["body"].(string))); n > 200 {
		t.Errorf("body of %d characters", n)
	}
	if len(req.Payload) > push.MaxPayload {
		t.Errorf("payload of %d bytes", len(req.Payload))
	}
	// The earlier messages were never scheduled: the one push is this.
	testenv.Eventually(t, pushtest.Wait, "the push counted as sent", func() bool { return pushCounter(t, srv, "sent") == 1 })
	if n := len(svc.Requests()); n != 1 {
		t.Fatalf("%d pushes, want 1", n)
	}
	// The device shows when it was last notified.
	testenv.Eventually(t, pushtest.Wait, "last_success recorded", func() bool {
		var devs struct {
			Devices []struct {
				LastSuccess *time.Time `json:"last_success"`
			} `json:"devices"`
		}
		apptest.Do(t, "GET", srv.URL+"/api/v1/push/subscriptions", bob, nil, &devs)
		return len(devs.Devices) == 1 && devs.Devices[0].LastSuccess != nil
	})
}

// A direct message reaches its members without a mention; a person
// mentioned in it who is not a member does not get it.
func TestPushDirectMessage(t *testing.T) {
	svc := pushtest.NewService(t)
	srv := startPush(t, "50ms")
	alice, bob, carol := srv.User(t, "alice"), srv.User(t, "bob"), srv.User(t, "carol")
	bobSub := subscribe(t, srv, svc, bob)
	subscribe(t, srv, svc, carol)
	var dm struct{ Name string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/dms", alice, map[string][]string{"users": {"bob"}}, &dm); r.StatusCode != http.StatusCreated {
		t.Fatalf("open the conversation: %s", r.Status)
	}
	seq := postAPI(t, srv, alice, dm.Name, "are you there? @carol should not see this")
	req := svc.Wait(t, 1)[0]
	if req.Endpoint != bobSub.Endpoint {
		t.Fatalf("pushed to %s, want bob's device", req.Endpoint)
	}
	got := payload(t, req)
	if got["title"] != "alice" || got["url"] != "/chats/"+dm.Name+"/?at="+strconv.FormatInt(seq, 10) {
		t.Fatalf("payload %v", got)
	}
	testenv.Eventually(t, pushtest.Wait, "the push counted", func() bool { return pushCounter(t, srv, "sent") == 1 })
	if n := len(svc.Requests()); n != 1 {
		t.Fatalf("%d pushes, want only bob's", n)
	}
}

// A mention read before the delay is over is not pushed.
func TestPushReadMeanwhile(t *testing.T) {
	svc := pushtest.NewService(t)
	srv := startPush(t, "3s")
	alice, bob := srv.User(t, "alice"), srv.User(t, "bob")
	subscribe(t, srv, svc, bob)
	postAPI(t, srv, alice, "lobby", "hello")
	// Bob is in the room before the mention, which he then reads.
	c := srv.Dial(t, "lobby", apptest.DialOptions{Token: bob, Extensions: true})
	seq := postAPI(t, srv, alice, "lobby", "@bob look")
	// Read once the push waits for its delay (read before, it would not
	// even be scheduled).
	testenv.Eventually(t, pushtest.Wait, "the push waiting", func() bool { return metric(t, srv, "parley_push_waiting") == 1 })
	c.Send(map[string]any{"command": "read", "seq": seq})
	testenv.Eventually(t, pushtest.Wait, "the push skipped", func() bool { return pushCounter(t, srv, "skipped") == 1 })
	if n := len(svc.Requests()); n != 0 {
		t.Fatalf("%d pushes of a message read in time", n)
	}
	c.Close()
}

// A subscription its push service says is gone is deleted; the test
// notification says so.
func TestPushGoneDeleted(t *testing.T) {
	svc := pushtest.NewService(t)
	srv := startPush(t, "50ms")
	bob := srv.User(t, "bob")
	live, dead := subscribe(t, srv, svc, bob), subscribe(t, srv, svc, bob)
	svc.Respond(func(r pushtest.Request) (int, http.Header) {
		if r.Endpoint == dead.Endpoint {
			return http.StatusGone, nil
		}
		return http.StatusCreated, nil
	})
	var res struct{ Devices, Sent, Gone, Failed int }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/test", bob, nil, &res); r.StatusCode != http.StatusOK {
		t.Fatalf("test push: %s", r.Status)
	}
	if res.Devices != 2 || res.Sent != 1 || res.Gone != 1 || res.Failed != 0 {
		t.Fatalf("test push: %+v", res)
	}
	for _, req := range svc.Requests() {
		if req.Endpoint == live.Endpoint && payload(t, req)["title"] != "Parley" {
			t.Fatalf("test payload %q", req.Payload)
		}
	}
	devices := func() []string {
		var devs struct {
			Devices []struct{ Endpoint string } `json:"devices"`
		}
		apptest.Do(t, "GET", srv.URL+"/api/v1/push/subscriptions", bob, nil, &devs)
		var out []string
		for _, d := range devs.Devices {
			out = append(out, d.Endpoint)
		}
		return out
	}
	if d := devices(); len(d) != 1 || d[0] != live.Endpoint {
		t.Fatalf("devices after a gone one: %v", d)
	}

	// A notification of a mention to a gone device deletes it too.
	svc.Respond(func(pushtest.Request) (int, http.Header) { return http.StatusNotFound, nil })
	postAPI(t, srv, srv.User(t, "alice"), "lobby", "@bob still there?")
	testenv.Eventually(t, pushtest.Wait, "the gone device deleted", func() bool { return len(devices()) == 0 })
}

// Every bad request is a clear error, and nobody touches another's
// devices.
func TestPushAPIErrors(t *testing.T) {
	svc := pushtest.NewService(t)
	srv := startPush(t, "50ms")
	alice, bob := srv.User(t, "alice"), srv.User(t, "bob")
	good := svc.Subscribe()
	keys := func(p256dh, auth string) map[string]string { return map[string]string{"p256dh": p256dh, "auth": auth} }
	for name, body := range map[string]any{
		"no endpoint":        map[string]any{"keys": keys(good.P256dh, good.Auth)},
		"ftp endpoint":       map[string]any{"endpoint": "ftp://push.example/x", "keys": keys(good.P256dh, good.Auth)},
		"plain http outside": map[string]any{"endpoint": "http://push.example/x", "keys": keys(good.P256dh, good.Auth)},
		"short p256dh":       map[string]any{"endpoint": good.Endpoint, "keys": keys(good.P256dh[:40], good.Auth)},
		"long auth":          map[string]any{"endpoint": good.Endpoint, "keys": keys(good.P256dh, good.Auth+"AAAA")},
		"no keys":            map[string]any{"endpoint": good.Endpoint},
		"not a push service": map[string]any{"endpoint": "https://10.0.0.5/x", "keys": keys(good.P256dh, good.Auth)},
		"a host of its own":  map[string]any{"endpoint": "https://intranet.example/push", "keys": keys(good.P256dh, good.Auth)},
	} {
		var e struct {
			Error struct{ Code, Message string }
		}
		r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/subscriptions", bob, body, &e)
		if r.StatusCode != http.StatusBadRequest || e.Error.Code != "invalid" || e.Error.Message == "" {
			t.Errorf("%s: %s %+v; want 400 invalid with a message", name, r.Status, e)
		}
	}
	for _, c := range []struct {
		method, path string
		body         any
	}{{"GET", "/api/v1/push/key", nil}, {"POST", "/api/v1/push/subscriptions", map[string]any{}},
		{"GET", "/api/v1/push/subscriptions", nil}, {"POST", "/api/v1/push/test", nil}} {
		if r := apptest.Do(t, c.method, srv.URL+c.path, "", c.body, nil); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %s", c.method, c.path, r.Status)
		}
	}
	// No device yet: the test notification says what to do.
	var e struct{ Error struct{ Code string } }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/test", bob, nil, &e); r.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("test push without a device: %s %+v", r.Status, e)
	}
	sub := subscribe(t, srv, svc, bob)
	del := map[string]string{"endpoint": sub.Endpoint}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/push/subscriptions", alice, del, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("alice deleting bob's device: %s", r.Status)
	}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/push/subscriptions", bob, map[string]string{}, nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("delete without an endpoint: %s", r.Status)
	}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/push/subscriptions", bob, del, nil); r.StatusCode != http.StatusNoContent {
		t.Errorf("bob deleting his device: %s", r.Status)
	}
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/push/subscriptions", bob, del, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("deleting it again: %s", r.Status)
	}

	off := apptest.Start(t, apptest.Options{Args: []string{"--push=off"}})
	tok := off.User(t, "carol")
	if r := apptest.Do(t, "GET", off.URL+"/api/v1/push/key", tok, nil, &e); r.StatusCode != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("push key with push off: %s %+v", r.Status, e)
	}
}

// --push-hosts: a device on another host is refused, and one stored
// while its host was allowed gets nothing once it is not.
func TestPushHostsSetting(t *testing.T) {
	svc := pushtest.NewService(t) // on loopback, which the default allows
	db := "sqlite:" + t.TempDir() + "/parley.db"
	first := startPush(t, "0s", db)
	bob := first.User(t, "bob")
	subscribe(t, first, svc, bob)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	srv := apptest.Start(t, apptest.Options{DB: db, Args: []string{"--push-contact=" + pushContact,
		"--push-hosts=fcm.googleapis.com, *.push.apple.com"}})
	bob = srv.Token(t, "bob")
	other := svc.Subscribe()
	body := map[string]any{"endpoint": other.Endpoint, "keys": map[string]string{"p256dh": other.P256dh, "auth": other.Auth}}
	var e struct {
		Error struct{ Code, Message string }
	}
	r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/subscriptions", bob, body, &e)
	if want := svc.URL + " is not a push service this server sends to"; r.StatusCode != http.StatusBadRequest ||
		e.Error.Code != "invalid" || !strings.Contains(e.Error.Message, want) {
		t.Fatalf("a device on loopback: %s %+v; want 400 invalid saying %q", r.Status, e, want)
	}
	var res struct{ Devices, Sent, Gone, Failed int }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/push/test", bob, nil, &res); r.StatusCode != http.StatusOK ||
		res.Devices != 1 || res.Sent != 0 || res.Failed != 1 {
		t.Fatalf("test notification to the device stored before: %s %+v; want it failed", r.Status, res)
	}
	if n := len(svc.Requests()); n != 0 {
		t.Fatalf("the push service got %d requests", n)
	}
}

// The service worker is served from the root with the headers that let it
// control every page; the manifest and its icons are served; every page
// links the manifest, and the security policy lets both load.
func TestServiceWorkerAndManifest(t *testing.T) {
	srv := startPush(t, "10s")
	fetch := func(path, cookie string) (*http.Response, []byte) {
		t.Helper()
		r, b := get(t, srv, path, cookie)
		return r, []byte(b)
	}

	r, body := fetch("/sw.js", "")
	h := r.Header
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") ||
		h.Get("Service-Worker-Allowed") != "/" || h.Get("Cache-Control") != "no-cache" ||
		!bytes.Contains(body, []byte("addEventListener('push'")) || !bytes.Contains(body, []byte("notificationclick")) {
		t.Errorf("/sw.js: %s %v", r.Status, h)
	}

	r, body = fetch("/manifest.webmanifest", "")
	var m struct {
		Name, ShortName, StartURL, Display string
		Icons                              []struct{ Src, Sizes, Type string }
	}
	if err := json.Unmarshal(body, &m); err != nil || r.StatusCode != http.StatusOK ||
		r.Header.Get("Content-Type") != "application/manifest+json" {
		t.Fatalf("manifest: %s %s %v", r.Status, r.Header.Get("Content-Type"), err)
	}
	var manifest map[string]any
	_ = json.Unmarshal(body, &manifest)
	if manifest["name"] != "Parley" || manifest["short_name"] == "" || manifest["start_url"] != "/" || manifest["display"] != "standalone" {
		t.Errorf("manifest %v", manifest)
	}
	sizes := map[string]bool{}
	for _, ic := range m.Icons {
		if ic.Type != "image/png" {
			continue
		}
		r, b := fetch(ic.Src, "")
		img, err := png.Decode(bytes.NewReader(b))
		if r.StatusCode != http.StatusOK || err != nil || strconv.Itoa(img.Bounds().Dx())+"x"+strconv.Itoa(img.Bounds().Dy()) != ic.Sizes {
			t.Errorf("icon %s: %s %v", ic.Src, r.Status, err)
		}
		sizes[ic.Sizes] = true
	}
	if !sizes["192x192"] || !sizes["512x512"] {
		t.Errorf("icons %v, want 192 and 512", sizes)
	}

	srv.User(t, "alice")
	cookie := loginCookie(t, srv, "alice")
	for _, p := range []struct{ path, cookie string }{
		{"/", ""}, {"/accounts/login/", ""}, {"/signup/", ""}, {"/no/such/page", ""},
		{"/", cookie}, {"/chats/", cookie}, {"/chats/lobby/", cookie}, {"/settings/", cookie},
	} {
		r, b := fetch(p.path, p.cookie)
		if !bytes.Contains(b, []byte(`<link rel="manifest" href="/manifest.webmanifest">`)) {
			t.Errorf("%s (%s) links no manifest", p.path, r.Status)
		}
		csp := r.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "worker-src 'self'") || !strings.Contains(csp, "manifest-src 'self'") {
			t.Errorf("%s: CSP %q", p.path, csp)
		}
	}
	_, b := fetch("/settings/", cookie)
	for _, want := range []string{"Enable push on this device", "Send a test notification", "/static/push.js"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the settings page lacks %q", want)
		}
	}
}

// Two processes on one PostgreSQL database and one Redis share one VAPID
// key pair, and a message is pushed once, by the process that stored it,
// wherever its recipient's sockets are.
func TestPushAcrossProcesses(t *testing.T) {
	redisURL := testenv.Need(t, testenv.Redis, "two processes sharing rooms")
	db := storetest.PostgresDSN(t)
	args := []string{"--push-contact=" + pushContact, "--push-delay=50ms", "--send-limit=off", "--redis=" + redisURL}
	a := apptest.Start(t, apptest.Options{DB: db, Args: args})
	b := apptest.Start(t, apptest.Options{DB: db, Args: args})
	svc := pushtest.NewService(t)
	alice, bob := a.User(t, "alice"), a.User(t, "bob")
	var keyA, keyB struct {
		PublicKey string `json:"public_key"`
	}
	apptest.Do(t, "GET", a.URL+"/api/v1/push/key", alice, nil, &keyA)
	apptest.Do(t, "GET", b.URL+"/api/v1/push/key", alice, nil, &keyB)
	if keyA.PublicKey == "" || keyA.PublicKey != keyB.PublicKey {
		t.Fatalf("the processes' keys differ: %q and %q", keyA.PublicKey, keyB.PublicKey)
	}
	subscribe(t, a, svc, bob)
	postAPI(t, a, alice, "lobby", "first")
	c := b.Dial(t, "lobby", apptest.DialOptions{Token: bob}) // bob's socket is on b

	postAPI(t, a, alice, "lobby", "@bob from a")
	testenv.Eventually(t, pushtest.Wait, "a's push", func() bool { return pushCounter(t, a, "sent") == 1 })
	postAPI(t, b, alice, "lobby", "@bob from b")
	testenv.Eventually(t, pushtest.Wait, "b's push", func() bool { return pushCounter(t, b, "sent") == 1 })
	reqs := svc.Requests()
	if len(reqs) != 2 || payload(t, reqs[0])["body"] == payload(t, reqs[1])["body"] {
		t.Fatalf("%d pushes, want one of each message", len(reqs))
	}
	if pushCounter(t, a, "sent") != 1 || pushCounter(t, b, "sent") != 1 {
		t.Fatal("a process pushed a message it did not store")
	}
	c.Close()
}

// A contact push services would refuse stops the server at start with one
// line and status 2; without any contact, push is off and the log says
// how to turn it on.
func TestPushContactSetting(t *testing.T) {
	db := "--db=sqlite:" + t.TempDir() + "/p.db"
	var stderr strings.Builder
	err := app.Run(t.Context(), []string{"serve", "--addr=127.0.0.1:0", db, "--push-contact=mailto:root@localhost"},
		app.Env{Getenv: func(string) string { return "" }, Stdout: io.Discard, Stderr: &stderr})
	if exitCode(err) != 2 || !strings.Contains(err.Error(), "--push-contact") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("serve with a contact on localhost: %v", err)
	}

	srv := apptest.Start(t, apptest.Options{Args: []string{"--log-level=info"}})
	if !strings.Contains(srv.Log(), "set --push-contact") {
		t.Errorf("no word of push being off in the log:\n%s", srv.Log())
	}
	tok := srv.User(t, "carol")
	if r := apptest.Do(t, "GET", srv.URL+"/api/v1/push/key", tok, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("push key without a contact: %s", r.Status)
	}
}
