package web

import (
	"context"
	"math"
	"time"

	"parley/internal/limit"
)

// SharedLimits makes rate limiters whose counts every process shares
// (limit.Redis does).
type SharedLimits interface {
	// Limiter returns the limiter called name, of rate r.
	Limiter(name string, r limit.Rate) limit.Limiter
}

// Limiter names: with SharedLimits they are part of the keys
// (parley:limit:send:USER and so on).
const (
	limitSend        = "send"
	limitLoginAcct   = "login:acct"
	limitLoginDevice = "login:device"
	limitLoginAddr   = "login:addr"
	limitSignup      = "signup"
	limitRoomCreate  = "room:create"
)

// rateLimiter returns the limiter called name: this process's own, or,
// with SharedLimits, the shared one that falls back to this process's own
// while it fails (see limit.Fallback).
func (s *Server) rateLimiter(name string, r limit.Rate) limit.Limiter {
	local := limit.NewLocal(r, s.opt.Now)
	if s.opt.SharedLimits == nil {
		return local
	}
	return limit.NewFallback(s.opt.SharedLimits.Limiter(name, r), local, limit.FallbackOptions{
		Name:    name,
		Log:     s.log,
		OnLocal: func() { s.metrics.limitFallbacks.WithLabelValues(name).Inc() },
	})
}

// limiter is one limit of the server: each user's sending, each
// address's sign-ups, and so on. Its zero value (a limit set "off")
// allows everything.
type limiter struct{ l limit.Limiter }

// newLimiter returns the limiter called name, or one that allows
// everything if perSecond is 0 (the setting is off).
func (s *Server) newLimiter(name string, perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return &limiter{}
	}
	return &limiter{l: s.rateLimiter(name, limit.Rate{PerSecond: perSecond, Burst: burst})}
}

// allow spends one token of key's bucket, or says how long to wait. A
// limiter that cannot answer lets the request through (limit.Fallback,
// the only one that may fail, answers locally instead).
func (l *limiter) allow(ctx context.Context, key string) (bool, time.Duration) {
	if l.l == nil {
		return true, 0
	}
	ok, wait, err := l.l.Take(ctx, key)
	return ok || err != nil, wait
}

// give puts back a token that allow spent for something that did not
// happen after all (a sign-up the database refused).
func (l *limiter) give(ctx context.Context, key string) {
	if l.l != nil {
		_ = l.l.Give(ctx, key)
	}
}

// historyRate is the allowance of history requests (a page of up to 100
// messages each) of each socket, and of each user over the API
// (--history-limit; 0 per second is none). The default, 10 a second after
// a burst of 50: a reconnecting client that catches up on 5,000 missed
// messages, or someone scrolling back, never meets it; a script asking
// for megabytes a second does.
func (s *Server) historyRate() limit.Rate {
	return limit.Rate{PerSecond: s.opt.HistoryRate, Burst: s.opt.HistoryBurst}
}

// Password guessing (docs/SECURITY.md, Password guessing): every attempt
// spends a token of its address's bucket, and one of its account's, or,
// when it comes from a browser the account logged in on before (a known
// device), one of that device's; all before the password is checked, so
// that parallel attempts meet the limit as sequential ones do. A right
// password gives both back.
var (
	loginAddrRate    = limit.Rate{PerSecond: 0.5, Burst: 30}
	loginAccountRate = limit.Rate{PerSecond: 1.0 / 6, Burst: 10}
	loginDeviceRate  = limit.Rate{PerSecond: 1.0 / 6, Burst: 10}
	// throttledLogRate bounds the log lines about throttled attempts:
	// one a minute per address, however many the attempts.
	throttledLogRate = limit.Rate{PerSecond: 1.0 / 60, Burst: 1}
)

// loginThrottle slows password guessing (see the rates above).
type loginThrottle struct {
	addrs, accounts, devices *limiter
	logged                   *limiter // throttled attempts logged, per address
}

func (s *Server) newLoginThrottle() *loginThrottle {
	mk := func(name string, r limit.Rate) *limiter { return s.newLimiter(name, r.PerSecond, r.Burst) }
	return &loginThrottle{
		addrs:    mk(limitLoginAddr, loginAddrRate),
		accounts: mk(limitLoginAcct, loginAccountRate),
		devices:  mk(limitLoginDevice, loginDeviceRate),
		logged:   &limiter{l: limit.NewLocal(throttledLogRate, s.opt.Now)},
	}
}

// retrySeconds is a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
