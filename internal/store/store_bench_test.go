package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"parley/internal/chat"
	"parley/internal/store"
	"parley/internal/store/storetest"
)

// benchEngines runs f on a fresh SQLite store and, where
// PARLEY_TEST_POSTGRES is set, on a fresh PostgreSQL one.
func benchEngines(b *testing.B, f func(b *testing.B, s *store.Store)) {
	b.Run("sqlite", func(b *testing.B) { f(b, storetest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { f(b, storetest.Postgres(b)) })
}

const benchContent = "Hello everyone, this is a chat message of a typical length."

func reportRate(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkInsertMessage: one sender, so every message is a transaction
// (and, on SQLite, a batch) of its own.
func BenchmarkInsertMessage(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *store.Store) {
		ctx := context.Background()
		n := 0
		for b.Loop() {
			n++
			if _, _, err := s.InsertMessage(ctx, chat.NewMessage{Room: "lobby", Author: "alice",
				Content: benchContent, ClientID: fmt.Sprint("c", n)}); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, n)
	})
}

// BenchmarkInsertMessageParallel: many concurrent senders (64 per CPU),
// spread over many rooms or all in one.
func BenchmarkInsertMessageParallel(b *testing.B) {
	for _, rooms := range []int{64, 1} {
		b.Run(fmt.Sprintf("rooms=%d", rooms), func(b *testing.B) {
			benchEngines(b, func(b *testing.B, s *store.Store) {
				var senders, sent atomic.Int64
				b.SetParallelism(64)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					id := senders.Add(1)
					m := chat.NewMessage{Room: fmt.Sprint("room-", id%int64(rooms)), Author: fmt.Sprint("user-", id),
						Content: benchContent}
					for i := 0; pb.Next(); i++ {
						m.ClientID = fmt.Sprint("c", i)
						if _, _, err := s.InsertMessage(context.Background(), m); err != nil {
							b.Error(err)
							return
						}
						sent.Add(1)
					}
				})
				reportRate(b, int(sent.Load()))
			})
		})
	}
}

// BenchmarkMessagesLatest fetches the latest 20 messages of a room that has
// 100,000.
func BenchmarkMessagesLatest(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *store.Store) {
		ctx := context.Background()
		if err := s.BulkInsert(ctx, "big", "alice", 100_000); err != nil {
			b.Fatal(err)
		}
		for _, room := range []string{"a", "b", "c"} { // some other rooms' rows around it
			if err := s.BulkInsert(ctx, room, "bob", 20_000); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			msgs, more, err := s.Messages(ctx, "big", store.Page{})
			if err != nil || len(msgs) != 20 || !more || msgs[19].Seq != 100_000 {
				b.Fatalf("Messages = %d messages, more %v, %v", len(msgs), more, err)
			}
		}
	})
}

// BenchmarkMessagesLatestFull is BenchmarkMessagesLatest in the view of
// parley.v1 sockets and the API: every field, replies and reactions read
// in the same statement.
func BenchmarkMessagesLatestFull(b *testing.B) {
	benchEngines(b, func(b *testing.B, s *store.Store) {
		ctx := context.Background()
		if err := s.BulkInsert(ctx, "big", "alice", 100_000); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			msgs, more, err := s.Messages(ctx, "big", store.Page{Full: true})
			if err != nil || len(msgs) != 20 || !more || msgs[19].Seq != 100_000 {
				b.Fatalf("Messages = %d messages, more %v, %v", len(msgs), more, err)
			}
		}
	})
}
