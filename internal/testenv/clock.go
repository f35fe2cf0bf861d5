package testenv

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// Clock is a clock.Clock that moves only when told: a test sees which
// timers are set and when, and makes them fire with Advance, without
// sleeping.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	set    chan struct{} // closed and replaced when a timer is set
}

type timer struct {
	at time.Time
	f  func()
}

// NewClock returns a clock that reads start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, set: make(chan struct{})}
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc sets a timer that calls f, in a goroutine of its own, when
// Advance reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	close(c.set)
	c.set = make(chan struct{})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
}

// Advance moves the clock d forward and fires the timers due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*timer
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
		if t.at.After(c.now) {
			return false
		}
		due = append(due, t)
		return true
	})
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// Timers returns when the timers set and not yet fired or stopped are due,
// earliest first.
func (c *Clock) Timers() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := make([]time.Time, len(c.timers))
	for i, t := range c.timers {
		at[i] = t.at
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	return at
}

// Wait bounds how long a test waits for something another goroutine
// does (a timer to be set).
const Wait = 10 * time.Second

// WaitTimer waits, up to Wait, until a timer is set that is due at
// exactly at.
func (c *Clock) WaitTimer(tb testing.TB, at time.Time) {
	tb.Helper()
	c.waitFor(tb, func() bool { return slices.ContainsFunc(c.timers, func(t *timer) bool { return t.at.Equal(at) }) },
		"a timer due at "+at.Format(time.RFC3339Nano))
}

// NextTimer waits, up to Wait, until a timer is set after the clock's
// time, and returns when the earliest such is due.
func (c *Clock) NextTimer(tb testing.TB) time.Time {
	tb.Helper()
	var next time.Time
	c.waitFor(tb, func() bool {
		for _, t := range c.timers {
			if t.at.After(c.now) && (next.IsZero() || t.at.Before(next)) {
				next = t.at
			}
		}
		return !next.IsZero()
	}, "a timer")
	return next
}

// waitFor waits until ok, called with c.mu held, is true.
func (c *Clock) waitFor(tb testing.TB, ok func() bool, what string) {
	tb.Helper()
	deadline := time.NewTimer(Wait)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		done, set := ok(), c.set
		c.mu.Unlock()
		if done {
			return
		}
		select {
		case <-set:
		case <-deadline.C:
			tb.Fatalf("no %s after %v; timers due at %v", what, Wait, c.Timers())
		}
	}
}
