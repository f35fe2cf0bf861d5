package chat_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"parley/internal/chat"
)

func TestParseMentions(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    [][]string
		room    bool
	}{
		{"hi @bob", [][]string{{"bob"}}, false},
		{"@bob, look", [][]string{{"bob"}}, false},
		{"thanks @bob.", [][]string{{"bob.", "bob"}}, false},
		{"thanks @bob...", [][]string{{"bob...", "bob..", "bob.", "bob"}}, false},
		{"@carol.d: yes", [][]string{{"carol.d"}}, false},
		{"@a.b+c-d_e@f ok", [][]string{{"a.b+c-d_e@f"}}, false},
		{"mail bob@example.com", nil, false},
		{"(@bob) and @zoë!", [][]string{{"bob"}, {"zoë"}}, false},
		{"@bob @bob @bob.", [][]string{{"bob"}, {"bob.", "bob"}}, false},
		{"@room", nil, true},
		{"@room. listen", nil, true},
		{"@roomy", [][]string{{"roomy"}}, false},
		{"@ alone, @, @@", [][]string{{"@"}}, false},
		{"@😀", nil, false},
		{"", nil, false},
	} {
		got, room := chat.ParseMentions(tc.content)
		var g [][]string
		for _, m := range got {
			g = append(g, []string(m))
		}
		if !reflect.DeepEqual(g, tc.want) || room != tc.room {
			t.Errorf("ParseMentions(%q) = %q, %v; want %q, %v", tc.content, g, room, tc.want, tc.room)
		}
	}
	users := map[string]bool{"bob": true, "bob.": true, "carol": true}
	parsed, _ := chat.ParseMentions("@bob. @carol... @dave @bob")
	got := chat.ResolveMentions(parsed, func(n string) bool { return users[n] })
	if !reflect.DeepEqual(got, []string{"bob.", "carol", "bob"}) {
		t.Errorf("ResolveMentions = %q", got)
	}
	// At most MaxMentions different mentions are looked up.
	many, _ := chat.ParseMentions(strings.Repeat("@a @b @c @d @e @f @g @h @i @j @k ", 10) + strings.Repeat("@x", 1) +
		func() string {
			var b strings.Builder
			for i := range 100 {
				b.WriteString(" @u")
				b.WriteString(strings.Repeat("z", i+1))
			}
			return b.String()
		}())
	if len(many) != chat.MaxMentions {
		t.Errorf("%d mentions, want %d", len(many), chat.MaxMentions)
	}
}

func TestCheckEmoji(t *testing.T) {
	for _, tc := range []struct {
		s  string
		ok bool
	}{
		{"👍", true}, {"❤️", true}, {"🇫🇷", true}, {"1️⃣", true}, {"👩🏽‍💻", true}, {"👩🏽‍❤️‍💋‍👨🏿", true}, {"‼️", true}, {"✓", true},
		{"", false}, {"ok", false}, {"+1", false}, {"é", false}, {"名", false}, {"👍 ", false}, {"👍\n", false},
		{"\xff", false}, {strings.Repeat("👍", chat.MaxEmojiLength+1), false}, {"\u200d", false}, {"a\u0301", false},
	} {
		if err := chat.CheckEmoji(tc.s); (err == nil) != tc.ok {
			t.Errorf("CheckEmoji(%q) = %v, want ok %v", tc.s, err, tc.ok)
		} else if err != nil && chat.ErrorCode(err) != chat.EInvalid {
			t.Errorf("CheckEmoji(%q): code %q", tc.s, chat.ErrorCode(err))
		}
	}
}

func TestExcerpt(t *testing.T) {
	short := strings.Repeat("é", chat.ExcerptLength)
	if got := chat.Excerpt(short); got != short {
		t.Errorf("Excerpt of %d characters cut: %q", chat.ExcerptLength, got)
	}
	if got := chat.Excerpt(short + "x"); got != short+"…" {
		t.Errorf("Excerpt = %q", got)
	}
}

func TestCheckNewChange(t *testing.T) {
	ok := chat.NewChange{Room: "lobby", Kind: chat.ChangeEdit, Target: 3, Content: "  fixed  ", EditWindow: time.Hour}
	if err := chat.CheckNewChange(&ok); err != nil || ok.Content != "fixed" {
		t.Fatalf("CheckNewChange = %v, content %q", err, ok.Content)
	}
	for _, tc := range []struct {
		c    chat.NewChange
		code string
	}{
		{chat.NewChange{Room: "bad room", Kind: chat.ChangeDelete, Target: 1}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: "shout", Target: 1}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeDelete}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeEdit, Target: 1, Content: " ", EditWindow: time.Hour}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeEdit, Target: 1, Content: strings.Repeat("x", 4001), EditWindow: time.Hour}, chat.ETooLong},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeEdit, Target: 1, Content: "x"}, chat.EForbidden}, // editing off
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeReact, Target: 1, Emoji: "ok"}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeUnreact, Target: 1}, chat.EInvalid},
		{chat.NewChange{Room: "lobby", Kind: chat.ChangeDelete, Target: 1, ClientID: "a\nb"}, chat.EInvalid},
	} {
		if err := chat.CheckNewChange(&tc.c); chat.ErrorCode(err) != tc.code {
			t.Errorf("CheckNewChange(%+v) = %v, want %s", tc.c, err, tc.code)
		}
	}
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !chat.EditOpen(sent, sent.Add(time.Hour), time.Hour) || chat.EditOpen(sent, sent.Add(time.Hour+1), time.Hour) ||
		chat.EditOpen(sent, sent, 0) || !chat.EditOpen(sent, sent.AddDate(50, 0, 0), time.Duration(1<<63-1)) {
		t.Error("EditOpen")
	}
}

// AppendFullJSON writes what encoding/json writes for the message's wire
// form with rev, and it reads back as the message.
func FuzzFullMessageJSON(f *testing.F) {
	f.Add("ann", "hi <b>", int64(4), int64(9), "c-1", true, "bob\nzoë", "👍", "x…", false)
	f.Add("\xff", "", int64(1), int64(0), "", false, "", "", "", true)
	f.Fuzz(func(t *testing.T, author, content string, seq, rev int64, clientID string, reply bool, mentions, emoji, excerpt string, deleted bool) {
		seq = max(seq, -seq) % (1 << 40) // seqs count from 1
		seq++
		ts := time.Unix(seq, 5000).UTC()
		m := chat.Message{ID: seq * 3, Room: "lobby", Seq: seq, Rev: rev, Author: author, Content: content, Timestamp: ts,
			ClientID: clientID, Deleted: deleted, MentionsRoom: reply}
		w := chat.WireMessage{ID: m.ID, Room: m.Room, Seq: seq, Rev: m.CurrentRev(), Author: author, Content: content,
			Timestamp: ts.Format(chat.TimestampFormat), ClientID: clientID, Deleted: deleted, MentionsRoom: reply}
		if reply {
			m.ReplyTo = &chat.Reply{Seq: seq - 1, Author: author, Excerpt: excerpt}
			w.ReplyTo = &chat.WireReply{Seq: seq - 1, Author: author, Excerpt: excerpt}
			m.Edited = ts.Add(time.Second)
			w.Edited = m.Edited.Format(chat.TimestampFormat)
		}
		if mentions != "" {
			m.Mentions = strings.Split(mentions, "\n")
			w.Mentions = m.Mentions
		}
		if emoji != "" {
			m.Reactions = []chat.Reaction{{Emoji: emoji, Count: 2, Users: []string{author, "x"}}}
			w.Reactions = []chat.WireReaction{{Emoji: emoji, Count: 2, Users: []string{author, "x"}}}
		}
		want, err := chat.EncodeJSON(w)
		if err != nil {
			t.Fatal(err)
		}
		got := m.AppendFullJSON(nil)
		if deleted {
			// A tombstone has no content.
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(got, &obj); err != nil {
				t.Fatalf("%s: %v", got, err)
			}
			if _, ok := obj["content"]; ok {
				t.Fatalf("a tombstone has content: %s", got)
			}
			return
		}
		if string(got) != string(want) {
			t.Fatalf("AppendFullJSON:\n got %s\nwant %s", got, want)
		}
		var back chat.Message
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		if back.CurrentRev() != m.CurrentRev() || back.Seq != seq || (utf8.ValidString(content) && back.Content != content) ||
			(reply && (back.ReplyTo == nil || !back.Edited.Equal(m.Edited))) {
			t.Fatalf("read back %+v from %s", back, got)
		}
	})
}
