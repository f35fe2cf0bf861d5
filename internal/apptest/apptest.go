// Package apptest starts the real parley program in-process for tests and
// speaks to it as clients do: HTTP, the JSON API and WebSockets.
package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/app"
	"parley/internal/chat"
	"parley/internal/testenv"
)

// Server is a running parley program.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Addr string // 127.0.0.1:PORT
	DB   string // the --db it runs on

	cancel func()
	proc   *os.Process // a child process (StartProcess), or nil
	done   chan error
	stderr *syncBuffer
	once   sync.Once
	err    error
}

// Options of Start.
type Options struct {
	// DB is the --db setting; empty means a fresh SQLite file in a
	// temporary folder.
	DB string
	// Args are more command-line arguments, such as "--send-limit=off".
	Args []string
	// Env is the program's environment; unset variables are empty.
	Env map[string]string
}

// Start runs `parley serve` on a free loopback port and stops it when the
// test ends.
func Start(tb testing.TB, opt Options) *Server {
	tb.Helper()
	if opt.DB == "" {
		opt.DB = "sqlite:" + tb.TempDir() + "/parley.db"
	}
	args := append([]string{"serve", "--addr=127.0.0.1:0", "--db=" + opt.DB, "--log-level=warn"}, opt.Args...)
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{DB: opt.DB, cancel: cancel, done: make(chan error, 1), stderr: &syncBuffer{}}
	ready := make(chan string, 1)
	go func() {
		s.done <- app.Run(ctx, args, app.Env{
			Getenv: func(k string) string { return opt.Env[k] },
			Stdout: io.Discard, Stderr: s.stderr,
			Ready: func(addr string) { ready <- addr },
		})
	}()
	select {
	case addr := <-ready:
		s.Addr, s.URL = addr, "http://"+addr
	case err := <-s.done:
		cancel()
		tb.Fatalf("parley did not start: %v\n%s", err, s.stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		tb.Fatalf("parley did not start within 30s\n%s", s.stderr.String())
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("parley stopped with %v\n%s", err, s.stderr.String())
		}
	})
	return s
}

// Stop stops the program with SIGTERM, or as SIGTERM does, and returns
// what Run returned, or how the process exited.
func (s *Server) Stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = fmt.Errorf("parley did not stop within 30s")
		}
	})
	return s.err
}

// Log is what the program wrote to stderr.
func (s *Server) Log() string { return s.stderr.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Do sends a JSON API request with an optional bearer token and decodes
// the answer into out (if not nil). It returns the response, body read.
func Do(tb testing.TB, method, url, token string, body, out any) *http.Response {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			tb.Fatalf("%s %s: decode %q: %v", method, url, data, err)
		}
	}
	return resp
}

// User signs name up with password "password-"+name and returns a token.
func (s *Server) User(tb testing.TB, name string) string {
	tb.Helper()
	cred := map[string]string{"username": name, "password": "password-" + name}
	if r := Do(tb, "POST", s.URL+"/api/v1/signup", "", cred, nil); r.StatusCode != http.StatusCreated {
		tb.Fatalf("signup %s: %s", name, r.Status)
	}
	return s.Token(tb, name)
}

// Token logs an existing user in over the API.
func (s *Server) Token(tb testing.TB, name string) string {
	tb.Helper()
	var tok struct{ Token string }
	cred := map[string]string{"username": name, "password": "password-" + name}
	if r := Do(tb, "POST", s.URL+"/api/v1/tokens", "", cred, &tok); r.StatusCode != http.StatusCreated {
		tb.Fatalf("token %s: %s", name, r.Status)
	}
	return tok.Token
}

// WSURL is the WebSocket URL of room.
func (s *Server) WSURL(room string) string {
	return "ws://" + s.Addr + "/ws/chat/" + room + "/"
}

// Conn is a test WebSocket client.
type Conn struct {
	tb  testing.TB
	C   *websocket.Conn
	ctx context.Context
}

// Frame is any server frame, decoded loosely.
type Frame struct {
	Command  string          `json:"command"`
	Message  json.RawMessage `json:"message"`
	Messages []chat.Message  `json:"messages"`
	Changes  []chat.Change   `json:"changes"`
	Change   *chat.Change    `json:"change"`
	HasMore  *bool           `json:"has_more"`
	HasNewer *bool           `json:"has_newer"`
	Code     string          `json:"code"`
	ClientID string          `json:"client_id"`
	User     string          `json:"user"`
	Users    []string        `json:"users"`
	Seq      int64           `json:"seq"`
	Versions []Version       `json:"versions"`
	Raw      []byte          `json:"-"`
}

// Version is one of a versions frame's versions.
type Version struct {
	Rev       int64  `json:"rev"`
	Content   string `json:"content"`
	Timestamp string `json:"timestamp"`
}

// Msg decodes a new_message frame's message.
func (f Frame) Msg() chat.Message {
	var m chat.Message
	_ = json.Unmarshal(f.Message, &m)
	return m
}

// DialOptions of Dial.
type DialOptions struct {
	Token      string
	Header     http.Header
	Extensions bool // offer the parley.v1 subprotocol
}

// Dial opens a WebSocket to room, failing the test if it cannot.
func (s *Server) Dial(tb testing.TB, room string, opt DialOptions) *Conn {
	tb.Helper()
	c, resp, err := s.TryDial(room, opt)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial %s: %v (status %d)", room, err, status)
	}
	conn := &Conn{tb: tb, C: c, ctx: context.Background()}
	tb.Cleanup(func() { c.CloseNow() })
	return conn
}

// TryDial opens a WebSocket to room and returns the upgrade's response.
func (s *Server) TryDial(room string, opt DialOptions) (*websocket.Conn, *http.Response, error) {
	return dialURL(s.WSURL(room), opt)
}

// DialUser opens the user stream (GET /ws/user/, parley.v1), failing the
// test if it cannot.
func (s *Server) DialUser(tb testing.TB, opt DialOptions) *Conn {
	tb.Helper()
	opt.Extensions = true
	c, resp, err := dialURL("ws://"+s.Addr+"/ws/user/", opt)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial the user stream: %v (status %d)", err, status)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return &Conn{tb: tb, C: c, ctx: context.Background()}
}

// TryDialUser opens the user stream and returns the upgrade's response.
func (s *Server) TryDialUser(opt DialOptions) (*websocket.Conn, *http.Response, error) {
	return dialURL("ws://"+s.Addr+"/ws/user/", opt)
}

func dialURL(url string, opt DialOptions) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	for k, v := range opt.Header {
		h[k] = v
	}
	if opt.Token != "" {
		h.Set("Authorization", "Bearer "+opt.Token)
	}
	do := &websocket.DialOptions{HTTPHeader: h}
	if opt.Extensions {
		do.Subprotocols = []string{"parley.v1"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, do)
	if c != nil {
		c.SetReadLimit(1 << 22)
	}
	return c, resp, err
}

// Send writes v as a JSON text frame.
func (c *Conn) Send(v any) {
	c.tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	c.SendRaw(b)
}

// SendRaw writes a text frame as is.
func (c *Conn) SendRaw(b []byte) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := c.C.Write(ctx, websocket.MessageText, b); err != nil {
		c.tb.Fatalf("write: %v", err)
	}
}

// Next reads the next frame, failing the test after 10 s.
func (c *Conn) Next() Frame {
	c.tb.Helper()
	f, err := c.TryNext(10 * time.Second)
	if err != nil {
		c.tb.Fatalf("read: %v", err)
	}
	return f
}

// TryNext reads the next frame within d.
func (c *Conn) TryNext(d time.Duration) (Frame, error) {
	ctx, cancel := context.WithTimeout(c.ctx, d)
	defer cancel()
	_, data, err := c.C.Read(ctx)
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(data, &f); err != nil {
		return Frame{}, fmt.Errorf("frame %q: %w", data, err)
	}
	f.Raw = data
	return f, nil
}

// Expect reads frames until one with command cmd, failing on an
// unexpected command other than presence and typing.
func (c *Conn) Expect(cmd string) Frame {
	c.tb.Helper()
	for {
		f := c.Next()
		if f.Command == cmd {
			return f
		}
		if f.Command != "presence" && f.Command != "typing" {
			c.tb.Fatalf("want a %q frame, got %s", cmd, f.Raw)
		}
	}
}

// Answer reads frames until one with command cmd, passing over live
// frames (new_message, change, presence, typing): the answer to a
// request in a room where others talk.
func (c *Conn) Answer(cmd string) Frame {
	c.tb.Helper()
	for {
		f := c.Next()
		if f.Command == cmd {
			return f
		}
		switch f.Command {
		case "new_message", "change", "presence", "typing":
		default:
			c.tb.Fatalf("want a %q frame, got %s", cmd, f.Raw)
		}
	}
}

// Post sends a new_message and returns the stored message from the
// broadcast that acknowledges it (the one with its client_id).
func (c *Conn) Post(content, clientID string) chat.Message {
	c.tb.Helper()
	c.Send(map[string]string{"command": "new_message", "message": content, "client_id": clientID})
	for {
		f := c.Next()
		if f.Command == "error" && f.ClientID == clientID {
			c.tb.Fatalf("post %q: %s", content, f.Raw)
		}
		if f.Command == "new_message" {
			if m := f.Msg(); m.ClientID == clientID {
				return m
			}
		}
	}
}

// Change sends a command that changes a message (edit_message,
// delete_message, react, unreact) and returns the stored change from the
// frame that acknowledges it (the one with its client_id), or the error
// frame that refuses it.
func (c *Conn) Change(command string, seq int64, arg, clientID string) (*chat.Change, Frame) {
	c.tb.Helper()
	f := map[string]any{"command": command, "seq": seq, "client_id": clientID}
	switch command {
	case "edit_message":
		f["message"] = arg
	case "react", "unreact":
		f["emoji"] = arg
	}
	c.Send(f)
	for {
		fr := c.Next()
		if fr.Command == "error" && fr.ClientID == clientID {
			return nil, fr
		}
		if fr.Command == "change" && fr.Change != nil && fr.Change.ClientID == clientID {
			return fr.Change, fr
		}
	}
}

// Close closes normally.
func (c *Conn) Close() { c.C.Close(websocket.StatusNormalClosure, "") }

// Wait polls cond until it holds or d passes, failing the test then
// (testenv.Eventually).
func Wait(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	testenv.Eventually(tb, d, what, cond)
}

// Contains reports whether s holds sub; a tiny helper for readable asserts.
func Contains(s, sub string) bool { return strings.Contains(s, sub) }
