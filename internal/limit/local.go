package limit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Local is a token bucket per key in this process's memory. Buckets that
// have filled up again are forgotten, so memory follows activity.
type Local struct {
	rate Rate
	now  func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// NewLocal returns a Local limiter of rate r on the clock now (nil:
// time.Now).
func NewLocal(r Rate, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{rate: r, now: now, buckets: make(map[string]*rate.Limiter)}
}

var _ Limiter = (*Local)(nil)

func (k *Local) bucket(key string, now time.Time) *rate.Limiter {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastSweep) > time.Minute {
		k.lastSweep = now
		for key, b := range k.buckets {
			if b.TokensAt(now) >= float64(k.rate.Burst) {
				delete(k.buckets, key)
			}
		}
	}
	b := k.buckets[key]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(k.rate.PerSecond), k.rate.Burst)
		k.buckets[key] = b
	}
	return b
}

// Take spends one token of key's bucket. If there is none it spends
// nothing and says how long until there is one. It never fails.
func (k *Local) Take(_ context.Context, key string) (bool, time.Duration, error) {
	now := k.now()
	b := k.bucket(key, now)
	if b.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, k.wait(b, now), nil
}

// Peek reports, without spending, whether key's bucket holds a token. It
// never fails.
func (k *Local) Peek(_ context.Context, key string) (bool, time.Duration, error) {
	now := k.now()
	b := k.bucket(key, now)
	if b.TokensAt(now) >= 1 {
		return true, 0, nil
	}
	return false, k.wait(b, now), nil
}

func (k *Local) wait(b *rate.Limiter, now time.Time) time.Duration {
	need := 1 - b.TokensAt(now)
	return atLeast(time.Duration(need * float64(k.rate.interval())))
}
