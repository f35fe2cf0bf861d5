package web

import (
	"fmt"
	"testing"
	"time"

	"parley/internal/chat"
)

func TestLinkParts(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string // parts as [text](href) or text
	}{
		{"no links here", "no links here"},
		{"see https://example.com/x.", "see |[https://example.com/x](https://example.com/x)|."},
		{"www.example.org/a_(b), then", "[www.example.org/a_(b)](https://www.example.org/a_(b))|, then"},
		{"(http://example.com/path)", "(|[http://example.com/path](http://example.com/path)|)"},
		{"HTTPS://EXAMPLE.COM ok", "[HTTPS://EXAMPLE.COM](HTTPS://EXAMPLE.COM)| ok"},
		{"two: http://a.example/ www.b.example!", "two: |[http://a.example/](http://a.example/)| |[www.b.example](https://www.b.example)|!"},
		{"not a link: http://. or wwwexample.com", "not a link: http://. or wwwexample.com"},
		{"javascript:alert(1) and <http://x.example>", "javascript:alert(1) and <|[http://x.example](http://x.example)|>"},
		{"nbsp\u00a0https://example.com\u00a0after", "nbsp\u00a0|[https://example.com](https://example.com)|\u00a0after"},
	} {
		var got string
		for i, p := range linkParts(tc.text) {
			if i > 0 {
				got += "|"
			}
			if p.Href != "" {
				got += fmt.Sprintf("[%s](%s)", p.Text, p.Href)
			} else {
				got += p.Text
			}
		}
		if got != tc.want {
			t.Errorf("linkParts(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestTimeline(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return now.Add(d) }
	msgs := []chat.Message{
		{Seq: 1, Author: "ann", Timestamp: at(-26 * time.Hour), ClientID: "a1"},
		{Seq: 2, Author: "ann", Timestamp: at(-2 * time.Hour), ClientID: "a2"},
		{Seq: 3, Author: "ann", Timestamp: at(-2*time.Hour + time.Minute)},
		{Seq: 4, Author: "bob", Timestamp: at(-2*time.Hour + 2*time.Minute), ClientID: "b4"},
		{Seq: 5, Author: "bob", Timestamp: at(-2*time.Hour + 3*time.Minute)},
		{Seq: 6, Author: "bob", Timestamp: at(-2*time.Hour + 20*time.Minute)},
	}
	got := timeline(msgs, "bob", 5, now)
	want := []struct {
		day           string
		grouped, mine bool
		clientID      string
		firstUnread   bool
	}{
		{"Yesterday", false, false, "", false},
		{"Today", false, false, "", false},
		{"", true, false, "", false},
		{"", false, true, "b4", false},
		{"", false, true, "", true},  // the unread line breaks the group
		{"", false, true, "", false}, // 17 minutes later
	}
	for i, w := range want {
		g := got[i]
		if g.Day != w.day || g.Grouped != w.grouped || g.Mine != w.mine || g.ClientID != w.clientID || g.FirstUnread != w.firstUnread {
			t.Errorf("message %d: %+v, want %+v", i+1, g, w)
		}
	}
	if l := dayLabel(time.Date(2025, 3, 2, 9, 0, 0, 0, time.UTC), now); l != "Sunday, March 2, 2025" {
		t.Errorf("a day last year: %q", l)
	}
}
