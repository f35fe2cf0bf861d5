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
		SendLimit: SendLimit{Rate: 5, Burst: 20}, UserSockets: 20, MaxSockets: -1,
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
		"--send-limit", "30/m,5", "--user-sockets", "0", "--max-sockets", "5000",
		"--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1", "extra",
	}
	c, rest, err := Parse(args, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Addr: ":9000", DB: "postgres://u@db.example/parley", Redis: "rediss://r.example:6380/1",
		Origins: []string{"https://chat.example.com", "http://localhost:3000"}, History: 100,
		LogLevel: slog.LevelWarn, SendLimit: SendLimit{Rate: 0.5, Burst: 5}, UserSockets: 0, MaxSockets: 5000,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"),
			netip.MustParsePrefix("::1/128")},
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
	"addr":            {"", "8000", "localhost", "host:port", "host:-1", "host:65536", "a b:80", "h\n:80"},
	"db":              {"", "parley.db", "sqlite:", "mysql://h/db", "postgres://", "postgres:///db", "postgres://h:x/db"},
	"redis":           {"localhost:6379", "http://h:6379", "redis://", "redis:///0"},
	"origins":         {"chat.example.com", "ftp://h", "https://", "https://h/path", "https://h?q=1", "https://h,nope"},
	"history":         {"", "0", "101", "-5", "ten", "1.5"},
	"log-level":       {"", "verbose", "info+2", "error+9223372036854775807", "INFO "},
	"send-limit":      {"", "5", "5/s", "5/h,20", "0/s,20", "-1/s,20", "NaN/s,20", "Inf/s,20", "5/s,0", "5/s,x", "2e6/s,1"},
	"user-sockets":    {"", "-1", "1000001", "many"},
	"max-sockets":     {"0", "-1", "10000001", "x"},
	"trusted-proxies": {"proxy.example", "10.0.0.0/33", "1.2.3", "10.0.0.1/8/8"},
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
		l, err := ParseSendLimit(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		back, err := ParseSendLimit(l.String())
		if err != nil || back != l {
			t.Errorf("%q → %q → %+v, %v", s, l.String(), back, err)
		}
	}
}
