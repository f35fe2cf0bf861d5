package limit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Fallback timings. A check waits at most callTimeout for the shared
// limiter: a send or a login must never hang on Redis. After a failure
// the shared limiter is left alone for pause, so that while Redis is down
// or slow checks cost nothing more than the local ones.
const (
	callTimeout = 200 * time.Millisecond
	pause       = time.Second
)

// Fallback asks a shared limiter and, when it fails, answers from a local
// one: it fails open to this process's own count, not to no limit. While
// Redis is away each process limits on its own, so a user spread over n
// processes may get up to n times the rate; refusing every send and login
// instead would turn a Redis outage into a chat outage.
type Fallback struct {
	shared, local Limiter
	opt           FallbackOptions

	// downUntil is when to try the shared limiter again (Unix ns; 0: it
	// works).
	downUntil atomic.Int64
	now       func() time.Time
}

// FallbackOptions are what a Fallback reports to.
type FallbackOptions struct {
	// Name is the limiter's name in the log.
	Name string
	// Log gets a warning when the shared limiter fails, after it worked,
	// and a note when it works again; nil logs nothing.
	Log *slog.Logger
	// OnLocal, if set, is called for every check answered locally.
	OnLocal func()
}

// NewFallback returns a limiter that asks shared, or local when shared
// fails.
func NewFallback(shared, local Limiter, opt FallbackOptions) *Fallback {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	return &Fallback{shared: shared, local: local, opt: opt, now: time.Now}
}

var _ Limiter = (*Fallback)(nil)

// Take spends a token of the shared bucket, or of the local one.
func (f *Fallback) Take(ctx context.Context, key string) (bool, time.Duration, error) {
	return f.check(ctx, key, Limiter.Take)
}

// Peek looks at the shared bucket, or at the local one.
func (f *Fallback) Peek(ctx context.Context, key string) (bool, time.Duration, error) {
	return f.check(ctx, key, Limiter.Peek)
}

// Give puts a token back in the shared bucket, or in the local one. A
// token taken from one and given to the other (Redis came back meanwhile)
// only fills a bucket sooner, never past full.
func (f *Fallback) Give(ctx context.Context, key string) error {
	_, _, err := f.check(ctx, key, func(l Limiter, ctx context.Context, key string) (bool, time.Duration, error) {
		return true, 0, l.Give(ctx, key)
	})
	return err
}

func (f *Fallback) check(ctx context.Context, key string, op func(Limiter, context.Context, string) (bool, time.Duration, error)) (bool, time.Duration, error) {
	if down := f.downUntil.Load(); down == 0 || f.now().UnixNano() >= down {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		ok, wait, err := op(f.shared, cctx, key)
		cancel()
		if err == nil {
			if f.downUntil.Swap(0) != 0 {
				f.opt.Log.Info("shared rate limits answer again", "limit", f.opt.Name)
			}
			return ok, wait, nil
		}
		// A caller that gave up says nothing about the shared limiter.
		if ctx.Err() == nil && f.downUntil.Swap(f.now().Add(pause).UnixNano()) == 0 {
			f.opt.Log.Warn("shared rate limits failing; limiting in this process alone", "limit", f.opt.Name, "err", err)
		}
	}
	if f.opt.OnLocal != nil {
		f.opt.OnLocal()
	}
	return op(f.local, ctx, key)
}
