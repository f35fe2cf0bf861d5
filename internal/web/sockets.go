package web

import (
	"context"
	"net/http"
	"sync"
)

// registry is every socket this process has open or is opening, by user
// and by the session or token that opened it: what --max-sockets and
// --user-sockets count, what a revocation finds to close, and what
// shutdown waits for. A socket is in it from
// before its upgrade until its messages are settled and it has left its
// room.
type registry struct {
	mu     sync.Mutex
	total  int
	byUser map[string]map[*socket]struct{}
	byCred map[string]map[*socket]struct{} // by the credential's hash
	closed bool                            // shutting down: no socket is added
	wg     sync.WaitGroup
}

// add counts sc against the caps, or returns the status that refuses it:
// 503 when the process is full or shutting down, 429 when the user is.
// 0 in a cap means none.
func (g *registry) add(sc *socket, maxSockets, userSockets int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || maxSockets > 0 && g.total >= maxSockets {
		return http.StatusServiceUnavailable
	}
	mine := g.byUser[sc.user.Name]
	if userSockets > 0 && len(mine) >= userSockets {
		return http.StatusTooManyRequests
	}
	if mine == nil {
		if g.byUser == nil {
			g.byUser = make(map[string]map[*socket]struct{})
		}
		mine = make(map[*socket]struct{})
		g.byUser[sc.user.Name] = mine
	}
	mine[sc] = struct{}{}
	cred := string(sc.cred.hash)
	if g.byCred == nil {
		g.byCred = make(map[string]map[*socket]struct{})
	}
	if g.byCred[cred] == nil {
		g.byCred[cred] = make(map[*socket]struct{})
	}
	g.byCred[cred][sc] = struct{}{}
	g.total++
	g.wg.Add(1)
	return 0
}

// remove takes sc out, once.
func (g *registry) remove(sc *socket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	mine := g.byUser[sc.user.Name]
	if _, ok := mine[sc]; !ok {
		return
	}
	delete(mine, sc)
	if len(mine) == 0 {
		delete(g.byUser, sc.user.Name)
	}
	cred := string(sc.cred.hash)
	delete(g.byCred[cred], sc)
	if len(g.byCred[cred]) == 0 {
		delete(g.byCred, cred)
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
func (g *registry) all(keep func(*socket) bool) []*socket {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*socket
	for _, mine := range g.byUser {
		for sc := range mine {
			if keep == nil || keep(sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// ofUser returns the user's sockets.
func (g *registry) ofUser(name string) []*socket {
	g.mu.Lock()
	defer g.mu.Unlock()
	return keys(g.byUser[name])
}

// ofCredential returns the sockets opened with the session or token whose
// hash is hash.
func (g *registry) ofCredential(hash []byte) []*socket {
	g.mu.Lock()
	defer g.mu.Unlock()
	return keys(g.byCred[string(hash)])
}

func keys(set map[*socket]struct{}) []*socket {
	out := make([]*socket, 0, len(set))
	for sc := range set {
		out = append(out, sc)
	}
	return out
}

// shutdown refuses new sockets from now on, and returns the open ones.
func (g *registry) shutdown() []*socket {
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
