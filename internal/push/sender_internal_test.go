package push

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"0", 0, true},
		{"-3", 0, false},
		{"soon", 0, false},
		{"99999999999999999", 366 * 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	s := &Sender{opt: Options{Backoff: 2 * time.Second, MaxBackoff: 10 * time.Second}}
	for _, c := range []struct {
		n      int
		lo, hi time.Duration
	}{
		{1, time.Second, 2 * time.Second},
		{2, 2 * time.Second, 4 * time.Second},
		{3, 4 * time.Second, 8 * time.Second},
		{4, 5 * time.Second, 10 * time.Second},
		{60, 5 * time.Second, 10 * time.Second},
	} {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := s.backoff(c.n)
			if d < c.lo || d > c.hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", c.n, d, c.lo, c.hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter: always %v", c.n, seen)
		}
	}
}
