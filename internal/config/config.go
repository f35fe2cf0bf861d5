// Package config holds Parley's settings: each a flag and an environment
// variable, the flag winning, checked so that a bad value stops the program
// with one clear line.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"parley/internal/push"
)

// Config is the program's settings.
type Config struct {
	// Addr is the listen address, HOST:PORT.
	Addr string
	// DB is the database: sqlite:PATH or a postgres:// URL.
	DB string
	// Redis is the redis:// URL shared by the processes; empty: one process.
	Redis string
	// Origins are extra trusted origins, as scheme://host[:port].
	Origins []string
	// History is how many messages fetch_messages gives by default.
	History int
	// LogLevel is the least level logged.
	LogLevel slog.Level
	// SendLimit is each user's sending rate.
	SendLimit RateLimit
	// HistoryLimit is each socket's (and each user's, over the API)
	// allowance of history requests.
	HistoryLimit RateLimit
	// UserSockets caps one user's open sockets; 0 means no cap.
	UserSockets int
	// MaxSockets caps this process's sockets; -1 means "derive from the
	// open-file limit", which the program resolves at start.
	MaxSockets int
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// Signup says who may create an account.
	Signup Signup
	// SignupLimit is the rate of sign-ups from one client address.
	SignupLimit RateLimit
	// RoomCreateLimit is the rate at which one user may create rooms.
	RoomCreateLimit RateLimit
	// EditWindow is how long after sending an author may edit a message:
	// 0 means editing is off, EditUnlimited that there is no limit.
	EditWindow time.Duration
	// MetricsToken, when not empty, is the bearer token /metrics asks for.
	MetricsToken string
	// PublicURL is the address people reach Parley at, without a trailing
	// slash (https://chat.example.com, https://example.com/chat); empty
	// when not set.
	PublicURL string
	// Push turns Web Push on (the default) or off.
	Push bool
	// PushContact is the VAPID subject push services reach the operator
	// at, a mailto: or https: URI; empty: the public URL, if it is https.
	PushContact string
	// PushDelay is how long a mention or direct message waits before it
	// is pushed, so that one read meanwhile is not.
	PushDelay time.Duration
	// PushHosts are the push services notifications are sent to.
	PushHosts push.Hosts
}

// EditUnlimited is the EditWindow of "unlimited". It is the longest
// duration, so that time.Since(sent) <= EditWindow holds for every message
// without a special case.
const EditUnlimited = time.Duration(math.MaxInt64)

// Signup is who may create an account.
type Signup string

// The sign-up modes.
const (
	SignupOpen   Signup = "open"   // anyone
	SignupInvite Signup = "invite" // only through an invite link
	SignupClosed Signup = "closed" // only admins create accounts
)

// RateLimit is a token bucket: Rate tokens a second, Burst at once.
type RateLimit struct {
	Rate  float64
	Burst int
}

// Off reports whether there is no limit.
func (l RateLimit) Off() bool { return l.Rate == 0 }

// String gives the limit in the form ParseRateLimit reads, in the
// smallest unit that makes the rate a whole number (when one does).
func (l RateLimit) String() string {
	if l.Off() {
		return "off"
	}
	burst := "," + strconv.Itoa(l.Burst)
	for _, u := range rateUnits {
		// The test is the parser's own division, so the text reads back
		// as exactly this rate.
		n := l.Rate * u.seconds
		if n == math.Trunc(n) && n <= maxRate && n/u.seconds == l.Rate {
			return strconv.FormatFloat(n, 'f', -1, 64) + "/" + u.name + burst
		}
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s" + burst
}

// setting is one setting: its flag, its environment variable, its default
// and help text, and set, which reads a value into its field of a Config.
type setting struct {
	flag, env, def, usage string
	set                   func(c *Config, v string) error
	// secret values are not repeated in errors.
	secret bool
}

// settings lists every setting once. Appended to, not reordered: the fuzz
// corpus names settings by their place here.
var settings = []setting{
	{flag: "addr", env: "PARLEY_ADDR", def: "127.0.0.1:8000", usage: "listen address",
		set: func(c *Config, v string) (err error) { c.Addr, err = parseAddr(v); return err }},
	{flag: "db", env: "PARLEY_DB", def: "sqlite:parley.db", usage: "database: sqlite:PATH or postgres://…",
		set: func(c *Config, v string) (err error) { c.DB, err = ParseDB(v); return err }},
	{flag: "redis", env: "PARLEY_REDIS", usage: "redis://… to share rooms between processes; empty: in-process broker",
		set: func(c *Config, v string) (err error) { c.Redis, err = parseRedis(v); return err }},
	{flag: "origins", env: "PARLEY_ORIGINS", usage: "extra trusted origins, comma-separated (https://chat.example.com)",
		set: func(c *Config, v string) (err error) { c.Origins, err = parseOrigins(v); return err }},
	{flag: "history", env: "PARLEY_HISTORY", def: "20", usage: "messages fetch_messages returns by default",
		set: func(c *Config, v string) (err error) { c.History, err = parseInt(v, 1, 100); return err }},
	{flag: "log-level", env: "PARLEY_LOG_LEVEL", def: "info", usage: "debug, info, warn or error",
		set: func(c *Config, v string) (err error) { c.LogLevel, err = parseLogLevel(v); return err }},
	{flag: "send-limit", env: "PARLEY_SEND_LIMIT", def: "5/s,20", usage: "per-user sending rate and burst (RATE/s or RATE/m), or off",
		set: func(c *Config, v string) (err error) { c.SendLimit, err = parseRateLimit(v, time.Minute); return err }},
	{flag: "history-limit", env: "PARLEY_HISTORY_LIMIT", def: "10/s,50", usage: "history requests per socket (and per user over the API and in message searches), RATE/UNIT,BURST, or off",
		set: func(c *Config, v string) (err error) { c.HistoryLimit, err = ParseRateLimit(v); return err }},
	{flag: "user-sockets", env: "PARLEY_USER_SOCKETS", def: "20", usage: "open sockets one user may hold; 0: no cap",
		set: func(c *Config, v string) (err error) { c.UserSockets, err = parseInt(v, 0, 1_000_000); return err }},
	{flag: "max-sockets", env: "PARLEY_MAX_SOCKETS", usage: "sockets this process accepts in all; empty: from the open-file limit",
		set: func(c *Config, v string) (err error) { c.MaxSockets, err = parseMaxSockets(v); return err }},
	{flag: "trusted-proxies", env: "PARLEY_TRUSTED_PROXIES", usage: "proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed",
		set: func(c *Config, v string) (err error) { c.TrustedProxies, err = parseProxies(v); return err }},
	{flag: "signup", env: "PARLEY_SIGNUP", def: "open", usage: "who may sign up: open, invite (through an invite link) or closed (admins create accounts)",
		set: func(c *Config, v string) (err error) { c.Signup, err = parseSignup(v); return err }},
	{flag: "signup-limit", env: "PARLEY_SIGNUP_LIMIT", def: "1/m,20", usage: "sign-ups per client address, RATE/UNIT,BURST (UNIT s, m or h), or off",
		set: func(c *Config, v string) (err error) { c.SignupLimit, err = ParseRateLimit(v); return err }},
	{flag: "room-create-limit", env: "PARLEY_ROOM_CREATE_LIMIT", def: "1/m,10", usage: "new rooms one user may create, RATE/UNIT,BURST (UNIT s, m or h), or off",
		set: func(c *Config, v string) (err error) { c.RoomCreateLimit, err = ParseRateLimit(v); return err }},
	{flag: "edit-window", env: "PARLEY_EDIT_WINDOW", def: "1h", usage: "how long after sending an author may edit a message: a duration from 1s to 8760h, 0 (off) or unlimited",
		set: func(c *Config, v string) (err error) { c.EditWindow, err = parseEditWindow(v); return err }},
	{flag: "metrics-token", env: "PARLEY_METRICS_TOKEN", usage: "when set, /metrics asks for Authorization: Bearer TOKEN",
		set: func(c *Config, v string) (err error) { c.MetricsToken, err = parseMetricsToken(v); return err }, secret: true},
	{flag: "public-url", env: "PARLEY_PUBLIC_URL", usage: "the address people reach Parley at (https://chat.example.com)",
		set: func(c *Config, v string) (err error) { c.PublicURL, err = parsePublicURL(v); return err }},
	{flag: "push", env: "PARLEY_PUSH", def: "on", usage: "Web Push notifications of mentions and direct messages: on or off",
		set: func(c *Config, v string) (err error) { c.Push, err = parseOnOff(v); return err }},
	{flag: "push-contact", env: "PARLEY_PUSH_CONTACT", usage: "where push services reach the operator (mailto:ops@example.com or https://…); empty: --public-url if https",
		set: func(c *Config, v string) (err error) { c.PushContact, err = parsePushContact(v); return err }},
	{flag: "push-delay", env: "PARLEY_PUSH_DELAY", def: "10s", usage: "how long a mention or direct message waits before it is pushed (not pushed if read meanwhile): 0s to 1h",
		set: func(c *Config, v string) (err error) { c.PushDelay, err = parsePushDelay(v); return err }},
	{flag: "push-hosts", env: "PARLEY_PUSH_HOSTS", def: push.DefaultHosts, usage: "push services notifications go to, comma-separated: host names, *.domain, loopback, or * for any host",
		set: func(c *Config, v string) (err error) { c.PushHosts, err = push.ParseHosts(v); return err }},
}

// Parse reads the settings from args (flags, without the program and
// command names) and getenv. Flags win over the environment. The error, if
// any, is one line that names the setting.
func Parse(args []string, getenv func(string) string, usage io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	// The usage text goes out for -h only; a bad flag is one line.
	var help strings.Builder
	fs.SetOutput(&help)
	vals := make([]string, len(settings))
	for i, s := range settings {
		// The usage shows the built-in default, not the environment's
		// value, which may be a secret.
		fs.StringVar(&vals[i], s.flag, s.def, s.usage+" (env "+s.env+")")
		if v := getenv(s.env); v != "" {
			vals[i] = v
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = io.WriteString(usage, help.String())
			return Config{}, nil, err
		}
		// The flag package quotes nothing: an argument with a newline
		// would break the one line.
		return Config{}, nil, fmt.Errorf("bad arguments: %s", oneLine(err.Error()))
	}
	flagged := make([]bool, len(settings))
	fs.Visit(func(f *flag.Flag) {
		for i, s := range settings {
			if s.flag == f.Name {
				flagged[i] = true
			}
		}
	})
	var c Config
	for i, s := range settings {
		if err := s.set(&c, vals[i]); err != nil {
			return c, nil, s.bad(vals[i], !flagged[i], err)
		}
	}
	return c, fs.Args(), nil
}

// bad is the error for value v of s: one line, naming the setting, and
// its variable when the value came from the environment.
func (s setting) bad(v string, fromEnv bool, err error) error {
	shown := strconv.Quote(v)
	if s.secret {
		shown = "(value not shown)"
	}
	if fromEnv {
		shown += " from " + s.env
	}
	return fmt.Errorf("bad setting --%s %s: %w", s.flag, shown, err)
}

func parseMaxSockets(s string) (int, error) {
	if s == "" {
		return -1, nil
	}
	return parseInt(s, 1, 10_000_000)
}

func parseProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pf, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
		}
		out = append(out, pf.Masked())
	}
	return out, nil
}

func parseAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || strings.ContainsFunc(host, isSpaceOrControl) {
		return "", errors.New("want HOST:PORT")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", errors.New("the port must be a number from 0 to 65535")
	}
	// Atoi takes "+80" and "-0"; the address keeps the plain number.
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f }

// parseLogLevel reads the four level names, in any case. slog's own parser
// also takes offsets ("info+2"), which the setting does not promise.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New("want debug, info, warn or error")
}

// oneLine escapes the control characters in s, such as newlines.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// ParseDB checks a database setting: sqlite:PATH or postgres://….
func ParseDB(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, "sqlite:"):
		if strings.TrimPrefix(s, "sqlite:") == "" {
			return "", errors.New("sqlite: needs a file path, as in sqlite:parley.db")
		}
		return s, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil {
			return "", errors.New("not a valid URL")
		}
		if u.Host == "" {
			return "", errors.New("the PostgreSQL URL needs a host")
		}
		return s, nil
	}
	return "", errors.New("want sqlite:PATH or postgres://USER@HOST/DB")
}

func parseRedis(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return "", errors.New("want redis://HOST:PORT[/DB]")
	}
	return s, nil
}

func parseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("%q is not an origin; want scheme://host[:port]", o)
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out, nil
}

func parseInt(s string, min, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < min || n > max {
		return 0, fmt.Errorf("want a number from %d to %d", min, max)
	}
	return n, nil
}

// maxRate bounds a rate's number, in any unit.
const maxRate = 1e6

// minRate is the slowest rate, in tokens a second: one a week. Slower, a
// token's refill time would not fit the limiters' durations.
const minRate = 1.0 / (7 * 24 * 60 * 60)

// rateUnits are the units of a rate, shortest first.
var rateUnits = []struct {
	name    string
	seconds float64
}{{"s", 1}, {"m", 60}, {"h", 60 * 60}}

// ParseRateLimit reads "RATE/UNIT,BURST", UNIT being s (a second), m (a
// minute) or h (an hour), as "5/s,20" or "1/m,10"; or "off".
func ParseRateLimit(s string) (RateLimit, error) {
	return parseRateLimit(s, time.Hour)
}

// parseRateLimit is ParseRateLimit taking the units up to longest only.
// The sending rate stops at minutes: 30 refused sends in a row close a
// socket, which a rate counted in hours would do to anyone who chats.
func parseRateLimit(s string, longest time.Duration) (RateLimit, error) {
	units := rateUnits
	for len(units) > 1 && units[len(units)-1].seconds > longest.Seconds() {
		units = units[:len(units)-1]
	}
	names := make([]string, len(units))
	for i, u := range units {
		names[i] = "/" + u.name
	}
	unitList := strings.Join(names, ", ")
	if len(names) > 1 {
		unitList = strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	}

	s = strings.TrimSpace(s)
	if s == "off" {
		return RateLimit{}, nil
	}
	rateS, burstS, ok := strings.Cut(s, ",")
	if !ok {
		return RateLimit{}, errors.New(`want RATE/UNIT,BURST (as "5/s,20") or off`)
	}
	num, unit, ok := strings.Cut(strings.TrimSpace(rateS), "/")
	if !ok {
		return RateLimit{}, errors.New("the rate needs a unit: " + unitList)
	}
	r, err := strconv.ParseFloat(num, 64)
	if err != nil || !(r > 0 && r <= maxRate) { // written so that NaN fails too
		return RateLimit{}, errors.New("the rate must be a positive number")
	}
	known := false
	for _, u := range units {
		if u.name == unit {
			r /= u.seconds
			known = true
		}
	}
	if !known {
		return RateLimit{}, errors.New("the rate's unit must be " + unitList)
	}
	if r < minRate {
		return RateLimit{}, errors.New("the rate must be at least one a week")
	}
	b, err := strconv.Atoi(strings.TrimSpace(burstS))
	if err != nil || b < 1 || b > 1e6 {
		return RateLimit{}, errors.New("the burst must be a whole number of at least 1")
	}
	return RateLimit{Rate: r, Burst: b}, nil
}

// parseSignup reads a sign-up mode, in any case, as log levels are.
func parseSignup(s string) (Signup, error) {
	switch m := Signup(strings.ToLower(s)); m {
	case SignupOpen, SignupInvite, SignupClosed:
		return m, nil
	}
	return "", errors.New("want open, invite or closed")
}

// maxEditWindow is a year.
const maxEditWindow = 8760 * time.Hour

func parseEditWindow(s string) (time.Duration, error) {
	if s == "unlimited" {
		return EditUnlimited, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`want a duration (as "1h" or "15m"), 0 (editing off) or unlimited`)
	}
	if d != 0 && (d < time.Second || d > maxEditWindow) {
		return 0, errors.New("want a duration from 1s to 8760h, 0 (editing off) or unlimited")
	}
	return d, nil
}

// maxMetricsToken bounds the token's length.
const maxMetricsToken = 256

// parseMetricsToken takes printable ASCII without spaces: HTTP trims the
// spaces around a header's value, so a token that had some would never
// match.
func parseMetricsToken(s string) (string, error) {
	if len(s) > maxMetricsToken || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", fmt.Errorf("want at most %d printable ASCII characters, without spaces", maxMetricsToken)
	}
	return s, nil
}

// parsePublicURL reads an http or https URL with an optional path, and
// gives it without a trailing slash, so that a path can be appended.
func parsePublicURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("want an http or https URL, as https://chat.example.com")
	}
	// url.Parse keeps an empty query or fragment ("https://h?") nowhere.
	if strings.ContainsAny(s, "?#") {
		return "", errors.New("the URL must have no query or fragment")
	}
	if u.User != nil {
		return "", errors.New("the URL must have no user name or password")
	}
	host := strings.ToLower(u.Host)
	if strings.HasSuffix(host, ":") || u.Port() != "" {
		n, err := strconv.Atoi(u.Port())
		if err != nil || n < 1 || n > 65535 {
			return "", errors.New("the port must be a number from 1 to 65535")
		}
		host = net.JoinHostPort(strings.ToLower(u.Hostname()), strconv.Itoa(n))
	}
	return u.Scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/"), nil
}

// parseOnOff reads a switch.
func parseOnOff(s string) (bool, error) {
	switch s {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errors.New("want on or off")
}

// parsePushContact checks the form of a VAPID subject; the push package
// checks the rest (a domain push services can resolve) when it starts.
func parsePushContact(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > 256 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return "", errors.New("want at most 256 characters without spaces")
	}
	if !strings.HasPrefix(s, "mailto:") && !strings.HasPrefix(s, "https://") {
		return "", errors.New("want a mailto: or https: URI, as mailto:ops@example.com")
	}
	return s, nil
}

// maxPushDelay bounds --push-delay: a notification later than this is
// news nobody needs.
const maxPushDelay = time.Hour

func parsePushDelay(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxPushDelay {
		return 0, errors.New(`want a duration from 0s to 1h, as "10s"`)
	}
	return d, nil
}
