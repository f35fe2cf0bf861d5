package app_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/apptest"
	"parley/internal/testenv"
)

// proxied is a server behind a trusted proxy, 127.0.0.1, so that a test
// can send each request as if from an address of its choice
// (X-Forwarded-For).
func proxied(t *testing.T, args ...string) *apptest.Server {
	t.Helper()
	return apptest.Start(t, apptest.Options{Args: append([]string{"--trusted-proxies=127.0.0.1/32"}, args...)})
}

// from sends a request as if from addr (X-Forwarded-For) with the
// cookies given, and returns the answer, its body read.
func from(t *testing.T, srv *apptest.Server, method, path, addr string, body []byte, contentType string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	resp, err := tryFrom(srv, method, path, addr, body, contentType, cookies...)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// tryFrom is from for goroutines other than the test's: it returns the
// error.
func tryFrom(srv *apptest.Server, method, path, addr string, body []byte, contentType string, cookies ...*http.Cookie) (*http.Response, error) {
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	resp.Body = readCloser{&buf}
	return resp, nil
}

// credentials is a log-in's JSON body.
func credentials(name, password string) []byte {
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	return b
}

type readCloser struct{ *bytes.Buffer }

func (readCloser) Close() error { return nil }

// tokenFrom asks for a token as if from addr.
func tokenFrom(t *testing.T, srv *apptest.Server, addr, name, password string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	return from(t, srv, "POST", "/api/v1/tokens", addr, credentials(name, password), "application/json", cookies...)
}

// loginFrom posts the log-in form as if from addr.
func loginFrom(t *testing.T, srv *apptest.Server, addr, name, password string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	f := url.Values{"username": {name}, "password": {password}}
	return from(t, srv, "POST", "/accounts/login/", addr, []byte(f.Encode()), "application/x-www-form-urlencoded", cookies...)
}

// addrN is the n-th address of a range of the test's own.
func addrN(prefix string, n int) string { return fmt.Sprintf("%s.%d.%d", prefix, n/250, n%250+1) }

// randomPrefix is "10.X" for a random X: addresses of the test's own in a
// shared Redis.
func randomPrefix() string {
	var b [1]byte
	rand.Read(b[:])
	return fmt.Sprintf("10.%d", b[0])
}

func randomName(prefix string) string {
	var b [5]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// guess sends a wrong password for name as if from addr, by the API or
// the form, and returns the answer's status (0 if it failed).
func guess(srv *apptest.Server, addr, name string, form bool) int {
	var r *http.Response
	var err error
	if form {
		f := url.Values{"username": {name}, "password": {"wrong password"}}
		r, err = tryFrom(srv, "POST", "/accounts/login/", addr, []byte(f.Encode()), "application/x-www-form-urlencoded")
	} else {
		r, err = tryFrom(srv, "POST", "/api/v1/tokens", addr, credentials(name, "wrong password"), "application/json")
	}
	if err != nil {
		return 0
	}
	return r.StatusCode
}

// guessInParallel sends 40 wrong passwords for name at once, each from an
// address of its own (so that only the account's limit can refuse them),
// by the API or the form, and counts the answers by status. Every attempt
// spends its tokens when it arrives, before its password is hashed, so
// the count does not hang on how long the hashing takes.
func guessInParallel(t *testing.T, srv *apptest.Server, name, prefix string, form bool) map[int]int {
	t.Helper()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			code := guess(srv, addrN(prefix, i), name, form)
			mu.Lock()
			got[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

// attack sends n wrong passwords for name at once, from n addresses of
// prefix, and returns as soon as enough of them were refused with 429:
// the account's bucket is empty then, and a try comes back only 6 s
// later. The rest finish in the background.
func attack(t *testing.T, srv *apptest.Server, name, prefix string, n, enough int) {
	t.Helper()
	codes := make(chan int, n)
	for i := range n {
		go func() { codes <- guess(srv, addrN(prefix, i), name, false) }()
	}
	throttled := 0
	for range n {
		if <-codes == http.StatusTooManyRequests {
			if throttled++; throttled == enough {
				return
			}
		}
	}
	t.Fatalf("%d of %d guesses at once throttled; want %d", throttled, n, enough)
}

// TestParallelGuessesAreThrottled (finding 1): 40 wrong passwords for one
// account, all at once, from 40 addresses: the account's burst of 10 is
// checked and the other 30 are 429, on the API and on the form, with the
// limits in this process and in Redis. (Before, the limit was looked at
// before the password check and spent after it: all 40 were checked.)
func TestParallelGuessesAreThrottled(t *testing.T) {
	t.Parallel()
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "local", true: "redis"}[shared], func(t *testing.T) {
			t.Parallel()
			var args []string
			if shared {
				args = append(args, "--redis="+testenv.Need(t, testenv.Redis, "the limits shared in Redis"))
			}
			srv := proxied(t, args...)
			for _, form := range []bool{false, true} {
				name := randomName("target")
				srv.User(t, name)
				start, fellBack := time.Now(), limitFallbacks(t, srv)
				got := guessInParallel(t, srv, name, randomPrefix(), form)
				checked := got[http.StatusUnauthorized]
				if form {
					checked = got[http.StatusBadRequest]
				}
				// The burst of 10, and one more for each 6 s the 40
				// guesses took (a slow machine hashes for longer) and
				// each check answered by this process alone while Redis
				// was slow (parley_limit_fallbacks_total).
				most := 10 + int(time.Since(start)/(6*time.Second)) + limitFallbacks(t, srv) - fellBack
				if checked < 10 || checked > most || checked+got[http.StatusTooManyRequests] != 40 {
					t.Errorf("form %v: answers %v; want 10 (to %d) checked and the rest 429", form, got, most)
				}
			}
		})
	}
}

// limitFallbacks reads from /metrics how many limit checks the server
// answered alone because the shared limiter failed.
func limitFallbacks(t *testing.T, srv *apptest.Server) int {
	t.Helper()
	_, body := get(t, srv, "/metrics", "")
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, "parley_limit_fallbacks_total{"); ok {
			var v float64
			if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err != nil {
				t.Fatalf("metrics line %q: %v", line, err)
			}
			n += int(v)
		}
	}
	return n
}

// TestGuesserCannotLockOutTheOwner (finding 4): a guesser who empties an
// account's bucket, from many addresses, does not lock its owner out of
// the browser the owner logged in on before (its device cookie spends a
// bucket of its own); a browser the account never logged in on is
// throttled with the account, which is the design's limit. Each check of
// a throttled account comes right after an attack that emptied it, so
// that none hangs on how fast the machine hashes.
func TestGuesserCannotLockOutTheOwner(t *testing.T) {
	t.Parallel()
	srv := proxied(t)
	srv.User(t, "dave")
	home := "192.0.2.7"
	r := loginFrom(t, srv, home, "dave", "password-dave")
	var dev *http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == "parley_device" {
			dev = c
		}
	}
	if r.StatusCode != http.StatusSeeOther || dev == nil || !dev.HttpOnly || dev.SameSite != http.SameSiteLaxMode || dev.MaxAge < 300*24*3600 {
		t.Fatalf("log-in: %s, device cookie %+v; want a long-lived HttpOnly, SameSite=Lax one", r.Status, dev)
	}
	// The guesser empties the account's bucket; the owner on a browser
	// dave never logged in on is throttled with it.
	attack(t, srv, "dave", "198.51", 40, 25)
	if r := loginFrom(t, srv, "192.0.2.99", "dave", "password-dave"); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("owner on a new browser during the attack: %s; want 429", r.Status)
	}
	for i := range 5 {
		if r := tokenFrom(t, srv, addrN("203.0", i), "DAVE", "still-wrong"); r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("another spelling of the name during the attack: %s; want 429", r.Status)
		}
	}
	// The owner, on the known device, whenever: the form and the API
	// take the right password.
	attack(t, srv, "dave", "198.52", 20, 10)
	if r := loginFrom(t, srv, home, "dave", "password-dave", dev); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("owner's form log-in on a known device during the attack: %s", r.Status)
	}
	if r := tokenFrom(t, srv, home, "dave", "password-dave", dev); r.StatusCode != http.StatusCreated {
		t.Fatalf("owner's token on a known device during the attack: %s", r.Status)
	}
	// The device cookie is worth nothing for another account.
	srv.User(t, "erin")
	attack(t, srv, "erin", "198.18", 20, 10)
	if r := tokenFrom(t, srv, home, "erin", "password-erin", dev); r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("another account with dave's device cookie: %s; want its own throttle, 429", r.Status)
	}
	// Failed and throttled log-ins are logged with the address, never the
	// password.
	log := srv.Log()
	if !strings.Contains(log, "login failed") || !strings.Contains(log, "login throttled") ||
		!strings.Contains(log, "addr=198.51.") || strings.Contains(log, "wrong password") || strings.Contains(log, "password-dave") {
		t.Fatalf("the log does not say what it should:\n%s", log)
	}
}

// TestIPv6ThrottledBy64 (finding 10): the addresses of one IPv6 /64 share
// one bucket: 40 guesses at once from 40 addresses of a /64 (for 40
// accounts, so that only the address's limit can refuse them) meet its
// burst of 30.
func TestIPv6ThrottledBy64(t *testing.T) {
	t.Parallel()
	srv := proxied(t)
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			code := guess(srv, fmt.Sprintf("2001:db8:1:2::%x", i+1), fmt.Sprint("nobody", i), false)
			mu.Lock()
			got[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[http.StatusUnauthorized] < 30 || got[http.StatusTooManyRequests] < 5 {
		t.Fatalf("40 guesses at once from one /64: %v; want its burst of 30 checked and the rest refused", got)
	}
	if r := tokenFrom(t, srv, "2001:db8:1:3::1", "somebody", "wrong"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a guess from the next /64: %s; want it checked", r.Status)
	}
}

// TestHugeUsernamesClaimNoMemory (finding 5): 150 log-ins with 1 MiB
// usernames, from 150 addresses, on the API and the form. The name is
// checked before any limiter sees it, and limiters keep keys as hashes:
// the heap does not keep them (before, each was a key of the account
// limiter's map, 150 MiB until swept a minute later).
func TestHugeUsernamesClaimNoMemory(t *testing.T) {
	srv := proxied(t)
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	base := heap()
	huge := strings.Repeat("n", 1<<20-100)
	for i := range 150 {
		var r *http.Response
		if i%2 == 0 {
			r = tokenFrom(t, srv, addrN("10.200", i), huge+fmt.Sprint(i), "wrong")
		} else {
			r = loginFrom(t, srv, addrN("10.200", i), huge[:1<<19]+fmt.Sprint(i), "wrong")
		}
		if r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusBadRequest {
			t.Fatalf("log-in %d with a huge name: %s", i, r.Status)
		}
	}
	const bound = 32 << 20
	if grew := int64(heap()) - int64(base); grew > bound {
		t.Fatalf("the heap kept %d MiB after 150 log-ins with 1 MiB names; want under %d MiB", grew>>20, bound>>20)
	}
}

// TestConfusableNames (finding 9): a name that folds to a taken one is
// taken; a name mixing scripts is refused; log-in by any spelling of a
// name finds the account.
func TestConfusableNames(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, apptest.Options{})
	srv.User(t, "alice")
	for _, tc := range []struct {
		name   string
		status int
		code   string
	}{
		{"Alice", http.StatusConflict, "conflict"},
		{"ａｌｉｃｅ", http.StatusConflict, "conflict"},
		{"𝐀𝐥𝐢𝐜𝐞", http.StatusConflict, "conflict"},
		{"аlice", http.StatusBadRequest, "invalid"}, // a Cyrillic а
		{"ɑlice", http.StatusCreated, ""},           // Latin alpha: the same script, another name
	} {
		var e struct{ Error struct{ Code string } }
		r := apptest.Do(t, "POST", srv.URL+"/api/v1/signup", "", map[string]string{"username": tc.name, "password": "a fine password"}, &e)
		if r.StatusCode != tc.status || e.Error.Code != tc.code {
			t.Errorf("sign-up %q: %s %q; want %d %q", tc.name, r.Status, e.Error.Code, tc.status, tc.code)
		}
	}
	// The form says the name is taken.
	r := postForm(t, srv, "/signup/", url.Values{"username": {"ALICE"}, "password1": {"a fine password"}, "password2": {"a fine password"}}, "")
	if page := body(t, r); r.StatusCode != http.StatusConflict || !strings.Contains(page, "taken") {
		t.Errorf("form sign-up ALICE: %s", r.Status)
	}
	for _, spelling := range []string{"ALICE", "ａｌｉｃｅ"} {
		var tok struct{ Token string }
		r := apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": spelling, "password": "password-alice"}, &tok)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("log-in as %q: %s", spelling, r.Status)
		}
		var rooms struct{ Rooms []any }
		if r := apptest.Do(t, "GET", srv.URL+"/api/v1/rooms", tok.Token, nil, &rooms); r.StatusCode != http.StatusOK {
			t.Fatalf("the token of %q: %s", spelling, r.Status)
		}
	}
}

// TestSignupLimit (finding 6): sign-ups are limited per address
// (--signup-limit): past the burst, 429 with Retry-After, on the API and
// the form, also when they come at once; refused sign-ups do not count,
// and another address is not held up.
func TestSignupLimit(t *testing.T) {
	t.Parallel()
	srv := proxied(t, "--signup-limit=1/h,3")
	signup := func(addr, name string) *http.Response {
		b, _ := json.Marshal(map[string]string{"username": name, "password": "a fine password"})
		return from(t, srv, "POST", "/api/v1/signup", addr, b, "application/json")
	}
	srv.User(t, "taken") // from 127.0.0.1, an address of its own
	// Refused sign-ups cost nothing.
	for range 5 {
		if r := signup("192.0.2.1", "taken"); r.StatusCode != http.StatusConflict {
			t.Fatalf("a taken name: %s", r.Status)
		}
	}
	// Ten at once from one address: three accounts.
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			r := signup("192.0.2.1", fmt.Sprint("burst", i))
			mu.Lock()
			got[r.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[http.StatusCreated] != 3 || got[http.StatusTooManyRequests] != 7 {
		t.Fatalf("10 sign-ups at once: %v; want 3 made and 7 × 429", got)
	}
	r := signup("192.0.2.1", "onemore")
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(r.Body).Decode(&e)
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || e.Error.Code != "rate_limited" {
		t.Fatalf("past the limit: %s, Retry-After %q, %+v", r.Status, r.Header.Get("Retry-After"), e)
	}
	f := url.Values{"username": {"formuser"}, "password1": {"a fine password"}, "password2": {"a fine password"}}
	r = from(t, srv, "POST", "/signup/", "192.0.2.1", []byte(f.Encode()), "application/x-www-form-urlencoded")
	if page := body(t, r); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" ||
		!strings.Contains(page, "Too many accounts") || !strings.Contains(page, `value="formuser"`) {
		t.Fatalf("the form past the limit: %s", r.Status)
	}
	if r := signup("192.0.2.2", "elsewhere"); r.StatusCode != http.StatusCreated {
		t.Fatalf("a sign-up from another address: %s", r.Status)
	}
}
