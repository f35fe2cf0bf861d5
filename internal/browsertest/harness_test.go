package browsertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"parley/internal/testenv"
)

// TestHarnessSeesProblems proves that the checks every other test relies on
// are not vacuous: a page that breaks its Content Security Policy, throws
// and logs an error is caught on each count.
func TestHarnessSeesProblems(t *testing.T) {
	ctx := browserTest(t, time.Minute)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/app.js":
			w.Header().Set("Content-Type", "text/javascript")
			_, _ = w.Write([]byte(`console.error('logged'); throw new Error('thrown');`))
		case "/faint":
			_, _ = w.Write([]byte(`<!doctype html><html lang="en"><title>t</title>
<link rel="stylesheet" href="/faint.css"><main><p>Too faint to read.</p></main>`))
		case "/faint.css":
			w.Header().Set("Content-Type", "text/css")
			_, _ = w.Write([]byte(`p { color: #999; background: #aaa; }`))
		default:
			_, _ = w.Write([]byte(`<!doctype html><title>t</title>
<script>document.title = 'inline ran'</script>
<script src="/app.js"></script>
<p id="done">done</p>`))
		}
	}))
	defer ts.Close()

	b := newBrowser(t, ctx, "harness")
	b.open(ts.URL + "/")
	b.waitFor("the page", `document.getElementById('done')`)
	if title := eval[string](b, `document.title`); title == "inline ran" {
		t.Fatal("the inline script ran despite the policy")
	}
	want := []string{"CSP violation", "console error (security)", "console.error: \"logged\"", "uncaught exception"}
	for _, w := range want {
		// Events arrive on their own; give them a moment.
		testenv.Eventually(t, 5*time.Second, "the harness to see "+w, func() bool { return b.saw(w) })
	}
	got := b.takeProblems() // all expected: the test must not fail at cleanup
	for _, w := range want {
		if !contains(got, w) {
			t.Errorf("the harness did not report %q; it saw:\n%s", w, strings.Join(got, "\n"))
		}
	}

	// axe-core, when there, sees text too faint to read.
	if axe := axeSource(t); axe != "" {
		b.open(ts.URL + "/faint")
		res, err := runAxe(b, axe)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, v := range res.Violations {
			found = found || v.ID == "color-contrast" && v.Impact == "serious"
		}
		if !found {
			t.Errorf("axe-core did not report the faint text: %+v", res.Violations)
		}
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
