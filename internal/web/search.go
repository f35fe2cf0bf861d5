package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"parley/internal/chat"
	"parley/internal/search"
	"parley/internal/store"
)

// searchView is what the search page shows.
type searchView struct {
	Query   string // as typed, kept in the box
	Error   string // what is wrong with the query or the page asked
	Done    bool   // a search ran (a query was given and is valid)
	Results []store.SearchResult
	Older   string // the URL of the next, older page; "" for none
}

// searchRequest reads a search's query string: q, before, and limit (for
// the API; 0 on the page). A bad before or limit is a *chat.Error with
// code chat.EInvalid, as is a query that search.Parse refuses.
func searchRequest(v url.Values, api bool) (string, search.Query, store.SearchPage, error) {
	text := strings.TrimSpace(v.Get("q"))
	var p store.SearchPage
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return text, search.Query{}, p, chat.Errorf(chat.EInvalid, "before must be the next value of a page of results, a positive number.")
		}
		p.Before = n
	}
	if l := v.Get("limit"); api && l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > store.MaxSearchLimit {
			return text, search.Query{}, p, chat.Errorf(chat.EInvalid, "limit must be a number from 1 to %d.", store.MaxSearchLimit)
		}
		p.Limit = n
	}
	q, err := search.Parse(text)
	return text, q, p, err
}

var errTooManySearches = chat.Errorf(chat.ERateLimited, "Too many searches; wait a moment.")

// allowSearch spends one of u's history requests (--history-limit) on a
// search, which reads a page of messages as a history request does.
func (s *Server) allowSearch(r *http.Request, u chat.User) (bool, time.Duration) {
	return s.histories.allow(r.Context(), u.Name)
}

// handleSearch serves the search page, GET /search/?q=&before=: the
// matching messages newest first, each linking into its room at that
// message; a bad query is a 400 with the query kept in the box and what
// to fix. The store keeps the results to the rooms u may read.
func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, u chat.User) {
	p := s.page(r, "Search · Parley")
	text, q, pg, err := searchRequest(r.URL.Query(), false)
	p.Search.Query = text
	if text != "" {
		p.Title = text + " · Search · Parley"
	}
	status := http.StatusOK
	if err == nil && !q.Empty() {
		if ok, wait := s.allowSearch(r, u); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
			p.Search.Error = chat.ErrorMessage(errTooManySearches)
			s.render.render(w, http.StatusTooManyRequests, "search", p)
			return
		}
		var res store.SearchResults
		res, err = s.opt.Store.Search(r.Context(), u, q, pg)
		p.Search.Done, p.Search.Results = err == nil, res.Results
		if res.Next > 0 {
			p.Search.Older = "/search/?" + url.Values{"q": {text}, "before": {strconv.FormatInt(res.Next, 10)}}.Encode()
		}
	}
	if err != nil {
		status = httpStatus(err)
		if status >= 500 {
			s.serverError(w, r, err)
			return
		}
		p.Search.Error = chat.ErrorMessage(err)
	}
	s.render.render(w, status, "search", p)
}

// apiSearchResult is a result as GET /api/v1/search gives it.
type apiSearchResult struct {
	Room      string `json:"room"`
	Seq       int64  `json:"seq"`
	Author    string `json:"author"`
	Timestamp string `json:"timestamp"`
	Edited    string `json:"edited,omitempty"`
	Content   string `json:"content"`
	// Highlights are the matches in Content as [start, end) offsets in
	// Unicode code points.
	Highlights [][2]int `json:"highlights"`
}

type searchResponse struct {
	Results []apiSearchResult `json:"results"`
	// Next is the before of the next, older page; null for none.
	Next *int64 `json:"next"`
}

// handleAPISearch answers GET /api/v1/search?q=&before=&limit=.
func (s *Server) handleAPISearch(w http.ResponseWriter, r *http.Request, u chat.User) {
	_, q, pg, err := searchRequest(r.URL.Query(), true)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if !q.Empty() {
		if ok, wait := s.allowSearch(r, u); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
			s.apiError(w, r, errTooManySearches)
			return
		}
	}
	res, err := s.opt.Store.Search(r.Context(), u, q, pg)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := searchResponse{Results: make([]apiSearchResult, 0, len(res.Results))}
	for _, m := range res.Results {
		a := apiSearchResult{Room: m.Room, Seq: m.Seq, Author: m.Author, Timestamp: m.Timestamp.UTC().Format(chat.TimestampFormat),
			Content: m.Content, Highlights: spans(m.Highlights)}
		if !m.Edited.IsZero() {
			a.Edited = m.Edited.UTC().Format(chat.TimestampFormat)
		}
		out.Results = append(out.Results, a)
	}
	if res.Next > 0 {
		out.Next = &res.Next
	}
	writeJSON(w, http.StatusOK, out)
}

// spans returns the matched segments' places in their content, in code
// points: what a client that indexes text by character needs.
func spans(segs []search.Segment) [][2]int {
	out := [][2]int{}
	at := 0
	for _, sg := range segs {
		n := utf8.RuneCountInString(sg.Text)
		if sg.Match {
			out = append(out, [2]int{at, at + n})
		}
		at += n
	}
	return out
}
