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
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the program's settings.
type Config struct {
	Addr     string
	DB       string
	Redis    string
	Origins  []string
	History  int
	LogLevel slog.Level
	// SendLimit is the per-user sending rate; zero Rate means no limit.
	SendLimit SendLimit
	// UserSockets caps one user's open sockets; 0 means no cap.
	UserSockets int
	// MaxSockets caps this process's sockets; -1 means "derive from the
	// open-file limit", which the program resolves at start.
	MaxSockets int
	// TrustedProxies are the networks whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
}

// SendLimit is a token bucket: Rate messages a second, Burst at once.
type SendLimit struct {
	Rate  float64
	Burst int
}

// Off reports whether sending is unlimited.
func (l SendLimit) Off() bool { return l.Rate == 0 }

func (l SendLimit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.FormatFloat(l.Rate, 'f', -1, 64) + "/s," + strconv.Itoa(l.Burst)
}

type setting struct {
	flag, env, def, usage string
}

var settings = []setting{
	{"addr", "PARLEY_ADDR", "127.0.0.1:8000", "listen address"},
	{"db", "PARLEY_DB", "sqlite:parley.db", "database: sqlite:PATH or postgres://…"},
	{"redis", "PARLEY_REDIS", "", "redis://… to share rooms between processes; empty: in-process broker"},
	{"origins", "PARLEY_ORIGINS", "", "extra trusted origins, comma-separated (https://chat.example.com)"},
	{"history", "PARLEY_HISTORY", "20", "messages fetch_messages returns by default"},
	{"log-level", "PARLEY_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"send-limit", "PARLEY_SEND_LIMIT", "5/s,20", "per-user sending rate and burst, or off"},
	{"user-sockets", "PARLEY_USER_SOCKETS", "20", "open sockets one user may hold; 0: no cap"},
	{"max-sockets", "PARLEY_MAX_SOCKETS", "", "sockets this process accepts in all; empty: from the open-file limit"},
	{"trusted-proxies", "PARLEY_TRUSTED_PROXIES", "", "proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For/-Proto are believed"},
}

// Parse reads the settings from args (flags, without the program and
// command names) and getenv. Flags win over the environment. The error, if
// any, is one line that names the setting.
func Parse(args []string, getenv func(string) string, usage io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	// The usage text goes out for -h only; a bad flag is one line.
	var help strings.Builder
	fs.SetOutput(&help)
	vals := make(map[string]*string, len(settings))
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		vals[s.flag] = fs.String(s.flag, def, s.usage+" (env "+s.env+")")
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
	c, err := build(vals)
	return c, fs.Args(), err
}

func build(v map[string]*string) (Config, error) {
	var c Config
	var err error
	bad := func(name string, e error) error {
		return fmt.Errorf("bad setting --%s %q: %w", name, *v[name], e)
	}
	if c.Addr, err = parseAddr(*v["addr"]); err != nil {
		return c, bad("addr", err)
	}
	if c.DB, err = ParseDB(*v["db"]); err != nil {
		return c, bad("db", err)
	}
	if c.Redis, err = parseRedis(*v["redis"]); err != nil {
		return c, bad("redis", err)
	}
	if c.Origins, err = parseOrigins(*v["origins"]); err != nil {
		return c, bad("origins", err)
	}
	if c.History, err = parseInt(*v["history"], 1, 100); err != nil {
		return c, bad("history", err)
	}
	if c.LogLevel, err = parseLogLevel(*v["log-level"]); err != nil {
		return c, bad("log-level", err)
	}
	if c.SendLimit, err = ParseSendLimit(*v["send-limit"]); err != nil {
		return c, bad("send-limit", err)
	}
	if c.UserSockets, err = parseInt(*v["user-sockets"], 0, 1_000_000); err != nil {
		return c, bad("user-sockets", err)
	}
	c.MaxSockets = -1
	if s := *v["max-sockets"]; s != "" {
		if c.MaxSockets, err = parseInt(s, 1, 10_000_000); err != nil {
			return c, bad("max-sockets", err)
		}
	}
	if c.TrustedProxies, err = parseProxies(*v["trusted-proxies"]); err != nil {
		return c, bad("trusted-proxies", err)
	}
	return c, nil
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

// ParseSendLimit reads "RATE/s,BURST" (also /m for a minute) or "off".
func ParseSendLimit(s string) (SendLimit, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return SendLimit{}, nil
	}
	rateS, burstS, ok := strings.Cut(s, ",")
	if !ok {
		return SendLimit{}, errors.New(`want RATE/s,BURST (as "5/s,20") or off`)
	}
	num, unit, ok := strings.Cut(strings.TrimSpace(rateS), "/")
	if !ok {
		return SendLimit{}, errors.New(`the rate needs a unit: /s or /m`)
	}
	r, err := strconv.ParseFloat(num, 64)
	if err != nil || !(r > 0 && r <= 1e6) { // written so that NaN fails too
		return SendLimit{}, errors.New("the rate must be a positive number")
	}
	switch unit {
	case "s":
	case "m":
		r /= float64(time.Minute / time.Second)
	default:
		return SendLimit{}, errors.New(`the rate's unit must be /s or /m`)
	}
	b, err := strconv.Atoi(strings.TrimSpace(burstS))
	if err != nil || b < 1 || b > 1e6 {
		return SendLimit{}, errors.New("the burst must be a whole number of at least 1")
	}
	return SendLimit{Rate: r, Burst: b}, nil
}
