package browsertest

import (
	"testing"
	"time"

	"parley/internal/apptest"
)

// TestMarkdownRenderer: the page's renderer of message content makes
// elements of the Markdown subset and text of everything else: no markup,
// no script, no javascript: link gets through, whatever the content
// (docs/PROTOCOL.md, "Formatting").
func TestMarkdownRenderer(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{})
	b := newBrowser(t, ctx, "mia")
	b.signUp(srv.URL, "mia", "mia's long password")
	b.open(srv.URL + "/chats/markdown/")
	b.waitRoom("markdown")

	for _, c := range []struct{ in, want string }{
		{`<script>alert(1)</script>`, `&lt;script&gt;alert(1)&lt;/script&gt;`},
		{`<img src=x onerror="alert(1)">`, `&lt;img src=x onerror="alert(1)"&gt;`},
		{`[click](javascript:alert(1))`, `[click](javascript:alert(1))`},
		{`[click](JaVaScRiPt:alert(1)) and [data](data:text/html,hi)`, `[click](JaVaScRiPt:alert(1)) and [data](data:text/html,hi)`},
		{`[notes](https://example.com/a?b=1&c=2)`, `<a href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">notes</a>`},
		{`[**mail**](mailto:ann@example.com)`, `<a href="mailto:ann@example.com"><strong class="md-strong">mail</strong></a>`},
		{`see https://example.com/x.`, `see <a href="https://example.com/x" target="_blank" rel="noopener noreferrer">https://example.com/x</a>.`},
		{`**bold _and italic_ too**`, `<strong class="md-strong">bold <em class="md-em">and italic</em> too</strong>`},
		{`***both***`, `<strong class="md-strong"><em class="md-em">both</em></strong>`},
		{`*a **b** c*`, `<em class="md-em">a <strong class="md-strong">b</strong> c</em>`},
		{`~~gone~~ and snake_case_name and 2*3*4 = 24`, `<del class="md-del">gone</del> and snake_case_name and 2<em class="md-em">3</em>4 = 24`},
		{`**unclosed and *half`, `**unclosed and *half`},
		{"`code <b>` and `unclosed", `<code class="md-code">code &lt;b&gt;</code> and ` + "`unclosed"},
		{"```\nfunc <x>() {}\n**not bold**", `<pre class="md-pre"><code>func &lt;x&gt;() {}` + "\n" + `**not bold**</code></pre>`},
		{"> quoted <i>\n> more\n\nafter", `<blockquote class="md-quote"><p class="md-p">quoted &lt;i&gt;` + "\n" + `more</p></blockquote><p class="md-p">after</p>`},
		{"- one\n- **two**\n\n1. first", `<ul class="md-list"><li>one</li><li><strong class="md-strong">two</strong></li></ul><ol class="md-list"><li>first</li></ol>`},
		{`\*not italic\*`, `*not italic*`},
		{"line one\nline two", "line one\nline two"},
	} {
		got := eval[string](b, `(() => {
  const d = document.createElement('div');
  d.append(window.ParleyMarkdown.render(`+js(c.in)+`, {}));
  return d.innerHTML;
})()`)
		if got != c.want {
			t.Errorf("render(%q)\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	// Mentions are marked only for the names the message mentions.
	got := eval[string](b, `(() => {
  const d = document.createElement('div');
  d.append(window.ParleyMarkdown.render('hi @mia, @bob... and a@b.c', {mention: (n) => n === 'mia' ? 'mention-me' : n === 'bob' ? '' : null}));
  return d.innerHTML;
})()`)
	if want := `hi <span class="mention mention-me">@mia</span>, <span class="mention">@bob</span>... and a@b.c`; got != want {
		t.Errorf("mentions:\n got %s\nwant %s", got, want)
	}
}
