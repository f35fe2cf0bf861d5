package hub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/chat"
	"parley/internal/hub"
)

// BenchmarkFanout measures one message's fan-out to a room's clients:
// sequencing, encoding once, and queueing on every client. Writers drain
// the queues as sockets would.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) {
			h := hub.New(hub.Options{Broker: broker.NewInProcess(), History: emptyHistory{}})
			defer h.Close()
			clients := make([]*hub.Member, n)
			sinks := make([]*benchSink, n)
			for i := range clients {
				sinks[i] = &benchSink{}
				c, err := h.Join(context.Background(), hub.Joining{Room: "bench", User: fmt.Sprint("u", i), Sink: sinks[i]})
				if err != nil {
					b.Fatal(err)
				}
				clients[i] = c
			}
			m := chat.Message{ID: 1, Room: "bench", Author: "alice", Content: "a message of ordinary length, say forty-odd bytes",
				Timestamp: time.Now()}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m.Seq = int64(i + 1)
				h.Event(broker.Event{Room: "bench", Kind: broker.KindMessage, Message: &m})
				if i%64 == 63 {
					for _, s := range sinks {
						s.take()
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
			for _, c := range clients {
				c.Leave()
			}
		})
	}
}

// BenchmarkFanoutV1 is BenchmarkFanout for parley.v1 members (Parley's
// own page): new messages with every field, and changes, as a reaction
// storm sends them.
func BenchmarkFanoutV1(b *testing.B) {
	for _, kind := range []string{"message", "change"} {
		for _, n := range []int{100, 1000} {
			b.Run(fmt.Sprintf("%s/clients=%d", kind, n), func(b *testing.B) {
				h := hub.New(hub.Options{Broker: broker.NewInProcess(), History: emptyHistory{}})
				defer h.Close()
				sinks := make([]*benchSink, n)
				for i := range sinks {
					sinks[i] = &benchSink{}
					c, err := h.Join(context.Background(), hub.Joining{Room: "bench", User: fmt.Sprint("u", i), Extensions: true, Sink: sinks[i]})
					if err != nil {
						b.Fatal(err)
					}
					defer c.Leave()
				}
				m := chat.Message{ID: 1, Room: "bench", Author: "alice", Content: "a message of ordinary length, say forty-odd bytes",
					Timestamp: time.Now()}
				c := chat.Change{Room: "bench", Kind: chat.ChangeReact, Target: 1, Author: "alice", Emoji: "👍", Timestamp: time.Now(),
					ClientID: "c-1"}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if kind == "message" {
						m.Seq, m.Rev = int64(i+1), int64(i+1)
						h.Event(broker.Event{Room: "bench", Kind: broker.KindMessage, Message: &m})
					} else {
						c.Seq = int64(i + 1)
						h.Event(broker.Event{Room: "bench", Kind: broker.KindChange, Change: &c})
					}
					if i%64 == 63 {
						for _, s := range sinks {
							s.take()
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
			})
		}
	}
}

// benchSink is a socket's queue as the transport keeps it (a mutex, a
// slice, a writer flag), drained by the benchmark instead of a writer.
type benchSink struct {
	mu      sync.Mutex
	queue   [][]byte
	writing bool
}

func (s *benchSink) Queue(frame []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, frame)
	if !s.writing {
		s.writing = true
		return true
	}
	return false
}

func (s *benchSink) Wake() {}

func (s *benchSink) take() {
	s.mu.Lock()
	clear(s.queue)
	s.queue, s.writing = s.queue[:0], false
	s.mu.Unlock()
}

type emptyHistory struct{}

func (emptyHistory) LastSeq(context.Context, string) (int64, error) { return 0, nil }
func (emptyHistory) LastSeqs(context.Context, []string) (map[string]int64, error) {
	return nil, nil
}
func (emptyHistory) Log(context.Context, string, int64, int) ([]chat.Entry, bool, error) {
	return nil, false, nil
}
func (emptyHistory) AccessEpoch(context.Context, string) (int64, error) { return 0, nil }

// BenchmarkMessageFrame measures encoding a new_message frame.
func BenchmarkMessageFrame(b *testing.B) {
	m := chat.Message{ID: 1042, Room: "lobby", Seq: 17, Author: "alice", Content: "hi there, how are you?",
		Timestamp: time.Now(), ClientID: "c-7f3a"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = hub.MessageFrame(m, false)
	}
}
