package testenv

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewClock(start)
	var fired atomic.Int32
	done := make(chan struct{}, 2)
	f := func() { fired.Add(1); done <- struct{}{} }
	c.AfterFunc(10*time.Second, f)
	stop := c.AfterFunc(5*time.Second, f)
	if got := c.Timers(); len(got) != 2 || !got[0].Equal(start.Add(5*time.Second)) {
		t.Fatalf("timers %v", got)
	}
	if !stop() || stop() {
		t.Fatal("stop should report stopping once")
	}
	c.WaitTimer(t, start.Add(10*time.Second))
	if next := c.NextTimer(t); !next.Equal(start.Add(10 * time.Second)) {
		t.Fatalf("next timer %v", next)
	}
	c.Advance(9 * time.Second)
	if fired.Load() != 0 {
		t.Fatal("a timer fired early")
	}
	c.Advance(time.Second)
	<-done
	if fired.Load() != 1 || len(c.Timers()) != 0 || !c.Now().Equal(start.Add(10*time.Second)) {
		t.Fatalf("fired %d, timers %v, now %v", fired.Load(), c.Timers(), c.Now())
	}
}
