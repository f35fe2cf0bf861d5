// Package web is Parley's surface: the route table, the pages, the JSON
// API, sessions and tokens, cross-origin checks and the WebSocket endpoint.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/hub"
	"parley/internal/limit"
	"parley/internal/store"
	"parley/internal/wsock"
)

// Options are what a Server is built from. The program owns the store,
// the hub, the broker and the transport, and closes them after the
// server's Shutdown.
type Options struct {
	Store     *store.Store
	Hub       *hub.Hub
	Broker    broker.Broker
	Transport *wsock.Transport
	// Metrics, if set, are the metrics the hub and the transport report
	// to (NewMetrics); nil makes the server's own.
	Metrics *Metrics
	Log     *slog.Logger
	// Origins are extra trusted origins (scheme://host[:port]).
	Origins []string
	// History is how many messages fetch_messages returns by default.
	History int
	// EditWindow is how long after sending an author may edit a message
	// (--edit-window): 0 turns editing off.
	EditWindow time.Duration
	// SendRate and SendBurst limit each user's sending; SendRate 0 is
	// no limit.
	SendRate  float64
	SendBurst int
	// UserSockets caps one user's sockets (0: no cap); MaxSockets caps
	// this process's (0: no cap).
	UserSockets, MaxSockets int
	// Password are the argon2id costs of new password hashes.
	Password auth.Params
	// Version is shown in /metrics and used to bust static caches.
	Version string
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// SharedLimits, if set, keeps the sending limit and the login
	// throttles where every process sees them; nil keeps them in this
	// process.
	SharedLimits SharedLimits
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves Parley over HTTP.
type Server struct {
	opt     Options
	log     *slog.Logger
	render  *renderer
	metrics *Metrics
	sends   *limiter
	// histories limits each user's history requests, on sockets and the
	// API: each may cost a database read and up to 1 MiB of answer.
	histories *limiter
	logins    *loginThrottle
	handler   http.Handler

	sockets   registry
	shutdown  chan struct{}
	shutOnce  sync.Once
	dummyOnce sync.Once
	dummy     string
	entered   onceSet
}

// New returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.History <= 0 {
		opt.History = 20
	}
	if opt.Password.Memory == 0 {
		opt.Password = auth.DefaultParams
	}
	rd, err := newRenderer()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opt:      opt,
		log:      opt.Log,
		render:   rd,
		shutdown: make(chan struct{}),
	}
	s.metrics = opt.Metrics
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.register(s)
	s.sends = s.newLimiter(opt.SendRate, opt.SendBurst)
	s.histories = &limiter{l: limit.NewLocal(historyRate, opt.Now)}
	s.logins = s.newLoginThrottle()
	s.handler = s.routes()
	return s, nil
}

// onceSet remembers which (user, room) pairs an idempotent write was done
// for, so that it is done once per process and not at every connect. It
// forgets everything past a bound, which only costs a repeated write.
type onceSet struct {
	mu   sync.Mutex
	done map[onceKey]struct{}
}

type onceKey struct {
	user int64
	room string
}

const onceSetMax = 100_000

// do runs f unless it succeeded for (user, room) before.
func (o *onceSet) do(user int64, room string, f func() error) error {
	k := onceKey{user, room}
	o.mu.Lock()
	_, seen := o.done[k]
	o.mu.Unlock()
	if seen {
		return nil
	}
	if err := f(); err != nil {
		return err
	}
	o.mu.Lock()
	if o.done == nil || len(o.done) >= onceSetMax {
		o.done = make(map[onceKey]struct{})
	}
	o.done[k] = struct{}{}
	o.mu.Unlock()
	return nil
}

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Shutdown refuses new WebSockets, closes every open one with 1001 after
// flushing what it was sent, and waits until they are gone (their
// messages settled) or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutOnce.Do(func() { close(s.shutdown) })
	for _, sc := range s.sockets.shutdown() {
		sc.close(wsock.StatusGoingAway, "server shutting down")
	}
	return s.sockets.wait(ctx)
}
