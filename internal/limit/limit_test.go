package limit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/limit"
	"parley/internal/testenv"
)

// impl makes a limiter of one implementation; every test runs on each.
// The local one runs on a hand-driven clock, which pass moves; Redis's
// runs on Redis's clock, which pass waits for.
type impl struct {
	name string
	make func(t *testing.T, r limit.Rate) (l limit.Limiter, pass func(time.Duration))
}

var impls = []impl{
	{"local", func(t *testing.T, r limit.Rate) (limit.Limiter, func(time.Duration)) {
		clk := testenv.NewClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		return limit.NewLocal(r, clk.Now), clk.Advance
	}},
	{"redis", func(t *testing.T, r limit.Rate) (limit.Limiter, func(time.Duration)) {
		// Redis's clock moves by itself; the wait is its, plus a margin
		// for the round trips.
		return limit.NewRedis(testRedis(t), testPrefix()).Limiter("test", r),
			func(d time.Duration) { <-time.After(d + 10*time.Millisecond) }
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
	forEachTimed(t, func(t *testing.T, mk func(limit.Rate) (limit.Limiter, func(time.Duration))) {
		f(t, func(r limit.Rate) limit.Limiter { l, _ := mk(r); return l })
	})
}

func forEachTimed(t *testing.T, f func(t *testing.T, mk func(limit.Rate) (limit.Limiter, func(time.Duration)))) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			f(t, func(r limit.Rate) (limit.Limiter, func(time.Duration)) { return im.make(t, r) })
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
	forEachTimed(t, func(t *testing.T, mk func(limit.Rate) (limit.Limiter, func(time.Duration))) {
		l, pass := mk(limit.Rate{PerSecond: 20, Burst: 3})
		for range 3 {
			take(t, l, "k")
		}
		ok, wait := take(t, l, "k")
		if ok || wait <= 0 || wait > 50*time.Millisecond {
			t.Fatalf("after the burst: ok %v, retry after %v; want refused, (0, 50ms]", ok, wait)
		}
		// The wait itself is what is tested: a token is promised then.
		pass(wait)
		if ok, _ := take(t, l, "k"); !ok {
			t.Fatalf("refused after a retry-after of %v", wait)
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

func (b *broken) Give(ctx context.Context, key string) error {
	_, _, err := b.Peek(ctx, key)
	return err
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

// Give puts back one token a take spent, and never fills a bucket past
// its burst.
func TestGiveBack(t *testing.T) {
	forEach(t, func(t *testing.T, mk func(limit.Rate) limit.Limiter) {
		l := mk(limit.Rate{PerSecond: 1.0 / 60, Burst: 2})
		ctx := context.Background()
		// A full bucket stays full: a give for a key never taken adds
		// nothing.
		if err := l.Give(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if ok, _ := take(t, l, "k"); !ok {
				t.Fatalf("take %d of 2 refused", i+1)
			}
			if err := l.Give(ctx, "k"); err != nil {
				t.Fatal(err)
			}
		}
		// Each take was given back: the bucket is full again.
		for i := range 2 {
			if ok, _ := take(t, l, "k"); !ok {
				t.Fatalf("take %d refused after the gives", i+1)
			}
		}
		if ok, _ := take(t, l, "k"); ok {
			t.Fatal("a third take passed: the gives filled the bucket past its burst")
		}
		// One give, one token.
		if err := l.Give(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := take(t, l, "k"); !ok {
			t.Fatal("refused after a give")
		}
		if ok, _ := take(t, l, "k"); ok {
			t.Fatal("two tokens back from one give")
		}
	})
}

// Many parallel takes from a bucket pass exactly as many as it holds.
func TestParallelTakes(t *testing.T) {
	forEach(t, func(t *testing.T, mk func(limit.Rate) limit.Limiter) {
		l := mk(limit.Rate{PerSecond: 1.0 / 60, Burst: 10})
		var passed atomic.Int64
		done := make(chan struct{})
		for range 40 {
			go func() {
				defer func() { done <- struct{}{} }()
				if ok, _, err := l.Take(context.Background(), "k"); err == nil && ok {
					passed.Add(1)
				}
			}()
		}
		for range 40 {
			<-done
		}
		if n := passed.Load(); n != 10 {
			t.Fatalf("%d of 40 parallel takes passed; the bucket holds 10", n)
		}
	})
}

// The local limiter's memory is bounded whatever the keys: each is kept
// as a hash, full buckets are not kept (a peek keeps nothing), and past
// MaxLocalKeys an old bucket makes room.
func TestLocalIsBounded(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	l := limit.NewLocal(limit.Rate{PerSecond: 1.0 / 60, Burst: 5}, clk.Now)
	ctx := context.Background()
	huge := strings.Repeat("x", 1<<20)
	for i := range 100 {
		_, _, _ = l.Peek(ctx, huge+strconv.Itoa(i))
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("%d buckets after peeks alone; a peek keeps nothing", n)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 200 {
		_, _, _ = l.Take(ctx, huge+strconv.Itoa(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("200 takes with 1 MiB keys kept %d bytes; keys are kept as hashes", grew)
	}
	for i := range limit.MaxLocalKeys + 1000 {
		_, _, _ = l.Take(ctx, strconv.Itoa(i))
	}
	if n := l.Len(); n > limit.MaxLocalKeys {
		t.Fatalf("%d buckets; at most %d are kept", n, limit.MaxLocalKeys)
	}
	// A minute later the buckets are full again, and forgotten.
	clk.Advance(5 * time.Minute)
	_, _, _ = l.Take(ctx, "late")
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after they refilled; want only the new one", n)
	}
}
