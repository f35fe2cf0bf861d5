package web

import (
	"bytes"
	"container/heap"
	"context"
	"net/http"
	"sync"
	"time"

	"parley/internal/clock"
)

// registry is every socket this process has open or is opening, by user,
// and in the order their sessions or tokens expire: what --max-sockets and
// --user-sockets count, what a revocation finds to close, what an expiry
// closes, and what shutdown waits for. A socket is in it from before its
// upgrade until its messages are settled and it has left its room.
type registry struct {
	clock  clock.Clock
	mu     sync.Mutex
	total  int
	byUser sets[string, *registered]
	// expiring holds the sockets whose credential expires, soonest first,
	// and one timer is set for the soonest: a timer per socket would cost
	// every idle socket its memory.
	expiring   expiries
	expiryAt   time.Time   // when the timer fires
	stopExpiry func() bool // the timer
	closed     bool        // shutting down: no socket is added
	wg         sync.WaitGroup
}

// expiries is a heap of sockets by their credential's expiry; each
// socket knows its index (registered.expiry), so that it leaves in O(log n).
type expiries []*registered

func (e expiries) Len() int           { return len(e) }
func (e expiries) Less(i, j int) bool { return e[i].cred.expires.Before(e[j].cred.expires) }
func (e expiries) Swap(i, j int) {
	e[i], e[j] = e[j], e[i]
	// #nosec G115 -- indexes of the process's sockets, fewer than its open files
	e[i].expiry, e[j].expiry = int32(i), int32(j)
}
func (e *expiries) Push(x any) {
	sc := x.(*registered)
	sc.expiry = int32(len(*e)) // #nosec G115 -- as in Swap
	*e = append(*e, sc)
}
func (e *expiries) Pop() any {
	old := *e
	sc := old[len(old)-1]
	old[len(old)-1] = nil
	*e = old[:len(old)-1]
	sc.expiry = -1
	return sc
}

// add counts sc against the caps, or returns the status that refuses it:
// 503 when the process is full or shutting down, 429 when the user is.
// 0 in a cap means none.
func (g *registry) add(sc *registered, maxSockets, userSockets int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || maxSockets > 0 && g.total >= maxSockets {
		return http.StatusServiceUnavailable
	}
	if userSockets > 0 && g.byUser.count(sc.user.Name) >= userSockets {
		return http.StatusTooManyRequests
	}
	g.byUser.add(sc.user.Name, sc)
	sc.expiry = -1
	if !sc.cred.expires.IsZero() {
		heap.Push(&g.expiring, sc)
		g.armExpiry()
	}
	g.total++
	g.wg.Add(1)
	return 0
}

// armExpiry sets the timer for the soonest expiry, if it is not set for
// it already; g.mu held.
func (g *registry) armExpiry() {
	if len(g.expiring) == 0 {
		return
	}
	next := g.expiring[0].cred.expires
	if g.stopExpiry != nil && !next.Before(g.expiryAt) {
		return // set for it, or for an earlier one that will rearm it
	}
	if g.stopExpiry != nil {
		g.stopExpiry()
	}
	g.expiryAt = next
	g.stopExpiry = g.clock.AfterFunc(max(next.Sub(g.clock.Now()), 0), g.expire)
}

// expire closes the sockets whose credential has expired, and sets the
// timer for the next.
func (g *registry) expire() {
	g.mu.Lock()
	now := g.clock.Now()
	var due []*registered
	for len(g.expiring) > 0 && !g.expiring[0].cred.expires.After(now) {
		due = append(due, heap.Pop(&g.expiring).(*registered))
	}
	g.stopExpiry = nil
	g.armExpiry()
	g.mu.Unlock()
	for _, sc := range due {
		sc.revoke("credentials expired")
	}
}

// remove takes sc out, once.
func (g *registry) remove(sc *registered) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if had, _ := g.byUser.remove(sc.user.Name, sc); !had {
		return
	}
	if sc.expiry >= 0 {
		heap.Remove(&g.expiring, int(sc.expiry))
	}
	g.total--
	g.wg.Done()
}

// count is how many sockets are open or being opened.
func (g *registry) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

// all returns the sockets for which keep is true (every socket if keep is
// nil); the caller acts on them without the registry's lock.
func (g *registry) all(keep func(*registered) bool) []*registered {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byUser.all(keep)
}

// ofUser returns the user's sockets.
func (g *registry) ofUser(name string) []*registered {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byUser.of(name)
}

// ofCredential returns the sockets opened with the session or token whose
// hash is hash. It looks at every socket: revocations are rare, and an
// index would cost every socket its memory.
func (g *registry) ofCredential(hash []byte) []*registered {
	return g.all(func(sc *registered) bool { return bytes.Equal(sc.cred.hash, hash) })
}

// shutdown refuses new sockets from now on, and returns the open ones.
func (g *registry) shutdown() []*registered {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return g.all(nil)
}

// wait waits until every socket is gone, or ctx is done.
func (g *registry) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
