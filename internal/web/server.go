// Package web is Parley's surface: the route table, the pages, the JSON
// API, sessions and tokens, cross-origin checks and the WebSocket endpoint.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/clock"
	"parley/internal/hub"
	"parley/internal/limit"
	"parley/internal/push"
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
	// PublicURL, if set, is the address people reach Parley at; its
	// origin is trusted as Origins are.
	PublicURL string
	// MetricsToken, if set, is the bearer token /metrics asks for.
	MetricsToken string
	// History is how many messages fetch_messages returns by default.
	History int
	// EditWindow is how long after sending an author may edit a message
	// (--edit-window): 0 turns editing off.
	EditWindow time.Duration
	// SendRate and SendBurst limit each user's sending; SendRate 0 is
	// no limit.
	SendRate  float64
	SendBurst int
	// SignupRate and SignupBurst limit the accounts made from one client
	// address (an IPv6 /64); SignupRate 0 is no limit.
	SignupRate  float64
	SignupBurst int
	// HistoryRate and HistoryBurst limit each socket's history requests,
	// and each user's over the API; HistoryRate 0 is no limit.
	HistoryRate  float64
	HistoryBurst int
	// RoomCreateRate and RoomCreateBurst limit the rooms one user makes;
	// RoomCreateRate 0 is no limit.
	RoomCreateRate  float64
	RoomCreateBurst int
	// UserSockets caps one user's sockets (0: no cap); MaxSockets caps
	// this process's (0: no cap).
	UserSockets, MaxSockets int
	// Signup is who may sign up: SignupOpen (""), SignupInvite or
	// SignupClosed (--signup).
	Signup string
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
	// Clock is what timers (a socket's credential expiring) run on; nil
	// means the system's.
	Clock clock.Clock
	// Now is the clock's time; nil means Clock's.
	Now func() time.Time
	// Push, if set with PushKeys, sends Web Push notifications of
	// mentions and direct messages, PushDelay after they were sent; nil
	// turns push off. The program owns it and closes it after Shutdown.
	Push      *push.Sender
	PushKeys  *push.Keys
	PushDelay time.Duration
}

// Server serves Parley over HTTP.
type Server struct {
	opt     Options
	log     *slog.Logger
	render  *renderer
	metrics *Metrics
	sends   *limiter
	// histories limits each user's history requests over the API and
	// message searches (each socket has its own allowance): each may cost
	// a database read and up to 1 MiB of answer.
	histories *limiter
	logins    *loginThrottle
	// signups limits the accounts made from each address, roomCreates
	// the rooms each user makes (newRooms: the rooms spent for).
	signups, roomCreates *limiter
	newRooms             sync.Map // newRoomKey -> struct{}
	newRoomCount         atomic.Int64
	handler              http.Handler

	// trusted are the origins, besides the request's own, that a
	// cookie-authenticated WebSocket may come from (canonicalOrigin).
	trusted []string

	// pushes holds committed messages on their way to pushLoop; nil
	// when push is off.
	pushes   chan chat.Message
	pushDone chan struct{} // closed when pushLoop has returned

	sockets   registry
	streams   streamIndex
	uses      useRecorder
	events    wideEvents
	shutdown  chan struct{}
	shutOnce  sync.Once
	dummyOnce sync.Once
	dummy     string
}

// New returns a Server.
func New(opt Options) (*Server, error) {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	if opt.Now == nil {
		opt.Now = opt.Clock.Now
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
		sockets:  registry{clock: opt.Clock},
		opt:      opt,
		log:      opt.Log,
		render:   rd,
		shutdown: make(chan struct{}),
	}
	s.events.s = s
	s.streams.s = s
	s.uses.s = s
	s.metrics = opt.Metrics
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.metrics.register(s)
	for _, o := range append(slices.Clone(opt.Origins), opt.PublicURL) {
		if c, ok := canonicalOrigin(originOf(o)); ok {
			s.trusted = append(s.trusted, c)
		}
	}
	s.sends = s.newLimiter(limitSend, opt.SendRate, opt.SendBurst)
	s.signups = s.newLimiter(limitSignup, opt.SignupRate, opt.SignupBurst)
	s.roomCreates = s.newLimiter(limitRoomCreate, opt.RoomCreateRate, opt.RoomCreateBurst)
	s.histories = &limiter{}
	if opt.HistoryRate > 0 {
		s.histories.l = limit.NewLocal(s.historyRate(), opt.Now)
	}
	s.logins = s.newLoginThrottle()
	s.handler = s.routes()
	if s.pushOn() {
		s.pushes, s.pushDone = make(chan chat.Message, pushQueueSize), make(chan struct{})
		go s.pushLoop()
	}
	return s, nil
}

// originOf is the origin of a URL: its scheme and host, without a path.
func originOf(u string) string {
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return scheme + "://" + host
	}
	return u
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
	err := s.sockets.wait(ctx)
	s.uses.close()
	if s.pushDone != nil {
		// The push loop may be reading the store, which closes after.
		select {
		case <-s.pushDone:
		case <-ctx.Done():
		}
	}
	return err
}
