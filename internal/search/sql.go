package search

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// Filter is an SQL condition the caller writes and the search ANDs in: a
// boolean expression over the messages row, named m, with placeholders
// $1, $2, ... for its own Args, which the search renumbers to follow the
// arguments before them. (The renumbering skips quoted text, '...' and
// "...", and nothing else: a filter holds no dollar-quoted string.)
type Filter struct {
	SQL  string
	Args []any
}

// RoomsIn is the filter that keeps the messages of the given rooms; with
// no rooms it keeps nothing.
func RoomsIn(rooms []string) Filter {
	if len(rooms) == 0 {
		return Filter{SQL: "FALSE"}
	}
	args := make([]any, len(rooms))
	for i, r := range rooms {
		args[i] = r
	}
	return Filter{SQL: "m.room IN (" + placeholders(len(rooms)) + ")", Args: args}
}

// Options are what a search needs from its caller besides the query.
type Options struct {
	// Readable keeps only the messages the searcher may read: RoomsIn
	// their rooms, or a subquery such as
	// m.room IN (SELECT room FROM room_members WHERE user_id = $1).
	// Required: a search without it is refused, never run over every room.
	//
	// On PostgreSQL give a list, or a subquery run once as an array,
	// m.room = ANY(ARRAY(SELECT ...)): with m.room IN (SELECT ...) the
	// planner may scan the full-text index once for each room. Measured
	// over 1,000,000 messages, a member of 30 rooms of 100, two words: p99
	// 12 ms with a list, 50 ms with the array, 527 ms with IN (SELECT).
	// SQLite answers all three alike.
	//
	// Compare the array to an expression, (m.room || '') = ANY(ARRAY(...)),
	// as the store does: compared to the column, the planner may read an
	// index on room for every message of the readable rooms (a third of
	// them, here) to intersect it with the full-text index. Measured over
	// 10,000,000 messages, before the index knew blocks of ids, two
	// words: p99 136 ms against 408 ms (docs/BENCHMARKS.md, Search).
	Readable Filter
	// Mentioned keeps the messages that mention the searcher, such as
	// m.id IN (SELECT message_id FROM mentions WHERE user_id = $1).
	// Required when the query has is:mention.
	Mentioned Filter
	// Common, on PostgreSQL, are words in so many messages (PostgresCommon)
	// that the full-text index is not given them where the query has
	// rarer words: the rows the rarer ones find are tested for them. GIN
	// walks the whole list of each word it is given for each statement,
	// whatever else the statement asks: a word of 10,000 messages with
	// one of 6,000,000 cost 22 ms a statement, with the rarer alone 1 ms.
	// Nil: every word is given to the index.
	Common map[string]bool
}

// PostgresCommon is the share of the messages that makes a word common
// (Options.Common).
const PostgresCommon = 0.05

// PostgresWordShares is the statement that reads, from PostgreSQL's
// statistics of the full-text index, the words in the most messages and
// the share of messages each is in: the store takes as Options.Common
// those in PostgresCommon of the messages or more.
const PostgresWordShares = `SELECT x.word, x.share FROM pg_stats s,
	unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS x(word, share)
	WHERE s.schemaname = current_schema() AND s.tablename = 'messages_search' AND x.word IS NOT NULL`

// Fragment is a search as SQL: the messages it selects are those of From
// that pass Where, newest first by ID. Page writes the statement of a page
// of results; a caller that writes its own keeps
//
//	SELECT ... FROM <From> WHERE <Where> AND <ID> < $n ORDER BY <ID> DESC LIMIT $n+1
//
// From names the messages table m, and on SQLite may join it to the index:
// the index then hands out the matches newest first and the statement
// stops at the page's end, where m.id IN (matches) would find every match
// first (measured at 1,000,000 messages: a two-word query's p99 3.5 ms
// against 80 ms).
//
// Placeholders are $1, $2, ..., in the order of Args, as the store writes
// them for both engines; a statement that adds arguments after Where's
// numbers them from len(Args)+1. No text of the query is in the SQL: words
// reach the engines only as arguments. On PostgreSQL, run the statement planned with its
// arguments (pgx.QueryExecModeExec), never from a cached generic plan,
// which cannot tell a rare word from a common one.
type Fragment struct {
	From  string
	Where string
	Args  []any
	// ID is the id column that orders results and pages them: m.id, or
	// the index's rowid, which equals it.
	ID string
	// words is 1 + the index in Args of the tsquery of a PostgreSQL
	// fragment with words, which InBlocks narrows; 0 for the others.
	words int
	// every is that tsquery with every word (Options.Common), which
	// Windows gives the index for the rest of the history at once.
	every string
}

// Page returns the statement that selects columns (such as "m.id,
// m.content") of the results newest first: at most limit, and only those
// older than the message before when it is not 0 (the last id of the
// previous page).
func (f Fragment) Page(columns string, before int64, limit int) (string, []any) {
	args := slices.Clone(f.Args)
	where := f.Where
	if before > 0 {
		args = append(args, before)
		where += " AND " + f.ID + " < $" + strconv.Itoa(len(args))
	}
	args = append(args, limit)
	return "SELECT " + columns + " FROM " + f.From + " WHERE " + where + " ORDER BY " + f.ID + " DESC LIMIT $" + strconv.Itoa(len(args)), args
}

// BlockBits sizes the blocks of ids PostgreSQL's full-text index knows a
// message by: a message is in block id >> BlockBits, of 65,536 ids.
const BlockBits = 16

// postgresIndexed is the expression PostgreSQL's full-text index is built
// on (the store's migrations/postgres/0013_search_blocks.sql): a
// message's words, and three lexemes that no word can be, as words never
// hold a '#': its block of ids (#b and id >> BlockBits), its room (#r and
// the name) and its author (#a and the name). ANDed to a query's words,
// they make GIN itself keep the matches of a few blocks (Windows), of
// in:'s rooms or of from:'s authors, and nothing else.
const postgresIndexed = "(m." + PostgresColumn + " || array_to_tsvector(ARRAY['#b' || (m.id >> 16)::text, '#r' || m.room, '#a' || m.author]))"

// withWords returns f with tsquery, which the index answers, in place of
// its own.
func (f Fragment) withWords(tsquery string) Fragment {
	f.Args = slices.Clone(f.Args)
	f.Args[f.words-1] = tsquery
	return f
}

// InBlocks returns f narrowed to the messages of the blocks from lo to hi
// (block numbers, id >> BlockBits), or f when f cannot be narrowed so
// (SQLite's, or one without words).
func (f Fragment) InBlocks(lo, hi int64) Fragment {
	if f.words == 0 || lo > hi {
		return f
	}
	var b strings.Builder
	b.WriteString(f.Args[f.words-1].(string))
	b.WriteString(" & (")
	for n := lo; n <= hi; n++ {
		if n > lo {
			b.WriteString(" | ")
		}
		writeLexeme(&b, "#b"+strconv.FormatInt(n, 10))
	}
	b.WriteString(")")
	return f.withWords(b.String())
}

// The windows of Windows. A window of blocks costs GIN about as much for
// each of its blocks, whatever it finds there (a word's list is read
// through the block's, 65,536 ids, or through its own where that is
// shorter: 2–5 ms a block at 10,000,000 messages), and a statement
// without blocks costs the matches it reads. So windows serve the
// queries whose matches are dense, each sized to fill the page at the
// rate the windows before it found, up to maxWindow blocks; a query
// sparser than that, or still unanswered after maxWindows statements,
// asks for the rest of the history in one statement.
const (
	maxWindow  = 8
	maxWindows = 6
)

// Windows runs, through page, the statements of one page of f's results
// (columns as Page takes them): at most limit results, older than the
// message before if it is not 0, newest first. page runs a statement and
// returns how many results it had; newest returns the newest message's id
// (any id at least as large will do, at a cost), asked only where the
// windows start from the newest.
//
// A fragment of PostgreSQL with words asks for the newest block of ids
// first (InBlocks), then for older windows while the matches are dense
// enough to fill the page from them, then for the rest at once (see
// maxWindow): GIN hands out a word's matches in no order, and asked for
// them all, PostgreSQL reads every match to sort them, where the newest
// blocks hold the page (docs/BENCHMARKS.md, Search). Any other fragment
// is one statement, Page's.
func (f Fragment) Windows(columns string, before int64, limit int, newest func() (int64, error), page func(query string, args []any) (int, error)) error {
	if f.words == 0 {
		query, args := f.Page(columns, before, limit)
		_, err := page(query, args)
		return err
	}
	top := before - 1
	if before == 0 {
		var err error
		if top, err = newest(); err != nil {
			return err
		}
	}
	hi, width := top>>BlockBits, int64(1)
	var seen int64 // ids the windows covered
	found := 0
	for statements := 1; limit > 0 && hi >= 0; statements++ {
		lo := hi - width + 1
		var w Fragment
		if width == 0 || lo <= 0 || statements == maxWindows {
			// The rest at once, every word given to GIN: it reads the
			// lists of the common ones once, and fewer rows.
			lo, w = 0, f.withWords(f.every)
		} else {
			w = f.InBlocks(lo, hi)
		}
		below := min((hi+1)<<BlockBits, top+1)
		query, args := w.Page(columns, below, limit)
		n, err := page(query, args)
		if err != nil || lo == 0 {
			return err
		}
		limit, found, seen = limit-n, found+n, seen+below-lo<<BlockBits
		width = nextWindow(found, seen, limit)
		hi = lo - 1
	}
	return nil
}

// nextWindow sizes the window after windows that covered seen ids and
// found found results, when the page still needs need: as many blocks as
// hold need at that rate, and a quarter more; 0 when more than maxWindow
// would, for the rest at once; 1 before a block's worth of ids is seen.
func nextWindow(found int, seen int64, need int) int64 {
	const block = 1 << BlockBits
	switch {
	case seen < block:
		return 1
	case found == 0:
		return 0
	}
	ids := seen * int64(need) * 5 / 4 / int64(found)
	if ids > maxWindow*block {
		return 0
	}
	return max(1, (ids+block-1)/block)
}

var (
	errNoReadable  = errors.New("search: Options.Readable is required")
	errNoMentioned = errors.New("search: the query has is:mention and Options.Mentioned is empty")
)

// The names the fragments use, as the search migrations create them
// (the store's migrations/ENGINE/0008_search.sql).
const (
	// SQLiteTable is the FTS5 table over messages.content.
	SQLiteTable = "messages_fts"
	// PostgresColumn is the tsvector column of messages.
	PostgresColumn = "search_vector"
)

// SQLiteIndexNew is the statement that indexes on SQLite the messages a
// transaction inserted: run it once in that transaction, after all its
// inserts, with the first new id (the writer holds the database's write
// lock, so every id from it on is new). Once a transaction, not once a
// message: FTS5 then writes its pending words to disk once, at commit
// (the store's migrations/sqlite/0008_search.sql has the numbers). Edits
// and deletions are indexed by triggers.
const SQLiteIndexNew = "INSERT INTO " + SQLiteTable + " (rowid, content) SELECT id, content FROM messages WHERE id >= $1"

// SQLite returns the fragment that selects q's messages on SQLite, with its
// full-text part answered by the FTS5 table messages_fts.
func (q Query) SQLite(opt Options) (Fragment, error) {
	b, err := newBuilder(&q, opt)
	if err != nil {
		return Fragment{}, err
	}
	if b == nil {
		return nothing, nil
	}
	if len(q.Terms) > 0 {
		expr := fts5Join(q.Terms, " AND ")
		if len(q.Excluded) > 0 {
			expr = "(" + expr + ") NOT (" + fts5Join(q.Excluded, " OR ") + ")"
		}
		b.from = SQLiteTable + " JOIN messages m ON m.id = " + SQLiteTable + ".rowid"
		b.id = SQLiteTable + ".rowid"
		b.add(SQLiteTable+" MATCH $1", expr)
	} else if len(q.Excluded) > 0 {
		// FTS5 has no NOT without something to take from.
		b.add("m.id NOT IN (SELECT rowid FROM "+SQLiteTable+" WHERE "+SQLiteTable+" MATCH $1)", fts5Join(q.Excluded, " OR "))
	}
	if !q.Since.IsZero() {
		b.add("m.created_at >= $1", q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		b.add("m.created_at < $1", q.Until.UnixMicro())
	}
	if q.HasLink {
		// LIKE ignores the case of ASCII letters, and only theirs.
		b.add("(m.content LIKE $1 OR m.content LIKE $2)", "%http://%", "%https://%")
	}
	b.filters(q, opt)
	return b.fragment(), nil
}

// Postgres returns the fragment that selects q's messages on PostgreSQL,
// with its full-text part answered by the tsvector column search_vector
// (which Vector fills).
func (q Query) Postgres(opt Options) (Fragment, error) {
	b, err := newBuilder(&q, opt)
	if err != nil {
		return Fragment{}, err
	}
	if b == nil {
		return nothing, nil
	}
	switch {
	case len(q.Terms) > 0:
		indexed, tested := splitCommon(q.Terms, opt.Common)
		every, _ := splitCommon(q.Terms, nil)
		// GIN reads every word a prefix starts, whatever else a
		// statement asks: a query with one is one statement, every word
		// given to GIN.
		windows := !slices.ContainsFunc(q.Terms, func(t Term) bool { return t.Prefix })
		if !windows {
			indexed, tested = every, nil
		}
		// GIN keeps the matches of these rooms and authors alone; the
		// conditions on m.room and m.author (filters) still say which,
		// exactly.
		var also []string
		also = appendAny(also, "#r", q.In)
		also = appendAny(also, "#a", q.From)
		b.add(postgresIndexed+" @@ CAST($1 AS tsquery)", strings.Join(append(indexed, also...), " & "))
		b.every = strings.Join(append(every, also...), " & ")
		if windows {
			b.words = len(b.args)
		}
		// The excluded words are tested on the rows GIN keeps too:
		// given to GIN, an excluded word's every match is read (a common
		// one: 30 ms a statement).
		for _, t := range q.Excluded {
			tested = append(tested, "!("+tsTerm(t)+")")
		}
		if len(tested) > 0 {
			b.add("m."+PostgresColumn+" @@ CAST($1 AS tsquery)", strings.Join(tested, " & "))
		}
	case len(q.Excluded) > 0:
		b.add("m."+PostgresColumn+" @@ CAST($1 AS tsquery)", "!("+tsAny(q.Excluded)+")")
	}
	if !q.Since.IsZero() {
		b.add("m.created_at >= $1", q.Since)
	}
	if !q.Until.IsZero() {
		b.add("m.created_at < $1", q.Until)
	}
	if q.HasLink {
		// lower() under the C collation folds ASCII letters only, as
		// SQLite's LIKE does.
		b.add(`(lower(m.content COLLATE "C") LIKE $1 OR lower(m.content COLLATE "C") LIKE $2)`, "%http://%", "%https://%")
	}
	b.filters(q, opt)
	return b.fragment(), nil
}

// nothing is the fragment of an empty query.
var nothing = Fragment{From: "messages m", Where: "FALSE", ID: "m.id"}

// builder gathers the conditions of a fragment.
type builder struct {
	from, id string
	conds    []string
	args     []any
	words    int    // Fragment.words
	every    string // Fragment.every
}

// newBuilder checks opt and returns nil, with no error, for an empty
// query, which matches nothing. It rewrites q's terms to the words the
// index holds: the same words for a query from Parse; for terms made by
// hand, the engines then see only words, each as the other engine does.
func newBuilder(q *Query, opt Options) (*builder, error) {
	if opt.Readable.SQL == "" {
		return nil, errNoReadable
	}
	if q.IsMention && opt.Mentioned.SQL == "" {
		return nil, errNoMentioned
	}
	q.Terms, q.Excluded = indexWords(q.Terms), indexWords(q.Excluded)
	if q.Empty() || contradicts(q) {
		return nil, nil
	}
	return &builder{from: "messages m", id: "m.id"}, nil
}

// contradicts reports whether q excludes what it requires: an excluded
// term whose words, one after the other, are in a required term (word -word,
// "a b c" -"b c"), which every match of that term holds. Such a query
// matches nothing, and the engines would read every match of its words to
// find it out.
func contradicts(q *Query) bool {
	for _, e := range q.Excluded {
		for _, t := range q.Terms {
			whole := t.Words
			if t.Prefix {
				whole = whole[:len(whole)-1] // the last word is only a start
			}
			for i := 0; i+len(e.Words) <= len(whole); i++ {
				if holds(whole[i:i+len(e.Words)], e) {
					return true
				}
			}
		}
	}
	return false
}

// holds reports whether the words ws are e's words, each as e matches it.
func holds(ws []string, e Term) bool {
	for i, w := range e.Words {
		if ws[i] == w || (e.Prefix && i == len(e.Words)-1 && strings.HasPrefix(ws[i], w)) {
			continue
		}
		return false
	}
	return true
}

// indexWords returns terms with their words as the tokenizer reads them,
// leaving out terms with none.
func indexWords(terms []Term) []Term {
	out := make([]Term, 0, len(terms))
	for _, t := range terms {
		var ws []string
		for _, w := range t.Words {
			ws = append(ws, words(w)...)
		}
		if len(ws) > 0 {
			t.Words = ws
			out = append(out, t)
		}
	}
	return out
}

// add ANDs a condition written with $1, $2, ... for its own args.
func (b *builder) add(cond string, args ...any) {
	b.conds = append(b.conds, renumber(cond, len(b.args)))
	b.args = append(b.args, args...)
}

// filters adds the conditions both engines write alike.
func (b *builder) filters(q Query, opt Options) {
	author, room := "m.author", "m.room"
	if b.every != "" {
		// GIN keeps these authors' and rooms' matches already
		// (postgresIndexed): compared to the columns, the planner would
		// also read an index on them, every message of the room, to
		// intersect (27 ms for a room of 100,000 messages).
		author, room = "(m.author || '')", "(m.room || '')"
	}
	if len(q.From) > 0 {
		b.add(author+" IN ("+placeholders(len(q.From))+")", anys(q.From)...)
	}
	if len(q.In) > 0 {
		b.add(room+" IN ("+placeholders(len(q.In))+")", anys(q.In)...)
	}
	if q.IsMention {
		b.add("("+opt.Mentioned.SQL+")", opt.Mentioned.Args...)
	}
	b.add("("+opt.Readable.SQL+")", opt.Readable.Args...)
}

func (b *builder) fragment() Fragment {
	return Fragment{From: b.from, Where: strings.Join(b.conds, " AND "), Args: slices.Clip(b.args), ID: b.id, words: b.words, every: b.every}
}

// fts5Join writes terms as FTS5 strings joined by op. Each term is one
// double-quoted string, which FTS5 reads as a phrase of its words and
// nothing else: no word of a query is ever an FTS5 operator.
func fts5Join(terms []Term, op string) string {
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(op)
		}
		b.WriteByte('"')
		for j, w := range t.Words {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.ReplaceAll(w, `"`, `""`))
		}
		b.WriteByte('"')
		if t.Prefix {
			b.WriteString(" *")
		}
	}
	return b.String()
}

// splitCommon returns, as tsquery text, what of terms to give the
// full-text index and what to test on the rows it finds: a term with a
// common word (Options.Common) is tested, and its other words, if any,
// are indexed. If nothing would be indexed, every term is.
func splitCommon(terms []Term, common map[string]bool) (indexed, tested []string) {
	for _, t := range terms {
		var rare []string
		for i, w := range t.Words {
			last := i == len(t.Words)-1
			if !common[w] || (t.Prefix && last) { // a prefix is no word
				rare = append(rare, "("+tsTerm(Term{Words: []string{w}, Prefix: t.Prefix && last})+")")
			}
		}
		if len(rare) == len(t.Words) {
			indexed = append(indexed, "("+tsTerm(t)+")")
			continue
		}
		indexed = append(indexed, rare...)
		tested = append(tested, "("+tsTerm(t)+")")
	}
	if len(indexed) == 0 {
		return splitCommon(terms, nil)
	}
	return indexed, tested
}

// tsAny writes the tsquery that matches any of terms.
func tsAny(terms []Term) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = "(" + tsTerm(t) + ")"
	}
	return strings.Join(parts, " | ")
}

// appendAny appends to parts the tsquery that matches any of the lexemes
// of prefix and one of names, if there are names.
func appendAny(parts []string, prefix string, names []string) []string {
	if len(names) == 0 {
		return parts
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, n := range names {
		if i > 0 {
			b.WriteString(" | ")
		}
		writeLexeme(&b, prefix+n)
	}
	b.WriteByte(')')
	return append(parts, b.String())
}

// tsTerm writes a term as tsquery text: its words as quoted lexemes,
// followed by each other (<->), the last one a prefix (:*) if the term's
// is. The lexemes are taken as they are: the cast to tsquery does not
// normalise them, as to_tsquery would.
func tsTerm(t Term) string {
	var b strings.Builder
	for i, w := range t.Words {
		if i > 0 {
			b.WriteString(" <-> ")
		}
		writeLexeme(&b, cutLexeme(w))
		if t.Prefix && i == len(t.Words)-1 {
			b.WriteString(":*")
		}
	}
	return b.String()
}

// writeLexeme writes w quoted as tsvector and tsquery text read it.
func writeLexeme(b *strings.Builder, w string) {
	b.WriteByte('\'')
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteByte(w[i])
		}
	}
	b.WriteByte('\'')
}

// PostgreSQL's bounds on a tsvector: positions run from 1 to 16,383, and a
// lexeme keeps its first 256.
const (
	maxPosition          = 16383
	maxPositionsByLexeme = 256
)

// Vector returns content's words as tsvector text, for PostgreSQL's
// search_vector column: CAST($n AS tsvector) in the statement that inserts
// or edits the message. Each word is the one SQLite's index holds, at the
// same position, so both engines match the same messages.
func Vector(content string) string {
	positions := make(map[string][]int)
	var order []string
	n := 0
	tokens(content, func(t token) bool {
		n++
		w := cutLexeme(t.folded)
		p, seen := positions[w]
		if !seen {
			order = append(order, w)
		}
		if len(p) < maxPositionsByLexeme {
			positions[w] = append(p, min(n, maxPosition))
		}
		return true
	})
	var b strings.Builder
	b.Grow(len(content) + 4*n)
	for i, w := range order {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeLexeme(&b, w)
		for j, p := range positions[w] {
			if j == 0 {
				b.WriteByte(':')
			} else {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(p))
		}
	}
	return b.String()
}

// cutLexeme cuts w to maxLexemeRunes characters.
func cutLexeme(w string) string {
	n := 0
	for i := range w {
		if n == maxLexemeRunes {
			return w[:i]
		}
		n++
	}
	return w
}

// placeholders returns $1, $2, ..., $n.
func placeholders(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	return b.String()
}

// renumber adds by to the number of every placeholder $N of sql outside
// quotes.
func renumber(sql string, by int) string {
	if by == 0 || !strings.Contains(sql, "$") {
		return sql
	}
	var b strings.Builder
	var quote byte // the quote we are inside, or 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: the same
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			n, err := strconv.Atoi(sql[i+1 : j])
			if err != nil {
				break // too many digits to be a placeholder: leave it
			}
			b.WriteString("$" + strconv.Itoa(n+by))
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func anys(s []string) []any {
	a := make([]any, len(s))
	for i, v := range s {
		a[i] = v
	}
	return a
}
