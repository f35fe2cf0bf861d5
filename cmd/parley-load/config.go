package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// config is one run's settings.
type config struct {
	Scenario string // a preset name, or "custom"
	Label    string // free text copied into the result

	URL     string // the server publishers (and everyone else) use
	RecvURL string // cross-process: receivers connect here instead
	Proto   string // parley, original or plain
	Path    string // plain: the WebSocket path
	PID     int    // the server's pid, for /proc samples
	RecvPID int    // the receivers' server's pid (cross-process)

	Sockets    int           // sockets in all (receivers, publishers among them)
	Rooms      int           // rooms the sockets are spread over
	Publishers int           // publishing sockets, spread over the rooms
	Rate       float64       // messages a second per publisher
	Duration   time.Duration // how long publishers publish
	Messages   int           // per publisher; 0 means Rate × Duration
	Size       int           // bytes of message content
	Users      int           // accounts created for the run
	Drain      time.Duration // how long to wait for stragglers after publishing
	Connect    time.Duration // bound on the connect phase
	DialPar    int           // dials in flight at once
	Progress   time.Duration // how often to print progress; 0 = never
	Check      bool          // fail unless every delivery arrived once

	Send    string // fan-out: what publishers send: messages, or reactions (added and removed in turn)
	Streams int    // fan-out: user streams of accounts of their own, members of every room

	Hold   time.Duration // idle: how long to hold the sockets open
	Window int           // persistence: unacknowledged sends per socket
	Room   string        // history: the room to read
	Fetch  string        // history: latest, before or after
	Limit  int           // history: messages per fetch
}

// presets are the scenarios of docs/BENCHMARKS.md; flags given on the
// command line override them.
var presets = map[string]map[string]string{
	"hot-room":   {"sockets": "500", "rooms": "1", "publishers": "4", "rate": "10", "duration": "30s"},
	"many-rooms": {"sockets": "10000", "rooms": "100", "publishers": "100", "rate": "15", "duration": "30s", "users": "20"},
	"big-room":   {"sockets": "10000", "rooms": "1", "publishers": "1", "rate": "1", "messages": "5", "duration": "5s", "drain": "10s", "users": "20"},
	"idle":       {"sockets": "19000", "rooms": "100", "hold": "5s", "users": "20", "dial-concurrency": "64"},
	// 19,000 idle user streams of 1,000 people, each a member of 3 rooms.
	"idle-streams":  {"streams": "19000", "rooms": "3", "users": "1000", "hold": "5s", "dial-concurrency": "64"},
	"persistence":   {"sockets": "64", "rooms": "64", "window": "16", "duration": "20s"},
	"history":       {"sockets": "4", "duration": "20s", "room": "history", "fetch": "before", "limit": "20"},
	"cross-process": {"sockets": "500", "rooms": "1", "publishers": "4", "rate": "10", "duration": "30s"},
	"smoke":         {"sockets": "50", "rooms": "1", "publishers": "2", "rate": "10", "duration": "10s"},
	// 200 reactions a second into a room of 500 parley.v1 sockets: each
	// publisher, a user of its own, adds and removes emoji in turn on the
	// room's one message, so that every one is a change of the room's log.
	"reaction-storm": {"sockets": "500", "rooms": "1", "publishers": "4", "rate": "50", "duration": "30s", "users": "8",
		"send": "reactions"},
	// The hot room, and 10,000 people who are members of it but not in
	// it, each with a user stream open: each message changes 10,000
	// unread counts.
	"user-streams": {"sockets": "500", "rooms": "1", "publishers": "4", "rate": "10", "duration": "30s",
		"streams": "10000", "dial-concurrency": "64", "drain": "20s"},
	"custom": {},
}

func presetNames() []string {
	var names []string
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func parseConfig(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("parley-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: parley-load --scenario NAME --url http://127.0.0.1:PORT [flags]\nscenarios: %s\n",
			strings.Join(presetNames(), ", "))
		fs.PrintDefaults()
	}
	fs.StringVar(&c.Scenario, "scenario", "custom", "preset: "+strings.Join(presetNames(), ", "))
	fs.StringVar(&c.Label, "label", "", "free text copied into the JSON line")
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8000", "the server (loopback only)")
	fs.StringVar(&c.RecvURL, "recv-url", "", "cross-process: receivers connect to this server, publishers to --url")
	fs.StringVar(&c.Proto, "proto", "parley", "protocol: parley, original (the original client's frames) or plain (text frames)")
	fs.StringVar(&c.Path, "path", "/ws", "plain: the WebSocket path")
	fs.IntVar(&c.PID, "pid", 0, "the server's pid: sample its CPU and RSS from /proc")
	fs.IntVar(&c.RecvPID, "recv-pid", 0, "the --recv-url server's pid")
	fs.IntVar(&c.Sockets, "sockets", 10, "sockets in all (publishers are among them)")
	fs.IntVar(&c.Rooms, "rooms", 1, "rooms the sockets are spread over")
	fs.IntVar(&c.Publishers, "publishers", 1, "publishing sockets, spread over the rooms")
	fs.Float64Var(&c.Rate, "rate", 10, "messages a second per publisher")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to publish (hard bound)")
	fs.IntVar(&c.Messages, "messages", 0, "messages per publisher (default rate × duration)")
	fs.IntVar(&c.Size, "size", 64, "bytes of message content")
	fs.IntVar(&c.Users, "users", 8, "accounts to create for the run (sockets share them)")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for late deliveries after publishing")
	fs.DurationVar(&c.Connect, "connect-timeout", 2*time.Minute, "bound on connecting all sockets")
	fs.IntVar(&c.DialPar, "dial-concurrency", 32, "dials in flight at once")
	fs.DurationVar(&c.Progress, "progress", 5*time.Second, "progress line interval on stderr (0: none)")
	fs.BoolVar(&c.Check, "check", false, "exit with status 1 unless every message was sent and delivered once, without errors")
	fs.StringVar(&c.Send, "send", "messages", "fan-out: messages, or reactions (parley.v1 sockets; publishers add and remove reactions on one message a room)")
	fs.IntVar(&c.Streams, "streams", 0, "fan-out: user streams (/ws/user/) open through the run, each of an account of its own that is a member of every room")
	fs.DurationVar(&c.Hold, "hold", 5*time.Second, "idle: how long to hold the sockets open")
	fs.IntVar(&c.Window, "window", 16, "persistence: unacknowledged sends per socket")
	fs.StringVar(&c.Room, "room", "history", "history: the room to read")
	fs.StringVar(&c.Fetch, "fetch", "before", "history: latest, before (a random page) or after (a random page)")
	fs.IntVar(&c.Limit, "limit", 20, "history: messages per fetch")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	preset, ok := presets[c.Scenario]
	if !ok {
		return c, fmt.Errorf("unknown scenario %q; one of %s", c.Scenario, strings.Join(presetNames(), ", "))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range preset {
		if !given[name] {
			if err := fs.Set(name, v); err != nil {
				return c, fmt.Errorf("preset %s: %s=%s: %w", c.Scenario, name, v, err)
			}
		}
	}
	return c, c.check()
}

// check validates the settings and bounds every loop.
func (c *config) check() error {
	switch c.Proto {
	case "parley", "original":
	case "plain":
		if c.Rooms != 1 {
			return errors.New("plain: a plain broadcast server has one room; use --rooms=1")
		}
	default:
		return fmt.Errorf("unknown --proto %q: parley, original or plain", c.Proto)
	}
	if err := checkLoopback(c.URL); err != nil {
		return err
	}
	if c.RecvURL != "" {
		if err := checkLoopback(c.RecvURL); err != nil {
			return err
		}
	}
	if c.Scenario == "cross-process" && c.RecvURL == "" {
		return errors.New("cross-process needs --recv-url: publishers on --url, receivers there")
	}
	switch {
	case c.Sockets < 1 || c.Sockets > 100_000:
		return fmt.Errorf("--sockets %d: 1 to 100000", c.Sockets)
	case c.Rooms < 1 || c.Rooms > c.Sockets:
		return fmt.Errorf("--rooms %d: 1 to --sockets", c.Rooms)
	case c.Publishers < 0:
		return errors.New("--publishers must be at least 0")
	case c.RecvURL == "" && c.Publishers > c.Sockets:
		return errors.New("--publishers cannot exceed --sockets (publishers are sockets)")
	case c.Rate <= 0 || c.Rate > 100_000:
		return fmt.Errorf("--rate %v: above 0, at most 100000", c.Rate)
	case c.Duration <= 0 || c.Duration > 24*time.Hour:
		return fmt.Errorf("--duration %v: above 0, at most 24h", c.Duration)
	case c.Drain < 0 || c.Drain > time.Hour:
		return fmt.Errorf("--drain %v: 0 to 1h", c.Drain)
	case c.Size < 40 || c.Size > 4000:
		return fmt.Errorf("--size %d: 40 to 4000", c.Size)
	case c.Users < 1 || c.Users > 1000:
		return fmt.Errorf("--users %d: 1 to 1000", c.Users)
	case c.DialPar < 1 || c.DialPar > 1024:
		return fmt.Errorf("--dial-concurrency %d: 1 to 1024", c.DialPar)
	case c.Window < 1 || c.Window > 4096:
		return fmt.Errorf("--window %d: 1 to 4096", c.Window)
	case c.Limit < 1 || c.Limit > 100:
		return fmt.Errorf("--limit %d: 1 to 100", c.Limit)
	case c.Hold < 0 || c.Hold > time.Hour:
		return fmt.Errorf("--hold %v: 0 to 1h", c.Hold)
	}
	if c.Messages <= 0 {
		c.Messages = int(math.Ceil(c.Rate * c.Duration.Seconds()))
	}
	if c.Messages > 10_000_000 {
		return fmt.Errorf("%d messages per publisher is too many (at most 10,000,000)", c.Messages)
	}
	switch c.Fetch {
	case "latest", "before", "after":
	default:
		return fmt.Errorf("--fetch %q: latest, before or after", c.Fetch)
	}
	switch c.Send {
	case "messages":
	case "reactions":
		switch {
		case c.Proto != "parley":
			return errors.New("--send=reactions needs --proto=parley: reactions are parley.v1 frames")
		case c.RecvURL != "":
			return errors.New("--send=reactions runs on one server (no --recv-url)")
		case c.Users < c.Publishers:
			// Two publishers of one user would undo each other's reactions.
			return fmt.Errorf("--send=reactions needs a user per publisher: --users %d < --publishers %d", c.Users, c.Publishers)
		}
	default:
		return fmt.Errorf("--send %q: messages or reactions", c.Send)
	}
	switch {
	case c.Streams < 0 || c.Streams > 20_000:
		return fmt.Errorf("--streams %d: 0 to 20000", c.Streams)
	case c.Streams > 0 && (c.Proto == "plain" || c.RecvURL != "" || c.Send != "messages"):
		return errors.New("--streams needs a Parley server (not --proto=plain), one server (no --recv-url), and --send=messages")
	}
	return nil
}

// checkLoopback refuses any target but this machine's loopback: the tool
// is a load generator, and load goes nowhere else.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "ws":
	default:
		return fmt.Errorf("URL %q: the scheme must be http or ws", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: only loopback targets (127.0.0.0/8, ::1, localhost)", raw)
	}
	return nil
}

// httpBase returns the http:// form of a server URL, without a trailing
// slash or path.
func httpBase(raw string) string {
	u, _ := url.Parse(raw)
	return "http://" + u.Host
}

// wsURL is the WebSocket URL of room on the server at base.
func (c *config) wsURL(base, room string) string {
	u, _ := url.Parse(base)
	if c.Proto == "plain" {
		return "ws://" + u.Host + c.Path
	}
	return "ws://" + u.Host + "/ws/chat/" + room + "/"
}
