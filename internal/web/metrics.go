package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"parley/internal/push"
	"parley/internal/wsock"
)

// Metrics are the server's Prometheus metrics, in a registry of its own.
// The program makes them first (NewMetrics) so that the hub and the
// transport, made before the server, report to them.
type Metrics struct {
	reg *prometheus.Registry

	messagesIn       prometheus.Counter
	broadcastLatency prometheus.Histogram
	storeLatency     prometheus.Histogram
	wsErrors         *prometheus.CounterVec
	httpErrors       *prometheus.CounterVec
	upgradesRefused  *prometheus.CounterVec
	limitFallbacks   *prometheus.CounterVec
	slowClosed       prometheus.Counter
	pushDropped      prometheus.Counter
}

// NewMetrics makes the metrics a server reports.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.messagesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_messages_in_total",
		Help: "Messages stored from this process's clients."})
	m.broadcastLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_broadcast_latency_seconds",
		Help:    "From a message's commit timestamp to its fan-out to this process's sockets.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	m.storeLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "parley_store_latency_seconds",
		Help:    "Time to store a message, commit included.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}})
	m.wsErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_ws_errors_total",
		Help: "Error frames sent and sockets closed, by code."}, []string{"code"})
	m.httpErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_http_errors_total",
		Help: "HTTP requests answered with an error, by code."}, []string{"code"})
	m.upgradesRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_ws_upgrades_refused_total",
		Help: "WebSocket upgrades refused, by reason."}, []string{"reason"})
	m.limitFallbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parley_limit_fallbacks_total",
		Help: "Rate limit checks answered by this process alone because the shared (Redis) limiter failed, by limit."}, []string{"limit"})
	m.slowClosed = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_slow_sockets_closed_total",
		Help: "Sockets closed because their queue overflowed."})
	m.pushDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "parley_push_offers_dropped_total",
		Help: "Messages that notified nobody because the queue of messages to push was full."})
	m.reg.MustRegister(m.messagesIn, m.broadcastLatency, m.storeLatency, m.wsErrors, m.httpErrors,
		m.upgradesRefused, m.limitFallbacks, m.slowClosed, m.pushDropped)
	return m
}

// Delivered records a message's fan-out, d after its timestamp (the hub's
// OnDeliver).
func (m *Metrics) Delivered(d time.Duration) { m.broadcastLatency.Observe(d.Seconds()) }

// Cut records a socket the transport ended or closed on its own (the
// transport's OnCut).
func (m *Metrics) Cut(why wsock.Cause) {
	m.wsErrors.WithLabelValues(why.String()).Inc()
	if why == wsock.CauseSlow {
		m.slowClosed.Inc()
	}
}

// register adds the metrics read from the server and its parts.
func (m *Metrics) register(s *Server) {
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_sockets",
		Help: "WebSockets open or being opened (what --max-sockets counts)."},
		func() float64 { return float64(s.sockets.count()) }))
	if t := s.opt.Transport; t != nil {
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_frames_in_total",
			Help: "WebSocket frames received."}, func() float64 { return float64(t.Stats().FramesIn) }))
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_frames_out_total",
			Help: "WebSocket frames written."}, func() float64 { return float64(t.Stats().FramesOut) }))
	}
	if b := s.opt.Broker; b != nil {
		f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_publish_errors_total",
			Help: "Events the broker did not get to the other processes (this process's sockets had them; messages are recovered from the store)."},
			func() float64 { return float64(b.Failed()) }))
	}
	if p := s.opt.Push; p != nil {
		for _, r := range []struct {
			result string
			n      func(push.Stats) uint64
		}{
			{"sent", func(st push.Stats) uint64 { return st.Sent }},
			{"failed", func(st push.Stats) uint64 { return st.Failed }},
			{"gone", func(st push.Stats) uint64 { return st.Gone }},
			{"dropped", func(st push.Stats) uint64 { return st.Dropped }},
			{"skipped", func(st push.Stats) uint64 { return st.Skipped }},
		} {
			f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_push_messages_total",
				Help:        "Web Push messages by how they ended: sent, failed, gone (the subscription expired), dropped (queue full), skipped (read before they were due).",
				ConstLabels: prometheus.Labels{"result": r.result}}, func() float64 { return float64(r.n(p.Stats())) }))
		}
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_push_waiting",
			Help: "Web Push messages waiting for their delay (a mention not yet read) or a retry."}, func() float64 { return float64(p.Stats().Waiting) }))
	}
	h := s.opt.Hub
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_rooms",
		Help: "Rooms with a socket in this process."}, func() float64 { return float64(h.Stats().Rooms) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_messages_out_total",
		Help: "Messages fanned out to sockets (one per socket)."}, func() float64 { return float64(h.Stats().Delivered) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_messages_recovered_total",
		Help: "Messages the broker did not bring, read from the store instead."}, func() float64 { return float64(h.Stats().Recovered) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_messages_duplicate_total",
		Help: "Messages that arrived again and were not sent twice."}, func() float64 { return float64(h.Stats().Duplicates) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_sockets_stale_total",
		Help: "Sockets an entry of their room reached before they were checked against a change of who may read it: sent nothing, closed with 1012."}, func() float64 { return float64(h.Stats().Stale) }))
	f(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "parley_recovery_errors_total",
		Help: "Failed reads of missed messages from the store."}, func() float64 { return float64(h.Stats().RecoveryErrors) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_ready",
		Help: "1 when the database (and Redis, if set) answer."}, func() float64 {
		if s.readiness(context.Background()) != nil {
			return 0
		}
		return 1
	}))
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_build_info", Help: "The running version.",
		ConstLabels: prometheus.Labels{"version": s.opt.Version}}, func() float64 { return 1 }))
}

// handleMetrics serves the metrics: to anyone, or, with a metrics token
// (--metrics-token), to requests that carry it as a bearer token.
func (s *Server) handleMetrics() http.Handler {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
	token := s.opt.MetricsToken
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="parley-metrics"`)
			http.Error(w, "The metrics need Authorization: Bearer followed by the metrics token.", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// readiness returns why the process cannot serve, or nil.
func (s *Server) readiness(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.opt.Store.Ping(ctx); err != nil {
		return &notReady{"database", err}
	}
	if s.opt.Broker != nil {
		if err := s.opt.Broker.Ping(ctx); err != nil {
			return &notReady{"redis", err}
		}
	}
	return nil
}

type notReady struct {
	part string
	err  error
}

func (e *notReady) Error() string { return e.part + " not answering: " + e.err.Error() }

// Unwrap is the part's error.
func (e *notReady) Unwrap() error { return e.err }

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	select {
	case <-s.shutdown:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("shutting down\n"))
		return
	default:
	}
	if err := s.readiness(r.Context()); err != nil {
		// Which part is down, not why: the why (addresses, errors from
		// the driver) is for the log.
		s.log.Warn("not ready", "err", err)
		part := "the server"
		var nr *notReady
		if errors.As(err, &nr) {
			part = nr.part
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(part + " not answering\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}
