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
	limitSend      = "send"
	limitLoginAcct = "login:acct"
	limitLoginAddr = "login:addr"
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

// limiter limits each user's sending across sockets and the API.
type limiter struct{ l limit.Limiter }

func (s *Server) newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return &limiter{}
	}
	return &limiter{l: s.rateLimiter(limitSend, limit.Rate{PerSecond: perSecond, Burst: burst})}
}

// allow spends one of user's sends, or says how long to wait. A limiter
// that cannot answer lets the send through (limit.Fallback, the only one
// that may fail, answers locally instead).
func (l *limiter) allow(ctx context.Context, user string) (bool, time.Duration) {
	if l.l == nil {
		return true, 0
	}
	ok, wait, err := l.l.Take(ctx, user)
	return ok || err != nil, wait
}

// historyRate is the allowance of history requests (a page of up to 100
// messages each) of each socket, and of each user over the API: a
// reconnecting client that catches up on 5,000 missed messages, or
// someone scrolling back, never meets it; a script asking for megabytes a
// second does.
var historyRate = limit.Rate{PerSecond: 10, Burst: 50}

// loginThrottle slows password guessing: failures spend tokens of the
// account's bucket and of the address's; an empty bucket answers 429. An
// account refills fast enough (one try every 6 s after a burst of 10)
// that an attacker cannot lock its owner out for long.
type loginThrottle struct {
	accounts, addrs limit.Limiter
}

func (s *Server) newLoginThrottle() *loginThrottle {
	return &loginThrottle{
		accounts: s.rateLimiter(limitLoginAcct, limit.Rate{PerSecond: 1.0 / 6, Burst: 10}),
		addrs:    s.rateLimiter(limitLoginAddr, limit.Rate{PerSecond: 0.5, Burst: 30}),
	}
}

// check says whether a login attempt may go ahead now.
func (t *loginThrottle) check(ctx context.Context, account, addr string) (bool, time.Duration) {
	ok1, w1, err1 := t.accounts.Peek(ctx, account)
	ok2, w2, err2 := t.addrs.Peek(ctx, addr)
	blocked := (!ok1 && err1 == nil) || (!ok2 && err2 == nil)
	return !blocked, max(w1, w2)
}

// fail records a failed attempt.
func (t *loginThrottle) fail(ctx context.Context, account, addr string) {
	_, _, _ = t.accounts.Take(ctx, account)
	_, _, _ = t.addrs.Take(ctx, addr)
}

// retrySeconds is a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
