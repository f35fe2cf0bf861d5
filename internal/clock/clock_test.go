package clock

import (
	"testing"
	"time"
)

// Pause goes on once its time has passed, and stops at once when quit
// is closed, however long it was to wait.
func TestPause(t *testing.T) {
	quit := make(chan struct{})
	if !Pause(time.Millisecond, quit) {
		t.Fatal("Pause stopped though quit is open")
	}
	close(quit)
	if Pause(time.Hour, quit) {
		t.Fatal("Pause went on though quit is closed")
	}
}
