package config

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse sets one setting by flag and one (maybe the same) by the
// environment, to arbitrary values.
func FuzzParse(f *testing.F) {
	f.Add(uint8(0), "127.0.0.1:8000", uint8(1), "sqlite:x.db", false)
	f.Add(uint8(4), "101", uint8(4), "7", true)
	f.Add(uint8(5), "info+2", uint8(6), "off", false)
	f.Add(uint8(6), "NaN/s,20", uint8(6), "5/s,20", true)
	f.Add(uint8(3), "https://Chat.Example,http://h:1/", uint8(9), "10.0.0.0/8,::1", false)
	f.Add(uint8(2), "redis://h:6379/0", uint8(8), "0", false)
	f.Add(uint8(0), "a\nb:80", uint8(7), "-1", true)
	f.Add(uint8(200), "-h", uint8(0), "", false)
	f.Add(uint8(10), "Invite", uint8(10), "nobody", true)
	f.Add(uint8(11), "5e-324/m,1", uint8(12), "1/h,10", false)
	f.Add(uint8(13), "unlimited", uint8(13), "500ms", true)
	f.Add(uint8(14), "t0ken", uint8(14), "a b", false)
	f.Add(uint8(15), "HTTPS://Chat.Example:0443/p/", uint8(15), "https://h/?", true)
	f.Fuzz(func(t *testing.T, flagAt uint8, flagVal string, envAt uint8, envVal string, equals bool) {
		var args []string
		var flagged *setting
		if int(flagAt) < len(settings) {
			flagged = &settings[flagAt]
			if equals {
				args = []string{"--" + flagged.flag + "=" + flagVal}
			} else {
				args = []string{"--" + flagged.flag, flagVal}
			}
		}
		envs := map[string]string{}
		var enved *setting
		if int(envAt) < len(settings) && envVal != "" {
			enved = &settings[envAt]
			envs[enved.env] = envVal
		}
		c, _, err := Parse(args, env(envs), io.Discard)
		if err != nil {
			checkError(t, err)
			// The setting named is one that was set, and is bad alone.
			var named *setting
			for _, s := range []*setting{flagged, enved} {
				if s != nil && strings.HasPrefix(err.Error(), "bad setting --"+s.flag+" ") {
					named = s
				}
			}
			if named == nil {
				t.Fatalf("args %q env %q: error %q names no setting that was set", args, envs, err)
			}
			var alone error
			if named == flagged {
				_, _, alone = Parse(args, env(nil), io.Discard)
			} else {
				_, _, alone = Parse(nil, env(envs), io.Discard)
			}
			if alone == nil {
				t.Fatalf("args %q env %q: error %q, but the setting alone is accepted", args, envs, err)
			}
			return
		}
		checkConfig(t, c)
		if flagged != nil && enved == flagged {
			// The flag wins: the environment makes no difference.
			c2, _, err2 := Parse(args, env(nil), io.Discard)
			if err2 != nil || !reflect.DeepEqual(c, c2) {
				t.Fatalf("args %q env %q: %+v, but without the environment %+v, %v", args, envs, c, c2, err2)
			}
		}
	})
}

// FuzzParseArgs parses an arbitrary command line: NUL separates the
// arguments, as it cannot occur inside one.
func FuzzParseArgs(f *testing.F) {
	f.Add("--addr\x00:0\x00serve")
	f.Add("-history=5\x00--\x00--db=x")
	f.Add("--nope")
	f.Add("--no\npe")
	f.Add("--history")
	f.Add("-help")
	f.Add("---addr=:1")
	f.Add("--origins=https://a.example,https://b.example\x00--origins=http://c")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		c, rest, err := Parse(args, env(nil), io.Discard)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			checkError(t, err)
			return
		}
		checkConfig(t, c)
		if len(rest) > len(args) {
			t.Fatalf("%q: more arguments left (%q) than given", args, rest)
		}
	})
}

// checkError checks that err is one line that names a setting or the
// arguments.
func checkError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Fatalf("error %q is not one plain line", msg)
	}
	if strings.HasPrefix(msg, "bad arguments: ") {
		return
	}
	for _, s := range settings {
		if strings.HasPrefix(msg, "bad setting --"+s.flag+" ") {
			return
		}
	}
	t.Fatalf("error %q names no setting", msg)
}

var originRule = regexp.MustCompile(`^https?://[^/?#@A-Z\s]+$`)

// checkConfig checks that every field of c is in its range.
func checkConfig(t *testing.T, c Config) {
	t.Helper()
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil || strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		t.Fatalf("addr %q: %v", c.Addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || strconv.Itoa(n) != port {
		t.Fatalf("addr %q: port %q", c.Addr, port)
	}
	switch {
	case strings.HasPrefix(c.DB, "sqlite:"):
		if c.DB == "sqlite:" {
			t.Fatalf("db %q has no path", c.DB)
		}
	case strings.HasPrefix(c.DB, "postgres://"), strings.HasPrefix(c.DB, "postgresql://"):
		if u, err := url.Parse(c.DB); err != nil || u.Host == "" {
			t.Fatalf("db %q: %v", c.DB, err)
		}
	default:
		t.Fatalf("db %q", c.DB)
	}
	if c.Redis != "" {
		if u, err := url.Parse(c.Redis); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			t.Fatalf("redis %q: %v", c.Redis, err)
		}
	}
	for _, o := range c.Origins {
		if !originRule.MatchString(o) {
			t.Fatalf("origin %q", o)
		}
		if u, err := url.Parse(o); err != nil || u.Scheme+"://"+u.Host != o {
			t.Fatalf("origin %q does not parse back: %v", o, err)
		}
	}
	if c.History < 1 || c.History > 100 {
		t.Fatalf("history %d", c.History)
	}
	switch c.LogLevel {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		t.Fatalf("log level %v", c.LogLevel)
	}
	checkRate(t, "send limit", c.SendLimit)
	checkRate(t, "sign-up limit", c.SignupLimit)
	checkRate(t, "room creation limit", c.RoomCreateLimit)
	if c.UserSockets < 0 || c.UserSockets > 1_000_000 {
		t.Fatalf("user sockets %d", c.UserSockets)
	}
	if c.MaxSockets != -1 && (c.MaxSockets < 1 || c.MaxSockets > 10_000_000) {
		t.Fatalf("max sockets %d", c.MaxSockets)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() || p != p.Masked() {
			t.Fatalf("trusted proxy %v (valid %v)", p, p.IsValid())
		}
	}
	switch c.Signup {
	case SignupOpen, SignupInvite, SignupClosed:
	default:
		t.Fatalf("sign-up mode %q", c.Signup)
	}
	if w := c.EditWindow; w != 0 && w != EditUnlimited && (w < time.Second || w > 8760*time.Hour) {
		t.Fatalf("edit window %v", w)
	}
	if len(c.MetricsToken) > 256 || strings.ContainsFunc(c.MetricsToken, func(r rune) bool { return r <= ' ' || r > '~' }) {
		t.Fatalf("metrics token %q", c.MetricsToken)
	}
	if p := c.PublicURL; p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			strings.ContainsAny(p, "?#") || strings.HasSuffix(p, "/") {
			t.Fatalf("public URL %q: %v", p, err)
		}
		if again, err := parsePublicURL(p); err != nil || again != p {
			t.Fatalf("public URL %q reads back as %q, %v", p, again, err)
		}
	}
}

// checkRate checks a rate limit's range, and that it prints as text that
// reads back as the same limit.
func checkRate(t *testing.T, name string, l RateLimit) {
	t.Helper()
	if l.Off() {
		if l.Burst != 0 {
			t.Fatalf("%s off with burst %d", name, l.Burst)
		}
		return
	}
	if !(l.Rate >= minRate && l.Rate <= 1e6) || math.IsNaN(l.Rate) || l.Burst < 1 || l.Burst > 1e6 {
		t.Fatalf("%s %+v", name, l)
	}
	if back, err := ParseRateLimit(l.String()); err != nil || back != l {
		t.Fatalf("%s %+v prints as %q, which reads back as %+v, %v", name, l, l.String(), back, err)
	}
}
