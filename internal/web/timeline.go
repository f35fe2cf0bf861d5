package web

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"parley/internal/chat"
)

// The room page shows its latest messages in its HTML, so that they are
// there at the first paint, before the socket answers. Each is drawn as
// static/room.js draws the messages that come later (renderMessage,
// decorate, appendContent there): the script takes these over as they are.

// groupWindow is how close in time two messages of one author must be for
// the second to continue the first's group, without a header of its own
// (GROUP_MS in room.js).
const groupWindow = 5 * time.Minute

// messageView is one message of the room page's HTML.
type messageView struct {
	Seq    int64
	Author string
	Mine   bool
	// ClientID is the client_id of the user's own messages, so that the
	// page drops an unsent copy it kept of one already stored; never
	// another person's.
	ClientID string
	Time     time.Time
	Content  []textPart
	// Grouped: the message continues the group of the one before it.
	Grouped bool
	// Day labels the day separator above the message, "" for none.
	Day string
	// FirstUnread: the "New messages" line goes before this message.
	FirstUnread bool
}

// textPart is a piece of a message's text: plain, or a link to Href.
type textPart struct {
	Text string
	Href string
}

// timeline lays out msgs as the room page shows them: day separators and
// groups by UTC days (the script redoes both in the reader's own time
// zone), and the unread line before seq firstUnread (0: none).
func timeline(msgs []chat.Message, me string, firstUnread int64, now time.Time) []messageView {
	out := make([]messageView, len(msgs))
	for i, m := range msgs {
		v := messageView{Seq: m.Seq, Author: m.Author, Mine: m.Author == me, Time: m.Timestamp,
			Content: linkParts(m.Content), FirstUnread: m.Seq == firstUnread}
		if v.Mine {
			v.ClientID = m.ClientID
		}
		var prev *chat.Message
		if i > 0 {
			prev = &msgs[i-1]
		}
		newDay := prev == nil || !sameDay(prev.Timestamp, m.Timestamp)
		if newDay {
			v.Day = dayLabel(m.Timestamp, now)
		}
		if !newDay && !v.FirstUnread && prev.Author == m.Author {
			d := m.Timestamp.Sub(prev.Timestamp)
			v.Grouped = d >= 0 && d < groupWindow
		}
		out[i] = v
	}
	return out
}

func sameDay(a, b time.Time) bool {
	ay, am, ad := a.UTC().Date()
	by, bm, bd := b.UTC().Date()
	return ay == by && am == bm && ad == bd
}

// dayLabel names t's day as room.js's dayLabel does: "Today",
// "Yesterday", "Monday, November 24", with the year when it is not this
// year's.
func dayLabel(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	switch {
	case sameDay(t, now):
		return "Today"
	case sameDay(t, now.AddDate(0, 0, -1)):
		return "Yesterday"
	case t.Year() == now.Year():
		return t.Format("Monday, January 2")
	}
	return t.Format("Monday, January 2, 2006")
}

// The links in a message: URL_RE and trimURL in room.js, the same rule.
// Whitespace is JavaScript's \s, spelled out: Go's \s is ASCII only.
var urlPattern = regexp.MustCompile(`(?i)\b(?:https?://|www\.)` +
	`[^\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}<>"]+`)

// linkParts splits text into plain text and links: every http(s) URL,
// and every address that starts with "www." (linked over https). Nothing
// in text is ever markup; the template escapes every part.
func linkParts(text string) []textPart {
	var parts []textPart
	last := 0
	for _, loc := range urlPattern.FindAllStringIndex(text, -1) {
		raw := trimURL(text[loc[0]:loc[1]])
		href := linkTarget(raw)
		if href == "" {
			continue
		}
		if loc[0] > last {
			parts = append(parts, textPart{Text: text[last:loc[0]]})
		}
		parts = append(parts, textPart{Text: raw, Href: href})
		last = loc[0] + len(raw)
	}
	if last < len(text) {
		parts = append(parts, textPart{Text: text[last:]})
	}
	return parts
}

// trimURL drops punctuation that more likely ends the sentence than the
// URL: "see https://example.com/a_(b)." links to ".../a_(b)".
func trimURL(u string) string {
	for u != "" {
		c := u[len(u)-1]
		if strings.IndexByte(".,;:!?'*", c) >= 0 ||
			c == ')' && strings.Count(u, ")") > strings.Count(u, "(") ||
			c == ']' && strings.Count(u, "]") > strings.Count(u, "[") {
			u = u[:len(u)-1]
			continue
		}
		break
	}
	return u
}

// linkTarget is where a link to raw goes, or "" if raw is no web address.
func linkTarget(raw string) string {
	href := raw
	if len(raw) >= 4 && strings.EqualFold(raw[:4], "www.") {
		href = "https://" + raw
	}
	u, err := url.Parse(href)
	// url.Parse lower-cases the scheme.
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return ""
	}
	return href
}
