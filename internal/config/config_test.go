package config

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"parley/internal/push"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, rest, err := Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: "127.0.0.1:8000", DB: "sqlite:parley.db", History: 20, LogLevel: slog.LevelInfo,
		SendLimit: RateLimit{Rate: 5, Burst: 20}, HistoryLimit: RateLimit{Rate: 10, Burst: 50}, UserSockets: 20, MaxSockets: -1,
		Signup: SignupOpen, SignupLimit: RateLimit{Rate: 1.0 / 60, Burst: 20},
		RoomCreateLimit: RateLimit{Rate: 1.0 / 60, Burst: 10}, EditWindow: time.Hour,
		Push: true, PushDelay: 10 * time.Second, PushHosts: mustHosts(push.DefaultHosts),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if len(rest) != 0 {
		t.Errorf("rest %q, want none", rest)
	}
}

func TestEverySetting(t *testing.T) {
	args := []string{
		"--addr", ":9000", "--db", "postgres://u@db.example/parley", "--redis", "rediss://r.example:6380/1",
		"--origins", " https://Chat.Example.com , http://localhost:3000", "--history", "100", "--log-level", "warn",
		"--send-limit", "30/m,5", "--history-limit", "off", "--user-sockets", "0", "--max-sockets", "5000",
		"--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1", "--signup", "invite", "--signup-limit", "3/h,5",
		"--room-create-limit", "off", "--edit-window", "15m", "--metrics-token", "s3cr3t-T0ken",
		"--public-url", "https://Chat.Example.com/parley/", "--push", "off", "--push-contact", "mailto:ops@example.com",
		"--push-delay", "30s", "--push-hosts", "*.Push.Apple.com, push.example.net", "extra",
	}
	c, rest, err := Parse(args, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: ":9000", DB: "postgres://u@db.example/parley", Redis: "rediss://r.example:6380/1",
		Origins: []string{"https://chat.example.com", "http://localhost:3000"}, History: 100,
		LogLevel: slog.LevelWarn, SendLimit: RateLimit{Rate: 0.5, Burst: 5}, UserSockets: 0, MaxSockets: 5000,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("::1/128")},
		Signup: SignupInvite, SignupLimit: RateLimit{Rate: 3.0 / 3600, Burst: 5}, EditWindow: 15 * time.Minute,
		MetricsToken: "s3cr3t-T0ken", PublicURL: "https://chat.example.com/parley",
		PushContact: "mailto:ops@example.com", PushDelay: 30 * time.Second,
		PushHosts: mustHosts("push.example.net,*.push.apple.com"),
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
	if !reflect.DeepEqual(rest, []string{"extra"}) {
		t.Errorf("rest %q, want [extra]", rest)
	}
}

func TestFlagBeatsEnvironment(t *testing.T) {
	e := env(map[string]string{"PARLEY_HISTORY": "7", "PARLEY_ADDR": "127.0.0.1:1", "PARLEY_SEND_LIMIT": "off"})
	c, _, err := Parse([]string{"--history=9"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.History != 9 {
		t.Errorf("history %d, want the flag's 9", c.History)
	}
	if c.Addr != "127.0.0.1:1" || !c.SendLimit.Off() {
		t.Errorf("addr %q, send limit %v: want the environment's", c.Addr, c.SendLimit)
	}
	// A bad environment value is overridden by a good flag.
	e = env(map[string]string{"PARLEY_HISTORY": "lots"})
	if _, _, err := Parse([]string{"--history", "3"}, e, io.Discard); err != nil {
		t.Errorf("good flag over bad environment: %v", err)
	}
	if _, _, err := Parse(nil, e, io.Discard); err == nil || !strings.Contains(err.Error(), "--history") {
		t.Errorf("bad environment alone: %v, want an error naming --history", err)
	}
}

// badValues lists, for every setting, values that must be refused.
var badValues = map[string][]string{
	"addr":              {"", "8000", "localhost", "host:port", "host:-1", "host:65536", "a b:80", "h\n:80"},
	"db":                {"", "parley.db", "sqlite:", "mysql://h/db", "postgres://", "postgres:///db", "postgres://h:x/db"},
	"redis":             {"localhost:6379", "http://h:6379", "redis://", "redis:///0"},
	"origins":           {"chat.example.com", "ftp://h", "https://", "https://h/path", "https://h?q=1", "https://h,nope"},
	"history":           {"", "0", "101", "-5", "ten", "1.5"},
	"log-level":         {"", "verbose", "info+2", "error+9223372036854775807", "INFO "},
	"send-limit":        {"", "5", "5/s", "5/h,20", "0/s,20", "-1/s,20", "NaN/s,20", "Inf/s,20", "5/s,0", "5/s,x", "2e6/s,1"},
	"history-limit":     {"", "10", "10/s", "10/d,5", "0/s,5", "10/s,0", "x"},
	"user-sockets":      {"", "-1", "1000001", "many"},
	"max-sockets":       {"0", "-1", "10000001", "x"},
	"trusted-proxies":   {"proxy.example", "10.0.0.0/33", "1.2.3", "10.0.0.1/8/8"},
	"signup":            {"", "opened", "invite-only", " open", "none"},
	"signup-limit":      {"", "1/m", "1/d,20", "0/h,20", "1/m,0", "1e-9/s,20", "0.1/w,1", "on"},
	"room-create-limit": {"", "10", "1/day,10", "-1/h,10", "1/h,-1", "Inf/m,1", "OFF"},
	"edit-window":       {"", "1", "500ms", "-1h", "8761h", "forever", "Unlimited", "1d", "off"},
	"metrics-token":     {"two words", "tab\tin", "new\nline", "caf\u00e9", strings.Repeat("x", 257), " lead", "trail "},
	"push":              {"", "yes", "ON", "true"},
	"push-contact":      {"ops@example.com", "http://example.com", "mailto:a b@example.com", "mailto:" + strings.Repeat("x", 256)},
	"push-delay":        {"", "10", "-1s", "61m", "soon"},
	"push-hosts":        {"", "a.example,,b.example", "*,loopback", "*.", "https://fcm.googleapis.com", "fcm.googleapis.com:443"},
	"public-url":        {"chat.example.com", "ftp://h", "https://", "https://h?q=1", "https://h/?", "https://h#top", "https://u:p@h", "https://h:0", "https://h:65536", "https://h:", "/chat"},
}

func TestBadValues(t *testing.T) {
	for _, s := range settings {
		if len(badValues[s.flag]) == 0 {
			t.Errorf("no bad values listed for --%s", s.flag)
		}
		for _, v := range badValues[s.flag] {
			for _, from := range []string{"flag", "env"} {
				args, e := []string{"--" + s.flag + "=" + v}, env(nil)
				if from == "env" {
					if v == "" {
						continue // an empty variable is an unset one
					}
					args, e = nil, env(map[string]string{s.env: v})
				}
				_, _, err := Parse(args, e, io.Discard)
				if err == nil {
					t.Errorf("--%s=%q (from %s) accepted", s.flag, v, from)
					continue
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "bad setting --"+s.flag+" ") || strings.ContainsAny(msg, "\r\n") {
					t.Errorf("--%s=%q (from %s): error %q does not name the setting on one line", s.flag, v, from, msg)
				}
			}
		}
	}
}

func TestBadArguments(t *testing.T) {
	for _, args := range [][]string{{"--nope"}, {"--history"}, {"---addr=x"}, {"--no\npe"}} {
		_, _, err := Parse(args, env(nil), io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), "bad arguments: ") || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("Parse(%q) = %v, want one line of bad arguments", args, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, _, err := Parse([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), "-"+s.flag) || !strings.Contains(out.String(), s.env) {
			t.Errorf("usage does not mention --%s and %s", s.flag, s.env)
		}
	}
}

func TestSendLimitString(t *testing.T) {
	for _, s := range []string{"off", "5/s,20", "30/m,5", "0.25/s,1"} {
		l, err := ParseRateLimit(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		back, err := ParseRateLimit(l.String())
		if err != nil || back != l {
			t.Errorf("%q → %q → %+v, %v", s, l.String(), back, err)
		}
	}
}

// goodValues lists values the later settings must read, and what they read
// as: field picks the setting's field out of a Config.
var goodValues = []struct {
	flag, value string
	field       func(Config) any
	want        any
}{
	{"signup", "open", signup, SignupOpen},
	{"signup", "invite", signup, SignupInvite},
	{"signup", "Closed", signup, SignupClosed},
	{"signup-limit", "1/m,20", signupLimit, RateLimit{Rate: 1.0 / 60, Burst: 20}},
	{"signup-limit", " 10/h , 3 ", signupLimit, RateLimit{Rate: 10.0 / 3600, Burst: 3}},
	{"signup-limit", "2/s,1", signupLimit, RateLimit{Rate: 2, Burst: 1}},
	{"signup-limit", "off", signupLimit, RateLimit{}},
	{"room-create-limit", "1/m,10", roomCreateLimit, RateLimit{Rate: 1.0 / 60, Burst: 10}},
	{"room-create-limit", "0.5/h,2", roomCreateLimit, RateLimit{Rate: 0.5 / 3600, Burst: 2}},
	{"room-create-limit", "off", roomCreateLimit, RateLimit{}},
	{"edit-window", "1h", editWindow, time.Hour},
	{"edit-window", "1s", editWindow, time.Second},
	{"edit-window", "8760h", editWindow, 8760 * time.Hour},
	{"edit-window", "1h30m", editWindow, 90 * time.Minute},
	{"edit-window", "0", editWindow, time.Duration(0)},
	{"edit-window", "0s", editWindow, time.Duration(0)},
	{"edit-window", "unlimited", editWindow, EditUnlimited},
	{"metrics-token", "", metricsToken, ""},
	{"metrics-token", "Zm9vYmFy-._~+/=", metricsToken, "Zm9vYmFy-._~+/="},
	{"metrics-token", strings.Repeat("t", 256), metricsToken, strings.Repeat("t", 256)},
	{"public-url", "", publicURL, ""},
	{"public-url", "https://chat.example.com", publicURL, "https://chat.example.com"},
	{"public-url", "https://chat.example.com/", publicURL, "https://chat.example.com"},
	{"public-url", "HTTP://Chat.Example.com:8080/Parley//", publicURL, "http://chat.example.com:8080/Parley"},
	{"public-url", "https://[::1]:0443/a b/", publicURL, "https://[::1]:443/a%20b"},
	{"push", "on", pushOn, true},
	{"push", "off", pushOn, false},
	{"push-contact", "", pushContact, ""},
	{"push-contact", "https://chat.example.com/contact", pushContact, "https://chat.example.com/contact"},
	{"push-delay", "0s", pushDelay, time.Duration(0)},
	{"push-delay", "1h", pushDelay, time.Hour},
	{"push-hosts", "*", pushHosts, push.Hosts{}},
	{"push-hosts", "loopback", pushHosts, mustHosts("loopback")},
	{"push-hosts", push.DefaultHosts, pushHosts, mustHosts(push.DefaultHosts)},
}

func signup(c Config) any          { return c.Signup }
func signupLimit(c Config) any     { return c.SignupLimit }
func roomCreateLimit(c Config) any { return c.RoomCreateLimit }
func editWindow(c Config) any      { return c.EditWindow }
func metricsToken(c Config) any    { return c.MetricsToken }
func publicURL(c Config) any       { return c.PublicURL }
func pushOn(c Config) any          { return c.Push }
func pushContact(c Config) any     { return c.PushContact }
func pushDelay(c Config) any       { return c.PushDelay }
func pushHosts(c Config) any       { return c.PushHosts }

// mustHosts is push.ParseHosts of a list that must parse.
func mustHosts(list string) push.Hosts {
	h, err := push.ParseHosts(list)
	if err != nil {
		panic(err)
	}
	return h
}

func TestGoodValues(t *testing.T) {
	for _, g := range goodValues {
		var s setting
		for _, x := range settings {
			if x.flag == g.flag {
				s = x
			}
		}
		c, _, err := Parse([]string{"--" + g.flag, g.value}, env(nil), io.Discard)
		if err != nil || !reflect.DeepEqual(g.field(c), g.want) {
			t.Errorf("--%s %q: %v, %v; want %v", g.flag, g.value, g.field(c), err, g.want)
		}
		if g.value != "" {
			c, _, err = Parse(nil, env(map[string]string{s.env: g.value}), io.Discard)
			if err != nil || !reflect.DeepEqual(g.field(c), g.want) {
				t.Errorf("%s=%q: %v, %v; want %v", s.env, g.value, g.field(c), err, g.want)
			}
		}
		// The flag wins over every other value of the variable, good or bad.
		others := append([]string{}, badValues[g.flag]...)
		for _, o := range goodValues {
			if o.flag == g.flag && !reflect.DeepEqual(o.want, g.want) {
				others = append(others, o.value)
			}
		}
		for _, o := range others {
			if o == "" {
				continue
			}
			c, _, err = Parse([]string{"--" + g.flag + "=" + g.value}, env(map[string]string{s.env: o}), io.Discard)
			if err != nil || !reflect.DeepEqual(g.field(c), g.want) {
				t.Errorf("--%s=%q over %s=%q: %v, %v; want the flag's %v", g.flag, g.value, s.env, o, g.field(c), err, g.want)
			}
		}
	}
}

func TestBadValueMessages(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--signup=maybe"}, nil, `bad setting --signup "maybe": want open, invite or closed`},
		{nil, map[string]string{"PARLEY_SIGNUP": "maybe"}, `bad setting --signup "maybe" from PARLEY_SIGNUP: want open, invite or closed`},
		{[]string{"--signup-limit", "1/d,20"}, nil, `bad setting --signup-limit "1/d,20": the rate's unit must be /s, /m or /h`},
		{[]string{"--signup-limit", "1e-9/s,20"}, nil, `bad setting --signup-limit "1e-9/s,20": the rate must be at least one a week`},
		{nil, map[string]string{"PARLEY_SIGNUP_LIMIT": "1/h"}, `bad setting --signup-limit "1/h" from PARLEY_SIGNUP_LIMIT: want RATE/UNIT,BURST (as "5/s,20") or off`},
		{[]string{"--room-create-limit=3/h,0"}, nil, `bad setting --room-create-limit "3/h,0": the burst must be a whole number of at least 1`},
		{[]string{"--room-create-limit=3,1"}, nil, `bad setting --room-create-limit "3,1": the rate needs a unit: /s, /m or /h`},
		{nil, map[string]string{"PARLEY_ROOM_CREATE_LIMIT": "x/m,1"}, `bad setting --room-create-limit "x/m,1" from PARLEY_ROOM_CREATE_LIMIT: the rate must be a positive number`},
		{[]string{"--send-limit=5/h,20"}, nil, `bad setting --send-limit "5/h,20": the rate's unit must be /s or /m`},
		{[]string{"--edit-window=500ms"}, nil, `bad setting --edit-window "500ms": want a duration from 1s to 8760h, 0 (editing off) or unlimited`},
		{nil, map[string]string{"PARLEY_EDIT_WINDOW": "9000h"}, `bad setting --edit-window "9000h" from PARLEY_EDIT_WINDOW: want a duration from 1s to 8760h, 0 (editing off) or unlimited`},
		{[]string{"--edit-window=soon"}, nil, `bad setting --edit-window "soon": want a duration (as "1h" or "15m"), 0 (editing off) or unlimited`},
		{[]string{"--metrics-token=my secret"}, nil, `bad setting --metrics-token (value not shown): want at most 256 printable ASCII characters, without spaces`},
		{nil, map[string]string{"PARLEY_METRICS_TOKEN": "my secret\n"}, `bad setting --metrics-token (value not shown) from PARLEY_METRICS_TOKEN: want at most 256 printable ASCII characters, without spaces`},
		{[]string{"--public-url=chat.example.com"}, nil, `bad setting --public-url "chat.example.com": want an http or https URL, as https://chat.example.com`},
		{[]string{"--public-url=https://h/?x=1"}, nil, `bad setting --public-url "https://h/?x=1": the URL must have no query or fragment`},
		{[]string{"--public-url=https://h#x"}, nil, `bad setting --public-url "https://h#x": the URL must have no query or fragment`},
		{nil, map[string]string{"PARLEY_PUBLIC_URL": "https://me:pw@h"}, `bad setting --public-url "https://me:pw@h" from PARLEY_PUBLIC_URL: the URL must have no user name or password`},
		{[]string{"--public-url=https://h:99999"}, nil, `bad setting --public-url "https://h:99999": the port must be a number from 1 to 65535`},
	} {
		_, _, err := Parse(tc.args, env(tc.env), io.Discard)
		if err == nil || err.Error() != tc.want {
			t.Errorf("args %q env %q: error %v\nwant %s", tc.args, tc.env, err, tc.want)
		}
	}
}

// TestEachSettingItsField: every setting, given a value other than its
// default, changes its own field and no other.
func TestEachSettingItsField(t *testing.T) {
	other := map[string]string{
		"addr": ":1", "db": "sqlite:other.db", "redis": "redis://h:6379", "origins": "https://a.example",
		"history": "5", "log-level": "debug", "send-limit": "off", "history-limit": "off", "user-sockets": "3", "max-sockets": "9",
		"trusted-proxies": "10.0.0.1", "signup": "closed", "signup-limit": "off", "room-create-limit": "2/h,2",
		"edit-window": "unlimited", "metrics-token": "t", "public-url": "https://p.example",
		"push": "off", "push-contact": "mailto:ops@p.example", "push-delay": "1m", "push-hosts": "*",
	}
	defaults, _, err := Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{}
	for _, s := range settings {
		c, _, err := Parse([]string{"--" + s.flag, other[s.flag]}, env(nil), io.Discard)
		if err != nil {
			t.Fatalf("--%s %q: %v", s.flag, other[s.flag], err)
		}
		a, b := reflect.ValueOf(defaults), reflect.ValueOf(c)
		var fields []string
		for i := range a.NumField() {
			if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
				fields = append(fields, a.Type().Field(i).Name)
			}
		}
		if len(fields) != 1 {
			t.Errorf("--%s %q changes fields %v, want one", s.flag, other[s.flag], fields)
			continue
		}
		if by, ok := changed[fields[0]]; ok {
			t.Errorf("--%s and --%s both set %s", by, s.flag, fields[0])
		}
		changed[fields[0]] = s.flag
	}
	if n := reflect.TypeFor[Config]().NumField(); len(changed) != n {
		t.Errorf("the settings set %d of Config's %d fields", len(changed), n)
	}
}

// TestHelpShowsDefaults: the usage gives the built-in defaults, never a
// value from the environment, which may be a secret.
func TestHelpShowsDefaults(t *testing.T) {
	var out strings.Builder
	e := env(map[string]string{"PARLEY_METRICS_TOKEN": "hunter2-token", "PARLEY_SIGNUP": "closed"})
	if _, _, err := Parse([]string{"-h"}, e, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v, want flag.ErrHelp", err)
	}
	if strings.Contains(out.String(), "hunter2") || strings.Contains(out.String(), "closed\"") {
		t.Errorf("usage shows the environment's values:\n%s", out.String())
	}
	for _, s := range settings {
		if s.def != "" && !strings.Contains(out.String(), `(default "`+s.def+`")`) {
			t.Errorf("usage does not give --%s's default %q", s.flag, s.def)
		}
	}
}

func TestRateLimitUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RateLimit
		str  string
	}{
		{"5/s,20", RateLimit{Rate: 5, Burst: 20}, "5/s,20"},
		{"1/m,10", RateLimit{Rate: 1.0 / 60, Burst: 10}, "1/m,10"},
		{"120/m,1", RateLimit{Rate: 2, Burst: 1}, "2/s,1"},
		{"3/h,5", RateLimit{Rate: 3.0 / 3600, Burst: 5}, "3/h,5"},
		{"0.25/s,1", RateLimit{Rate: 0.25, Burst: 1}, "15/m,1"},
		{"0.5/h,1", RateLimit{Rate: 0.5 / 3600, Burst: 1}, "0.0001388888888888889/s,1"},
		{"1e6/h,1", RateLimit{Rate: 1e6 / 3600, Burst: 1}, "1000000/h,1"},
		{"off", RateLimit{}, "off"},
	} {
		l, err := ParseRateLimit(tc.in)
		if err != nil || l != tc.want {
			t.Errorf("ParseRateLimit(%q) = %+v, %v; want %+v", tc.in, l, err, tc.want)
			continue
		}
		if l.String() != tc.str {
			t.Errorf("%q prints as %q, want %q", tc.in, l.String(), tc.str)
		}
		if back, err := ParseRateLimit(l.String()); err != nil || back != l {
			t.Errorf("%q → %q → %+v, %v", tc.in, l.String(), back, err)
		}
	}
	// Rates so slow that their refill time overflows are refused, whatever
	// the unit (5e-324/m once divided to 0, which read as "off").
	for _, s := range []string{"5e-324/m,1", "1e-300/s,1", "0.001/h,1"} {
		if l, err := ParseRateLimit(s); err == nil {
			t.Errorf("ParseRateLimit(%q) = %+v, want an error", s, l)
		}
	}
}
