package push

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/clock"
)

// Options configure a Sender. Keys and Contact are required; the rest have
// defaults.
type Options struct {
	// Keys sign every request.
	Keys *Keys
	// Contact is the VAPID subject, a "mailto:" or "https:" URI at which a
	// push service can reach the operator. It must name a real domain:
	// Apple's push service refuses a subject on localhost or a made-up
	// domain.
	Contact string
	// Gone is called when a push service answers 404 or 410: the
	// subscription has expired or was cancelled, and its owner should
	// delete it. It runs on a worker, or in Send's caller; ctx ends when
	// the Sender stops (or Send's context ends).
	Gone func(ctx context.Context, sub Subscription)
	// Sent, if set, is called when a push service took a message (2xx),
	// so that its owner can tell a device that works from one that no
	// longer answers. It runs as Gone does.
	Sent func(ctx context.Context, sub Subscription)
	// Hosts are the push services the Sender sends to; a message to any
	// other host is refused as a bad subscription. Default: every host.
	Hosts Hosts
	// Client sends the requests. Default: one that follows no redirect.
	// Each request is also bounded by Timeout, whatever the client.
	Client *http.Client
	// Timeout bounds one request, and one call of a delayed message's
	// check. Default 15s.
	Timeout time.Duration
	// Workers is how many requests may be in flight. Default 4.
	Workers int
	// QueueSize is how many messages may wait for a worker. Default 1024.
	QueueSize int
	// MaxWaiting is how many delayed messages and retries may wait for
	// their time. Default 10000.
	MaxWaiting int
	// MaxAttempts bounds the requests for one message. Default 5.
	MaxAttempts int
	// MaxRetryTime bounds how long after its first attempt a message is
	// still retried. Default 15m.
	MaxRetryTime time.Duration
	// Backoff is the wait before the first retry, doubled for each later
	// one and drawn at random from its upper half. Default 2s.
	Backoff time.Duration
	// MaxBackoff caps the doubling (not a push service's Retry-After,
	// which is honoured as long as MaxRetryTime allows). Default 5m.
	MaxBackoff time.Duration
	// TTL is how long a push service keeps a message for an offline
	// device when the message does not say. Default 24h.
	TTL time.Duration
	// Clock is the time the Sender reads and waits on. Default: the
	// system's.
	Clock clock.Clock
	// Log receives one line per message that failed or was dropped.
	Log *slog.Logger
}

// Stats are the Sender's counters, for metrics. Each message ends counted
// once in Sent, Failed, Gone, Dropped or Skipped.
type Stats struct {
	Sent    uint64 // accepted by the push service (2xx)
	Failed  uint64 // refused, or retried until attempts or time ran out
	Gone    uint64 // 404 or 410: the subscription no longer exists
	Dropped uint64 // no room in the queue or among the waiting, or closed
	Skipped uint64 // a delayed message its check no longer wanted
	Retried uint64 // retries scheduled (a message may have several)
	Queued  int    // waiting for a worker now
	Waiting int    // waiting for a delay or a retry now
}

// Sender sends Web Push messages from a bounded queue. Its methods are safe
// for concurrent use.
type Sender struct {
	opt    Options
	log    *slog.Logger
	keys   *Keys
	client *http.Client
	clock  clock.Clock

	// ctx ends requests in flight when Close gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.RWMutex // closed and the closing of queue
	closed bool
	queue  chan *job
	wait   *waiting

	workers   sync.WaitGroup
	scheduler sync.WaitGroup
	stopSched chan struct{}
	closeOnce sync.Once

	sent, failed, gone, dropped, skipped, retried atomic.Uint64
}

// job is a message on its way, or, with wanted set, a delayed batch of
// messages that waits for its check.
type job struct {
	t        *target
	msg      Message
	body     []byte    // encrypted once, sent again by retries
	attempts int       // requests made
	deadline time.Time // no retry after it; set at the first attempt

	wanted func(context.Context) (bool, error)
	batch  []*job
}

// size is how many messages j stands for.
func (j *job) size() uint64 {
	if j.wanted != nil {
		return uint64(len(j.batch))
	}
	return 1
}

// New starts a Sender. Close stops it.
func New(opt Options) (*Sender, error) {
	if opt.Keys == nil {
		return nil, errors.New("push: no VAPID keys")
	}
	if err := checkContact(opt.Contact); err != nil {
		return nil, err
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 15 * time.Second
	}
	if opt.Workers <= 0 {
		opt.Workers = 4
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 1024
	}
	if opt.MaxWaiting <= 0 {
		opt.MaxWaiting = 10000
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 5
	}
	if opt.MaxRetryTime <= 0 {
		opt.MaxRetryTime = 15 * time.Minute
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 2 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Minute
	}
	if opt.TTL <= 0 {
		opt.TTL = 24 * time.Hour
	}
	if opt.Clock == nil {
		opt.Clock = clock.System{}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	client := opt.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = opt.Workers // most messages go to a few hosts
		client = &http.Client{
			Transport: tr,
			// A push service does not redirect; following one would let an
			// endpoint lead the server to a URL it would not accept.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sender{
		opt:       opt,
		log:       opt.Log,
		keys:      opt.Keys,
		client:    client,
		clock:     opt.Clock,
		ctx:       ctx,
		cancel:    cancel,
		queue:     make(chan *job, opt.QueueSize),
		wait:      newWaiting(opt.MaxWaiting),
		stopSched: make(chan struct{}),
	}
	s.workers.Add(opt.Workers)
	for range opt.Workers {
		go s.work()
	}
	s.scheduler.Add(1)
	go s.schedule()
	return s, nil
}

// newJob validates m and makes its job, with a copy of its payload.
func (s *Sender) newJob(m Message) (*job, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	t, err := s.target(m.Subscription)
	if err != nil {
		return nil, err
	}
	m.Payload = bytes.Clone(m.Payload)
	if m.TTL == 0 {
		m.TTL = s.opt.TTL
	}
	return &job{t: t, msg: m}, nil
}

// Check reports whether the Sender can send to sub: what
// Subscription.Validate checks, and an endpoint on one of Options.Hosts.
// The error wraps ErrBadSubscription and says what is wrong.
func (s *Sender) Check(sub Subscription) error {
	_, err := s.target(sub)
	return err
}

func (s *Sender) target(sub Subscription) (*target, error) {
	t, err := sub.parse()
	if err != nil {
		return nil, err
	}
	if !s.opt.Hosts.Allows(sub.Endpoint) {
		return nil, fmt.Errorf("%w: %s is not a push service this server sends to", ErrBadSubscription, t.origin)
	}
	return t, nil
}

// Enqueue queues m to be sent and returns at once. It fails, keeping
// nothing, for a bad message, a full queue (the message is counted as
// dropped) or a closed Sender.
func (s *Sender) Enqueue(m Message) error {
	j, err := s.newJob(m)
	if err != nil {
		return err
	}
	return s.offer(j)
}

// offer puts j in the queue without waiting; a full queue drops it.
func (s *Sender) offer(j *job) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(j.size())
		return ErrClosed
	}
	select {
	case s.queue <- j:
		return nil
	default:
		s.dropped.Add(j.size())
		return ErrQueueFull
	}
}

// EnqueueAfter keeps msgs for delay, then calls wanted (if not nil) and
// sends them only if it returns true. It is for what must not be pushed if
// it was seen meanwhile: wanted checks, say, a read marker. One call of
// wanted decides for all of msgs (one person's devices); an error from it
// is logged and the messages are skipped. EnqueueAfter returns at once; it
// fails, keeping nothing, for a bad message, when Options.MaxWaiting jobs
// already wait (the messages are counted as dropped), or when closed.
func (s *Sender) EnqueueAfter(delay time.Duration, wanted func(context.Context) (bool, error), msgs ...Message) error {
	if len(msgs) == 0 {
		return fmt.Errorf("%w: no message", ErrBadMessage)
	}
	d := &job{wanted: wanted, batch: make([]*job, len(msgs))}
	if wanted == nil {
		d.wanted = func(context.Context) (bool, error) { return true, nil }
	}
	for i, m := range msgs {
		j, err := s.newJob(m)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		d.batch[i] = j
	}
	if err := s.wait.add(s.clock.Now().Add(delay), d); err != nil {
		s.dropped.Add(d.size())
		return err
	}
	return nil
}

// StatusError is a push service's answer outside 2xx, from Send.
type StatusError struct {
	Code int
	Body string // the start of the answer, for a log
}

// ErrGone is matched (errors.Is) by a StatusError for 404 or 410.
var ErrGone = errors.New("push: subscription gone")

func (e *StatusError) Error() string {
	if e.Body == "" {
		return fmt.Sprintf("push: the push service answered %d", e.Code)
	}
	return fmt.Sprintf("push: the push service answered %d: %s", e.Code, e.Body)
}

// Is makes a 404 or a 410 match ErrGone.
func (e *StatusError) Is(target error) bool {
	return target == ErrGone && (e.Code == http.StatusNotFound || e.Code == http.StatusGone)
}

// Send sends m now, once, and waits for the push service's answer: for
// "send a test notification", whose sender wants to know. nil means the
// push service took it; a *StatusError carries any other answer (and
// Options.Gone was called for 404 or 410); other errors are a bad message
// or the network's. It is counted like a queued message, without retries.
func (s *Sender) Send(ctx context.Context, m Message) error {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	j, err := s.newJob(m)
	if err != nil {
		return err
	}
	r := s.post(ctx, j)
	switch {
	case r.err != nil:
		s.failed.Add(1)
		return r.err
	case r.ok():
		s.sentSub(ctx, j)
		return nil
	case r.gone():
		s.goneSub(ctx, j)
	default:
		s.failed.Add(1)
	}
	return &StatusError{Code: r.status, Body: r.body}
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	return Stats{
		Sent:    s.sent.Load(),
		Failed:  s.failed.Load(),
		Gone:    s.gone.Load(),
		Dropped: s.dropped.Load(),
		Skipped: s.skipped.Load(),
		Retried: s.retried.Load(),
		Queued:  len(s.queue),
		Waiting: s.wait.len(),
	}
}

// Close stops the Sender: it takes no more messages, drops those waiting
// for a delay or a retry, and sends what is queued until ctx ends. Then it
// cancels the requests in flight, drops what is left and returns ctx's
// error. Later calls return at once.
func (s *Sender) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stopSched)
		s.scheduler.Wait()
		for _, j := range s.wait.close() {
			s.dropped.Add(j.size())
		}
		close(s.queue) // the scheduler has stopped and offer sees closed
	})
	done := make(chan struct{})
	go func() {
		s.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return ctx.Err()
	}
}

// schedule hands the waiting jobs to the queue when they are due.
func (s *Sender) schedule() {
	defer s.scheduler.Done()
	var stop func() bool
	for {
		now := s.clock.Now()
		due, next, more := s.wait.due(now)
		for _, j := range due {
			if s.offer(j) != nil {
				s.log.Warn("push: queue full, a delayed message or a retry dropped", "messages", j.size())
			}
		}
		if stop != nil {
			stop()
			stop = nil
		}
		if more {
			stop = s.clock.AfterFunc(next.Sub(now), s.wait.poke)
		}
		select {
		case <-s.wait.wake:
		case <-s.stopSched:
			if stop != nil {
				stop()
			}
			return
		}
	}
}

// work sends queued jobs until the queue is closed.
func (s *Sender) work() {
	defer s.workers.Done()
	for j := range s.queue {
		switch {
		case s.ctx.Err() != nil:
			s.dropped.Add(j.size())
		case j.wanted != nil:
			s.runDelayed(j)
		default:
			s.attempt(j)
		}
	}
}

// runDelayed asks a delayed batch's check, then sends its messages.
func (s *Sender) runDelayed(d *job) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.Timeout)
	ok, err := d.wanted(ctx)
	cancel()
	if err != nil {
		s.log.Warn("push: a delayed message's check failed; not sent", "err", err, "messages", d.size())
	}
	if err != nil || !ok {
		s.skipped.Add(d.size())
		return
	}
	for _, j := range d.batch {
		if s.ctx.Err() != nil {
			s.dropped.Add(1)
			continue
		}
		s.attempt(j)
	}
}

// attempt makes one request for j and decides what follows.
func (s *Sender) attempt(j *job) {
	now := s.clock.Now()
	if j.deadline.IsZero() {
		j.deadline = now.Add(s.opt.MaxRetryTime)
	}
	r := s.post(s.ctx, j)
	switch {
	case r.ok():
		s.sentSub(s.ctx, j)
		return
	case r.gone():
		s.goneSub(s.ctx, j)
		return
	case s.ctx.Err() != nil:
		s.dropped.Add(1)
		return
	case r.local:
		s.failed.Add(1)
		s.log.Error("push: message not sent", "endpoint", j.t.origin, "err", r.err)
		return
	case !r.retryable():
		s.failed.Add(1)
		s.log.Warn("push: the push service refused a message", "endpoint", j.t.origin, "status", r.status, "answer", r.body)
		return
	}

	why := slog.Any("err", r.err)
	if r.err == nil {
		why = slog.Int("status", r.status)
	}
	if j.attempts >= s.opt.MaxAttempts {
		s.failed.Add(1)
		s.log.Warn("push: message not sent, attempts exhausted", "endpoint", j.t.origin, "attempts", j.attempts, why)
		return
	}
	wait := r.retryAfter
	if !r.hasRetryAfter {
		wait = s.backoff(j.attempts)
	}
	at := now.Add(wait)
	if at.After(j.deadline) {
		s.failed.Add(1)
		s.log.Warn("push: message not sent, retry time exhausted", "endpoint", j.t.origin, "attempts", j.attempts, "retry_after", wait, why)
		return
	}
	if err := s.wait.add(at, j); err != nil {
		s.dropped.Add(1)
		if !errors.Is(err, ErrClosed) {
			s.log.Warn("push: retry dropped", "endpoint", j.t.origin, "err", err)
		}
		return
	}
	s.retried.Add(1)
}

// backoff is the wait after the nth failed attempt: Backoff doubled n-1
// times, capped, and drawn from its upper half so that messages that failed
// together do not all come back together.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opt.Backoff
	for i := 1; i < n && d < s.opt.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opt.MaxBackoff)
	return d/2 + rand.N(d/2+1) // #nosec G404 -- jitter spreads retries; it guards nothing
}

func (s *Sender) sentSub(ctx context.Context, j *job) {
	s.sent.Add(1)
	if s.opt.Sent != nil {
		s.opt.Sent(ctx, j.t.sub)
	}
}

func (s *Sender) goneSub(ctx context.Context, j *job) {
	s.gone.Add(1)
	if s.opt.Gone != nil {
		s.opt.Gone(ctx, j.t.sub)
	}
}

// result is what one request came to.
type result struct {
	status        int
	body          string
	retryAfter    time.Duration
	hasRetryAfter bool
	err           error // no answer
	local         bool  // the request could not be made: no retry
}

func (r result) ok() bool   { return r.err == nil && r.status >= 200 && r.status < 300 }
func (r result) gone() bool { return r.status == http.StatusNotFound || r.status == http.StatusGone }
func (r result) retryable() bool {
	return r.err != nil || r.status == http.StatusTooManyRequests || r.status >= 500
}

// post makes one request for j (RFC 8030, section 5; RFC 8292).
func (s *Sender) post(ctx context.Context, j *job) result {
	j.attempts++
	if j.body == nil {
		body, err := seal(j.msg.Payload, j.t)
		if err != nil {
			return result{err: err, local: true}
		}
		j.body = body
	}
	// RFC 8292 allows up to 24 hours; 12 leaves room for clocks that
	// disagree.
	auth, err := s.keys.authorization(j.t.origin, s.opt.Contact, s.clock.Now().Add(12*time.Hour))
	if err != nil {
		return result{err: err, local: true}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.t.sub.Endpoint, bytes.NewReader(j.body))
	if err != nil {
		return result{err: err, local: true}
	}
	h := req.Header
	h.Set("Authorization", auth)
	h.Set("Content-Encoding", "aes128gcm")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("TTL", strconv.FormatInt(int64(j.msg.TTL/time.Second), 10))
	if j.msg.Urgency != "" {
		h.Set("Urgency", string(j.msg.Urgency))
	}
	if j.msg.Topic != "" {
		h.Set("Topic", j.msg.Topic)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	r := result{status: resp.StatusCode}
	if !r.ok() {
		start, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		r.body = string(start)
		r.retryAfter, r.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), s.clock.Now())
	}
	// Read the rest, bounded, so that the connection can be used again.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return r
}

// parseRetryAfter reads a Retry-After header: seconds, or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		// Anything past a year is past every MaxRetryTime; this keeps the
		// multiplication from overflowing.
		return time.Duration(min(n, 366*24*3600)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
