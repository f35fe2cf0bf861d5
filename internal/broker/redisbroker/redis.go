// Package redisbroker is the broker.Broker for several processes: events
// travel as JSON over Redis pub/sub, on one channel per room and one for
// the process-wide events.
//
// Each process holds one subscriber connection, read by one goroutine that
// decodes events and calls the handlers. go-redis redials a broken subscriber
// connection and subscribes it to every channel again; this package notices
// the new subscription confirmations and calls Missed for each room, because
// what was published while the connection was down is lost.
package redisbroker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/internal/broker"
	"parley/internal/clock"
)

// Options configure a Redis broker. The zero value is usable.
type Options struct {
	// Prefix starts the name of every channel; "parley:" when empty. A
	// room's channel is Prefix + "room:" + the room's name; the
	// process-wide events' (room "") is Prefix + "all", which no room's
	// channel can be.
	Prefix string
	// Origin names this process. It is stamped into every event published
	// without an Origin.
	Origin string
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
	// PingInterval is how long the subscriber connection may stay silent
	// before it is pinged; a ping unanswered for as long again has the
	// connection dropped and redialled. It bounds how long a connection
	// that died without a word (a lost peer, a dead network path) goes
	// unnoticed. Default 2s.
	PingInterval time.Duration
	// Timeout bounds dialling Redis and each read and write, where the URL
	// does not set dial_timeout, read_timeout or write_timeout. Default 2s.
	Timeout time.Duration
}

// Stats count what a Redis broker has done since it was made.
type Stats struct {
	// Published counts events Redis took.
	Published uint64
	// Failed counts events that were not sent: Redis did not take them,
	// or the queue stayed full.
	Failed uint64
	// Received counts pub/sub messages read from the subscriber
	// connection.
	Received uint64
	// Reconnects counts the times the subscriber connection came back
	// after it was lost.
	Reconnects uint64
	// DecodeErrors counts messages that were not a valid event.
	DecodeErrors uint64
	// Own counts this process's own events that Redis sent back: dropped
	// undecoded, since Publish delivered them to this process already.
	Own uint64
}

// Redis is a broker.Broker over Redis pub/sub.
type Redis struct {
	client       *redis.Client
	ps           *redis.PubSub
	roomPrefix   string
	allChannel   string // the process-wide events'
	origin       string
	log          *slog.Logger
	pingInterval time.Duration
	timeout      time.Duration

	// subMu keeps a change of subs and the command that makes it in
	// Redis together, so that Redis sees SUBSCRIBE and UNSUBSCRIBE for a
	// channel in the order subs changed.
	subMu sync.Mutex
	// mu guards subs and closed.
	mu     sync.RWMutex
	subs   map[string]*subscription // by channel
	closed bool

	closing atomic.Bool
	quit    chan struct{} // closed by Close
	done    chan struct{} // closed when the receive goroutine returns

	pubs    chan pubReq   // publishes waiting for the pipeline
	pubDone chan struct{} // closed when the publisher returns

	// mark is on every payload this broker publishes: how its own
	// events are told apart without decoding them.
	mark broker.Mark

	published, failed, received, reconnects, decodeErrors, ownEvents atomic.Uint64
}

var _ broker.Broker = (*Redis)(nil)

// subscription is one room's entry in Redis.subs.
type subscription struct {
	room string
	h    broker.Handler
	// active is set once Redis confirmed the subscription. A confirmation
	// for an active subscription means the connection was redialled.
	active bool
	// done is closed when the subscription is confirmed (err nil) or
	// given up (err says why).
	done chan struct{}
	err  error
}

// New connects to the Redis server at url, a redis:// or rediss:// URL,
// and returns a broker with no subscriptions. It fails if the URL is not
// valid or Redis does not answer a ping.
func New(ctx context.Context, url string, opts Options) (*Redis, error) {
	ro, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: bad Redis URL: %w", withoutURL(err))
	}
	timeout := cmp.Or(opts.Timeout, 2*time.Second)
	ro.DialTimeout = cmp.Or(ro.DialTimeout, timeout)
	ro.ReadTimeout = cmp.Or(ro.ReadTimeout, timeout)
	ro.WriteTimeout = cmp.Or(ro.WriteTimeout, timeout)
	// Let a caller's deadline cut a command short, not only the timeouts.
	ro.ContextTimeoutEnabled = true
	// A command is already retried (MaxRetries) with a fresh dial each
	// time; retrying each dial as well, five times by default, makes a
	// publish to a Redis that is down take seconds to fail.
	ro.DialerRetries = 1

	client := redis.NewClient(ro)
	// A retry's worth of time: enough for a slow first dial, short enough
	// that a missing server fails the program's start at once.
	pctx, cancel := context.WithTimeout(ctx, 2*timeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("redisbroker: cannot reach Redis at %s: %w", ro.Addr, err)
	}

	prefix := cmp.Or(opts.Prefix, "parley:")
	r := &Redis{
		client:       client,
		roomPrefix:   prefix + "room:",
		allChannel:   prefix + "all",
		origin:       opts.Origin,
		log:          cmp.Or(opts.Logger, slog.New(slog.DiscardHandler)),
		pingInterval: cmp.Or(opts.PingInterval, 2*time.Second),
		timeout:      timeout,
		subs:         make(map[string]*subscription),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		pubs:         make(chan pubReq, 4*maxPipeline),
		mark:         broker.NewMark(),
		pubDone:      make(chan struct{}),
	}
	// #nosec G118 -- the publisher lives as long as the broker (until Close).
	go r.publisher()
	// No channels yet: the subscriber connection is dialled by the
	// receive goroutine's first read.
	r.ps = client.Subscribe(context.Background())
	// #nosec G118 -- the subscriber lives as long as the broker (until
	// Close), not as long as the ctx that bounded the first ping.
	go r.receive()
	return r, nil
}

// withoutURL strips the URL from a parse error: it may hold a password.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// channel returns the channel of room: the process-wide one for "".
func (r *Redis) channel(room string) string {
	if room == "" {
		return r.allChannel
	}
	return r.roomPrefix + room
}

// topic names room in errors and logs.
func topic(room string) string {
	if room == "" {
		return "the process-wide events"
	}
	return fmt.Sprintf("room %q", room)
}

// Publish delivers ev to this process's subscriber of its room, if any,
// and queues it, encoded as JSON, for its room's channel (the process-wide
// channel for room ""). It waits only while the queue is full, for the
// broker's timeout at most or until ctx ends; an event not queued then is
// counted as failed. An event of a kind not Known is refused.
//
// One goroutine sends the queued events, in the order they came, as
// pipelines (one write, one read of all the answers), so that a busy
// process makes a round trip per batch rather than per message. An event
// Redis does not take is counted (Failed) and not sent again: the other
// processes recover messages they missed from the store.
func (r *Redis) Publish(ctx context.Context, ev broker.Event) error {
	if r.closing.Load() {
		return broker.ErrClosed
	}
	if !ev.Kind.Known() {
		return fmt.Errorf("redisbroker: publish to %s: %w %d", topic(ev.Room), broker.ErrUnknownKind, ev.Kind)
	}
	if ev.Origin == "" {
		ev.Origin = r.origin
	}
	// The payload carries this broker's mark, so that the copy Redis
	// sends back is known, and dropped, without being decoded: this
	// process's own subscriber gets the event now instead, not a round
	// trip later (and not at all while Redis is away).
	// Room enough for the mark, an event's keys and names and a message's
	// content: the buffer is not grown and copied on the way.
	size := 320
	if ev.Message != nil {
		size += len(ev.Message.Content)
	}
	payload := broker.AppendEvent(make([]byte, 0, size), ev, r.mark)
	req := pubReq{channel: r.channel(ev.Room), payload: payload}
	if h := r.handler(req.channel); h != nil {
		h.Event(ev)
	}
	select {
	case r.pubs <- req:
		return nil
	default: // Redis is slower than the publishes: wait for room
	}
	t := time.NewTimer(r.timeout)
	defer t.Stop()
	var err error
	select {
	case r.pubs <- req:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errors.New("the queue stayed full")
	case <-r.quit:
		return broker.ErrClosed
	}
	r.failed.Add(1)
	return fmt.Errorf("redisbroker: publish to %s: %w", topic(ev.Room), err)
}

// pubReq is a publish waiting for the pipeline.
type pubReq struct {
	channel string
	payload []byte
}

// maxPipeline bounds the publishes one pipeline carries.
const maxPipeline = 512

// publisher sends the queued publishes, a pipeline at a time, until Close;
// then it sends what is still queued, within the broker's timeout.
func (r *Redis) publisher() {
	defer close(r.pubDone)
	p := publishing{r: r, cmds: make([]*redis.IntCmd, 0, maxPipeline)}
	batch := make([]pubReq, 0, maxPipeline)
	for {
		batch = batch[:0]
		select {
		case req := <-r.pubs:
			batch = append(batch, req)
		case <-r.quit:
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			defer cancel()
			for batch = r.queued(batch); len(batch) > 0; batch = r.queued(batch[:0]) {
				p.send(ctx, batch)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		p.send(ctx, r.queued(batch))
		cancel()
	}
}

// queued adds to batch the publishes waiting, up to maxPipeline.
func (r *Redis) queued(batch []pubReq) []pubReq {
	for len(batch) < maxPipeline {
		select {
		case req := <-r.pubs:
			batch = append(batch, req)
		default:
			return batch
		}
	}
	return batch
}

// publishing is the publisher's state.
type publishing struct {
	r       *Redis
	cmds    []*redis.IntCmd
	failing bool // the last pipeline failed
	lost    int  // events not sent since failing began
}

// send sends batch as one pipeline and counts what Redis took and what it
// did not. It logs when publishing starts to fail and when it works again,
// not every failed pipeline.
func (p *publishing) send(ctx context.Context, batch []pubReq) {
	pipe := p.r.client.Pipeline()
	p.cmds = p.cmds[:0]
	for _, req := range batch {
		p.cmds = append(p.cmds, pipe.Publish(ctx, req.channel, req.payload))
	}
	_, err := pipe.Exec(ctx)
	clear(batch) // the payloads are not needed any more
	failed := 0
	for _, c := range p.cmds {
		if c.Err() != nil {
			failed++
		}
	}
	clear(p.cmds)
	p.r.published.Add(uint64(len(batch) - failed))
	p.r.failed.Add(uint64(failed))
	switch {
	case failed > 0 && !p.failing:
		p.failing, p.lost = true, failed
		p.r.log.Warn("redis publish failed; other processes will recover the messages from the store", "events", failed, "err", err)
	case failed > 0:
		p.lost += failed
	case p.failing:
		p.failing = false
		p.r.log.Info("redis publish restored", "events_not_sent", p.lost)
	}
}

// Subscribe makes h receive the events of room (the process-wide events for
// "") and returns once Redis has confirmed the subscription. If the room is
// already subscribed, h replaces its handler. On error the room is not
// subscribed.
//
// Handlers are called from the broker's one receive goroutine, which also
// reads the confirmations Subscribe waits for: a handler must not call
// Subscribe.
func (r *Redis) Subscribe(ctx context.Context, room string, h broker.Handler) error {
	ch := r.channel(room)
	r.subMu.Lock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		r.subMu.Unlock()
		return broker.ErrClosed
	}
	s, ok := r.subs[ch]
	if ok {
		s.h = h
		r.mu.Unlock()
		r.subMu.Unlock()
	} else {
		s = &subscription{room: room, h: h, done: make(chan struct{})}
		r.subs[ch] = s
		r.mu.Unlock()
		err := r.ps.Subscribe(ctx, ch)
		r.subMu.Unlock()
		if err != nil {
			r.abandon(ch, s, fmt.Errorf("redisbroker: subscribe to %s: %w", topic(room), err))
		}
	}
	select {
	case <-s.done:
	case <-ctx.Done():
		r.abandon(ch, s, fmt.Errorf("redisbroker: subscribe to %s: no confirmation from Redis: %w", topic(room), context.Cause(ctx)))
	}
	// Whatever abandon did, s is settled now: confirmed, or given up by
	// abandon, Unsubscribe or Close.
	<-s.done
	return s.err
}

// abandon gives up s, the subscription to ch, with err, unless it was
// confirmed or given up already.
func (r *Redis) abandon(ch string, s *subscription, err error) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.mu.Lock()
	if r.subs[ch] != s || s.active {
		r.mu.Unlock()
		return
	}
	delete(r.subs, ch)
	s.err = err
	close(s.done)
	r.mu.Unlock()
	// The SUBSCRIBE may yet reach Redis; take it back. go-redis forgets
	// the channel even if this command cannot be sent, so a redialled
	// connection will not subscribe it.
	uctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	if err := r.ps.Unsubscribe(uctx, ch); err != nil {
		r.log.Debug("redis unsubscribe after a failed subscribe", "channel", ch, "err", err)
	}
}

// Unsubscribe stops the events of room: once it returns, its handler is no
// longer called, though a call under way may finish.
func (r *Redis) Unsubscribe(ctx context.Context, room string) error {
	ch := r.channel(room)
	r.subMu.Lock()
	defer r.subMu.Unlock()
	r.mu.Lock()
	s, ok := r.subs[ch]
	if ok {
		delete(r.subs, ch)
		if !s.active {
			s.err = fmt.Errorf("redisbroker: %s unsubscribed before Redis confirmed the subscription", topic(room))
			close(s.done)
		}
	}
	r.mu.Unlock()
	if !ok {
		return nil
	}
	// Events of the room that still arrive find no handler. go-redis has
	// forgotten the channel even if the command cannot be sent, so a
	// failure here leaves nothing to undo and is not the caller's.
	if err := r.ps.Unsubscribe(ctx, ch); err != nil {
		r.log.Debug("redis unsubscribe", "channel", ch, "err", err)
	}
	return nil
}

// Ping reports whether Redis answers a ping.
func (r *Redis) Ping(ctx context.Context) error {
	if r.closing.Load() {
		return broker.ErrClosed
	}
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbroker: ping Redis: %w", err)
	}
	return nil
}

// Stats returns the broker's counters.
func (r *Redis) Stats() Stats {
	return Stats{
		Published:    r.published.Load(),
		Failed:       r.failed.Load(),
		Received:     r.received.Load(),
		Reconnects:   r.reconnects.Load(),
		DecodeErrors: r.decodeErrors.Load(),
		Own:          r.ownEvents.Load(),
	}
}

// Failed counts the events that did not reach Redis.
func (r *Redis) Failed() uint64 { return r.failed.Load() }

// Close unsubscribes every room, stops the receive goroutine and closes the
// connections. Closing twice is harmless.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.closing.Store(true)
	for _, s := range r.subs {
		if !s.active {
			s.err = broker.ErrClosed
			close(s.done)
		}
	}
	clear(r.subs)
	r.mu.Unlock()

	close(r.quit)
	// Closing the PubSub closes its connection, which ends a read under
	// way in the receive goroutine.
	psErr := r.ps.Close()
	<-r.done
	<-r.pubDone
	// A publish that raced Close into the queue after the last flush is
	// not sent: count it.
	r.failed.Add(uint64(len(r.pubs)))
	return errors.Join(psErr, r.client.Close())
}

// receive reads the subscriber connection until Close. When the connection
// has been silent for pingInterval it sends a ping, and reads the answer
// with a deadline that go-redis treats as fatal: an unanswered ping has the
// connection dropped and redialled.
func (r *Redis) receive() {
	defer close(r.done)
	ctx := context.Background()
	var (
		awaitingPong bool
		lost         bool // the connection failed and nothing came since
		backoff      time.Duration
	)
	for {
		var msg any
		var err error
		if awaitingPong {
			pctx, cancel := context.WithTimeout(ctx, r.pingInterval)
			msg, err = r.ps.ReceiveTimeout(pctx, 0)
			cancel()
		} else {
			msg, err = r.ps.ReceiveTimeout(ctx, r.pingInterval)
		}
		if r.closing.Load() {
			return
		}
		if err != nil {
			if !awaitingPong && isTimeout(err) {
				awaitingPong = true
				if err = r.ps.Ping(ctx); err == nil {
					continue
				}
			}
			awaitingPong = false
			if !lost {
				lost = true
				r.log.Warn("redis subscriber connection lost", "err", err)
			}
			// go-redis redials on the next read; while Redis is
			// down, do not spin.
			backoff = min(max(2*backoff, 50*time.Millisecond), time.Second)
			if !clock.Pause(backoff, r.quit) {
				return
			}
			continue
		}
		awaitingPong = false
		backoff = 0
		if lost {
			lost = false
			r.reconnects.Add(1)
			r.log.Info("redis subscriber connection restored")
		}
		switch m := msg.(type) {
		case *redis.Message:
			r.received.Add(1)
			r.deliver(m)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.confirmed(m.Channel)
			}
		}
	}
}

func (r *Redis) deliver(m *redis.Message) {
	h := r.handler(m.Channel)
	if h == nil {
		return // unsubscribed
	}
	if broker.HasMark(m.Payload, r.mark) {
		// This broker's own event, delivered when it was published.
		r.ownEvents.Add(1)
		return
	}
	ev, err := broker.DecodeEvent([]byte(m.Payload))
	if err != nil {
		r.decodeErrors.Add(1)
		r.log.Warn("redis event not decoded", "channel", m.Channel, "err", err)
		return
	}
	h.Event(ev)
}

// handler returns the handler subscribed to channel ch, or nil.
func (r *Redis) handler(ch string) broker.Handler {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s := r.subs[ch]; s != nil {
		return s.h
	}
	return nil
}

// confirmed handles Redis's confirmation of a subscription to ch. The first
// completes a Subscribe. Any later one comes from go-redis subscribing a
// redialled connection again, since Subscribe never sends a second SUBSCRIBE
// for a channel in subs: events may have been lost in between, so the
// handler is told to recover.
//
// A confirmation still travelling from an earlier subscription of the same
// channel (subscribe, give up, subscribe again) can complete a Subscribe a
// little early; the confirmation of its own SUBSCRIBE then follows and
// counts as a later one, so the handler recovers what fell in between.
func (r *Redis) confirmed(ch string) {
	r.mu.Lock()
	s := r.subs[ch]
	var missed broker.Handler
	switch {
	case s == nil:
		// Unsubscribed since.
	case !s.active:
		s.active = true
		close(s.done)
	default:
		missed = s.h
	}
	r.mu.Unlock()
	if missed != nil {
		r.log.Info("redis resubscribed; room recovers from the store", "room", s.room)
		missed.Missed(s.room)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
