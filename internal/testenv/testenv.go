// Package testenv is what Parley's tests share about their surroundings:
// the real services a test needs, named by environment variables, and
// waiting for a condition without sleeping a fixed time.
//
// Without its variable a test that needs a service is skipped, saying so
// — unless CI is set: there a missing service fails the test, so that CI
// can never pass by skipping what it was meant to run.
package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// The variables that name the services tests use.
const (
	Postgres = "PARLEY_TEST_POSTGRES" // a postgres:// URL whose user may create databases
	Redis    = "PARLEY_TEST_REDIS"    // a redis:// URL
	Browser  = "PARLEY_TEST_BROWSER"  // the path of a Chromium
	Axe      = "PARLEY_TEST_AXE"      // the path of axe-core's axe.min.js
)

// Need returns the value of the environment variable name. If it is
// empty, the test is skipped with why (what it would have run), or fails
// if CI is set.
func Need(tb testing.TB, name, what string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	Missing(tb, fmt.Sprintf("%s not set: %s", name, what))
	return ""
}

// Missing skips the test because something it needs is missing (why says
// what), or fails it if CI is set.
func Missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s (CI is set: a missing service is a failure, not a skip)", why)
	}
	tb.Skip(why + ": skipping")
}

// Eventually waits until cond holds, checking it every few milliseconds,
// and fails the test with what if it does not within d.
func Eventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited %v for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
