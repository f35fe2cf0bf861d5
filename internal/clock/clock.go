// Package clock is the time Parley's timed parts read and wait on: the
// system's in the program, a hand-driven one in tests
// (internal/testenv.Clock), so that a test of a timeout moves time instead
// of sleeping through it.
package clock

import "time"

// Clock tells the time and calls a function after a while.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f, in a goroutine of its own, once d has passed,
	// unless stop is called first; stop reports whether it stopped it.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// System is the system's clock.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Pause waits d of the system's time, or until quit is closed, and
// reports whether d passed: false means stop.
func Pause(d time.Duration, quit <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-quit:
		return false
	}
}
