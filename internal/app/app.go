// Package app is the parley program: it reads the settings, wires the
// parts together and runs a command. cmd/parley's main only calls Run, so
// tests start the whole program in-process.
package app

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/auth"
	"parley/internal/broker"
	"parley/internal/broker/redisbroker"
	"parley/internal/chat"
	"parley/internal/config"
	"parley/internal/hub"
	"parley/internal/limit"
	"parley/internal/push"
	"parley/internal/store"
	"parley/internal/web"
	"parley/internal/wsock"
)

// Version is the program's version.
const Version = "0.1.0"

// ExitError carries the exit status a failure should end the program with.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// usageError is a bad setting or argument: exit status 2.
func usageError(format string, args ...any) error {
	return &ExitError{Code: 2, Err: fmt.Errorf(format, args...)}
}

// Env is what a run may touch of its surroundings.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is told the address the server listens on.
	Ready func(addr string)
}

// Run runs the program with args (without the program name) until ctx is
// done or the command ends.
func Run(ctx context.Context, args []string, env Env) error {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, env)
	case "migrate":
		return migrate(ctx, args, env)
	case "createuser":
		return createUser(ctx, args, env)
	case "user":
		return userCommand(ctx, args, env)
	case "invite":
		return inviteCommand(ctx, args, env)
	case "version":
		_, err := fmt.Fprintln(env.Stdout, "parley", Version)
		return err
	case "help":
		_, err := fmt.Fprint(env.Stdout, usage)
		return err
	}
	return usageError("unknown command %q; try: serve, migrate, createuser NAME [--admin], user, invite, version", cmd)
}

const usage = `usage: parley [serve] [flags]      run the server (migrates first)
       parley migrate [flags]      apply database migrations
       parley createuser NAME [--admin] [flags]
                                   create a user; password from PARLEY_PASSWORD or asked
       parley user list [QUERY] | set-role NAME ROLE | deactivate NAME | reactivate NAME | reset-link NAME
                                   account administration; a reset link's path is printed
       parley invite create [--uses N] [--expires DURATION] | list | revoke CODE
                                   invite links; create prints the link's path /join/CODE
       parley version
Run "parley serve -h" for the settings.
`

func settings(args []string, env Env) (config.Config, []string, error) {
	c, rest, err := config.Parse(args, env.Getenv, env.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return c, nil, &ExitError{Code: 0, Err: err}
	}
	if err != nil {
		return c, nil, &ExitError{Code: 2, Err: err}
	}
	return c, rest, nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// openStore opens and migrates the database; failing, it is exit 2.
func openStore(ctx context.Context, dsn string) (*store.Store, error) {
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := store.Open(octx, dsn)
	if err != nil {
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("cannot open the database: %s", oneLine(err))}
	}
	if err := st.Migrate(octx); err != nil {
		_ = st.Close()
		return nil, &ExitError{Code: 2, Err: fmt.Errorf("cannot migrate the database: %s", oneLine(err))}
	}
	return st, nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func migrate(ctx context.Context, args []string, env Env) error {
	c, rest, err := settings(args, env)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("migrate takes no arguments, got %q", rest)
	}
	st, err := openStore(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = fmt.Fprintln(env.Stdout, "parley: database is up to date")
	return err
}

func createUser(ctx context.Context, args []string, env Env) error {
	admin := false
	var flags []string
	var name string
	// Every setting takes a value: after "--db", the next argument is the
	// database, and the name may come after it.
	value := false
	for _, a := range args {
		switch {
		case a == "--admin" || a == "-admin":
			admin = true
		case value:
			flags = append(flags, a)
			value = false
		case !strings.HasPrefix(a, "-") && name == "":
			name = a
		default:
			flags = append(flags, a)
			value = strings.HasPrefix(a, "-") && !strings.Contains(a, "=")
		}
	}
	c, rest, err := settings(flags, env)
	if err != nil {
		return err
	}
	if name == "" && len(rest) == 1 {
		name, rest = rest[0], nil
	}
	if name == "" || len(rest) > 0 {
		return usageError("usage: parley createuser NAME [--admin]")
	}
	if err := chat.CheckUsername(name); err != nil {
		return usageError("bad username %q: %s", name, chat.ErrorMessage(err))
	}
	password := env.Getenv("PARLEY_PASSWORD")
	if password == "" {
		fmt.Fprint(env.Stderr, "Password: ")
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return usageError("no password: set PARLEY_PASSWORD or type one")
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if err := chat.CheckPassword(password); err != nil {
		return usageError("bad password: %s", chat.ErrorMessage(err))
	}
	st, err := openStore(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	hash, err := auth.HashPassword(password, auth.DefaultParams)
	if err != nil {
		return err
	}
	u, err := st.CreateUser(ctx, name, hash, admin)
	if chat.ErrorCode(err) == chat.EConflict {
		return &ExitError{Code: 1, Err: fmt.Errorf("user %q exists already", name)}
	}
	if err != nil {
		return err
	}
	kind := "user"
	if u.Role == chat.RoleAdmin { // --admin, or the first account
		kind = "admin"
	}
	_, err = fmt.Fprintf(env.Stdout, "parley: created %s %q\n", kind, u.Name)
	return err
}

func serve(ctx context.Context, args []string, env Env) error {
	c, rest, err := settings(args, env)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usageError("unexpected arguments %q", rest)
	}
	log := newLogger(env.Stderr, c.LogLevel)

	st, err := openStore(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()

	origin := processID()
	var b broker.Broker
	var shared web.SharedLimits
	if c.Redis == "" {
		b = broker.NewInProcess()
	} else {
		// go-redis logs through a package-wide logger of its own; route it
		// into ours, so that stderr stays one line per failure.
		redis.SetLogger(redisLogger{log})
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		b, err = redisbroker.New(rctx, c.Redis, redisbroker.Options{Origin: origin, Logger: log})
		cancel()
		if err != nil {
			return &ExitError{Code: 2, Err: fmt.Errorf("cannot reach Redis: %s", oneLine(err))}
		}
		rdb, err := limitClient(c.Redis)
		if err != nil {
			_ = b.Close()
			return &ExitError{Code: 2, Err: fmt.Errorf("bad --redis: %s", oneLine(err))}
		}
		defer rdb.Close()
		shared = limit.NewRedis(rdb, "parley:limit:")
	}
	defer b.Close()

	// The program owns the parts it makes and closes them, in the reverse
	// order, once the server has shut down: the metrics first, so that the
	// hub and the transport report to them from the start.
	metrics := web.NewMetrics()
	tr, err := wsock.NewTransport(wsock.Options{OnCut: metrics.Cut})
	if err != nil {
		return fmt.Errorf("cannot start the WebSocket poller: %w", err)
	}
	defer tr.Close()
	h := hub.New(hub.Options{Broker: b, History: st, Log: log, Origin: origin, Wire: wsock.Text,
		OnDeliver: metrics.Delivered})
	defer h.Close()
	sender, keys, err := startPush(ctx, c, st, log)
	if err != nil {
		return err
	}
	if sender != nil {
		defer stopPush(sender, log)
	}
	maxSockets := c.MaxSockets
	if maxSockets < 0 {
		maxSockets = socketsFromFileLimit()
	}
	srv, err := web.New(web.Options{
		Store: st, Hub: h, Broker: b, Transport: tr, Metrics: metrics, Log: log,
		Origins: c.Origins, PublicURL: c.PublicURL, MetricsToken: c.MetricsToken,
		History: c.History, EditWindow: c.EditWindow,
		SendRate: c.SendLimit.Rate, SendBurst: c.SendLimit.Burst,
		HistoryRate: c.HistoryLimit.Rate, HistoryBurst: c.HistoryLimit.Burst,
		SignupRate: c.SignupLimit.Rate, SignupBurst: c.SignupLimit.Burst,
		RoomCreateRate: c.RoomCreateLimit.Rate, RoomCreateBurst: c.RoomCreateLimit.Burst,
		UserSockets: c.UserSockets, MaxSockets: maxSockets, Version: Version, Signup: string(c.Signup),
		TrustedProxies: c.TrustedProxies, SharedLimits: shared,
		Push: sender, PushKeys: keys, PushDelay: c.PushDelay,
	})
	if err != nil {
		return err
	}
	// The process-wide events (a session's sockets to close) reach the
	// server from every process.
	subCtx, cancelSub := context.WithTimeout(ctx, 10*time.Second)
	err = b.Subscribe(subCtx, "", srv.Events())
	cancelSub()
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("cannot subscribe to the process-wide events: %s", oneLine(err))}
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return &ExitError{Code: 2, Err: fmt.Errorf("cannot listen on %s: %s", c.Addr, oneLine(err))}
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	addr := ln.Addr().String()
	log.Info("parley serving", "addr", "http://"+addr, "db", engineOf(st), "broker", brokerName(c.Redis),
		"max_sockets", maxSockets, "push", sender != nil, "version", Version)
	if c.Push && sender == nil {
		log.Warn("push notifications are off: set --push-contact (or an https --public-url) to turn them on")
	}
	fmt.Fprintf(env.Stdout, "parley: serving on http://%s\n", addr)
	if env.Ready != nil {
		env.Ready(addr)
	}

	go sweepSessions(ctx, st, log)
	go srv.WatchShell(ctx)
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}

	log.Info("parley shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("websocket shutdown", "err", err)
	}
	log.Info("parley stopped")
	return nil
}

// startPush makes the Web Push sender, with the VAPID key pair stored in
// the database (made by the first process that starts), or nothing when
// push is off (--push off, or no contact for push services to reach the
// operator at). A contact push services would refuse stops the program.
func startPush(ctx context.Context, c config.Config, st *store.Store, log *slog.Logger) (*push.Sender, *push.Keys, error) {
	// Nothing is logged here: a program that then fails to start says
	// one line, its error.
	if !c.Push {
		return nil, nil, nil
	}
	contact := c.PushContact
	if contact == "" && strings.HasPrefix(c.PublicURL, "https://") {
		contact = c.PublicURL
	}
	if contact == "" {
		return nil, nil, nil // said once the server listens: see serve
	}
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	keys, err := push.LoadKeys(kctx, st)
	if err != nil {
		return nil, nil, &ExitError{Code: 2, Err: fmt.Errorf("cannot load the VAPID keys: %s", oneLine(err))}
	}
	sender, err := push.New(push.Options{
		Keys: keys, Contact: contact, Hosts: c.PushHosts, Log: log,
		Gone: func(ctx context.Context, sub push.Subscription) {
			if err := st.DeletePushEndpoint(ctx, sub.Endpoint); err != nil {
				log.Warn("push: delete a gone subscription", "err", err)
			}
		},
		Sent: func(ctx context.Context, sub push.Subscription) {
			if err := st.PushSucceeded(ctx, sub.Endpoint, time.Now()); err != nil {
				log.Warn("push: record a sent message", "err", err)
			}
		},
	})
	if err != nil {
		return nil, nil, usageError("bad --push-contact: %s", oneLine(err))
	}
	return sender, keys, nil
}

// stopPush sends what is queued for a few seconds, then drops the rest;
// the notifications waiting for their delay are dropped at once.
func stopPush(sender *push.Sender, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sender.Close(ctx); err != nil {
		log.Warn("push: stopped before the queue was sent", "err", err)
	}
}

// limitClient is the Redis client of the shared rate limits. It obeys its
// callers' deadlines (limit.Fallback gives each check 200 ms), where
// go-redis by default waits its own read timeout of seconds.
func limitClient(redisURL string) (*redis.Client, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, err
	}
	opt.ContextTimeoutEnabled = true
	return redis.NewClient(opt), nil
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug("redis: " + fmt.Sprintf(format, v...))
}

// sweepSessions deletes expired sessions and tokens now and then.
func sweepSessions(ctx context.Context, st *store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		n, err := st.DeleteExpiredSessions(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			log.Warn("delete expired sessions", "err", err)
		} else if n > 0 {
			log.Info("deleted expired sessions", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// The store is the hub's history.
var _ hub.History = (*store.Store)(nil)

func engineOf(st *store.Store) string { return st.Engine() }

func brokerName(redisURL string) string {
	if redisURL == "" {
		return "in-process"
	}
	return "redis"
}

// processID names this process in cross-process events.
func processID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// socketsFromFileLimit leaves room under the open-file limit for what is
// not a WebSocket: the database and Redis pools, pages and API requests,
// listeners, logs. A socket holds one file (the poller is one for all), so
// the reserve is 2% of the limit, at least 512: 19,488 sockets under the
// common limit of 20,000.
func socketsFromFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return 1000
	}
	limit := int(min(rl.Cur, 1<<22))
	return max(limit-max(512, limit/50), 16)
}
