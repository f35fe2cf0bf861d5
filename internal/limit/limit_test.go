package limit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/limit"
	"parley/internal/testenv"
)

// impl makes a limiter of one implementation; every test runs on each.
type impl struct {
	name string
	make func(t *testing.T, r limit.Rate) limit.Limiter
}

var impls = []impl{
	{"local", func(t *testing.T, r limit.Rate) limit.Limiter { return limit.NewLocal(r, nil) }},
	{"redis", func(t *testing.T, r limit.Rate) limit.Limiter {
		return limit.NewRedis(testRedis(t), testPrefix()).Limiter("test", r)
	}},
}

// testRedis connects to PARLEY_TEST_REDIS, skipping the test without it.
func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := testenv.Need(t, testenv.Redis, "the Redis limiter")
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("PARLEY_TEST_REDIS: %v", err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("PARLEY_TEST_REDIS is set but Redis does not answer: %v", err)
	}
	return rdb
}

// testPrefix is a key prefix of the test's own, so that runs and tests
// sharing one Redis never share a bucket.
func testPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return "parley:test:" + hex.EncodeToString(b[:]) + ":"
}

func forEach(t *testing.T, f func(t *testing.T, mk func(limit.Rate) limit.Limiter)) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			f(t, func(r limit.Rate) limit.Limiter { return im.make(t, r) })
		})
	}
}

func take(t *testing.T, l limit.Limiter, key string) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := l.Take(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok, wait
}

func peek(t *testing.T, l limit.Limiter, key string) (bool, time.Duration) {
	t.Helper()
	ok, wait, err := l.Peek(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return ok, wait
}

// The burst passes at once; the next is refused with a wait of at most
// one refill interval; other keys are untouched.
func TestBurstThenRefused(t *testing.T) {
	forEach(t, func(t *testing.T, mk func(limit.Rate) limit.Limiter) {
		l := mk(limit.Rate{PerSecond: 2, Burst: 5})
		for i := range 5 {
			if ok, _ := take(t, l, "alice"); !ok {
				t.Fatalf("take %d of the burst of 5 refused", i+1)
			}
		}
		ok, wait := take(t, l, "alice")
		if ok {
			t.Fatal("the 6th take passed; the burst is 5")
		}
		if wait <= 0 || wait > 500*time.Millisecond {
			t.Fatalf("retry after %v; want (0, 500ms] at 2/s", wait)
		}
		if ok, _ := take(t, l, "bob"); !ok {
			t.Fatal("bob refused for alice's sends")
		}
	})
}

// After the wait a refused take names, one token is back, and one only.
func TestRefillsAtTheRate(t *testing.T) {
	forEach(t, func(t *testing.T, mk func(limit.Rate) limit.Limiter) {
		l := mk(limit.Rate{PerSecond: 20, Burst: 3})
		for range 3 {
			take(t, l, "k")
		}
		ok, wait := take(t, l, "k")
		if ok || wait <= 0 || wait > 50*time.Millisecond {
			t.Fatalf("after the burst: ok %v, retry after %v; want refused, (0, 50ms]", ok, wait)
		}
		// The wait itself is what is tested: a token is promised then.
		<-time.After(wait + 10*time.Millisecond)
		if ok, _ := take(t, l, "k"); !ok {
			t.Fatalf("refused %v after a retry-after of %v", wait+10*time.Millisecond, wait)
		}
		if ok, _ := take(t, l, "k"); ok {
			t.Fatal("two tokens back after one interval")
		}
	})
}

// Peek spends nothing, and names the same wait as a refused take.
func TestPeekDoesNotSpend(t *testing.T) {
	forEach(t, func(t *testing.T, mk func(limit.Rate) limit.Limiter) {
		l := mk(limit.Rate{PerSecond: 1.0 / 60, Burst: 2})
		for range 10 {
			if ok, _ := peek(t, l, "k"); !ok {
				t.Fatal("a full bucket peeks as empty")
			}
		}
		for i := range 2 {
			if ok, _ := take(t, l, "k"); !ok {
				t.Fatalf("take %d refused after peeks: peeking spent", i+1)
			}
		}
		ok, pw := peek(t, l, "k")
		if ok {
			t.Fatal("an empty bucket peeks as full")
		}
		_, tw := take(t, l, "k")
		if pw < 59*time.Second || pw > 60*time.Second || (tw-pw).Abs() > time.Second {
			t.Fatalf("peek says wait %v, take says %v; want both about 60s", pw, tw)
		}
	})
}

// The Redis limiter's keys are namespaced by prefix and name.
func TestRedisKeys(t *testing.T) {
	rdb := testRedis(t)
	prefix := testPrefix()
	l := limit.NewRedis(rdb, prefix).Limiter("send", limit.Rate{PerSecond: 1, Burst: 3})
	take(t, l, "alice")
	n, err := rdb.Exists(context.Background(), "rate:"+prefix+"send:alice").Result()
	if err != nil || n != 1 {
		t.Fatalf("key rate:%ssend:alice: %d, %v", prefix, n, err)
	}
}

// broken is a shared limiter that fails: at once, or when ctx ends.
type broken struct {
	hang  bool
	calls atomic.Int64
}

func (b *broken) Take(ctx context.Context, key string) (bool, time.Duration, error) {
	return b.Peek(ctx, key)
}

func (b *broken) Peek(ctx context.Context, key string) (bool, time.Duration, error) {
	b.calls.Add(1)
	if b.hang {
		<-ctx.Done()
		return false, 0, ctx.Err()
	}
	return false, 0, errors.New("connection refused")
}

// When the shared limiter fails, or hangs, checks are answered from the
// local one, quickly, and counted; the shared one is not asked again at
// once.
func TestFallback(t *testing.T) {
	for _, hang := range []bool{false, true} {
		shared := &broken{hang: hang}
		var local atomic.Int64
		f := limit.NewFallback(shared, limit.NewLocal(limit.Rate{PerSecond: 1, Burst: 2}, nil),
			limit.FallbackOptions{Name: "test", OnLocal: func() { local.Add(1) }})
		start := time.Now()
		for i := range 2 {
			if ok, _ := take(t, f, "k"); !ok {
				t.Fatalf("hang %v: take %d refused by the local burst of 2", hang, i+1)
			}
		}
		if ok, wait := take(t, f, "k"); ok || wait <= 0 {
			t.Fatalf("hang %v: third take: ok %v, wait %v; want the local limit", hang, ok, wait)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("hang %v: three checks took %v", hang, d)
		}
		if local.Load() != 3 || shared.calls.Load() != 1 {
			t.Fatalf("hang %v: %d local answers, %d shared calls; want 3 and 1", hang, local.Load(), shared.calls.Load())
		}
	}
}

// A working shared limiter is the one that counts.
func TestFallbackUsesShared(t *testing.T) {
	shared := limit.NewLocal(limit.Rate{PerSecond: 1, Burst: 1}, nil)
	f := limit.NewFallback(shared, limit.NewLocal(limit.Rate{PerSecond: 1, Burst: 1}, nil), limit.FallbackOptions{})
	take(t, f, "k")
	if ok, _ := take(t, shared, "k"); ok {
		t.Fatal("the fallback's take did not spend the shared bucket")
	}
}
