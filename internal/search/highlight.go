package search

import (
	"html"
	"html/template"
	"slices"
	"strings"
)

// Segment is a piece of a message's content, matched by a query's term or
// not.
type Segment struct {
	Text  string
	Match bool
}

// Highlight cuts content into segments that mark where the query's words
// and phrases appear, by the rules the engines match with: whole words,
// folded, a phrase's words one after the other, a prefix's word by its
// start. Excluded terms and operators mark nothing. Joined, the segments
// are content, unchanged.
func (q Query) Highlight(content string) []Segment {
	var toks []token
	tokens(content, func(t token) bool {
		toks = append(toks, t)
		return true
	})
	type span struct{ start, end int }
	var spans []span
	for _, t := range q.Terms {
		n := len(t.Words)
		for i := 0; i+n <= len(toks); i++ {
			if termAt(t, toks[i:i+n]) {
				spans = append(spans, span{toks[i].start, toks[i+n-1].end})
			}
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var segs []Segment
	at := 0
	for _, s := range spans {
		if s.end <= at {
			continue // inside the last match
		}
		if s.start > at {
			segs = append(segs, Segment{Text: content[at:s.start]})
		} else if len(segs) > 0 && segs[len(segs)-1].Match {
			// Overlaps the last match: extend it.
			last := &segs[len(segs)-1]
			last.Text += content[at:s.end]
			at = s.end
			continue
		}
		segs = append(segs, Segment{Text: content[max(s.start, at):s.end], Match: true})
		at = s.end
	}
	if at < len(content) {
		segs = append(segs, Segment{Text: content[at:]})
	}
	return segs
}

// termAt reports whether toks, as many as t has words, are t.
func termAt(t Term, toks []token) bool {
	for j, w := range t.Words {
		got := toks[j].folded
		if t.Prefix && j == len(t.Words)-1 {
			if !strings.HasPrefix(got, w) {
				return false
			}
		} else if got != w {
			return false
		}
	}
	return true
}

// HighlightHTML returns content as HTML: every character escaped, each
// match inside <mark>.
func (q Query) HighlightHTML(content string) template.HTML {
	var b strings.Builder
	for _, s := range q.Highlight(content) {
		if s.Match {
			b.WriteString("<mark>")
			b.WriteString(html.EscapeString(s.Text))
			b.WriteString("</mark>")
		} else {
			b.WriteString(html.EscapeString(s.Text))
		}
	}
	return template.HTML(b.String()) // #nosec G203 -- every piece of content is escaped above
}
