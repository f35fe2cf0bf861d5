package browsertest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"parley/internal/apptest"
	"parley/internal/chat"
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

// msgJS is an expression for the message element at seq (undefined if the
// page does not show it).
func msgJS(seq int64) string {
	return fmt.Sprintf(`document.querySelector('#messages .msg[data-seq="%d"]')`, seq)
}

// sendShown sends Markdown text and waits for it stored, shown as shown.
func (b *browser) sendShown(text, shown string) {
	b.t.Helper()
	b.typeInto("#chat-message-input", text+"\n")
	b.waitMessage(b.name, shown)
	b.waitFor("no pending message", `document.querySelector('#pending .msg') === null`)
}

// focused makes the page behave as the window with the focus, as the one
// a person uses is: a browser in the background fires no focus events.
func (b *browser) focused() {
	b.t.Helper()
	b.do("emulate the focus", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))
}

// focusMessage gives the message its keyboard focus, which shows its
// actions toolbar, as Tab and the arrow keys do.
func (b *browser) focusMessage(find string) {
	b.t.Helper()
	b.waitFor("the message to focus", find)
	eval[bool](b, `(() => { const m = `+find+`; m.focus(); return true; })()`)
	b.waitFor("its toolbar", `!!(`+find+`).querySelector('.msg-tools')`)
}

// tool clicks a button of the toolbar of the focused message.
func (b *browser) tool(name string) {
	b.t.Helper()
	b.do("click the "+name+" tool", chromedp.Click(chromedp.CSS(".msg-tools .tool-"+name)))
}

// reactionJS is the count a message's chip of emoji shows, "" for none.
func reactionJS(find, emoji string) string {
	return `((` + find + `)?.querySelector('.reaction[data-emoji=` + js(emoji) + `] .reaction-count')?.textContent || '')`
}

// TestRoomEventsTwoPeople: two people in a room see each other's edits,
// reactions, replies, mentions and deletions as they happen, by mouse and
// keyboard: ann edits with the Up key, ben reacts through the picker,
// replies and mentions ann by completing her name, ann deletes her
// message and both see "message deleted" where it was.
func TestRoomEventsTwoPeople(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	axe := axeSource(t)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	ann := newBrowser(t, ctx, "ann")
	ann.signUp(srv.URL, "ann", "ann's long password")
	ben := newBrowser(t, ctx, "ben")
	ben.signUp(srv.URL, "ben", "ben's long password")
	ann.focused()
	ben.focused()
	ann.enterRoom(srv.URL, "events")
	ben.open(srv.URL + "/chats/events/")
	ben.waitRoom("events")

	ann.sendShown("Lunch at **noon**?", "Lunch at noon?")
	annMsg := messageJS("ann", "Lunch at noon?")
	ben.waitMessage("ann", "Lunch at noon?")
	if !eval[bool](ben, `(`+annMsg+`).querySelector('.msg-body strong')?.textContent === 'noon'`) {
		t.Error("**noon** is not bold")
	}

	// Up in the empty composer edits ann's last message; Enter saves.
	ann.press(kb.ArrowUp)
	ann.waitFor("the editor", `document.activeElement?.classList.contains('msg-edit-input')`)
	ann.do("select all", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	ann.press("Lunch at one?\r")
	annMsg = messageJS("ann", "Lunch at one?")
	for _, b := range []*browser{ann, ben} {
		b.waitFor("the edit, marked edited", `(`+annMsg+`)?.querySelector('.msg-edited')?.textContent === '(edited)'`)
	}
	if eval[bool](ann, `document.querySelector('.msg-edit') !== null`) {
		t.Error("the editor stays open after the edit")
	}

	// ben reacts through the picker, by its search box.
	ben.focusMessage(annMsg)
	ben.tool("react")
	ben.waitFor("the picker", `document.activeElement?.classList.contains('emoji-search')`)
	checkAxe(t, ben, axe)
	ben.press("thumbs")
	ben.waitFor("the search", `document.querySelector('.emoji-grid button')?.dataset.emoji === '👍'`)
	ben.press("\r")
	for _, b := range []*browser{ann, ben} {
		b.waitFor("👍 1", reactionJS(annMsg, "👍")+` === '1'`)
	}
	chip := `(` + annMsg + `).querySelector('.reaction[data-emoji="👍"]')`
	if title := eval[string](ann, chip+`.title`); !strings.Contains(title, "ben") {
		t.Errorf("the chip's title does not say who reacted: %q", title)
	}
	// ann's click adds hers, a second takes it away.
	ann.do("click 👍", chromedp.Click(chromedp.CSS(`#messages .reaction[data-emoji="👍"]`)))
	for _, b := range []*browser{ann, ben} {
		b.waitFor("👍 2", reactionJS(annMsg, "👍")+` === '2'`)
	}
	if eval[string](ann, chip+`.getAttribute('aria-pressed')`) != "true" || eval[string](ben, chip+`.getAttribute('aria-pressed')`) != "true" {
		t.Error("a chip with your reaction is not marked yours")
	}
	ann.do("click 👍 again", chromedp.Click(chromedp.CSS(`#messages .reaction[data-emoji="👍"]`)))
	for _, b := range []*browser{ann, ben} {
		b.waitFor("👍 back to 1", reactionJS(annMsg, "👍")+` === '1'`)
	}

	// Versions of the edited message.
	ben.focusMessage(annMsg)
	ben.tool("versions")
	ben.waitFor("the versions", `document.querySelector('dialog.versions')?.open === true`)
	if got := eval[[]string](ben, `[...document.querySelectorAll('dialog.versions .version-body')].map((v) => v.textContent)`); fmt.Sprint(got) != "[Lunch at noon? Lunch at one?]" {
		t.Errorf("versions: %q", got)
	}
	checkAxe(t, ben, axe)
	ben.press(kb.Escape)
	ben.waitFor("the versions closed", `document.querySelector('dialog.versions')?.open === false`)

	// ben replies, mentioning ann by completing her name with Tab.
	ben.focusMessage(annMsg)
	ben.tool("reply")
	ben.waitFor("the reply bar", `!document.getElementById('reply-bar').hidden && document.getElementById('reply-text').textContent === 'Replying to ann: Lunch at one?'`)
	ben.waitFor("the composer focused", `document.activeElement?.id === 'chat-message-input'`)
	ben.press("@an")
	ben.waitFor("ann offered", `!document.getElementById('mention-list').hidden && document.querySelector('#mention-list [aria-selected="true"]')?.dataset.name === 'ann'`)
	ben.press(kb.Escape)
	ben.waitFor("Escape to close the list", `document.getElementById('mention-list').hidden && document.getElementById('chat-message-input').value === '@an'`)
	ben.press("n")
	ben.waitFor("ann offered again", `document.querySelector('#mention-list [aria-selected="true"]')?.dataset.name === 'ann'`)
	ben.do("press Backspace", chromedp.KeyEvent(kb.Backspace))
	ben.waitFor("ann still offered", `!document.getElementById('mention-list').hidden && document.getElementById('chat-message-input').value === '@an'`)
	ben.press("\t")
	ben.waitFor("the name completed", `document.getElementById('chat-message-input').value === '@ann '`)
	ben.press("works for me\r")
	reply := messageJS("ben", "@ann works for me")
	for _, b := range []*browser{ann, ben} {
		b.waitFor("the reply with its quote", `(`+reply+`)?.querySelector('.msg-quote')?.textContent === 'ann Lunch at one?'`)
	}
	ann.waitFor("the mention of ann marked", `(`+reply+`).classList.contains('mentions-me') && (`+reply+`).querySelector('.mention-me')?.textContent === '@ann'`)
	if eval[bool](ben, `(`+reply+`).classList.contains('mentions-me')`) {
		t.Error("ben's page marks a message that mentions ann as mentioning him")
	}
	if !eval[bool](ben, `document.getElementById('reply-bar').hidden`) {
		t.Error("the reply bar stays after sending")
	}
	// @room is offered to the room's owner, last, and to no one else.
	ann.do("focus the composer", chromedp.Focus(chromedp.CSS("#chat-message-input")))
	ann.waitFor("the composer focused", `document.activeElement?.id === 'chat-message-input'`)
	ann.press("@ro")
	ann.waitFor("@room offered to the owner", `!document.getElementById('mention-list').hidden && [...document.querySelectorAll('#mention-list .mention-option')].map((o) => o.dataset.name).join() === 'room'`)
	ann.press("\t")
	ann.waitFor("@room completed", `document.getElementById('chat-message-input').value === '@room '`)
	ann.do("empty the composer", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace))
	ben.do("focus the composer", chromedp.Focus(chromedp.CSS("#chat-message-input")))
	ben.waitFor("the composer focused", `document.activeElement?.id === 'chat-message-input'`)
	ben.press("@ro")
	ben.waitFor("the typed text", `document.getElementById('chat-message-input').value === '@ro'`)
	if !eval[bool](ben, `document.getElementById('mention-list').hidden`) {
		t.Error("@room is offered to a member who may not notify everyone")
	}
	ben.do("empty the composer", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace))

	// The quote goes to the message it answers.
	ann.do("click the quote", chromedp.Click(chromedp.CSS(`#messages .msg-quote`)))
	ann.waitFor("the original marked", `(`+annMsg+`).classList.contains('jumped')`)

	ann.sendShown("And *cake* after, see https://example.com/cake", "And cake after, see https://example.com/cake")
	ben.waitMessage("ann", "And cake after, see https://example.com/cake")
	// The mouse over ben's reply: its actions show.
	ann.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	at := eval[[]float64](ann, `(() => { const r = (`+reply+`).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`)
	ann.do("hover the reply", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, at[0], at[1]))
	ann.waitFor("the reply's toolbar", `!!(`+reply+`).querySelector('.msg-tools')`)
	checkLayout(t, ann, "a room with events")
	shoot(t, ann, axe, "room-events")

	// ann deletes her first message: a tombstone for both, and the quote
	// follows.
	stop := ann.tolerate(`a confirm dialog opened`)
	ann.answerDialogs(true)
	ann.focusMessage(annMsg)
	ann.tool("delete")
	seq := eval[int64](ben, `Number((`+reply+`).querySelector('.msg-quote').dataset.seq)`)
	for _, b := range []*browser{ann, ben} {
		b.waitFor("the tombstone", `(`+msgJS(seq)+`)?.querySelector('.msg-deleted')?.textContent === 'message deleted'`)
		b.waitFor("the quote of a deleted message", `(`+reply+`).querySelector('.msg-quote .quote-text')?.textContent === 'message deleted'`)
	}
	stop()
	if eval[bool](ben, `!!(`+msgJS(seq)+`).querySelector('.reactions, .msg-edited')`) {
		t.Error("a deleted message keeps its reactions or its edited mark")
	}
	if eval[bool](ann, `!!(`+msgJS(seq)+`).querySelector('.msg-tools')`) {
		t.Error("a deleted message keeps its actions")
	}

	// By keyboard alone: Tab to the newest message, its toolbar, the picker.
	cake := messageJS("ann", "And cake after, see https://example.com/cake")
	ben.do("focus the composer", chromedp.Focus(chromedp.ID("chat-message-input")))
	for i := 0; !eval[bool](ben, `document.activeElement === (`+cake+`)`); i++ {
		if i == 10 {
			t.Fatal("Shift+Tab from the composer does not reach the newest message")
		}
		ben.do("press Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	}
	ben.press(kb.ArrowUp)
	ben.waitFor("Up to the message before", `document.activeElement === (`+reply+`)`)
	ben.press(kb.ArrowDown)
	ben.tabTo(".msg-tools .tool-react")
	ben.press("\r")
	ben.waitFor("the picker", `document.activeElement?.classList.contains('emoji-search')`)
	ben.press("tada\r")
	for _, b := range []*browser{ann, ben} {
		b.waitFor("🎉 1", reactionJS(cake, "🎉")+` === '1'`)
	}

	// On a phone, after a reload: the reply and its quote, the mention.
	ben.phone()
	ben.open(srv.URL + "/chats/events/")
	ben.waitRoom("events")
	ben.waitFor("the reply's quote after a reload", `(`+reply+`)?.querySelector('.msg-quote .quote-text')?.textContent === 'message deleted'`)
	ben.waitMessage("ann", "And cake after, see https://example.com/cake")
	// A tap shows a message's actions.
	ben.do("tap ann's message", chromedp.Click(chromedp.CSS(`#messages .msg:last-child .msg-head time`)))
	ben.waitFor("the actions", `(() => { const t = document.querySelector('#messages .msg.tools-open > .msg-tools'); return !!t && t.getBoundingClientRect().width > 0; })()`)
	checkLayout(t, ben, "a room with events on a phone")
	shoot(t, ben, axe, "room-events-phone")
}

// TestEditRefusedSays: an edit the server refuses (another's message may
// not be edited; here: editing is off) keeps the editor open and says why.
func TestEditRefusedSays(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--edit-window=0"}})
	b := newBrowser(t, ctx, "eve")
	b.signUp(srv.URL, "eve", "eve's long password")
	b.enterRoom(srv.URL, "no-edits")
	b.send("typo hree")
	b.press(kb.ArrowUp)
	b.waitFor("the editor", `document.activeElement?.classList.contains('msg-edit-input')`)
	b.do("select all", chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	b.press("typo here\r")
	b.waitFor("the refusal in the editor", `(() => { const e = document.querySelector('.msg-edit-error'); return !!e && !e.hidden && e.textContent !== ''; })()`)
	if got := eval[string](b, `document.querySelector('.msg-edit-input').value`); got != "typo here" {
		t.Errorf("the editor lost the edit: %q", got)
	}
	b.press(kb.Escape)
	b.waitFor("the editor closed, the message as it was", `document.querySelector('.msg-edit') === null && `+messageJS("eve", "typo hree"))
}

// postReply stores a message through the JSON API and returns it.
func postReply(t *testing.T, srv *apptest.Server, token, room, content string, replyTo int64) chat.Message {
	t.Helper()
	body := map[string]any{"content": content}
	if replyTo > 0 {
		body["reply_to"] = replyTo
	}
	var m chat.Message
	if resp := apptest.Do(t, "POST", srv.URL+"/api/v1/rooms/"+room+"/messages", token, body, &m); resp.StatusCode != http.StatusCreated {
		t.Fatalf("post %q to %s: %s", content, room, resp.Status)
	}
	return m
}

// TestReplyJumpsAround: a reply's quote goes to the message it answers
// even when the page does not hold it (a room of more than a page): the
// page shows the messages around it, "Jump to latest" comes back, and a
// link /chats/{room}/?at=SEQ opens the room there, the newer messages
// following as the reader scrolls down.
func TestReplyJumpsAround(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	bot := srv.User(t, "bot")
	var seqs []int64
	for i := 1; i <= 150; i++ {
		seqs = append(seqs, postReply(t, srv, bot, "long", fmt.Sprint("message ", i), 0).Seq)
	}
	last := postReply(t, srv, bot, "long", "about message 5", seqs[4])

	b := newBrowser(t, ctx, "rob")
	b.signUp(srv.URL, "rob", "rob's long password")
	b.open(srv.URL + "/chats/long/")
	b.waitRoom("long")
	b.waitFor("the quote", `(`+msgJS(last.Seq)+`)?.querySelector('.msg-quote')?.textContent === 'bot message 5'`)
	if eval[bool](b, msgJS(seqs[4])+` !== null`) {
		t.Fatal("the page holds message 5 already: the test shows nothing")
	}
	b.do("click the quote", chromedp.Click(chromedp.CSS(`#messages .msg-quote`)))
	b.waitFor("message 5, marked", `(`+msgJS(seqs[4])+`)?.classList.contains('jumped')`)
	b.waitFor("in view", `(() => {
  const r = (`+msgJS(seqs[4])+`).getBoundingClientRect(), s = document.getElementById('scroller').getBoundingClientRect();
  return r.top >= s.top && r.bottom <= s.bottom;
})()`)
	if !eval[bool](b, `!document.getElementById('jump-latest').hidden`) {
		t.Error("no way back to the latest")
	}
	b.do("jump to the latest", chromedp.Click(chromedp.ID("jump-latest")))
	b.waitMessage("bot", "about message 5")
	b.waitFor("the older stretch gone", msgJS(seqs[4])+` === null && document.getElementById('jump-latest').hidden`)

	// A link to message 30 opens the room there; scrolling down reads the
	// rest, and new messages come live again.
	b.open(fmt.Sprintf("%s/chats/long/?at=%d", srv.URL, seqs[29]))
	b.waitFor("message 30, marked", `(`+msgJS(seqs[29])+`)?.classList.contains('jumped')`)
	b.waitFor("scrolling down to the latest", `(() => {
  const s = document.getElementById('scroller');
  s.scrollTop = s.scrollHeight;
  return `+msgJS(last.Seq)+` !== null;
})()`)
	got := eval[[]int64](b, `[...document.querySelectorAll('#messages .msg')].map((m) => Number(m.dataset.seq))`)
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("the messages read going down skip from %d to %d", got[i-1], got[i])
		}
	}
	post(t, srv, bot, "long", "live again")
	b.waitMessage("bot", "live again")

	// A link to a deleted message shows it deleted, where it was.
	if resp := apptest.Do(t, "DELETE", fmt.Sprintf("%s/api/v1/rooms/long/messages/%d", srv.URL, seqs[39]), bot, nil, nil); resp.StatusCode/100 != 2 {
		t.Fatalf("delete message 40: %s", resp.Status)
	}
	b.open(fmt.Sprintf("%s/chats/long/?at=%d", srv.URL, seqs[39]))
	b.waitFor("message 40, deleted, marked", `(`+msgJS(seqs[39])+`)?.classList.contains('jumped') && (`+msgJS(seqs[39])+`).querySelector('.msg-deleted')?.textContent === 'message deleted'`)
	if n := eval[int](b, `document.querySelectorAll('#messages .msg.deleted').length`); n != 1 {
		t.Errorf("%d deleted messages shown; want the one linked to", n)
	}

	// A link to a message that is not there opens the room at its latest,
	// and says so.
	b.open(srv.URL + "/chats/long/?at=100000")
	b.waitRoom("long")
	b.waitFor("the notice", `document.getElementById('room-notice').textContent === 'That message is not in this room any more.'`)
	b.waitMessage("bot", "live again")

	// The messages of the page's HTML are reachable by keyboard: Shift+Tab
	// from the composer goes to the newest.
	b.do("focus the composer", chromedp.Focus(chromedp.ID("chat-message-input")))
	for i := 0; !eval[bool](b, `document.activeElement === (`+messageJS("bot", "live again")+`)`); i++ {
		if i == 10 {
			t.Fatal("Shift+Tab from the composer does not reach the newest message")
		}
		b.do("press Shift+Tab", chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	}
}

// cutSocketsOnDemand has every page b opens from now on take offlineScript,
// and tolerates the failed connections it makes.
func (b *browser) cutSocketsOnDemand() {
	b.do("cut sockets on demand", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: offlineScript})
		return err
	}))
	b.tolerate(`WebSocket connection to .* failed`, `net::ERR_CONNECTION_REFUSED`)
}

// offlineScript replaces the page's WebSocket with one that a test can
// cut: window.goOffline() closes the open sockets and makes new ones
// fail, window.goOnline() lets them through again.
const offlineScript = `(() => {
  const Real = window.WebSocket;
  const open = [];
  let offline = false;
  window.WebSocket = class extends Real {
    constructor(url, protocols) {
      super(offline ? 'ws://127.0.0.1:9/' : url, protocols);
      open.push(this);
    }
  };
  window.goOffline = () => { offline = true; open.splice(0).forEach((s) => s.close()); return true; };
  window.goOnline = () => { offline = false; window.dispatchEvent(new Event('online')); return true; };
})()`

// TestOfflineThroughChanges: a page that was offline while a message was
// edited, another deleted and a third got two reactions shows all of it
// once back (recovering with after), and again after a reload (the page's
// HTML read again in its current state).
func TestOfflineThroughChanges(t *testing.T) {
	ctx := browserTest(t, 2*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	botTok := srv.User(t, "bot")
	bot := srv.Dial(t, "away", apptest.DialOptions{Token: botTok, Extensions: true})
	cat := srv.Dial(t, "away", apptest.DialOptions{Token: srv.User(t, "cat"), Extensions: true})
	m1 := bot.Post("first", "m1")
	m2 := bot.Post("second", "m2")
	m3 := bot.Post("third", "m3")

	b := newBrowser(t, ctx, "oli")
	b.cutSocketsOnDemand()
	b.signUp(srv.URL, "oli", "oli's long password")
	b.open(srv.URL + "/chats/away/")
	b.waitRoom("away")
	b.waitMessage("bot", "third")

	eval[bool](b, `window.goOffline()`)
	b.waitFor("the page offline", `document.getElementById('conn-state').dataset.state !== 'open'`)
	for _, c := range []struct {
		who     *apptest.Conn
		command string
		seq     int64
		arg     string
	}{{bot, "edit_message", m1.Seq, "first, edited"}, {bot, "delete_message", m2.Seq, ""},
		{bot, "react", m3.Seq, "👍"}, {cat, "react", m3.Seq, "🎉"}} {
		if ch, f := c.who.Change(c.command, c.seq, c.arg, fmt.Sprint(c.command, c.seq, c.arg)); ch == nil {
			t.Fatalf("%s: %s", c.command, f.Raw)
		}
	}
	eval[bool](b, `window.goOnline()`)
	check := func(when string, tombstone bool) {
		t.Helper()
		b.waitFor(when+": the edit", `(`+messageJS("bot", "first, edited")+`)?.querySelector('.msg-edited') != null`)
		b.waitFor(when+": the reactions", reactionJS(msgJS(m3.Seq), "👍")+` === '1' && `+reactionJS(msgJS(m3.Seq), "🎉")+` === '1'`)
		if tombstone {
			b.waitFor(when+": the tombstone", `(`+msgJS(m2.Seq)+`)?.querySelector('.msg-deleted')?.textContent === 'message deleted'`)
		} else if eval[bool](b, msgJS(m2.Seq)+` !== null`) {
			t.Errorf("%s: the deleted message is shown", when)
		}
	}
	check("after reconnecting", true)
	b.open(srv.URL + "/chats/away/")
	b.waitRoom("away")
	check("after a reload", false)
}
