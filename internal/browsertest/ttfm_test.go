package browsertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"parley/internal/apptest"
)

// firstMessageClock runs in every document before the page's own scripts:
// it notes when the first message enters the room's list
// (window.parleyFirstMessage, ms since the navigation began) and when the
// frame after next starts, by which time it has been painted
// (window.parleyFirstPaint).
const firstMessageClock = `(() => {
  const mark = () => {
    if (window.parleyFirstMessage || !document.querySelector('#messages .msg')) return false;
    window.parleyFirstMessage = performance.now();
    requestAnimationFrame(() => requestAnimationFrame(() => { window.parleyFirstPaint = performance.now(); }));
    return true;
  };
  new MutationObserver((_, seen) => { if (mark()) seen.disconnect(); })
    .observe(document, { childList: true, subtree: true });
})();`

// ttfmRuns is how many fresh browsers each setting is measured in.
const ttfmRuns = 3

// TestTimeToFirstMessage measures how long a room takes to show its first
// message: on a desktop right after logging in, and on a phone whose every
// round trip takes 300 ms (Chromium's network emulation). The messages are
// in the page's HTML, so the first is there before the document is even
// parsed, whatever the socket does. Run with -v for the numbers
// (docs/BENCHMARKS.md, "Time to first message").
func TestTimeToFirstMessage(t *testing.T) {
	ctx := browserTest(t, 3*time.Minute)
	srv := apptest.Start(t, apptest.Options{Args: []string{"--send-limit=off"}})
	tok := srv.User(t, "wren")
	for i := 1; i <= 30; i++ {
		post(t, srv, tok, "timing", fmt.Sprintf("Message %d of the morning's thread.", i))
	}
	srv.User(t, "yara")

	for _, setting := range []struct {
		name    string
		phone   bool
		latency float64 // ms from a request to its answer's headers
	}{
		{"desktop, fresh log-in", false, 0},
		{"phone, 300 ms round trips", true, 300},
	} {
		var painted []float64
		for run := range ttfmRuns {
			b := newBrowser(t, ctx, fmt.Sprintf("yara-%d", run))
			b.do("start the clock", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
					page.AddScriptToEvaluateOnNewDocumentParams{Source: firstMessageClock})
				return err
			}))
			if setting.phone {
				b.do("emulate a phone", chromedp.EmulateViewport(390, 844,
					chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)))
			}
			b.logIn(srv.URL, "yara", "password-yara")
			if setting.latency > 0 {
				b.do("slow the network", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
						return err
					}
					_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
						MatchedNetworkConditions: []*network.Conditions{{Latency: setting.latency, DownloadThroughput: -1, UploadThroughput: -1}},
					})
					return err
				}))
			}
			b.open(srv.URL + "/chats/timing/")
			b.waitFor("the first message painted", `window.parleyFirstPaint > 0`)
			m := eval[struct {
				First, Painted, Parsed float64
			}](b, `({first: window.parleyFirstMessage, painted: window.parleyFirstPaint,
  parsed: performance.getEntriesByType('navigation')[0].domContentLoadedEventStart})`)
			painted = append(painted, m.Painted)
			t.Logf("%s, run %d: first message in the page at %.0f ms, painted by %.0f ms; document parsed at %.0f ms",
				setting.name, run+1, m.First, m.Painted, m.Parsed)
			if m.Parsed == 0 || m.First > m.Parsed {
				t.Errorf("%s: the first message came %.0f ms after the document was parsed: it waited for the socket",
					setting.name, m.First-m.Parsed)
			}
		}
		slices.Sort(painted)
		var each []string
		for _, p := range painted {
			each = append(each, fmt.Sprintf("%.0f", p))
		}
		t.Logf("%s: time to first message %s ms (median %.0f)", setting.name, strings.Join(each, ", "), painted[len(painted)/2])
	}
}
