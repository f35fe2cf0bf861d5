package web

import (
	"context"
	"sync"
	"time"
)

// A session's or token's last use, as its owner's list shows it (GET
// /api/v1/account/sessions, /settings/): recorded at most once every
// useEvery for each, and written for all of them in one transaction
// usesFlush after the first of a batch, never on the request's path.
const (
	useEvery  = 5 * time.Minute
	usesFlush = 2 * time.Second
	// maxUses bounds the credentials waiting to be written; past it, a
	// use waits for the next request after the flush.
	maxUses = 4096
)

// useRecorder gathers the uses to record.
type useRecorder struct {
	s *Server

	mu     sync.Mutex
	used   map[string]time.Time // by the credential's hash
	stop   func() bool          // the pending flush's timer
	closed bool
}

// note records a use at now of the credential hash, last used at last
// (zero: never), if last is old enough.
func (u *useRecorder) note(hash []byte, last, now time.Time) {
	if !last.IsZero() && now.Sub(last) < useEvery {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || len(u.used) >= maxUses {
		return
	}
	if u.used == nil {
		u.used = make(map[string]time.Time)
		u.stop = u.s.opt.Clock.AfterFunc(usesFlush, u.flush)
	}
	u.used[string(hash)] = now
}

// flush writes the uses gathered.
func (u *useRecorder) flush() {
	u.mu.Lock()
	used := u.used
	u.used, u.stop = nil, nil
	u.mu.Unlock()
	if len(used) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := u.s.opt.Store.TouchSessions(ctx, used); err != nil {
		u.s.log.Warn("record sessions' last use", "err", err)
	}
}

// close writes what is gathered now, before the store closes, and takes
// no more uses.
func (u *useRecorder) close() {
	u.mu.Lock()
	u.closed = true
	pending := u.stop != nil && u.stop()
	u.mu.Unlock()
	if pending {
		u.flush()
	}
}
