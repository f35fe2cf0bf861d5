package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is one run's outcome: the JSON line.
type Result struct {
	Scenario string    `json:"scenario"`
	Label    string    `json:"label,omitempty"`
	Proto    string    `json:"proto"`
	URL      string    `json:"url"`
	RecvURL  string    `json:"recv_url,omitempty"`
	Run      string    `json:"run"`
	Started  time.Time `json:"started"`

	Sockets    int     `json:"sockets"`
	Rooms      int     `json:"rooms,omitempty"`
	Publishers int     `json:"publishers,omitempty"`
	Send       string  `json:"send,omitempty"` // fan-out: messages or reactions
	Rate       float64 `json:"rate_per_publisher,omitempty"`
	DurationS  float64 `json:"duration_s,omitempty"`

	Connect *connectStats `json:"connect,omitempty"`

	// Fan-out: messages and deliveries.
	Scheduled   int64   `json:"scheduled,omitempty"` // messages due by the schedule
	Sent        int64   `json:"sent,omitempty"`      // of them, written to a socket
	Unsent      int64   `json:"unsent,omitempty"`    // due, but not written before the hard stop
	Expected    int64   `json:"expected,omitempty"`  // deliveries of the sent messages
	Delivered   int64   `json:"delivered"`           // unique deliveries received
	Lost        int64   `json:"lost"`                // expected − delivered
	Duplicates  int64   `json:"duplicates"`          // deliveries received again
	Errors      int64   `json:"errors"`              // error frames received
	Disconnects int64   `json:"disconnects"`         // sockets closed before the end
	OfferedPerS float64 `json:"offered_deliveries_per_s,omitempty"`
	DelivPerS   float64 `json:"deliveries_per_s,omitempty"`
	MsgsPerS    float64 `json:"messages_per_s,omitempty"` // persistence: stored a second
	Stored      int64   `json:"stored,omitempty"`         // persistence: counted through the API
	Fetches     int64   `json:"fetches,omitempty"`        // history
	FetchesPerS float64 `json:"fetches_per_s,omitempty"`

	Latency *latencyStats `json:"latency_us,omitempty"`

	Server     *procStats `json:"server,omitempty"`
	RecvServer *procStats `json:"recv_server,omitempty"`
	Load       *procStats `json:"load_tool,omitempty"`

	Machine *machineStats `json:"machine,omitempty"`

	Idle *idleStats `json:"idle,omitempty"`

	Streams *streamStats `json:"user_streams,omitempty"`

	Note string `json:"note,omitempty"`
}

type connectStats struct {
	Sockets  int     `json:"sockets"`
	Failed   int     `json:"failed"`
	Seconds  float64 `json:"seconds"`
	PerS     float64 `json:"per_s"`
	Refusals string  `json:"refusals,omitempty"` // status: count
}

type idleStats struct {
	Held             int     `json:"held"`
	ServerRSSBase    int64   `json:"server_rss_base_kib"`
	ServerRSSHeld    int64   `json:"server_rss_held_kib"`
	ServerKiBPerSock float64 `json:"server_kib_per_socket"`
	// The server's whole RSS over the sockets held: an upper bound that
	// memory freed before the run (and reused by the sockets) cannot
	// make look smaller.
	ServerKiBPerSockWhole float64 `json:"server_kib_per_socket_whole"`
	LoadKiBPerSock        float64 `json:"load_kib_per_socket"`
}

type latencyStats struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// latencies is an HDR histogram of microseconds that many goroutines
// record into: shards, each with its lock, merged at the end.
type latencies struct {
	shards []latencyShard
}

type latencyShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [40]byte // keep shards' locks on separate cache lines
}

const maxLatencyUS = 5 * 60 * 1_000_000 // five minutes

func newLatencies(shards int) *latencies {
	l := &latencies{shards: make([]latencyShard, shards)}
	for i := range l.shards {
		l.shards[i].h = hdrhistogram.New(1, maxLatencyUS, 3)
	}
	return l
}

// record adds d, into the shard of goroutine key.
func (l *latencies) record(key int, d time.Duration) {
	us := max(d.Microseconds(), 1)
	s := &l.shards[key%len(l.shards)]
	s.mu.Lock()
	_ = s.h.RecordValue(min(us, maxLatencyUS))
	s.mu.Unlock()
}

func (l *latencies) merged() *hdrhistogram.Histogram {
	all := hdrhistogram.New(1, maxLatencyUS, 3)
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return all
}

func (l *latencies) stats() *latencyStats {
	h := l.merged()
	if h.TotalCount() == 0 {
		return nil
	}
	return &latencyStats{
		Count: h.TotalCount(), Min: h.Min(), Mean: h.Mean(),
		P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
		P999: h.ValueAtQuantile(99.9), Max: h.Max(),
	}
}

// check reports what went wrong in a run that should be clean: anything
// lost, duplicated, unsent, refused or disconnected.
func (r *Result) check() error {
	var problems []string
	if r.Lost != 0 {
		problems = append(problems, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.Duplicates != 0 {
		problems = append(problems, fmt.Sprintf("%d duplicates", r.Duplicates))
	}
	if r.Unsent != 0 {
		problems = append(problems, fmt.Sprintf("%d unsent", r.Unsent))
	}
	if r.Errors != 0 {
		problems = append(problems, fmt.Sprintf("%d error frames", r.Errors))
	}
	if r.Disconnects != 0 {
		problems = append(problems, fmt.Sprintf("%d disconnects", r.Disconnects))
	}
	if st := r.Streams; st != nil && (st.Wrong != 0 || st.Closed != 0) {
		problems = append(problems, fmt.Sprintf("%d user streams with a wrong count, %d closed", st.Wrong, st.Closed))
	}
	if r.Delivered == 0 && r.Fetches == 0 && r.Idle == nil {
		problems = append(problems, "nothing delivered")
	}
	if len(problems) > 0 {
		return fmt.Errorf("check failed: %s", strings.Join(problems, ", "))
	}
	return nil
}

func writeJSON(w io.Writer, r *Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// writeSummary writes the result for people.
func writeSummary(w io.Writer, r *Result) {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s (%s protocol) against %s", r.Scenario, r.Proto, r.URL)
	if r.RecvURL != "" {
		fmt.Fprintf(&b, ", receivers on %s", r.RecvURL)
	}
	fmt.Fprintf(&b, ", run %s\n", r.Run)
	if c := r.Connect; c != nil {
		fmt.Fprintf(&b, "   connect    %d sockets in %.2fs (%.0f/s), %d failed %s\n", c.Sockets, c.Seconds, c.PerS, c.Failed, c.Refusals)
	}
	if r.Scheduled > 0 {
		fmt.Fprintf(&b, "   schedule   %d publishers × %g msg/s over %d rooms of %d sockets: %d messages due, %d sent, %d unsent\n",
			r.Publishers, r.Rate, r.Rooms, r.Sockets, r.Scheduled, r.Sent, r.Unsent)
		fmt.Fprintf(&b, "   deliveries %d of %d (lost %d, duplicates %d, errors %d, disconnects %d)\n",
			r.Delivered, r.Expected, r.Lost, r.Duplicates, r.Errors, r.Disconnects)
		fmt.Fprintf(&b, "   throughput %.0f deliveries/s delivered, %.0f offered\n", r.DelivPerS, r.OfferedPerS)
	}
	if r.MsgsPerS > 0 || r.Stored > 0 {
		fmt.Fprintf(&b, "   stored     %d messages acknowledged, %d counted through the API; %.0f msgs/s (errors %d, disconnects %d)\n",
			r.Delivered, r.Stored, r.MsgsPerS, r.Errors, r.Disconnects)
	}
	if r.Fetches > 0 {
		fmt.Fprintf(&b, "   fetches    %d (%.0f/s), errors %d\n", r.Fetches, r.FetchesPerS, r.Errors)
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "   latency    p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)\n",
			us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), l.Count)
	}
	if st := r.Streams; st != nil {
		fmt.Fprintf(&b, "   streams    %d user streams: %d frames (%.1f a message, %d bytes), %d with a wrong count, %d closed\n",
			st.Streams, st.Frames, st.FramesPerMsg, st.Bytes, st.Wrong, st.Closed)
	}
	if i := r.Idle; i != nil {
		fmt.Fprintf(&b, "   idle       %d held; server RSS %d → %d KiB: %.1f KiB/socket (whole RSS: %.1f); load tool %.1f KiB/socket\n",
			i.Held, i.ServerRSSBase, i.ServerRSSHeld, i.ServerKiBPerSock, i.ServerKiBPerSockWhole, i.LoadKiBPerSock)
	}
	for _, p := range []struct {
		name string
		s    *procStats
	}{{"server", r.Server}, {"recv server", r.RecvServer}, {"load tool", r.Load}} {
		if p.s == nil {
			continue
		}
		fmt.Fprintf(&b, "   %-10s cpu %.2fs (%.0f%% of a core)", p.name, p.s.CPUSeconds, p.s.CPUPercent)
		if p.s.CPUusPerDeliv > 0 {
			fmt.Fprintf(&b, ", %.2f µs/delivery", p.s.CPUusPerDeliv)
		}
		fmt.Fprintf(&b, "; RSS %d → %d KiB (peak %d)\n", p.s.RSSStartKiB, p.s.RSSEndKiB, p.s.RSSPeakKiB)
	}
	if m := r.Machine; m != nil {
		fmt.Fprintf(&b, "   machine    %d cores %.0f%% busy; other processes used %.2f cores; load average %s\n",
			m.Cores, m.BusyPct, m.OtherCores, m.LoadAvg)
	}
	if r.Note != "" {
		fmt.Fprintf(&b, "   note       %s\n", r.Note)
	}
	_, _ = io.WriteString(w, b.String())
}

func us(v int64) string {
	switch {
	case v >= 10_000_000:
		return fmt.Sprintf("%.1fs", float64(v)/1e6)
	case v >= 10_000:
		return fmt.Sprintf("%.1fms", float64(v)/1e3)
	case v >= 1000:
		return fmt.Sprintf("%.2fms", float64(v)/1e3)
	}
	return fmt.Sprintf("%dµs", v)
}
