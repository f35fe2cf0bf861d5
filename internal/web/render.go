package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/internal/chat"
	"parley/internal/search"
	"parley/internal/store"
)

// assets holds the page templates and the static files the pages load.
//
//go:embed templates/*.html
//go:embed static
var assets embed.FS

// page is the data of every page.
type page struct {
	// Page is the name of the page being rendered; render sets it, so
	// handlers leave it empty.
	Page    string
	Title   string
	User    *chat.User // nil for a visitor
	Version string     // for cache-busting static URLs: /static/app.css?v={{.Version}}
	// SignupClosed is the sign-up mode when anyone may not sign up
	// ("invite" or "closed"), "" when they may: the pages then offer no
	// sign-up link.
	SignupClosed string
	Form         form   // sign-up / log-in / room-entry forms
	Next         string // login's ?next= (already validated)
	// FormAction is where the sign-up form posts: /signup/, or an
	// invite's /join/CODE.
	FormAction string
	// NextRoom is the room Next leads to, for the log-in and sign-up forms
	// to name it.
	NextRoom string
	Ended    bool // log-in form: the session of the page that sent here ended

	MyRooms     []roomView // dashboard: rooms the user entered or posted in
	DirectRooms []roomView // dashboard: the user's direct conversations
	Left        string     // dashboard: the room the user just left
	RecentRooms []roomView // dashboard: recently active rooms

	Query   string     // /chats/ search query
	Results []roomView // /chats/ search results
	Target  string     // /chats/: the room Enter goes to for Query
	Create  bool       // /chats/: Target does not exist yet

	Room       string        // room page: its name
	RoomExists bool          // room page: the room exists (else its first message makes it)
	History    int           // room page: how many messages fetch_messages returns by default
	Messages   []messageView // room page: the messages it opens with, oldest first
	HasOlder   bool          // room page: the room has messages before those
	RoomKind   chat.RoomKind // room page: public, private or direct
	RoomLabel  string        // room page: its name, or a direct conversation's people
	Topic      string        // room page: its topic
	CanManage  bool          // room page: the user may change its settings
	// MentionRoom, on the room page, says the user may notify everyone
	// with @room (chat.ActMentionRoom): the composer offers it.
	MentionRoom bool
	// PostRefusal, on the room page, says why the user may not send
	// there (archived, muted); "" if they may.
	PostRefusal string

	Settings   *roomSettingsView // room settings page
	Flash      string            // a page's note that a change is done
	AdminRooms []store.AdminRoom // /admin/rooms/

	Search searchView // search page
	Level  chat.Level // room page: the user's level in it

	Suggest string // a valid room name to offer for an invalid one

	PushOn      bool                     // settings: this server sends Web Push
	PushDevices []store.PushSubscription // settings: the user's devices

	Status  int    // error page
	Message string // error page

	Admin adminView // the admin pages and the settings page
}

// LeftDirect says the room the user just left is a direct conversation:
// the dashboard says so without its dm- name.
func (p page) LeftDirect() bool { return mayBeDirect(p.Left) }

// form is what a form page shows after a failed submission.
type form struct {
	Values map[string]string // field name -> value to keep (never a password)
	Error  string            // form-level message ("Wrong username or password.")
	Errors map[string]string // field name -> message ("Passwords do not match.")
	Focus  string            // the field that gets the focus: the first to fix
}

// roomView is a room as the dashboard and the search list show it.
type roomView struct {
	Name         string
	Label        string // what it is shown as: its name, or a direct conversation's people
	Kind         chat.RoomKind
	Topic        string
	Archived     bool
	Messages     int64
	LastActivity time.Time
	Unread       int64
}

// renderer executes the page templates, each parsed once at start.
type renderer struct {
	pages map[string]*template.Template
	now   func() time.Time
}

// newRenderer parses every page: layout.html plus the page's own file.
func newRenderer() (*renderer, error) {
	names := []string{"landing", "signup", "login", "dashboard", "chats", "room", "search", "error",
		"admin", "admin_users", "admin_invites", "admin_audit", "settings", "reset", "room_settings", "admin_rooms", "direct"}
	r := &renderer{pages: make(map[string]*template.Template, len(names)), now: time.Now}
	funcs := template.FuncMap{
		"ago":     func(t time.Time) string { return ago(t, r.now()) },
		"iso":     iso,
		"count":   count,
		"plural":  plural,
		"initial": initial,
		"hue":     hue,
		"stamp":   func(t time.Time) string { return t.UTC().Format(chat.TimestampFormat) },
		"clock":   func(t time.Time) string { return t.UTC().Format("15:04 UTC") },
		// maxQuery is the longest search query, for the boxes' maxlength.
		"maxQuery": func() int { return search.MaxQueryLength },
	}
	for _, name := range names {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/push.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: parse page %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// render writes the page name with status. The page is executed into a
// buffer first so that a template error becomes a clean 500 instead of half
// a page.
func (r *renderer) render(w http.ResponseWriter, status int, name string, p page) {
	t, ok := r.pages[name]
	if !ok {
		slog.Error("render: unknown page", "page", name)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	p.Page = name
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		slog.Error("render", "page", name, "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.User != nil {
		// A page with someone's rooms and messages stays out of every
		// cache, the browser's back-forward one included.
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// staticFS returns the embedded static files, rooted so that "app.css" is at
// the top; handlers serve it under /static/.
func staticFS() fs.FS {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "static" is valid.
		panic(err)
	}
	return sub
}

// ago says how long before now t was, as a person would: "just now",
// "5 min ago", "3 h ago", "2 days ago", then the date. static/common.js
// keeps the same words up to date in the browser.
func ago(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 48*time.Hour:
		return "1 day ago"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return t.Format("Jan 2, 2006")
}

// iso formats t for a <time datetime> attribute.
func iso(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// count formats n with thousands separators: 12345 -> "12,345".
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// plural returns "1 message" or "1,204 messages". n is an int or an int64,
// so that templates can pass both a count field and len of a slice.
func plural(n any, one, many string) (string, error) {
	var v int64
	switch n := n.(type) {
	case int:
		v = int64(n)
	case int64:
		v = n
	default:
		return "", fmt.Errorf("plural: %T is not an integer", n)
	}
	if v == 1 {
		return "1 " + one, nil
	}
	return count(v) + " " + many, nil
}

// initial is the first letter of name, upper-cased, for an avatar.
func initial(name string) string {
	r, _ := utf8.DecodeRuneInString(name)
	if r == utf8.RuneError {
		return "?"
	}
	return string(unicode.ToUpper(r))
}

// hue picks one of the eight avatar colours (.hue-0 … .hue-7 in app.css)
// for name. static/room.js computes the same hash, so a person has the same
// colour on every page.
func hue(name string) int {
	var h uint32
	for _, r := range name {
		h = h*31 + uint32(r) // #nosec G115 -- a rune from ranging over a string is 0 to 0x10FFFF
	}
	return int(h % 8)
}
