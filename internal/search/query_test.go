package search_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/search"
)

func word(text string, words ...string) search.Term {
	return search.Term{Text: text, Words: words}
}

func prefix(text string, words ...string) search.Term {
	return search.Term{Text: text, Words: words, Prefix: true}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParse(t *testing.T) {
	cases := []struct {
		q    string
		want search.Query
	}{
		{"", search.Query{}},
		{"   ", search.Query{}},
		{"  hello   World ", search.Query{Terms: []search.Term{word("hello", "hello"), word("World", "world")}}},
		{"Café NAÏVE", search.Query{Terms: []search.Term{word("Café", "cafe"), word("NAÏVE", "naive")}}},
		{`"New York"`, search.Query{Terms: []search.Term{word("New York", "new", "york")}}},
		{`"unclosed  phrase`, search.Query{Terms: []search.Term{word("unclosed  phrase", "unclosed", "phrase")}}},
		{`a"b c"`, search.Query{Terms: []search.Term{word(`a"b`, "a", "b"), word(`c"`, "c")}}},
		{`"a b"c`, search.Query{Terms: []search.Term{word("a b", "a", "b"), word("c", "c")}}},
		{`-spam -"foo bar" keep`, search.Query{Terms: []search.Term{word("keep", "keep")},
			Excluded: []search.Term{word("spam", "spam"), word("foo bar", "foo", "bar")}}},
		{"- x -", search.Query{Terms: []search.Term{word("x", "x")}}},
		{"--x", search.Query{Excluded: []search.Term{word("-x", "x")}}},
		{"deploy* d* foo*bar", search.Query{Terms: []search.Term{prefix("deploy*", "deploy"), word("d*", "d"), word("foo*bar", "foo", "bar")}}},
		{`"new yo*" -old*`, search.Query{Terms: []search.Term{prefix("new yo*", "new", "yo")}, Excluded: []search.Term{prefix("old*", "old")}}},
		{"foo.*", search.Query{Terms: []search.Term{word("foo.*", "foo")}}},
		{"* ** 🎉 party", search.Query{Terms: []search.Term{word("party", "party")}, Ignored: []string{"*", "**", "🎉"}}},
		{"foo-bar 3.14 don't", search.Query{Terms: []search.Term{word("foo-bar", "foo", "bar"), word("3.14", "3", "14"), word("don't", "don", "t")}}},
		{"xyz:abc http://example.com/a", search.Query{Terms: []search.Term{word("xyz:abc", "xyz", "abc"), word("http://example.com/a", "http", "example", "com", "a")}}},
		{"AND OR NOT NEAR", search.Query{Terms: []search.Term{word("AND", "and"), word("OR", "or"), word("NOT", "not"), word("NEAR", "near")}}},
		{"\xffplan", search.Query{Terms: []search.Term{word("plan", "plan")}}},
		{"from:alice FROM:Bob from:alice From:@carol", search.Query{From: []string{"alice", "Bob", "carol"}}},
		{`from:"dave" from:@@x`, search.Query{From: []string{"dave", "@x"}}},
		{"in:#lobby In:dev IN:lobby plan", search.Query{Terms: []search.Term{word("plan", "plan")}, In: []string{"lobby", "dev"}}},
		{"before:2026-12-06", search.Query{Until: day(2026, 12, 6)}},
		{"after:2026-12-06", search.Query{Since: day(2026, 12, 7)}},
		{"on:2026-12-06", search.Query{Since: day(2026, 12, 6), Until: day(2026, 12, 7)}},
		{"after:2026-12-31", search.Query{Since: day(2027, 1, 1)}},
		{"before:2026-12-06 before:2026-12-01 after:2026-11-01 after:2026-10-01",
			search.Query{Since: day(2026, 11, 2), Until: day(2026, 12, 1)}},
		{"BEFORE:Today after:YESTERDAY", search.Query{Since: day(2026, 3, 6), Until: day(2026, 3, 6)}},
		{"on:today", search.Query{Since: day(2026, 3, 6), Until: day(2026, 3, 7)}},
		{"has:LINK Is:Mention", search.Query{HasLink: true, IsMention: true}},
	}
	for _, c := range cases {
		got, err := search.ParseAt(c.q, now)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.q, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.q, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ q, msg string }{
		{"from:", "from: wants a user name, like from:alice"},
		{"from:al'ice", "from: wants a user name"},
		{"from:alice,bob", "repeat it for several people"},
		{"in:", "in: wants a room name, like in:lobby"},
		{"in:bad!", "in: wants a room name"},
		{"before:2026-13-01", "before: wants a date like 2026-03-06 (or today, yesterday)."},
		{"after:tomorrow", "after: wants a date like 2026-03-06"},
		{"on:", "on: wants a date"},
		{"on:06/12/2026", "on: wants a date"},
		{"has:image", "has: knows one value: has:link."},
		{"is:starred", "is: knows one value: is:mention."},
		{"-from:alice", "An operator cannot be excluded: remove the - before from:alice."},
		{strings.Repeat("a", search.MaxQueryLength+1), "A search has at most 500 characters; this one has 501."},
		{strings.Repeat("é", search.MaxQueryLength+1), "at most 500 characters"},
		{strings.Repeat("a ", search.MaxTerms+1), "A search has at most 20 words, phrases and operators."},
		{strings.Repeat("from:a ", search.MaxTerms+1), "at most 20 words"},
		{strings.Repeat("* ", search.MaxTerms+1), "at most 20 words"},
	}
	for _, c := range cases {
		_, err := search.ParseAt(c.q, now)
		if err == nil {
			t.Errorf("Parse(%.40q): no error", c.q)
			continue
		}
		if code := chat.ErrorCode(err); code != chat.EInvalid {
			t.Errorf("Parse(%.40q): code %q, want invalid", c.q, code)
		}
		if msg := chat.ErrorMessage(err); !strings.Contains(msg, c.msg) {
			t.Errorf("Parse(%.40q): %q, want it to say %q", c.q, msg, c.msg)
		}
	}
	// At the limits, no error.
	for _, q := range []string{strings.Repeat("a", search.MaxQueryLength), strings.Repeat("a ", search.MaxTerms),
		"  " + strings.Repeat("é", search.MaxQueryLength) + "  "} {
		if _, err := search.ParseAt(q, now); err != nil {
			t.Errorf("Parse(%.40q): %v", q, err)
		}
	}
}

func TestEmpty(t *testing.T) {
	for q, want := range map[string]bool{
		"": true, "🎉": true, `"" * -`: true, "-x": false, "x": false, "from:a": false,
		"in:a": false, "before:today": false, "after:today": false, "has:link": false, "is:mention": false,
	} {
		if got := parse(t, q).Empty(); got != want {
			t.Errorf("Parse(%q).Empty() = %v", q, got)
		}
	}
}

func TestHighlight(t *testing.T) {
	type seg = search.Segment
	cases := []struct {
		q, content string
		want       []seg
	}{
		{"hello", "Hello world", []seg{{"Hello", true}, {" world", false}}},
		{"world", "Hello world", []seg{{"Hello ", false}, {"world", true}}},
		{"cafe", "Un CAFÉ, un café.", []seg{{"Un ", false}, {"CAFÉ", true}, {", un ", false}, {"café", true}, {".", false}}},
		{"deploy*", "deployment: redeploy", []seg{{"deployment", true}, {": redeploy", false}}},
		{"new york", "new york", []seg{{"new", true}, {" ", false}, {"york", true}}},
		{`"new york"`, "New  York, york new", []seg{{"New  York", true}, {", york new", false}}},
		{`"new york" york`, "New York!", []seg{{"New York", true}, {"!", false}}},
		{`"a a" a`, "a a a", []seg{{"a a a", true}}},
		{"plan -secret from:bob has:link", "secret plan", []seg{{"secret ", false}, {"plan", true}}},
		{"from:bob", "plan", []seg{{"plan", false}}},
		{"x", "", nil},
		{"foo-bar", "foo_bar, foo bar", []seg{{"foo_bar", true}, {", ", false}, {"foo bar", true}}},
		{"e", "e\u0301", []seg{{"e\u0301", true}}},
	}
	for _, c := range cases {
		got := parse(t, c.q).Highlight(c.content)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q on %q:\n got %+v\nwant %+v", c.q, c.content, got, c.want)
		}
	}
}

func TestHighlightHTML(t *testing.T) {
	cases := []struct{ q, content, want string }{
		{"plan", `<script>alert("plan")</script> & 'plan'`,
			`&lt;script&gt;alert(&#34;<mark>plan</mark>&#34;)&lt;/script&gt; &amp; &#39;<mark>plan</mark>&#39;`},
		{"mark", "<mark>x</mark>", "&lt;<mark>mark</mark>&gt;x&lt;/<mark>mark</mark>&gt;"},
		{"b", "<b>b</b>", "&lt;<mark>b</mark>&gt;<mark>b</mark>&lt;/<mark>b</mark>&gt;"},
		{"amp", "&amp;", "&amp;<mark>amp</mark>;"},
		{"x", "no match <i>", "no match &lt;i&gt;"},
	}
	for _, c := range cases {
		if got := string(parse(t, c.q).HighlightHTML(c.content)); got != c.want {
			t.Errorf("%q on %q:\n got %s\nwant %s", c.q, c.content, got, c.want)
		}
	}
}

func TestVector(t *testing.T) {
	cases := map[string]string{
		"":                         "",
		"🎉":                        "",
		"Hello, hello WORLD":       "'hello':1,2 'world':3",
		"Café crème, naïve":        "'cafe':1 'creme':2 'naive':3",
		"dave@example.com":         "'dave':1 'example':2 'com':3",
		"x\u0301 \u0301 y":         "'x':1 'y':2",
		strings.Repeat("a ", 300):  "'a':" + positions(1, 256),
		strings.Repeat("b", 600):   "'" + strings.Repeat("b", 501) + "':1",
		strings.Repeat("é", 600):   "'" + strings.Repeat("e", 501) + "':1",
		strings.Repeat("ü", 2000):  "'" + strings.Repeat("u", 501) + "':1",
		"東京タワー 東京 🤔":               "'東京タワー':1 '東京':2 '🤔':3",
		"\"quoted\" it's back\\sl": "'quoted':1 'it':2 's':3 'back':4 'sl':5",
	}
	for in, want := range cases {
		if got := search.Vector(in); got != want {
			t.Errorf("Vector(%.40q) = %.80q, want %.80q", in, got, want)
		}
	}
}

func positions(from, to int) string {
	var p []string
	for i := from; i <= to; i++ {
		p = append(p, strconv.Itoa(i))
	}
	return strings.Join(p, ",")
}
