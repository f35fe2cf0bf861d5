package store_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"parley/internal/chat"
	"parley/internal/store"
)

// BenchmarkHistoryPages reads pages of history from a room filled by
// scripts/history-data.sh (changes mixed in or not): the database named by
// PARLEY_BENCH_HISTORY, room "history". Each sub-benchmark reports its
// median and 99th percentile latency. Without the variable it is skipped:
// the data takes minutes to make (docs/BENCHMARKS.md, History).
func BenchmarkHistoryPages(b *testing.B) {
	dsn := os.Getenv("PARLEY_BENCH_HISTORY")
	if dsn == "" {
		b.Skip("PARLEY_BENCH_HISTORY names no database filled by scripts/history-data.sh")
	}
	ctx := context.Background()
	s, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	last, err := s.LastSeq(ctx, "history")
	if err != nil || last < 1000 {
		b.Fatalf("room history: latest seq %d, %v", last, err)
	}
	for _, tc := range []struct {
		name string
		read func(seq int64) error
	}{
		{"latest/original", func(int64) error { _, _, err := s.Messages(ctx, "history", store.Page{Limit: 20}); return err }},
		{"latest/full", func(int64) error {
			_, _, err := s.Messages(ctx, "history", store.Page{Limit: 20, Full: true})
			return err
		}},
		{"before/original", func(seq int64) error {
			_, _, err := s.Messages(ctx, "history", store.Page{Before: seq, Limit: 20})
			return err
		}},
		{"before/full", func(seq int64) error {
			_, _, err := s.Messages(ctx, "history", store.Page{Before: seq, Limit: 20, Full: true})
			return err
		}},
		{"after/original", func(seq int64) error {
			_, _, err := s.Messages(ctx, "history", store.Page{After: seq, Limit: 20})
			return err
		}},
		{"after/log", func(seq int64) error { _, _, err := s.Log(ctx, "history", seq, 20); return err }},
		{"around/full", func(seq int64) error {
			_, _, _, err := s.Around(ctx, "history", seq, 20, true)
			if chat.ErrorCode(err) == chat.ENotFound {
				return nil // the seq of a change: no message, and read as fast
			}
			return err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				seq := 1 + rand.Int64N(last)
				start := time.Now()
				if err := tc.read(seq); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds()), "p99-µs")
		})
	}
}
