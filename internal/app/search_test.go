package app_test

import (
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

type searchAnswer struct {
	Results []struct {
		Room       string
		Seq        int64
		Author     string
		Timestamp  string
		Edited     string
		Content    string
		Highlights [][2]int
	}
	Next *int64
	// Error is set for an error answer.
	Error *struct{ Code, Message string }
}

func apiSearch(t *testing.T, srv *apptest.Server, tok string, v url.Values) (*http.Response, searchAnswer) {
	t.Helper()
	var a searchAnswer
	r := apptest.Do(t, "GET", srv.URL+"/api/v1/search?"+v.Encode(), tok, nil, &a)
	return r, a
}

func post(t *testing.T, srv *apptest.Server, tok, room, content string) {
	t.Helper()
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", tok, map[string]string{"content": content}, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("post %q: %s", content, r.Status)
	}
}

// TestSearchAPI: GET /api/v1/search finds the messages, newest first,
// with their matches as code-point offsets, pages with next, leaves out
// deleted messages, and answers a bad query with 400 and what to fix; on
// both engines.
func TestSearchAPI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { searchAPI(t, unlimited(t)) })
	t.Run("postgres", func(t *testing.T) {
		searchAPI(t, apptest.Start(t, apptest.Options{DB: storetest.PostgresDSN(t), Args: []string{"--send-limit=off"}}))
	})
}

func searchAPI(t *testing.T, srv *apptest.Server) {
	ann, ben := srv.User(t, "ann"), srv.User(t, "ben")
	post(t, srv, ann, "lobby", "Café deploy failed")           // lobby/1
	post(t, srv, ben, "dev", "@ann DEPLOY done: https://x.io") // dev/1
	post(t, srv, ann, "lobby", "lunch?")                       // lobby/2
	post(t, srv, ann, "lobby", "deploy again, café")           // lobby/3

	r, a := apiSearch(t, srv, ben, url.Values{"q": {"deploy"}})
	if r.StatusCode != 200 || len(a.Results) != 3 || a.Next != nil {
		t.Fatalf("deploy: %s %+v", r.Status, a)
	}
	var got []string
	for _, m := range a.Results {
		got = append(got, m.Room+"/"+strconv.FormatInt(m.Seq, 10))
	}
	if want := []string{"lobby/3", "dev/1", "lobby/1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("deploy finds %v, want %v", got, want)
	}
	first := a.Results[2]
	if first.Author != "ann" || first.Content != "Café deploy failed" || !strings.HasSuffix(first.Timestamp, "Z") ||
		!reflect.DeepEqual(first.Highlights, [][2]int{{5, 11}}) {
		t.Errorf("result %+v", first)
	}
	if _, a := apiSearch(t, srv, ben, url.Values{"q": {"cafe deploy"}}); len(a.Results) != 2 || !reflect.DeepEqual(a.Results[0].Highlights, [][2]int{{0, 6}, {14, 18}}) {
		t.Errorf("cafe deploy: %+v", a.Results)
	}
	if _, a := apiSearch(t, srv, ann, url.Values{"q": {"is:mention has:link"}}); len(a.Results) != 1 || a.Results[0].Room != "dev" ||
		len(a.Results[0].Highlights) != 0 {
		t.Errorf("is:mention has:link: %+v", a.Results)
	}

	// A deleted message is found no more.
	if r := apptest.Do(t, "DELETE", srv.URL+"/api/v1/rooms/lobby/messages/3", ann, nil, nil); r.StatusCode != http.StatusCreated {
		t.Fatalf("delete: %s", r.Status)
	}
	if _, a := apiSearch(t, srv, ben, url.Values{"q": {"again"}}); len(a.Results) != 0 {
		t.Errorf("a deleted message is found: %+v", a.Results)
	}

	// Pages.
	for i := 1; i <= 25; i++ {
		post(t, srv, ben, "dev", "ping "+strconv.Itoa(i))
	}
	var all []string
	v := url.Values{"q": {"ping"}, "limit": {"10"}}
	for pages := 1; ; pages++ {
		r, a := apiSearch(t, srv, ben, v)
		if r.StatusCode != 200 || pages > 3 {
			t.Fatalf("page %d: %s %+v", pages, r.Status, a)
		}
		for _, m := range a.Results {
			all = append(all, m.Content)
		}
		if a.Next == nil {
			if pages != 3 {
				t.Errorf("%d pages", pages)
			}
			break
		}
		v.Set("before", strconv.FormatInt(*a.Next, 10))
	}
	if len(all) != 25 || all[0] != "ping 25" || all[24] != "ping 1" {
		t.Errorf("paged: %v", all)
	}

	for _, bad := range []url.Values{
		{"q": {"before:someday"}},
		{"q": {strings.Repeat("x ", 300)}},
		{"q": {"ping"}, "limit": {"0"}},
		{"q": {"ping"}, "limit": {"101"}},
		{"q": {"ping"}, "before": {"abc"}},
	} {
		r, a := apiSearch(t, srv, ben, bad)
		if r.StatusCode != 400 || a.Error == nil || a.Error.Code != "invalid" || a.Error.Message == "" {
			t.Errorf("%v: %s %+v", bad, r.Status, a.Error)
		}
	}
	if r, _ := apiSearch(t, srv, "", url.Values{"q": {"ping"}}); r.StatusCode != 401 {
		t.Errorf("without a token: %s", r.Status)
	}
	if r, a := apiSearch(t, srv, ben, url.Values{"q": {""}}); r.StatusCode != 200 || a.Results == nil || len(a.Results) != 0 {
		t.Errorf("an empty query: %s %+v", r.Status, a)
	}
}

// TestSearchPage: /search/ lists the matches with their content escaped,
// the matches marked, each linking into its room at that message; a bad
// query is a 400 that keeps it in the box and says what to fix; older
// results are a link away; every signed-in page has the header's box.
func TestSearchPage(t *testing.T) {
	srv := unlimited(t)
	tok := srv.User(t, "kim")
	payload := `look <script>alert("x")</script> & "quotes"`
	post(t, srv, tok, "xss", payload)
	for i := 1; i <= 25; i++ {
		post(t, srv, tok, "lobby", "ping "+strconv.Itoa(i))
	}
	cookie := loginCookie(t, srv, "kim")

	r, page := get(t, srv, "/search/?q=script", cookie)
	if r.StatusCode != 200 {
		t.Fatalf("/search/?q=script: %s", r.Status)
	}
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;<mark>script</mark>&gt;alert(&#34;x&#34;)&lt;/<mark>script</mark>&gt; &amp; &#34;quotes&#34;") {
		t.Errorf("the result is not escaped and marked:\n%s", page)
	}
	if !strings.Contains(page, `href="/chats/xss/?at=1"`) || !strings.Contains(page, `value="script"`) {
		t.Errorf("no link to the message, or the query is not kept")
	}

	r, page = get(t, srv, "/search/?q=before%3Asomeday+ping", cookie)
	if r.StatusCode != 400 || !strings.Contains(page, `value="before:someday ping"`) || !strings.Contains(page, `role="alert"`) ||
		!strings.Contains(page, "before:") {
		t.Errorf("a bad query: %s\n%s", r.Status, page)
	}

	r, page = get(t, srv, "/search/?q=ping", cookie)
	if r.StatusCode != 200 || strings.Count(page, `class="search-result"`) != 20 || !strings.Contains(page, "<mark>ping</mark> 25</span>") {
		t.Fatalf("ping: %s", r.Status)
	}
	i := strings.Index(page, `href="/search/?before=`)
	if i < 0 {
		t.Fatal("no link to older results")
	}
	older, _, _ := strings.Cut(page[i+len(`href="`):], `"`)
	older = strings.ReplaceAll(older, "&amp;", "&")
	r, page = get(t, srv, older, cookie)
	if r.StatusCode != 200 || strings.Count(page, `class="search-result"`) != 5 || !strings.Contains(page, "<mark>ping</mark> 1</span>") ||
		strings.Contains(page, `href="/search/?before=`) {
		t.Errorf("older results (%s): %s", older, r.Status)
	}

	r, page = get(t, srv, "/search/?q=nothing-like-it", cookie)
	if r.StatusCode != 200 || !strings.Contains(page, "No message matches") {
		t.Errorf("no match: %s", r.Status)
	}
	if r, _ := get(t, srv, "/search/?q=ping", ""); r.StatusCode != http.StatusFound && r.StatusCode != http.StatusSeeOther {
		t.Errorf("a visitor: %s", r.Status)
	}
	for _, path := range []string{"/", "/chats/", "/chats/lobby/", "/search/"} {
		if _, page := get(t, srv, path, cookie); !strings.Contains(page, `id="header-search-q"`) {
			t.Errorf("%s has no search box in its header", path)
		}
	}
	if _, page := get(t, srv, "/", ""); strings.Contains(page, `id="header-search-q"`) {
		t.Error("a visitor's page has the search box")
	}
}

// TestSearchLimited: a search spends one of the user's history requests
// (--history-limit); past them the API answers 429 with Retry-After, and
// the page says so, the query kept.
func TestSearchLimited(t *testing.T) {
	srv := apptest.Start(t, apptest.Options{Args: []string{"--history-limit=1/h,2"}})
	tok := srv.User(t, "zed")
	cookie := loginCookie(t, srv, "zed")
	for i := range 2 {
		if r, _ := apiSearch(t, srv, tok, url.Values{"q": {"anything"}}); r.StatusCode != 200 {
			t.Fatalf("search %d: %s", i+1, r.Status)
		}
	}
	r, a := apiSearch(t, srv, tok, url.Values{"q": {"anything"}})
	if r.StatusCode != http.StatusTooManyRequests || a.Error == nil || a.Error.Code != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Errorf("a third search: %s %+v", r.Status, a.Error)
	}
	r, page := get(t, srv, "/search/?q=anything", cookie)
	if r.StatusCode != http.StatusTooManyRequests || !strings.Contains(page, "Too many searches") || !strings.Contains(page, `value="anything"`) {
		t.Errorf("the page past the limit: %s", r.Status)
	}
	if r, _ := get(t, srv, "/search/", cookie); r.StatusCode != 200 {
		t.Errorf("the empty page spends nothing, yet: %s", r.Status)
	}
}
