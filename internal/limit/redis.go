package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Redis makes limiters whose buckets live in Redis, so that every process
// on the same Redis shares each count. A check is one round trip: a GCRA
// script (github.com/go-redis/redis_rate) that reads and updates one key,
// expiring when its bucket is full again.
type Redis struct {
	rdb    redis.UniversalClient
	rl     *redis_rate.Limiter
	prefix string
}

// NewRedis returns limiters on rdb whose keys start with prefix (such as
// "parley:limit:"). redis_rate puts "rate:" before every key it stores.
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, rl: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Limiter returns the limiter called name, of rate r: key k of it is
// stored as prefix + name + ":" + k.
func (r *Redis) Limiter(name string, rate Rate) Limiter {
	return &redisLimiter{
		rdb:    r.rdb,
		rl:     r.rl,
		prefix: r.prefix + name + ":",
		rate:   rate,
		// redis_rate takes whole events per period; one event per
		// refill interval is any rate, fractional ones included.
		limit: redis_rate.Limit{Rate: 1, Period: rate.interval(), Burst: rate.Burst},
	}
}

type redisLimiter struct {
	rdb    redis.UniversalClient
	rl     *redis_rate.Limiter
	prefix string
	rate   Rate
	limit  redis_rate.Limit
}

var _ Limiter = (*redisLimiter)(nil)

// maxKey bounds a key's length in Redis: keys such as an account name
// come from whoever sends a login form; longer ones are stored hashed.
const maxKey = 64

func (l *redisLimiter) key(k string) string {
	if len(k) > maxKey {
		sum := sha256.Sum256([]byte(k))
		k = "sha256-" + hex.EncodeToString(sum[:])
	}
	return l.prefix + k
}

func (l *redisLimiter) Take(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.rl.AllowN(ctx, l.key(key), l.limit, 1)
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, atLeast(res.RetryAfter), nil
}

// Peek asks for no token (AllowN with n = 0), which changes nothing and
// answers how many tokens the bucket holds.
func (l *redisLimiter) Peek(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.rl.AllowN(ctx, l.key(key), l.limit, 0)
	if err != nil {
		return false, 0, err
	}
	if res.Remaining >= 1 {
		return true, 0, nil
	}
	// ResetAfter is how long until the bucket is full; one token comes
	// Burst-1 intervals before that.
	wait := res.ResetAfter - time.Duration(l.rate.Burst-1)*l.limit.Period
	return false, atLeast(wait), nil
}

// giveBack moves a bucket's time of being full again (GCRA's theoretical
// arrival time, which redis_rate keeps under "rate:" + key in seconds
// since 2017-01-01, by Redis's clock) one interval earlier, deleting the
// key once that is now: redis_rate's own AllowN with a negative cost
// stores nothing when the result is at or before now, so it cannot give
// back the one token a full bucket lost. TestGiveBack holds this to
// redis_rate's format.
var giveBack = redis.NewScript(`
local tat = redis.call("GET", KEYS[1])
if not tat then
  return 0
end
local now = redis.call("TIME")
now = (now[1] - 1483228800) + (now[2] / 1000000)
local t = tonumber(tat) - tonumber(ARGV[1])
if t <= now then
  redis.call("DEL", KEYS[1])
else
  redis.call("SET", KEYS[1], t, "EX", math.ceil(t - now))
end
return 1
`)

// Give puts a token back: see giveBack.
func (l *redisLimiter) Give(ctx context.Context, key string) error {
	return giveBack.Run(ctx, l.rdb, []string{"rate:" + l.key(key)}, l.limit.Period.Seconds()).Err()
}
