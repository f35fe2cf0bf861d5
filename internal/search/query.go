package search

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"parley/internal/chat"
)

// Limits of a query. A longer one is refused with an error that says so,
// rather than cut: a cut query would find something else.
const (
	// MaxQueryLength is the most characters a query may have.
	MaxQueryLength = 500
	// MaxTerms is the most words, phrases and operators a query may have.
	MaxTerms = 20
	// MinPrefix is the fewest characters a word needs before a * makes it
	// a prefix; a shorter word ending in * is searched as a whole word.
	MinPrefix = 2
)

// Query is a parsed search: a message matches when it holds every term,
// none of the excluded ones, and passes every operator given.
type Query struct {
	// Terms are the words and phrases that must all appear.
	Terms []Term
	// Excluded are the words and phrases (-word, -"a phrase") that must not.
	Excluded []Term
	// From are authors (from:NAME): any of them.
	From []string
	// In are rooms (in:ROOM): any of them.
	In []string
	// Since, if not zero, keeps messages created at or after it (UTC).
	Since time.Time
	// Until, if not zero, keeps messages created strictly before it (UTC).
	Until time.Time
	// HasLink keeps messages that hold a link (has:link).
	HasLink bool
	// IsMention keeps messages that mention the searcher (is:mention).
	IsMention bool
	// Ignored are the words of the query that hold nothing to search for
	// (only punctuation or symbols, such as emoji), as written: a page may
	// say that they were left out.
	Ignored []string
}

// Term is a word or a phrase: its words must appear one after the other,
// in this order.
type Term struct {
	// Text is the term as written, without its quotes or its -.
	Text string
	// Words are the term's words, folded as the index folds them (lower
	// case, without diacritics).
	Words []string
	// Prefix makes the last word match any word that starts with it
	// (written word*).
	Prefix bool
}

// Empty reports whether q has nothing to search for: no term and no
// operator. An empty query is not run; it matches nothing.
func (q Query) Empty() bool {
	return len(q.Terms) == 0 && len(q.Excluded) == 0 && len(q.From) == 0 && len(q.In) == 0 &&
		q.Since.IsZero() && q.Until.IsZero() && !q.HasLink && !q.IsMention
}

// Parse reads a search query, in the language the package comment
// describes, with today's date in UTC for today and yesterday.
func Parse(q string) (Query, error) { return ParseAt(q, time.Now()) }

// ParseAt is Parse on the day now falls on in UTC.
func ParseAt(q string, now time.Time) (Query, error) {
	q = strings.TrimSpace(strings.ToValidUTF8(q, " "))
	if n := utf8.RuneCountInString(q); n > MaxQueryLength {
		return Query{}, chat.Errorf(chat.EInvalid, "A search has at most %d characters; this one has %d.", MaxQueryLength, n)
	}
	p := parser{s: q, today: dayOf(now)}
	return p.parse()
}

type parser struct {
	s     string
	i     int
	today time.Time
	q     Query
	terms int
}

func (p *parser) parse() (Query, error) {
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			break
		}
		if err := p.item(); err != nil {
			return Query{}, err
		}
		if p.terms > MaxTerms {
			return Query{}, chat.Errorf(chat.EInvalid, "A search has at most %d words, phrases and operators.", MaxTerms)
		}
	}
	return p.q, nil
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		if !unicode.IsSpace(r) {
			return
		}
		p.i += size
	}
}

// item reads one word, phrase or operator, with its - if any.
func (p *parser) item() error {
	neg := false
	if p.s[p.i] == '-' {
		neg = true
		p.i++
		if p.i >= len(p.s) || p.spaceAt(p.i) {
			return nil // a - alone excludes nothing
		}
	}
	if p.s[p.i] == '"' {
		p.i++
		text := p.s[p.i:]
		if end := strings.IndexByte(text, '"'); end >= 0 {
			text = text[:end]
			p.i += end + 1
		} else {
			p.i = len(p.s) // an unclosed phrase runs to the end
		}
		p.term(text, neg)
		return nil
	}
	start := p.i
	for p.i < len(p.s) && !p.spaceAt(p.i) {
		_, size := utf8.DecodeRuneInString(p.s[p.i:])
		p.i += size
	}
	word := p.s[start:p.i]
	if name, value, ok := strings.Cut(word, ":"); ok {
		if name = strings.ToLower(name); isOperator(name) {
			if neg {
				return chat.Errorf(chat.EInvalid, "An operator cannot be excluded: remove the - before %s.", word)
			}
			// A value may be quoted: from:"alice".
			if strings.HasPrefix(value, `"`) {
				value = strings.TrimPrefix(value, `"`)
				if end := strings.IndexByte(value, '"'); end >= 0 {
					value = value[:end]
				} else if rest := p.s[p.i:]; strings.Contains(rest, `"`) {
					// from:"al ice": the value ran past a space.
					end := strings.IndexByte(rest, '"')
					value += rest[:end]
					p.i += end + 1
				}
			}
			p.terms++
			return p.operator(name, value)
		}
	}
	p.term(word, neg)
	return nil
}

func (p *parser) spaceAt(i int) bool {
	r, _ := utf8.DecodeRuneInString(p.s[i:])
	return unicode.IsSpace(r)
}

// term adds a word or phrase; a * right after its last word makes that
// word a prefix.
func (p *parser) term(text string, neg bool) {
	p.terms++
	t := Term{Text: text}
	last := token{}
	tokens(text, func(tok token) bool {
		t.Words = append(t.Words, tok.folded)
		last = tok
		return true
	})
	if len(t.Words) == 0 {
		if strings.TrimSpace(text) != "" {
			p.q.Ignored = append(p.q.Ignored, text)
		}
		return
	}
	if rest := text[last.end:]; strings.HasPrefix(rest, "*") && utf8.RuneCountInString(last.folded) >= MinPrefix {
		t.Prefix = true
	}
	if neg {
		p.q.Excluded = append(p.q.Excluded, t)
	} else {
		p.q.Terms = append(p.q.Terms, t)
	}
}

// isOperator reports whether name, in lower case, is an operator's. Any
// other name:value is an ordinary word.
func isOperator(name string) bool {
	switch name {
	case "from", "in", "before", "after", "on", "has", "is":
		return true
	}
	return false
}

func (p *parser) operator(name, value string) error {
	switch name {
	case "from":
		return p.from(value)
	case "in":
		return p.in(value)
	case "has":
		return p.has(value)
	case "is":
		return p.is(value)
	}
	return p.date(name, value)
}

func (p *parser) from(value string) error {
	// from:@alice, as a mention is written. A name that itself starts
	// with @ is written from:@@name.
	if v, ok := strings.CutPrefix(value, "@"); ok && chat.ValidUsername(v) {
		value = v
	}
	if !chat.ValidUsername(value) {
		return chat.Errorf(chat.EInvalid, "from: wants a user name, like from:alice (repeat it for several people).")
	}
	p.q.From = appendNew(p.q.From, value)
	return nil
}

func (p *parser) in(value string) error {
	value = strings.TrimPrefix(value, "#") // in:#lobby; # is never part of a room name
	if !chat.ValidRoomName(value) {
		return chat.Errorf(chat.EInvalid, "in: wants a room name, like in:lobby (repeat it for several rooms).")
	}
	p.q.In = appendNew(p.q.In, value)
	return nil
}

// date reads before:, after: and on:, each a day in UTC: before:D keeps
// what was written before D began, after:D what was written after D ended,
// on:D what was written during D. Given twice, the narrower bound wins.
func (p *parser) date(name, value string) error {
	var day time.Time
	switch v := strings.ToLower(value); v {
	case "today":
		day = p.today
	case "yesterday":
		day = p.today.AddDate(0, 0, -1)
	default:
		d, err := time.Parse(time.DateOnly, value)
		if err != nil {
			return chat.Errorf(chat.EInvalid, "%s: wants a date like %s (or today, yesterday).", name, p.today.Format(time.DateOnly))
		}
		day = d
	}
	next := day.AddDate(0, 0, 1)
	if name == "before" || name == "on" {
		end := day
		if name == "on" {
			end = next
		}
		if p.q.Until.IsZero() || end.Before(p.q.Until) {
			p.q.Until = end
		}
	}
	if name == "after" || name == "on" {
		start := next
		if name == "on" {
			start = day
		}
		if start.After(p.q.Since) {
			p.q.Since = start
		}
	}
	return nil
}

func (p *parser) has(value string) error {
	if !strings.EqualFold(value, "link") {
		return chat.Errorf(chat.EInvalid, "has: knows one value: has:link.")
	}
	p.q.HasLink = true
	return nil
}

func (p *parser) is(value string) error {
	if !strings.EqualFold(value, "mention") {
		return chat.Errorf(chat.EInvalid, "is: knows one value: is:mention.")
	}
	p.q.IsMention = true
	return nil
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func appendNew(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
