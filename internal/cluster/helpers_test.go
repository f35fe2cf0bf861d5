package cluster_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
	"parley/internal/chat"
	"parley/internal/store/storetest"
	"parley/internal/testenv"
	"parley/internal/testsvc"
)

// Bounds of the waits in these tests: generous, since CI runs them on two
// cores beside other packages' tests.
const (
	ackWait  = 20 * time.Second // one send's acknowledgement or error
	longWait = 60 * time.Second // a whole stream to arrive everywhere
)

// sharedRedis is the URL of the shared Redis server, skipping the test
// without one.
func sharedRedis(t testing.TB) string {
	t.Helper()
	return testenv.Need(t, testenv.Redis, "the tests of several processes")
}

// withRedisKilledOrNot runs f as two subtests: on the shared Redis, with
// rds nil, and on a Redis of its own, rds, which f kills and starts again
// to see what the processes make of losing it.
func withRedisKilledOrNot(t *testing.T, f func(t *testing.T, redisURL string, rds *testsvc.Redis)) {
	t.Run("redis killed false", func(t *testing.T) { f(t, sharedRedis(t), nil) })
	t.Run("redis killed true", func(t *testing.T) {
		rds := testsvc.StartRedis(t)
		f(t, rds.URL, rds)
	})
}

// roomName returns a room of the test's own. Redis's pub/sub channels are
// shared by every test on one server, whatever its database: a room of the
// same name in another test would bring that test's messages here.
func roomName() string {
	var b [6]byte
	rand.Read(b[:])
	return "c" + hex.EncodeToString(b[:])
}

// serverArgs are the settings of every process in these tests. The
// sign-up and room limits are off: their buckets, in the shared Redis,
// are keyed by the address (127.0.0.1) and by user names every test uses.
func serverArgs(redisURL string) []string {
	return []string{"--redis=" + redisURL, "--send-limit=off", "--signup-limit=off", "--room-create-limit=off", "--user-sockets=0"}
}

// startServers starts n parley processes in this one (apptest.Start) on
// database db and Redis redisURL.
func startServers(t *testing.T, n int, db, redisURL string) []*apptest.Server {
	t.Helper()
	srvs := make([]*apptest.Server, n)
	for i := range srvs {
		srvs[i] = apptest.Start(t, apptest.Options{DB: db, Args: serverArgs(redisURL)})
	}
	return srvs
}

// startCluster starts n processes on one PostgreSQL database and the
// shared Redis (startServers), signs people users up on the first (users:
// user0, the first, is the admin) and names a room of the test's own.
func startCluster(t *testing.T, n, people int) (srvs []*apptest.Server, room string, names, tokens []string) {
	t.Helper()
	redisURL := sharedRedis(t)
	srvs = startServers(t, n, storetest.PostgresDSN(t), redisURL)
	names, tokens = users(t, srvs[0], people)
	return srvs, roomName(), names, tokens
}

// users signs n users up on srv and returns their names and tokens; a
// token is good on every process sharing the database.
func users(t *testing.T, srv *apptest.Server, n int) (names, tokens []string) {
	t.Helper()
	for i := range n {
		name := "user" + strconv.Itoa(i)
		names = append(names, name)
		tokens = append(tokens, srv.User(t, name))
	}
	return names, tokens
}

// result is how the server answered one send.
type result struct {
	msg  chat.Message
	code string // an error frame's code; empty for an acknowledgement
	err  error  // the socket closed before an answer
}

// errClosed is the result of a send whose socket closed first.
var errClosed = errors.New("socket closed")

// sock is one client socket in the test room, with a reader goroutine that
// checks the order of what it receives. Its view is the room as this
// client knows it: seq 1, 2, 3, ... without gap or duplicate, from live
// new_message frames and, after a reconnection, from fetch_messages with
// after. Every problem is recorded, and reported by checkViews.
type sock struct {
	name  string
	user  string
	token string
	room  string

	mu       sync.Mutex
	srv      *apptest.Server
	conn     *websocket.Conn
	done     chan struct{} // closed when the current connection's reader ends
	view     []chat.Message
	problems []string
	// recovering holds live frames back while a reconnection fetches
	// what the client missed.
	recovering bool
	held       []chat.Message
	// fetchedTo is the last seq the client knew when it reconnected, or
	// that a fetch brought since. Live frames up to it may follow: the
	// process the client reconnected to may fan out, late, messages
	// committed before the socket opened (the dead process's last ones
	// among them, which the client may have had live from it). A client
	// that knows seq drops them.
	fetchedTo int64
	fetched   chan fetchAnswer
	waiters   map[string]chan result
	sent      map[string]bool // client ids sent
	retried   map[string]bool // client ids sent again
	acked     map[string]chat.Message
	refused   map[string][]string // client id -> error codes
}

type fetchAnswer struct {
	msgs    []chat.Message
	hasMore bool
	code    string
}

// dial opens a socket for user (by token) to room on srv.
func dial(t *testing.T, srv *apptest.Server, room, name, user, token string) *sock {
	t.Helper()
	s := &sock{name: name, user: user, token: token, room: room,
		waiters: make(map[string]chan result), sent: make(map[string]bool), retried: make(map[string]bool),
		acked: make(map[string]chat.Message), refused: make(map[string][]string)}
	if err := s.connect(srv); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(s.close)
	return s
}

// connect opens the socket on srv and starts its reader.
func (s *sock) connect(srv *apptest.Server) error {
	c, resp, err := srv.TryDial(s.room, apptest.DialOptions{Token: s.token})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return fmt.Errorf("dial %s: %v (status %d)", srv.Addr, err, status)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.srv, s.conn, s.done = srv, c, done
	s.mu.Unlock()
	go s.read(c, done)
	return nil
}

func (s *sock) close() {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	c.CloseNow()
}

func (s *sock) read(c *websocket.Conn, done chan struct{}) {
	defer close(done)
	defer func() {
		// Whoever still waits for an answer on this connection gets none.
		s.mu.Lock()
		for id, w := range s.waiters {
			w <- result{err: errClosed}
			delete(s.waiters, id)
		}
		s.mu.Unlock()
	}()
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		var f apptest.Frame
		if err := json.Unmarshal(data, &f); err != nil {
			s.problem("frame %q: %v", data, err)
			continue
		}
		switch f.Command {
		case "new_message":
			s.onMessage(f.Msg())
		case "messages":
			var more bool
			if f.HasMore != nil {
				more = *f.HasMore
			}
			s.mu.Lock()
			ch := s.fetched
			s.mu.Unlock()
			if ch == nil {
				s.problem("messages frame nobody asked for")
				continue
			}
			ch <- fetchAnswer{msgs: f.Messages, hasMore: more}
		case "error":
			s.mu.Lock()
			if f.ClientID == "" {
				ch := s.fetched
				s.mu.Unlock()
				if ch != nil {
					ch <- fetchAnswer{code: f.Code}
				} else {
					s.problem("error frame %s", data)
				}
				continue
			}
			s.refused[f.ClientID] = append(s.refused[f.ClientID], f.Code)
			if w := s.waiters[f.ClientID]; w != nil {
				w <- result{code: f.Code}
				delete(s.waiters, f.ClientID)
			}
			s.mu.Unlock()
		default:
			s.problem("unexpected frame %s", data)
		}
	}
}

func (s *sock) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problemLocked(format, args...)
}

func (s *sock) problemLocked(format string, args ...any) {
	if len(s.problems) < 20 {
		s.problems = append(s.problems, fmt.Sprintf(format, args...))
	}
}

func (s *sock) onMessage(m chat.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Author == s.user && s.sent[m.ClientID] {
		s.acked[m.ClientID] = m
		if w := s.waiters[m.ClientID]; w != nil {
			w <- result{msg: m}
			delete(s.waiters, m.ClientID)
		}
	}
	if s.recovering {
		s.held = append(s.held, m)
		return
	}
	s.applyLocked(m)
}

// applyLocked adds m to the view.
func (s *sock) applyLocked(m chat.Message) {
	last := int64(len(s.view))
	switch {
	case m.Seq == last+1:
		s.view = append(s.view, m)
	case m.Seq <= last:
		prev := s.view[m.Seq-1]
		if prev.ID != m.ID || prev.Content != m.Content {
			s.problemLocked("seq %d is message %d %q, and was message %d %q", m.Seq, m.ID, m.Content, prev.ID, prev.Content)
		}
		// The answer to a send repeated with the same client_id comes
		// again to the sender, wherever the message already came from.
		if m.Seq > s.fetchedTo && !(m.Author == s.user && s.retried[m.ClientID]) {
			s.problemLocked("duplicate seq %d (%q) after %d", m.Seq, m.Content, last)
		}
	default:
		s.problemLocked("gap: seq %d after %d", m.Seq, last)
	}
}

// send writes a new_message with clientID and returns a channel that gets
// the server's answer: the acknowledgement (the broadcast of the stored
// message to this socket), an error frame, or errClosed.
func (s *sock) send(content, clientID string) <-chan result {
	w := make(chan result, 1)
	s.mu.Lock()
	if s.sent[clientID] {
		s.retried[clientID] = true
	}
	s.sent[clientID] = true
	s.waiters[clientID] = w
	c, done := s.conn, s.done
	s.mu.Unlock()
	select {
	case <-done:
		s.mu.Lock()
		delete(s.waiters, clientID)
		s.mu.Unlock()
		w <- result{err: errClosed}
		return w
	default:
	}
	b, _ := json.Marshal(map[string]string{"command": "new_message", "message": content, "client_id": clientID})
	ctx, cancel := context.WithTimeout(context.Background(), ackWait)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		s.mu.Lock()
		if s.waiters[clientID] == w {
			delete(s.waiters, clientID)
			w <- result{err: errClosed}
		}
		s.mu.Unlock()
	}
	return w
}

// post sends and waits for the answer, up to ackWait.
func (s *sock) post(content, clientID string) result {
	select {
	case r := <-s.send(content, clientID):
		return r
	case <-time.After(ackWait):
		return result{err: fmt.Errorf("no answer to %q within %v", clientID, ackWait)}
	}
}

// reconnect opens the socket again on srv and recovers what the client
// missed, as a client should: fetch_messages after the last seq it has,
// page by page, while live frames wait; then the live frames it has not
// seen.
func (s *sock) reconnect(srv *apptest.Server) error {
	s.mu.Lock()
	s.recovering, s.held = true, nil
	s.fetchedTo = max(s.fetchedTo, int64(len(s.view)))
	s.fetched = make(chan fetchAnswer, 1)
	ch := s.fetched
	s.mu.Unlock()
	if err := s.connect(srv); err != nil {
		return err
	}
	for {
		s.mu.Lock()
		after := len(s.view)
		c, done := s.conn, s.done
		s.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"command": "fetch_messages", "after": after, "limit": chat.MaxFetchLimit})
		ctx, cancel := context.WithTimeout(context.Background(), ackWait)
		err := c.Write(ctx, websocket.MessageText, b)
		cancel()
		if err != nil {
			return fmt.Errorf("fetch after %d: %w", after, err)
		}
		var a fetchAnswer
		select {
		case a = <-ch:
		case <-done:
			return fmt.Errorf("fetch after %d: %w", after, errClosed)
		case <-time.After(ackWait):
			return fmt.Errorf("fetch after %d: no answer within %v", after, ackWait)
		}
		if a.code != "" {
			return fmt.Errorf("fetch after %d: error %s", after, a.code)
		}
		s.mu.Lock()
		for _, m := range a.msgs {
			s.applyLocked(m)
			s.fetchedTo = max(s.fetchedTo, m.Seq)
		}
		if !a.hasMore {
			s.recovering = false
			for _, m := range s.held {
				s.applyLocked(m)
			}
			s.held, s.fetched = nil, nil
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
	}
}

// seen is how many messages the client's view holds.
func (s *sock) seen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.view)
}

// connectedTo reports whether the socket is open on srv.
func (s *sock) connectedTo(srv *apptest.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return false
	default:
		return s.srv == srv
	}
}

// ackedMsgs returns the messages of this socket's sends that the server
// has acknowledged.
func (s *sock) ackedMsgs() []chat.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ms []chat.Message
	for _, m := range s.acked {
		ms = append(ms, m)
	}
	return ms
}

// waitAll waits until every socket has seen n messages.
func waitAll(t *testing.T, socks []*sock, n int) {
	t.Helper()
	deadline := time.Now().Add(longWait)
	for {
		behind := ""
		for _, s := range socks {
			if got := s.seen(); got < n {
				behind += fmt.Sprintf(" %s(%d)", s.name, got)
			}
		}
		if behind == "" {
			return
		}
		if time.Now().After(deadline) {
			for _, s := range socks {
				s.mu.Lock()
				if len(s.problems) > 0 {
					t.Errorf("%s: %s", s.name, strings.Join(s.problems, "; "))
				}
				s.mu.Unlock()
			}
			t.Fatalf("after %v, sockets still short of %d messages:%s", longWait, n, behind)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkViews checks that every socket saw seq 1..n, each the same message
// as the room's history has, without a problem on the way.
func checkViews(t *testing.T, socks []*sock, history []chat.Message) {
	t.Helper()
	for _, s := range socks {
		s.mu.Lock()
		if len(s.problems) > 0 {
			t.Errorf("%s: %s", s.name, strings.Join(s.problems, "; "))
		}
		if len(s.view) != len(history) {
			t.Errorf("%s saw %d messages; history has %d", s.name, len(s.view), len(history))
		}
		for i, m := range s.view[:min(len(s.view), len(history))] {
			h := history[i]
			if m.Seq != int64(i+1) || m.ID != h.ID || m.Content != h.Content || m.Author != h.Author {
				t.Errorf("%s: message %d is seq %d id %d %q by %s; history has seq %d id %d %q by %s",
					s.name, i+1, m.Seq, m.ID, m.Content, m.Author, h.Seq, h.ID, h.Content, h.Author)
				break
			}
		}
		s.mu.Unlock()
	}
}

// history reads the whole room over the API of srv, in seq order.
func history(t *testing.T, srv *apptest.Server, token, room string) []chat.Message {
	t.Helper()
	var all []chat.Message
	for {
		var page struct {
			Messages []chat.Message `json:"messages"`
			HasMore  bool           `json:"has_more"`
		}
		url := fmt.Sprintf("%s/api/v1/rooms/%s/messages?after=%d&limit=%d", srv.URL, room, len(all), chat.MaxFetchLimit)
		if r := apptest.Do(t, "GET", url, token, nil, &page); r.StatusCode != http.StatusOK {
			t.Fatalf("history after %d: %s", len(all), r.Status)
		}
		all = append(all, page.Messages...)
		if !page.HasMore {
			break
		}
	}
	for i, m := range all {
		if m.Seq != int64(i+1) {
			t.Fatalf("history: message %d has seq %d", i+1, m.Seq)
		}
	}
	return all
}

// checkHistory checks that history holds each of want, once, as stored.
func checkHistory(t *testing.T, hist []chat.Message, want map[string]bool) {
	t.Helper()
	byKey := make(map[string]int)
	for _, m := range hist {
		byKey[m.Author+"/"+m.ClientID]++
	}
	for k := range want {
		if byKey[k] != 1 {
			t.Errorf("history has %s %d times; want once", k, byKey[k])
		}
	}
	if len(hist) != len(want) {
		t.Errorf("history has %d messages; want %d", len(hist), len(want))
	}
}

// metric reads the value of one sample of srv's /metrics.
func metric(t testing.TB, srv *apptest.Server, name string) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s at %s", name, srv.URL)
	return 0
}

// readyz returns the status and body of srv's /readyz.
func readyz(srv *apptest.Server) (int, string) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitReady waits until /readyz of every server answers status, and
// returns the last bodies.
func waitReady(t *testing.T, srvs []*apptest.Server, status int, d time.Duration) []string {
	t.Helper()
	bodies := make([]string, len(srvs))
	apptest.Wait(t, d, fmt.Sprintf("/readyz %d on every process", status), func() bool {
		for i, srv := range srvs {
			var got int
			got, bodies[i] = readyz(srv)
			if got != status {
				return false
			}
		}
		return true
	})
	return bodies
}

// spread places socket i on server i mod len(srvs), as user i mod
// len(names).
func spread(t *testing.T, srvs []*apptest.Server, room string, names, tokens []string, n int) []*sock {
	t.Helper()
	socks := make([]*sock, n)
	for i := range socks {
		u := i % len(names)
		socks[i] = dial(t, srvs[i%len(srvs)], room, fmt.Sprintf("sock%d@%d", i, i%len(srvs)), names[u], tokens[u])
	}
	return socks
}

// wantKeys are the author/client_id keys of senders' perSender messages.
func wantKeys(senders []*sock, perSender int) map[string]bool {
	want := make(map[string]bool)
	for _, s := range senders {
		for i := range perSender {
			want[s.user+"/"+clientID(s, i)] = true
		}
	}
	return want
}

func clientID(s *sock, i int) string { return s.name + "-" + strconv.Itoa(i) }

// stream is closed-loop senders: each sends its messages one at a time,
// waiting for each one's answer before the next, as a person typing does.
type stream struct {
	t         *testing.T
	perSender int
	// pace is the least time between one sender's sends: a steady
	// stream rather than a burst, so that a failure falls in its middle.
	pace time.Duration
	// trouble is called, on the sender's goroutine, when a send is
	// refused or unanswered; it does what the client should (wait,
	// reconnect) and returns whether to send the same client id again.
	trouble func(st *stream, s *sock, r result) bool

	// hold, if not nil, stops every sender before its message number
	// holdAt until it is closed: the rest of the stream comes after what
	// the test does meanwhile.
	hold   chan struct{}
	holdAt int

	acks, troubles atomic.Int64
	wg             sync.WaitGroup
	// quit is closed when the test ends: senders and trouble stop.
	quit chan struct{}
}

// startStream starts a sender goroutine for each of senders.
func startStream(t *testing.T, senders []*sock, perSender int, pace time.Duration, trouble func(*stream, *sock, result) bool) *stream {
	return startHeldStream(t, senders, perSender, pace, trouble, nil, 0)
}

// startHeldStream is startStream with hold and holdAt set.
func startHeldStream(t *testing.T, senders []*sock, perSender int, pace time.Duration, trouble func(*stream, *sock, result) bool,
	hold chan struct{}, holdAt int) *stream {
	st := &stream{t: t, perSender: perSender, pace: pace, trouble: trouble, quit: make(chan struct{}),
		hold: hold, holdAt: holdAt}
	for _, s := range senders {
		st.wg.Go(func() { st.run(s) })
	}
	t.Cleanup(func() {
		close(st.quit)
		st.wg.Wait()
	})
	return st
}

func (st *stream) run(s *sock) {
	var tick <-chan time.Time
	if st.pace > 0 {
		t := time.NewTicker(st.pace)
		defer t.Stop()
		tick = t.C
	}
	for i := 0; i < st.perSender; {
		if tick != nil {
			select {
			case <-tick:
			case <-st.quit:
				return
			}
		}
		if i == st.holdAt && st.hold != nil {
			select {
			case <-st.hold:
			case <-st.quit:
				return
			}
		}
		select {
		case <-st.quit:
			return
		default:
		}
		id := clientID(s, i)
		r := s.post(fmt.Sprintf("%s says %d", s.name, i), id)
		if r.err == nil && r.code == "" {
			st.acks.Add(1)
			i++
			continue
		}
		st.troubles.Add(1)
		if st.trouble == nil || !st.trouble(st, s, r) {
			select {
			case <-st.quit:
				return // the test ended
			default:
			}
			st.t.Errorf("%s: send %s: code %q, %v", s.name, id, r.code, r.err)
			return
		}
	}
}

// waitAcks waits until the senders have n acknowledgements in all.
func (st *stream) waitAcks(n int64, d time.Duration) {
	st.t.Helper()
	apptest.Wait(st.t, d, fmt.Sprintf("%d acknowledged sends", n), func() bool { return st.acks.Load() >= n })
}

// wait waits for every sender to finish.
func (st *stream) wait() {
	st.t.Helper()
	done := make(chan struct{})
	go func() { st.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(longWait):
		st.t.Fatalf("senders not done within %v (%d acknowledged)", longWait, st.acks.Load())
	}
}

// waitDatabaseGone waits until every process's /readyz says 503 for the
// database, and every sender has had a send refused.
func waitDatabaseGone(t *testing.T, srvs []*apptest.Server, senders []*sock) {
	t.Helper()
	bodies := waitReady(t, srvs, http.StatusServiceUnavailable, longWait)
	for i, b := range bodies {
		if strings.TrimSpace(b) != "database not answering" { // the why is in the log, not here
			t.Errorf("process %d: /readyz says %q with the database gone; want the reason", i, b)
		}
	}
	apptest.Wait(t, longWait, "every sender to have a send refused", func() bool {
		for _, s := range senders {
			s.mu.Lock()
			n := len(s.refused)
			s.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
}

// checkNothingLost checks, at the end of a stream, that the room's history
// holds exactly the messages wanted, and that every socket saw all of it,
// once each, in order.
func checkNothingLost(t *testing.T, srv *apptest.Server, token, room string, socks []*sock, want map[string]bool) {
	t.Helper()
	hist := history(t, srv, token, room)
	checkHistory(t, hist, want)
	checkViews(t, socks, hist)
}
