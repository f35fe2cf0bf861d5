package limit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MaxLocalKeys bounds the buckets a Local limiter keeps. Keys come from
// outside (an address, an account name typed into a form): past the
// bound, an arbitrary bucket is forgotten to make room, which gives its
// key a full bucket again, rather than memory growing with every key an
// attacker invents. 100,000 buckets take about 4 MiB.
const MaxLocalKeys = 100_000

// Local is a token bucket per key in this process's memory. A key is kept
// as a 64-bit hash (seeded at random, so nobody can aim two keys at one
// bucket), whatever its length; buckets that have filled up again are
// forgotten, so memory follows activity, and there are never more than
// MaxLocalKeys.
//
// A bucket is kept as the time it will be full again (GCRA's theoretical
// arrival time), in whole nanoseconds: a token is one refill interval of
// it, and a key without one, or whose time has passed, has a full bucket.
type Local struct {
	interval, burst int64 // ns per token; burst * interval
	now             func() time.Time
	seed            maphash.Seed

	mu        sync.Mutex
	full      map[uint64]int64 // key hash -> when its bucket is full again (Unix ns)
	lastSweep int64
}

// NewLocal returns a Local limiter of rate r on the clock now (nil:
// time.Now).
func NewLocal(r Rate, now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	iv := int64(r.interval())
	return &Local{interval: iv, burst: int64(r.Burst) * iv, now: now, seed: maphash.MakeSeed(),
		full: make(map[uint64]int64)}
}

var _ Limiter = (*Local)(nil)

// fullAt is when h's bucket is full again, never before now. Called with
// k.mu held.
func (k *Local) fullAt(h uint64, now int64) int64 {
	return max(k.full[h], now)
}

// set records when h's bucket is full again, forgetting it if that is
// now. Called with k.mu held.
func (k *Local) set(h uint64, at, now int64) {
	if at <= now {
		delete(k.full, h)
		return
	}
	if _, ok := k.full[h]; !ok && len(k.full) >= MaxLocalKeys {
		k.sweep(now, time.Second)
		for other := range k.full {
			if len(k.full) < MaxLocalKeys {
				break
			}
			delete(k.full, other) // an arbitrary one: map order is random
		}
	}
	k.full[h] = at
}

// sweep forgets the buckets that are full again, unless it ran less than
// every ago. Called with k.mu held.
func (k *Local) sweep(now int64, every time.Duration) {
	if now-k.lastSweep < int64(every) {
		return
	}
	k.lastSweep = now
	for h, at := range k.full {
		if at <= now {
			delete(k.full, h)
		}
	}
}

// check says whether h's bucket holds a token at now, and if not how
// long until it does. Called with k.mu held.
func (k *Local) check(h uint64, now int64) (int64, bool, time.Duration) {
	next := k.fullAt(h, now) + k.interval // when full again after one more token
	if wait := next - k.burst - now; wait > 0 {
		return next, false, atLeast(time.Duration(wait))
	}
	return next, true, 0
}

// Take spends one token of key's bucket. If there is none it spends
// nothing and says how long until there is one. It never fails.
func (k *Local) Take(_ context.Context, key string) (bool, time.Duration, error) {
	now := k.now().UnixNano()
	h := maphash.String(k.seed, key)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sweep(now, time.Minute)
	next, ok, wait := k.check(h, now)
	if ok {
		k.set(h, next, now)
	}
	return ok, wait, nil
}

// Peek reports, without spending and without keeping anything for a key
// it has no bucket for, whether key's bucket holds a token. It never
// fails.
func (k *Local) Peek(_ context.Context, key string) (bool, time.Duration, error) {
	now := k.now().UnixNano()
	h := maphash.String(k.seed, key)
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok, wait := k.check(h, now)
	return ok, wait, nil
}

// Give puts a token back in key's bucket, never past full. It never
// fails.
func (k *Local) Give(_ context.Context, key string) error {
	now := k.now().UnixNano()
	h := maphash.String(k.seed, key)
	k.mu.Lock()
	defer k.mu.Unlock()
	if at, ok := k.full[h]; ok {
		k.set(h, at-k.interval, now)
	}
	return nil
}

// Len is how many buckets the limiter keeps.
func (k *Local) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.full)
}
