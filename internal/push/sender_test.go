package push_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/push"
	"parley/internal/push/pushtest"
	"parley/internal/testenv"
)

const contact = "mailto:ops@parley.example"

// start is where the tests' clocks start: now, so that the VAPID expiry a
// push service checks against its own clock is plausible too.
func newClock() *testenv.Clock { return testenv.NewClock(time.Now().Truncate(time.Second)) }

// newSender starts a Sender with fresh keys and the test's clock; opt's
// zero fields get small test values. It is closed when the test ends.
func newSender(t *testing.T, opt push.Options) *push.Sender {
	t.Helper()
	if opt.Keys == nil {
		k, err := push.GenerateKeys()
		if err != nil {
			t.Fatal(err)
		}
		opt.Keys = k
	}
	if opt.Contact == "" {
		opt.Contact = contact
	}
	s, err := push.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pushtest.Wait)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// waitStats waits, up to pushtest.Wait, until ok holds for s's counters.
func waitStats(t *testing.T, s *push.Sender, what string, ok func(push.Stats) bool) push.Stats {
	t.Helper()
	deadline := time.Now().Add(pushtest.Wait)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		st := s.Stats()
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; stats %+v", what, pushtest.Wait, st)
		}
		<-tick.C
	}
}

// script answers the requests in turn with the statuses given, then 201.
func script(steps ...func() (int, http.Header)) func(pushtest.Request) (int, http.Header) {
	return func(r pushtest.Request) (int, http.Header) {
		if r.N <= len(steps) {
			return steps[r.N-1]()
		}
		return http.StatusCreated, nil
	}
}

func status(code int, header ...string) func() (int, http.Header) {
	return func() (int, http.Header) {
		h := http.Header{}
		for i := 0; i+1 < len(header); i += 2 {
			h.Set(header[i], header[i+1])
		}
		return code, h
	}
}

func TestDeliveredEncryptedAndSigned(t *testing.T) {
	svc := pushtest.NewService(t)
	clock := newClock()
	keys, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	s := newSender(t, push.Options{Keys: keys, Clock: clock})
	sub := svc.Subscribe()
	payload := []byte(`{"room":"lobby","seq":42,"title":"ada mentioned you","body":"@bob lunch? ✓"}`)
	buf := append([]byte(nil), payload...)
	if err := s.Enqueue(push.Message{
		Subscription: sub, Payload: buf,
		TTL: time.Hour, Urgency: push.UrgencyHigh, Topic: "room-lobby",
	}); err != nil {
		t.Fatal(err)
	}
	clear(buf) // the caller may reuse its buffer at once
	req := svc.Wait(t, 1)[0]

	if req.PayloadErr != nil {
		t.Fatalf("the push service could not decrypt the body: %v", req.PayloadErr)
	}
	if !bytes.Equal(req.Payload, payload) {
		t.Fatalf("payload %q, want %q", req.Payload, payload)
	}
	if req.Endpoint != sub.Endpoint {
		t.Fatalf("sent to %s, want %s", req.Endpoint, sub.Endpoint)
	}
	for name, want := range map[string]string{
		"Content-Encoding": "aes128gcm",
		"Content-Type":     "application/octet-stream",
		"TTL":              "3600",
		"Urgency":          "high",
		"Topic":            "room-lobby",
	} {
		if got := req.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if n := len(req.Body); n != 86+256+16 {
		t.Errorf("body of %d bytes, want the header, one padded block and the tag (358)", n)
	}
	if !strings.HasPrefix(req.Header.Get("Authorization"), "vapid t=") {
		t.Errorf("Authorization %q", req.Header.Get("Authorization"))
	}

	v := req.VAPID
	if v.Err != nil {
		t.Fatalf("VAPID: %v", v.Err)
	}
	if v.Key != keys.PublicKey() {
		t.Errorf("k=%s, want the server's public key %s", v.Key, keys.PublicKey())
	}
	if v.Audience != svc.URL {
		t.Errorf("aud %q, want the endpoint's origin %q", v.Audience, svc.URL)
	}
	if v.Subject != contact {
		t.Errorf("sub %q, want %q", v.Subject, contact)
	}
	now := clock.Now()
	if !v.Expiry.After(now) || v.Expiry.After(now.Add(24*time.Hour)) {
		t.Errorf("exp %v, want within 24 h after %v", v.Expiry, now)
	}

	st := waitStats(t, s, "sent", func(st push.Stats) bool { return st.Sent == 1 })
	if st.Failed+st.Gone+st.Dropped+st.Skipped+st.Retried != 0 {
		t.Fatalf("stats %+v, want one sent and nothing else", st)
	}
}

func TestEachDeviceReadsOnlyItsOwn(t *testing.T) {
	svc := pushtest.NewService(t)
	s := newSender(t, push.Options{Clock: newClock()})
	a, b := svc.Subscribe(), svc.Subscribe()
	big := bytes.Repeat([]byte("x"), push.MaxPayload)
	if err := s.Enqueue(push.Message{Subscription: a, Payload: big}); err != nil {
		t.Fatal(err)
	}
	// b's keys on a's endpoint: the push service delivers to a's device,
	// which cannot read it.
	crossed := push.Subscription{Endpoint: a.Endpoint, P256dh: b.P256dh, Auth: b.Auth}
	if err := s.Enqueue(push.Message{Subscription: crossed, Payload: []byte("for b")}); err != nil {
		t.Fatal(err)
	}
	reqs := svc.Wait(t, 2)
	for _, r := range reqs {
		switch {
		case len(r.Body) == 4096:
			if r.PayloadErr != nil || !bytes.Equal(r.Payload, big) {
				t.Fatalf("the largest payload: %v", r.PayloadErr)
			}
		default:
			if r.PayloadErr == nil {
				t.Fatalf("a's device read a message encrypted for b: %q", r.Payload)
			}
		}
	}
}

func TestGoneCallsBack(t *testing.T) {
	for _, code := range []int{http.StatusGone, http.StatusNotFound} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			svc := pushtest.NewService(t)
			svc.Respond(script(status(code)))
			gone := make(chan push.Subscription, 1)
			s := newSender(t, push.Options{
				Clock: newClock(),
				Gone:  func(_ context.Context, sub push.Subscription) { gone <- sub },
			})
			sub := svc.Subscribe()
			if err := s.Enqueue(push.Message{Subscription: sub, Payload: []byte("hi")}); err != nil {
				t.Fatal(err)
			}
			select {
			case got := <-gone:
				if got != sub {
					t.Fatalf("Gone(%+v), want %+v", got, sub)
				}
			case <-time.After(pushtest.Wait):
				t.Fatal("Gone not called")
			}
			st := waitStats(t, s, "gone counted", func(st push.Stats) bool { return st.Gone == 1 })
			if st.Sent+st.Failed+st.Retried+uint64(st.Waiting) != 0 || len(svc.Requests()) != 1 {
				t.Fatalf("stats %+v after %d requests: want one request, counted gone, no retry", st, len(svc.Requests()))
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	svc := pushtest.NewService(t)
	svc.Respond(script(status(http.StatusTooManyRequests, "Retry-After", "7")))
	clock := newClock()
	s := newSender(t, push.Options{Clock: clock, Backoff: time.Second})
	start := clock.Now()
	if err := s.Enqueue(push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	svc.Wait(t, 1)
	// The retry waits exactly the 7 s asked, not the 1 s backoff.
	clock.WaitTimer(t, start.Add(7*time.Second))
	clock.Advance(6 * time.Second)
	if n := len(svc.Requests()); n != 1 {
		t.Fatalf("%d requests before Retry-After was over", n)
	}
	clock.Advance(time.Second)
	r := svc.Wait(t, 2)[1]
	if r.PayloadErr != nil || string(r.Payload) != "hi" {
		t.Fatalf("the retry: %q, %v", r.Payload, r.PayloadErr)
	}
	st := waitStats(t, s, "sent", func(st push.Stats) bool { return st.Sent == 1 })
	if st.Retried != 1 || st.Failed != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v, want one retry then sent", st)
	}
}

func TestServerErrorsRetriedWithBackoff(t *testing.T) {
	svc := pushtest.NewService(t)
	svc.Respond(script(status(http.StatusInternalServerError), status(http.StatusBadGateway), status(pushtest.HangUp)))
	clock := newClock()
	s := newSender(t, push.Options{Clock: clock, Backoff: 2 * time.Second})
	if err := s.Enqueue(push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	// After the nth failure the wait is within [Backoff·2ⁿ⁻¹/2, Backoff·2ⁿ⁻¹].
	for n, hi := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		svc.Wait(t, n+1)
		now := clock.Now()
		at := clock.NextTimer(t)
		if wait := at.Sub(now); wait < hi/2 || wait > hi {
			t.Fatalf("retry %d after %v, want within [%v, %v]", n+1, wait, hi/2, hi)
		}
		clock.Advance(at.Sub(now))
	}
	svc.Wait(t, 4)
	st := waitStats(t, s, "sent", func(st push.Stats) bool { return st.Sent == 1 })
	if st.Retried != 3 || st.Failed != 0 {
		t.Fatalf("stats %+v, want three retries (500, 502, a network error) then sent", st)
	}
}

func TestRetriesBounded(t *testing.T) {
	t.Run("Attempts", func(t *testing.T) {
		svc := pushtest.NewService(t)
		svc.Respond(func(pushtest.Request) (int, http.Header) { return http.StatusServiceUnavailable, nil })
		clock := newClock()
		s := newSender(t, push.Options{Clock: clock, MaxAttempts: 3})
		if err := s.Enqueue(push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		for n := 1; n < 3; n++ {
			svc.Wait(t, n)
			clock.Advance(clock.NextTimer(t).Sub(clock.Now()))
		}
		svc.Wait(t, 3)
		st := waitStats(t, s, "failed", func(st push.Stats) bool { return st.Failed == 1 })
		if st.Retried != 2 || st.Waiting != 0 || len(clock.Timers()) != 0 || len(svc.Requests()) != 3 {
			t.Fatalf("stats %+v, timers %v, %d requests: want 3 attempts and no more", st, clock.Timers(), len(svc.Requests()))
		}
	})
	t.Run("Time", func(t *testing.T) {
		svc := pushtest.NewService(t)
		svc.Respond(script(status(http.StatusTooManyRequests, "Retry-After", "3600")))
		clock := newClock()
		s := newSender(t, push.Options{Clock: clock, MaxRetryTime: 10 * time.Minute})
		if err := s.Enqueue(push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
		st := waitStats(t, s, "failed", func(st push.Stats) bool { return st.Failed == 1 })
		if st.Retried != 0 || st.Waiting != 0 || len(svc.Requests()) != 1 {
			t.Fatalf("stats %+v: a Retry-After past MaxRetryTime must fail at once", st)
		}
	})
}

func TestRefusalsNotRetried(t *testing.T) {
	for _, c := range []struct {
		name string
		resp func() (int, http.Header)
	}{
		{"BadRequest", status(http.StatusBadRequest)},
		{"Unauthorized", status(http.StatusUnauthorized)},
		{"TooLarge", status(http.StatusRequestEntityTooLarge)},
		{"Redirect", status(http.StatusTemporaryRedirect, "Location", "/elsewhere")},
	} {
		t.Run(c.name, func(t *testing.T) {
			svc := pushtest.NewService(t)
			svc.Respond(script(c.resp))
			var gone atomic.Int32
			s := newSender(t, push.Options{
				Clock: newClock(),
				Gone:  func(context.Context, push.Subscription) { gone.Add(1) },
			})
			if err := s.Enqueue(push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
				t.Fatal(err)
			}
			st := waitStats(t, s, "failed", func(st push.Stats) bool { return st.Failed == 1 })
			if st.Retried != 0 || st.Waiting != 0 || gone.Load() != 0 || len(svc.Requests()) != 1 {
				t.Fatalf("stats %+v, %d requests, %d gone: want one request, failed, not retried",
					st, len(svc.Requests()), gone.Load())
			}
		})
	}
}

func TestFullQueueDrops(t *testing.T) {
	svc := pushtest.NewService(t)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	svc.Respond(func(pushtest.Request) (int, http.Header) {
		<-release
		return http.StatusCreated, nil
	})
	s := newSender(t, push.Options{Clock: newClock(), Workers: 1, QueueSize: 1})
	sub := svc.Subscribe()
	msg := push.Message{Subscription: sub, Payload: []byte("hi")}

	if err := s.Enqueue(msg); err != nil { // taken by the one worker, held by the service
		t.Fatal(err)
	}
	svc.Wait(t, 1)
	if err := s.Enqueue(msg); err != nil { // fills the queue
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Enqueue(msg) }()
	select {
	case err := <-done:
		if !errors.Is(err, push.ErrQueueFull) {
			t.Fatalf("Enqueue on a full queue: %v, want ErrQueueFull", err)
		}
	case <-time.After(pushtest.Wait):
		t.Fatal("Enqueue blocked on a full queue")
	}
	if st := s.Stats(); st.Dropped != 1 || st.Queued != 1 {
		t.Fatalf("stats %+v, want one dropped and one queued", st)
	}
	let()
	st := waitStats(t, s, "both sent", func(st push.Stats) bool { return st.Sent == 2 })
	if st.Dropped != 1 || len(svc.Requests()) != 2 {
		t.Fatalf("stats %+v after %d requests", st, len(svc.Requests()))
	}
}

func TestDelayedMessage(t *testing.T) {
	for _, wanted := range []bool{false, true} {
		name := map[bool]string{false: "ReadMeanwhile", true: "StillUnread"}[wanted]
		t.Run(name, func(t *testing.T) {
			svc := pushtest.NewService(t)
			clock := newClock()
			s := newSender(t, push.Options{Clock: clock})
			phone, laptop := svc.Subscribe(), svc.Subscribe()
			var checks atomic.Int32
			check := func(ctx context.Context) (bool, error) {
				checks.Add(1)
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				return wanted, nil
			}
			start := clock.Now()
			if err := s.EnqueueAfter(30*time.Second, check,
				push.Message{Subscription: phone, Payload: []byte("to the phone")},
				push.Message{Subscription: laptop, Payload: []byte("to the laptop")},
			); err != nil {
				t.Fatal(err)
			}
			clock.WaitTimer(t, start.Add(30*time.Second))
			if st := s.Stats(); st.Waiting != 1 {
				t.Fatalf("stats %+v, want one job waiting", st)
			}
			clock.Advance(29 * time.Second)
			if checks.Load() != 0 || len(svc.Requests()) != 0 {
				t.Fatal("the check or a request came before the delay was over")
			}
			clock.Advance(time.Second)

			if !wanted {
				st := waitStats(t, s, "skipped", func(st push.Stats) bool { return st.Skipped == 2 })
				if st.Sent+st.Failed+st.Dropped != 0 || len(svc.Requests()) != 0 || checks.Load() != 1 {
					t.Fatalf("stats %+v, %d requests, %d checks: want both skipped after one check",
						st, len(svc.Requests()), checks.Load())
				}
				return
			}
			reqs := svc.Wait(t, 2)
			got := map[string]string{}
			for _, r := range reqs {
				if r.PayloadErr != nil {
					t.Fatal(r.PayloadErr)
				}
				got[r.Endpoint] = string(r.Payload)
			}
			if got[phone.Endpoint] != "to the phone" || got[laptop.Endpoint] != "to the laptop" {
				t.Fatalf("received %v", got)
			}
			st := waitStats(t, s, "sent", func(st push.Stats) bool { return st.Sent == 2 })
			if st.Skipped != 0 || checks.Load() != 1 {
				t.Fatalf("stats %+v after %d checks, want two sent after one check", st, checks.Load())
			}
		})
	}
}

func TestDelayedCheckError(t *testing.T) {
	svc := pushtest.NewService(t)
	clock := newClock()
	s := newSender(t, push.Options{Clock: clock})
	failing := func(context.Context) (bool, error) { return true, errors.New("database is down") }
	if err := s.EnqueueAfter(time.Second, failing, push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(clock.NextTimer(t).Sub(clock.Now()))
	st := waitStats(t, s, "skipped", func(st push.Stats) bool { return st.Skipped == 1 })
	if st.Sent != 0 || len(svc.Requests()) != 0 {
		t.Fatalf("stats %+v: a check that fails must not send", st)
	}
}

func TestDelayedBounded(t *testing.T) {
	svc := pushtest.NewService(t)
	clock := newClock()
	s := newSender(t, push.Options{Clock: clock, MaxWaiting: 2})
	msg := push.Message{Subscription: svc.Subscribe(), Payload: []byte("hi")}
	yes := func(context.Context) (bool, error) { return true, nil }
	// Later jobs first: the earliest must still come out first.
	for _, d := range []time.Duration{20 * time.Second, 10 * time.Second} {
		if err := s.EnqueueAfter(d, yes, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnqueueAfter(5*time.Second, yes, msg, msg); !errors.Is(err, push.ErrQueueFull) {
		t.Fatalf("EnqueueAfter past MaxWaiting: %v, want ErrQueueFull", err)
	}
	if st := s.Stats(); st.Dropped != 2 || st.Waiting != 2 {
		t.Fatalf("stats %+v, want the two messages of the third job dropped, two jobs waiting", st)
	}
	start := clock.Now()
	clock.WaitTimer(t, start.Add(10*time.Second))
	clock.Advance(10 * time.Second)
	svc.Wait(t, 1)
	clock.WaitTimer(t, start.Add(20*time.Second))
	clock.Advance(10 * time.Second)
	svc.Wait(t, 2)
	waitStats(t, s, "sent", func(st push.Stats) bool { return st.Sent == 2 && st.Waiting == 0 })
}

func TestBadInputRejected(t *testing.T) {
	svc := pushtest.NewService(t)
	s := newSender(t, push.Options{Clock: newClock()})
	good := svc.Subscribe()
	with := func(f func(*push.Message)) push.Message {
		m := push.Message{Subscription: good, Payload: []byte("hi")}
		f(&m)
		return m
	}
	sub := func(f func(*push.Subscription)) func(*push.Message) {
		return func(m *push.Message) { f(&m.Subscription) }
	}
	for _, c := range []struct {
		name string
		msg  push.Message
		want error
	}{
		{"NoEndpoint", with(sub(func(s *push.Subscription) { s.Endpoint = "" })), push.ErrBadSubscription},
		{"PlainHTTP", with(sub(func(s *push.Subscription) { s.Endpoint = "http://push.example.net/x" })), push.ErrBadSubscription},
		{"PlainHTTPPrivate", with(sub(func(s *push.Subscription) { s.Endpoint = "http://10.0.0.1/x" })), push.ErrBadSubscription},
		{"OtherScheme", with(sub(func(s *push.Subscription) { s.Endpoint = "ftp://push.example.net/x" })), push.ErrBadSubscription},
		{"Relative", with(sub(func(s *push.Subscription) { s.Endpoint = "/push/x" })), push.ErrBadSubscription},
		{"UserInfo", with(sub(func(s *push.Subscription) { s.Endpoint = "https://u:p@push.example.net/x" })), push.ErrBadSubscription},
		{"NotAURL", with(sub(func(s *push.Subscription) { s.Endpoint = "https://%zz" })), push.ErrBadSubscription},
		{"LongEndpoint", with(sub(func(s *push.Subscription) { s.Endpoint = "https://push.example.net/" + strings.Repeat("a", 2100) })), push.ErrBadSubscription},
		{"KeyNotBase64", with(sub(func(s *push.Subscription) { s.P256dh = "not base64!" })), push.ErrBadSubscription},
		{"KeyShort", with(sub(func(s *push.Subscription) { s.P256dh = s.P256dh[:40] })), push.ErrBadSubscription},
		{"KeyOffCurve", with(sub(func(s *push.Subscription) { s.P256dh = "B" + strings.Repeat("A", 86) })), push.ErrBadSubscription},
		{"AuthShort", with(sub(func(s *push.Subscription) { s.Auth = "AAAA" })), push.ErrBadSubscription},
		{"AuthMissing", with(sub(func(s *push.Subscription) { s.Auth = "" })), push.ErrBadSubscription},
		{"PayloadTooLarge", with(func(m *push.Message) { m.Payload = make([]byte, push.MaxPayload+1) }), push.ErrPayloadTooLarge},
		{"Urgency", with(func(m *push.Message) { m.Urgency = "urgent" }), push.ErrBadMessage},
		{"TopicLong", with(func(m *push.Message) { m.Topic = strings.Repeat("a", 33) }), push.ErrBadMessage},
		{"TopicChars", with(func(m *push.Message) { m.Topic = "room lobby" }), push.ErrBadMessage},
		{"NegativeTTL", with(func(m *push.Message) { m.TTL = -time.Second }), push.ErrBadMessage},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Enqueue(c.msg); !errors.Is(err, c.want) {
				t.Fatalf("Enqueue: %v, want %v", err, c.want)
			}
			if err := s.EnqueueAfter(time.Second, nil, push.Message{Subscription: good}, c.msg); !errors.Is(err, c.want) {
				t.Fatalf("EnqueueAfter: %v, want %v", err, c.want)
			}
			if err := s.Send(t.Context(), c.msg); !errors.Is(err, c.want) {
				t.Fatalf("Send: %v, want %v", err, c.want)
			}
			if c.want == push.ErrBadSubscription {
				if err := c.msg.Subscription.Validate(); !errors.Is(err, push.ErrBadSubscription) {
					t.Fatalf("Validate: %v", err)
				}
			}
		})
	}
	if st := s.Stats(); st != (push.Stats{}) || len(svc.Requests()) != 0 {
		t.Fatalf("stats %+v, %d requests: bad input must keep and send nothing", st, len(svc.Requests()))
	}
	if err := s.EnqueueAfter(time.Second, nil); !errors.Is(err, push.ErrBadMessage) {
		t.Fatalf("EnqueueAfter with no message: %v", err)
	}
}

func TestEndpointsAccepted(t *testing.T) {
	good := pushtest.NewService(t).Subscribe()
	for _, e := range []string{
		"https://fcm.googleapis.com/fcm/send/abc",
		"https://updates.push.services.mozilla.com/wpush/v2/abc",
		"https://web.push.apple.com/QGuQ",
		"https://push.example.net:8443/x",
		"http://127.0.0.1:9/x",
		"http://127.8.9.10/x",
		"http://[::1]:9/x",
		"http://localhost:9/x",
	} {
		sub := good
		sub.Endpoint = e
		if err := sub.Validate(); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
	// Keys in the padded or standard base64 some clients send.
	sub := good
	sub.P256dh = strings.NewReplacer("-", "+", "_", "/").Replace(sub.P256dh) + "="
	sub.Auth += "=="
	if err := sub.Validate(); err != nil {
		t.Errorf("padded standard base64: %v", err)
	}
}

func TestNewRejects(t *testing.T) {
	keys, err := push.GenerateKeys()
	if err != nil {
		t.Fatal(err)
	}
	for _, opt := range []push.Options{
		{Contact: contact},
		{Keys: keys},
		{Keys: keys, Contact: "ops@parley.example"},
		{Keys: keys, Contact: "mailto:"},
		{Keys: keys, Contact: "http://parley.example"},
		{Keys: keys, Contact: "mailto:root@localhost"},
		{Keys: keys, Contact: "mailto:@parley.example"},
		{Keys: keys, Contact: "https://localhost/contact"},
	} {
		if s, err := push.New(opt); err == nil {
			s.Close(t.Context())
			t.Errorf("New(Keys %v, Contact %q) accepted", opt.Keys != nil, opt.Contact)
		}
	}
	s, err := push.New(push.Options{Keys: keys, Contact: "https://parley.example/contact"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close(t.Context())
}

func TestSendNow(t *testing.T) {
	svc := pushtest.NewService(t)
	svc.Respond(script(status(http.StatusCreated), status(http.StatusGone), status(http.StatusBadRequest), status(http.StatusServiceUnavailable)))
	gone := make(chan push.Subscription, 1)
	s := newSender(t, push.Options{
		Clock: newClock(),
		Gone:  func(_ context.Context, sub push.Subscription) { gone <- sub },
	})
	sub := svc.Subscribe()
	msg := push.Message{Subscription: sub, Payload: []byte("a test notification")}
	if err := s.Send(t.Context(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if r := svc.Requests()[0]; string(r.Payload) != "a test notification" {
		t.Fatalf("payload %q, %v", r.Payload, r.PayloadErr)
	}
	err := s.Send(t.Context(), msg)
	var se *push.StatusError
	if !errors.Is(err, push.ErrGone) || !errors.As(err, &se) || se.Code != http.StatusGone {
		t.Fatalf("Send to a gone subscription: %v", err)
	}
	if got := <-gone; got != sub {
		t.Fatalf("Gone(%+v)", got)
	}
	for _, code := range []int{http.StatusBadRequest, http.StatusServiceUnavailable} {
		err = s.Send(t.Context(), msg)
		if !errors.As(err, &se) || se.Code != code || errors.Is(err, push.ErrGone) {
			t.Fatalf("Send answered %d: %v", code, err)
		}
	}
	if st := s.Stats(); st.Sent != 1 || st.Gone != 1 || st.Failed != 2 || st.Retried != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNetworkErrorFromSend(t *testing.T) {
	// A port nothing listens on: reserve one, then free it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	sub := pushtest.NewService(t).Subscribe()
	sub.Endpoint = "http://" + addr + "/push/x"
	s := newSender(t, push.Options{Clock: newClock()})
	err = s.Send(t.Context(), push.Message{Subscription: sub, Payload: []byte("hi")})
	var se *push.StatusError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("Send to a closed port: %v, want a network error", err)
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseDrains(t *testing.T) {
	svc := pushtest.NewService(t)
	release := make(chan struct{})
	var once sync.Once
	let := func() { once.Do(func() { close(release) }) }
	t.Cleanup(let)
	svc.Respond(func(pushtest.Request) (int, http.Header) {
		<-release
		return http.StatusCreated, nil
	})
	clock := newClock()
	s := newSender(t, push.Options{Clock: clock, Workers: 1})
	sub := svc.Subscribe()
	for range 3 {
		if err := s.Enqueue(push.Message{Subscription: sub, Payload: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EnqueueAfter(time.Minute, nil, push.Message{Subscription: sub, Payload: []byte("later")}); err != nil {
		t.Fatal(err)
	}
	svc.Wait(t, 1)
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), pushtest.Wait)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	// Close takes no more while it drains. Until Close has begun, a late
	// message may still be taken, and is then sent.
	var taken, refused uint64
	waitStats(t, s, "closing", func(push.Stats) bool {
		err := s.Enqueue(push.Message{Subscription: sub, Payload: []byte("late")})
		switch {
		case err == nil:
			taken++
		case errors.Is(err, push.ErrClosed):
			refused++
		default:
			t.Fatalf("Enqueue while closing: %v", err)
		}
		return refused > 0
	})
	let()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	st := s.Stats()
	// The queued were sent; the delayed one and the refused one dropped.
	if st.Sent != 3+taken || st.Dropped != 1+refused || st.Queued != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v (%d late taken), want %d sent and 2 dropped", st, taken, 3+taken)
	}
	if err := s.Close(t.Context()); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	if err := s.EnqueueAfter(time.Second, nil, push.Message{Subscription: sub}); !errors.Is(err, push.ErrClosed) {
		t.Fatalf("EnqueueAfter after Close: %v", err)
	}
	if err := s.Send(t.Context(), push.Message{Subscription: sub}); !errors.Is(err, push.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
}

func TestCloseGivesUpAtDeadline(t *testing.T) {
	svc := pushtest.NewService(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	svc.Respond(func(pushtest.Request) (int, http.Header) {
		<-release
		return http.StatusCreated, nil
	})
	s := newSender(t, push.Options{Clock: newClock(), Workers: 1})
	sub := svc.Subscribe()
	for range 3 {
		if err := s.Enqueue(push.Message{Subscription: sub, Payload: []byte("hi")}); err != nil {
			t.Fatal(err)
		}
	}
	svc.Wait(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline is already over: nothing more may be sent
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want context.Canceled", err)
	}
	if st := s.Stats(); st.Dropped != 3 || st.Sent != 0 || len(svc.Requests()) != 1 {
		t.Fatalf("stats %+v after %d requests: want the one in flight cancelled and all three dropped", st, len(svc.Requests()))
	}
}

// Options.Sent hears of each message a push service took, from the queue
// and from Send, and not of one it refused.
func TestSentReported(t *testing.T) {
	svc := pushtest.NewService(t)
	sent := make(chan push.Subscription, 4)
	s := newSender(t, push.Options{Clock: newClock(),
		Sent: func(_ context.Context, sub push.Subscription) { sent <- sub }})
	queued, direct, refused := svc.Subscribe(), svc.Subscribe(), svc.Subscribe()
	svc.Respond(func(r pushtest.Request) (int, http.Header) {
		if r.Endpoint == refused.Endpoint {
			return http.StatusBadRequest, nil
		}
		return http.StatusCreated, nil
	})
	if err := s.Enqueue(push.Message{Subscription: queued, Payload: []byte("q")}); err != nil {
		t.Fatal(err)
	}
	if got := <-sent; got.Endpoint != queued.Endpoint {
		t.Fatalf("Sent reported %s, want the queued one's", got.Endpoint)
	}
	if err := s.Send(t.Context(), push.Message{Subscription: direct, Payload: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if got := <-sent; got.Endpoint != direct.Endpoint {
		t.Fatalf("Sent reported %s, want Send's", got.Endpoint)
	}
	if err := s.Send(t.Context(), push.Message{Subscription: refused, Payload: []byte("r")}); err == nil {
		t.Fatal("a 400 was not an error")
	}
	select {
	case got := <-sent:
		t.Fatalf("Sent reported a refused message to %s", got.Endpoint)
	default:
	}
}
