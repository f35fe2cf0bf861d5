package redisbroker_test

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"parley/internal/broker"
	"parley/internal/broker/brokertest"
	"parley/internal/broker/redisbroker"
	"parley/internal/chat"
)

// countTo is a Handler that closes done when it has seen n events.
type countTo struct {
	n    int64
	seen atomic.Int64
	done chan struct{}
}

func (c *countTo) Event(broker.Event) {
	if c.seen.Add(1) == c.n {
		close(c.done)
	}
}
func (c *countTo) Missed(string) {}

// signal is a Handler that says each event on a channel.
type signal chan struct{}

func (s signal) Event(broker.Event) { s <- struct{}{} }
func (s signal) Missed(string)      {}

func benchEvent(room string) broker.Event {
	return broker.Event{Room: room, Kind: broker.KindMessage, Message: &chat.Message{
		ID: 123456, Room: room, Seq: 4242, Author: "someone", ClientID: "c-0123456789",
		Content:   "A message of ordinary length, the kind people send in a chat room all day.",
		Timestamp: time.Now().UTC().Truncate(time.Microsecond),
	}}
}

// BenchmarkRedisPublishDeliver publishes on one broker and waits for the
// events on another, as between two processes. "throughput" publishes from
// many goroutines at once: ns/op is the cost of one message at full load.
// "sequential" publishes one message and waits for it before the next:
// ns/op is the latency of one hop, and p50/p99 are measured per message.
func BenchmarkRedisPublishDeliver(b *testing.B) {
	a, s := openPair(b, redisURL(b), redisbroker.Options{})
	ctx := context.Background()
	var rooms atomic.Int64
	subscribe := func(b *testing.B, h broker.Handler) string {
		room := "bench-" + strconv.FormatInt(rooms.Add(1), 10)
		if err := s.Subscribe(ctx, room, h); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Unsubscribe(ctx, room) })
		return room
	}

	b.Run("throughput", func(b *testing.B) {
		h := &countTo{n: int64(b.N), done: make(chan struct{})}
		ev := benchEvent(subscribe(b, h))
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := a.Publish(ctx, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
		select {
		case <-h.done:
		case <-time.After(brokertest.Wait):
			b.Fatalf("%d of %d events delivered within %v", h.seen.Load(), b.N, brokertest.Wait)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})

	b.Run("sequential", func(b *testing.B) {
		got := make(signal, 1)
		ev := benchEvent(subscribe(b, got))
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			start := time.Now()
			if err := a.Publish(ctx, ev); err != nil {
				b.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(brokertest.Wait):
				b.Fatalf("event not delivered within %v", brokertest.Wait)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	})
}
