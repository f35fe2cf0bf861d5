package web

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiter is a token bucket per key (a user, an address). Buckets
// that have filled up again are forgotten, so memory follows activity.
type keyedLimiter struct {
	limit rate.Limit
	burst int

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

func newKeyedLimiter(perSecond float64, burst int) *keyedLimiter {
	return &keyedLimiter{limit: rate.Limit(perSecond), burst: burst, buckets: make(map[string]*rate.Limiter)}
}

func (k *keyedLimiter) bucket(key string, now time.Time) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastSweep) > time.Minute {
		k.lastSweep = now
		for key, b := range k.buckets {
			if b.TokensAt(now) >= float64(k.burst) {
				delete(k.buckets, key)
			}
		}
	}
	b := k.buckets[key]
	if b == nil {
		b = rate.NewLimiter(k.limit, k.burst)
		k.buckets[key] = b
	}
	return b
}

// take spends one token of key's bucket. If there is none it spends
// nothing and says how long until there is one.
func (k *keyedLimiter) take(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	b := k.bucket(key, now)
	if b.AllowN(now, 1) {
		return true, 0
	}
	return false, k.wait(b, now)
}

// blocked reports, without spending, whether key's bucket is empty.
func (k *keyedLimiter) blocked(key string, now time.Time) (bool, time.Duration) {
	b := k.bucket(key, now)
	if b.TokensAt(now) >= 1 {
		return false, 0
	}
	return true, k.wait(b, now)
}

func (k *keyedLimiter) wait(b *rate.Limiter, now time.Time) time.Duration {
	need := 1 - b.TokensAt(now)
	return time.Duration(need / float64(k.limit) * float64(time.Second))
}

// limiter limits each user's sending across sockets and the API.
type limiter struct{ k *keyedLimiter }

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return &limiter{}
	}
	return &limiter{k: newKeyedLimiter(perSecond, burst)}
}

// allow spends one of user's sends, or says how long to wait.
func (l *limiter) allow(user string, now time.Time) (bool, time.Duration) {
	if l.k == nil {
		return true, 0
	}
	return l.k.take(user, now)
}

// loginThrottle slows password guessing: failures spend tokens of the
// account's bucket and of the address's; an empty bucket answers 429. An
// account refills fast enough (one try every 6 s after a burst of 10)
// that an attacker cannot lock its owner out for long.
type loginThrottle struct {
	accounts, addrs *keyedLimiter
}

func newLoginThrottle() *loginThrottle {
	return &loginThrottle{
		accounts: newKeyedLimiter(1.0/6, 10),
		addrs:    newKeyedLimiter(0.5, 30),
	}
}

// check says whether a login attempt may go ahead now.
func (t *loginThrottle) check(account, addr string, now time.Time) (bool, time.Duration) {
	b1, w1 := t.accounts.blocked(account, now)
	b2, w2 := t.addrs.blocked(addr, now)
	return !(b1 || b2), max(w1, w2)
}

// fail records a failed attempt.
func (t *loginThrottle) fail(account, addr string, now time.Time) {
	t.accounts.take(account, now)
	t.addrs.take(addr, now)
}

// retrySeconds is a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
