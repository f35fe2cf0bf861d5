package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"parley/internal/chat"
	"parley/internal/search"
)

// readableRule is who may read a room, as SQL: the condition on a room r
// and the searcher's room_members row mm (LEFT JOINed: NULL when they are
// not a member) under which r's messages are the searcher's to find. It
// is chat.Can's rule for chat.ActRead — a room is readable iff it is
// public or the user is its member — written once here, in SQL, for the
// queries that filter many rooms at once (a search), and used through
// readableFilter only.
//
// TestReadableRuleIsCan holds it to chat.Can for every kind of room.
const readableRule = "(r.kind = 'public' OR mm.user_id IS NOT NULL)"

// readableFilter is the search filter that keeps the messages of the
// rooms the user may read by rule (readableRule), and none
// deleted. The rooms are listed once by a subquery: on PostgreSQL as an
// array, compared to the room name made an expression (m.room joined to
// the empty string), which keeps the planner from scanning the full-text
// index once for each room and from reading an index on room for every
// readable room's messages (see search.Options).
func (s *Store) readableFilter(userID int64) search.Filter {
	rooms := "SELECT r.name FROM rooms r LEFT JOIN room_members mm ON mm.room = r.name AND mm.user_id = $1 WHERE " + readableRule
	sql := "m.deleted_at IS NULL AND m.room IN (" + rooms + ")"
	if s.engine == EnginePostgres {
		sql = "m.deleted_at IS NULL AND (m.room || '') = ANY(ARRAY(" + rooms + "))"
	}
	return search.Filter{SQL: sql, Args: []any{userID}}
}

// mentionedFilter keeps the messages that mention the user (is:mention),
// as the mentions table records them.
func mentionedFilter(userID int64) search.Filter {
	return search.Filter{SQL: "m.id IN (SELECT message_id FROM mentions WHERE user_id = $1)", Args: []any{userID}}
}

// onceQuerier runs a query without keeping its prepared statement
// (sqliteDB); pgx's QueryExecModeExec does the same on PostgreSQL.
type onceQuerier interface {
	queryOnce(ctx context.Context, query string, args ...any) (rows, error)
}

// SearchPage asks for one page of search results.
type SearchPage struct {
	// Before, if not 0, asks for the results older than that one: the
	// Next of the previous page.
	Before int64
	// Limit is how many results at most: 1 to MaxSearchLimit; 0 means
	// DefaultSearchLimit.
	Limit int
}

// The page sizes of a search.
const (
	DefaultSearchLimit = 20
	MaxSearchLimit     = 100
)

// SearchResult is one message a search found.
type SearchResult struct {
	// ID is the message's id, what SearchPage.Before takes.
	ID        int64
	Room      string
	Seq       int64
	Author    string
	Timestamp time.Time
	Edited    time.Time // zero: never edited
	// Content is the message as it is now, verbatim.
	Content string
	// Highlights is Content cut into segments, the query's matches marked
	// (search.Query.Highlight): joined, they are Content.
	Highlights []search.Segment
}

// SearchResults is a page of results, newest first.
type SearchResults struct {
	Results []SearchResult
	// Next is the SearchPage.Before of the next, older page; 0 when there
	// is none.
	Next int64
}

// Search returns the messages that match q among those user may read
// (readableRule), newest first, a page at a time. An empty query finds
// nothing. A Before or Limit out of range is a *chat.Error with code
// chat.EInvalid.
func (s *Store) Search(ctx context.Context, user chat.User, q search.Query, p SearchPage) (SearchResults, error) {
	if p.Before < 0 {
		return SearchResults{}, chat.Errorf(chat.EInvalid, "The page to search before must be a positive number.")
	}
	if p.Limit < 0 || p.Limit > MaxSearchLimit {
		return SearchResults{}, chat.Errorf(chat.EInvalid, "Ask for 1 to %d results at a time.", MaxSearchLimit)
	}
	limit := p.Limit
	if limit == 0 {
		limit = DefaultSearchLimit
	}
	out := SearchResults{Results: []SearchResult{}}
	if q.Empty() {
		return out, nil
	}
	// A room is one name whatever its case: in:General is #general.
	q.In = slices.Clone(q.In)
	for i, r := range q.In {
		if chat.ValidRoomName(r) {
			q.In[i] = chat.NormalizeRoomName(r)
		}
	}
	var err error
	opt := search.Options{Readable: s.readableFilter(user.ID), Mentioned: mentionedFilter(user.ID)}
	if s.engine == EnginePostgres {
		if opt.Common, err = s.commonWords(ctx); err != nil {
			return out, err
		}
	}
	var f search.Fragment
	if s.engine == EnginePostgres {
		f, err = q.Postgres(opt)
	} else {
		f, err = q.SQLite(opt)
	}
	if err != nil {
		return out, fmt.Errorf("store: search: %w", err)
	}
	// Where the windows of a search with words start on PostgreSQL.
	newest := func() (id int64, err error) {
		if err := s.read.queryRow(ctx, "SELECT COALESCE(max(id), 0) FROM messages").Scan(&id); err != nil {
			return 0, wrapErr("search", err)
		}
		return id, nil
	}
	err = f.Windows("m.id, m.room, m.seq, m.author, m.created_at, m.edited_at, m.content", p.Before, limit+1, newest,
		func(query string, args []any) (int, error) {
			before := len(out.Results)
			err := s.searchRows(ctx, query, args, &out.Results)
			return len(out.Results) - before, err
		})
	if err != nil {
		return out, err
	}
	if len(out.Results) > limit {
		out.Results = out.Results[:limit]
		out.Next = out.Results[limit-1].ID
	}
	for i := range out.Results {
		out.Results[i].Highlights = q.Highlight(out.Results[i].Content)
	}
	return out, nil
}

// commonWords are the words search takes for common on PostgreSQL
// (search.Options.Common): those PostgreSQL's statistics of the full-text
// index say are in search.PostgresCommon of the messages or more, read
// again once they are commonWordsAge old. Autovacuum's ANALYZE keeps the
// statistics; a database never analyzed has none, and every word is then
// given to the index.
type commonWords struct {
	mu    sync.Mutex
	read  time.Time
	words map[string]bool
}

const commonWordsAge = 10 * time.Minute

func (s *Store) commonWords(ctx context.Context) (map[string]bool, error) {
	c := &s.common
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.words != nil && time.Since(c.read) < commonWordsAge {
		return c.words, nil
	}
	rs, err := s.read.query(ctx, search.PostgresWordShares)
	if err != nil {
		return nil, wrapErr("search: common words", err)
	}
	defer rs.Close()
	words := map[string]bool{}
	for rs.Next() {
		var w string
		var share float64
		if err := rs.Scan(&w, &share); err != nil {
			return nil, wrapErr("search: common words", err)
		}
		if share >= search.PostgresCommon {
			words[w] = true
		}
	}
	if err := rs.Err(); err != nil {
		return nil, wrapErr("search: common words", err)
	}
	c.words, c.read = words, time.Now()
	return words, nil
}

// searchRows runs one statement of a search and appends its results to
// results.
func (s *Store) searchRows(ctx context.Context, query string, args []any, results *[]SearchResult) error {
	// The statement's text varies with the query's operators: it is not
	// kept as the store's other statements are. On PostgreSQL it is also
	// planned with its words, never from a generic plan, which cannot
	// tell a rare word from a common one (search.Fragment).
	var rs rows
	var err error
	if once, ok := s.read.(onceQuerier); ok {
		rs, err = once.queryOnce(ctx, query, args...)
	} else {
		rs, err = s.read.query(ctx, query, append([]any{pgx.QueryExecModeExec}, args...)...)
	}
	if err != nil {
		return wrapErr("search", err)
	}
	defer rs.Close()
	for rs.Next() {
		var r SearchResult
		if err := rs.Scan(&r.ID, &r.Room, &r.Seq, &r.Author, timeCol{&r.Timestamp}, nullTimeCol{&r.Edited}, &r.Content); err != nil {
			return wrapErr("search", err)
		}
		*results = append(*results, r)
	}
	if err := rs.Err(); err != nil {
		return wrapErr("search", err)
	}
	return nil
}

// backfillSearchVectors is migration 8's step on PostgreSQL: it gives the
// messages stored before it their search_vector, a thousand at a time,
// newest first, in the migration's transaction. A deleted message's
// erased content gets the empty vector.
func backfillSearchVectors(ctx context.Context, tx querier) error {
	before := int64(1) << 62
	for {
		rs, err := tx.query(ctx, `SELECT id, content FROM messages
			WHERE search_vector IS NULL AND id < $1 ORDER BY id DESC LIMIT 1000`, before)
		if err != nil {
			return err
		}
		var ids []int64
		var vectors []string
		for rs.Next() {
			var id int64
			var content string
			if err := rs.Scan(&id, &content); err != nil {
				rs.Close()
				return err
			}
			ids, vectors = append(ids, id), append(vectors, search.Vector(content))
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.exec(ctx, `UPDATE messages SET search_vector = CAST(v.vector AS tsvector)
			FROM unnest($1::int8[], $2::text[]) AS v(id, vector) WHERE messages.id = v.id`, ids, vectors); err != nil {
			return err
		}
		before = ids[len(ids)-1]
	}
}
