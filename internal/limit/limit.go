// Package limit is Parley's rate limiting: a token bucket per key (a
// user, an account, an address), kept in this process (Local) or in Redis
// where every process shares the count (Redis), and Fallback, which asks
// the shared one and answers from the local one when it cannot.
package limit

import (
	"context"
	"time"
)

// Rate is a token bucket's shape: Burst tokens when full, refilled at
// PerSecond.
type Rate struct {
	PerSecond float64
	Burst     int
}

// interval is the time one token takes to refill.
func (r Rate) interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// Limiter is a token bucket per key. Every implementation has the same
// semantics: a new key's bucket is full; a refused Take spends nothing;
// retryAfter, when a token is missing, is how long until there is one
// (always more than zero); Give puts back a token that a Take spent,
// never filling a bucket past Burst.
//
// Spending before acting, and giving back when the act turns out to be
// no abuse, is how a check holds under parallel requests: a Peek before
// and a Take after lets every request in flight through.
type Limiter interface {
	// Take spends one token of key's bucket, or says how long to wait.
	Take(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
	// Peek says, spending nothing, whether key's bucket holds a token,
	// and if not how long until it does.
	Peek(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
	// Give puts one token back in key's bucket: one spent by a Take for
	// something that proved harmless (a log-in with the right password).
	Give(ctx context.Context, key string) error
}

// atLeast keeps a refusal's wait above zero, so that callers can tell it
// from "no wait" and a Retry-After is never 0.
func atLeast(d time.Duration) time.Duration {
	return max(d, time.Millisecond)
}
