package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/apptest"
	"parley/internal/store/storetest"
)

// BenchmarkCrossProcess measures a message's way from a socket of process
// A, through A's commit to PostgreSQL and its publish to Redis, to a socket
// of process B, as a client sees it.
//
//   - latency: one message at a time; ns/op is one message's way, and
//     p50/p99 are measured per message. store-µs is the mean time A took
//     to store a message (parley_store_latency_seconds), and hop-µs the
//     mean of the rest of the way: publish, Redis, B's fan-out and
//     socket, the client.
//   - throughput: 8 sockets of A send at once, as fast as answers come;
//     msg/s is what B's socket receives.
//
// BenchmarkOneProcess is the same way within one process on the
// in-process broker: the difference is the cost of Redis and the second
// process.
func BenchmarkCrossProcess(b *testing.B) {
	redisURL := sharedRedis(b)
	db := storetest.PostgresDSN(b)
	args := serverArgs(redisURL)
	a := apptest.Start(b, apptest.Options{DB: db, Args: args})
	bs := apptest.Start(b, apptest.Options{DB: db, Args: args})
	benchWay(b, a, bs)
}

func BenchmarkOneProcess(b *testing.B) {
	sharedRedis(b) // the same conditions as BenchmarkCrossProcess
	db := storetest.PostgresDSN(b)
	a := apptest.Start(b, apptest.Options{DB: db, Args: []string{"--send-limit=off", "--user-sockets=0"}})
	benchWay(b, a, a)
}

func benchWay(b *testing.B, from, to *apptest.Server) {
	sender := from.User(b, "sender")
	receiver := to.User(b, "receiver")
	var rooms int
	room := func() string {
		rooms++
		return roomName() + strconv.Itoa(rooms)
	}

	b.Run("latency", func(b *testing.B) {
		room := room()
		rx := benchReceiver(b, to, room, receiver)
		tx := benchSender(b, from, room, sender)
		lat := make([]time.Duration, 0, b.N)
		storeSum := metric(b, from, "parley_store_latency_seconds_sum")
		storeN := metric(b, from, "parley_store_latency_seconds_count")
		b.ResetTimer()
		for i := range b.N {
			start := time.Now()
			tx.send(b, "latency "+strconv.Itoa(i), "l"+strconv.Itoa(i))
			rx.next(b)
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		storeSum = metric(b, from, "parley_store_latency_seconds_sum") - storeSum
		storeN = metric(b, from, "parley_store_latency_seconds_count") - storeN
		var total time.Duration
		for _, d := range lat {
			total += d
		}
		store := storeSum / storeN * 1e6
		b.ReportMetric(store, "store-µs")
		b.ReportMetric(float64(total.Microseconds())/float64(len(lat))-store, "hop-µs")
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})

	b.Run("throughput", func(b *testing.B) {
		room := room()
		rx := benchReceiver(b, to, room, receiver)
		const senders = 8
		txs := make([]*benchConn, senders)
		for i := range txs {
			txs[i] = benchSender(b, from, room, sender)
		}
		b.ResetTimer()
		var wg sync.WaitGroup
		for i, tx := range txs {
			n := b.N / senders
			if i < b.N%senders {
				n++
			}
			wg.Go(func() {
				// Each socket's sends are handled one after the other;
				// a window of unanswered sends keeps it busy.
				for j := range n {
					tx.send(b, "throughput", fmt.Sprintf("t%d-%d", i, j))
				}
			})
		}
		for range b.N {
			rx.next(b)
		}
		b.StopTimer()
		wg.Wait()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	})
}

// benchConn is a socket for benchmarks: a sender whose own frames are read
// and dropped, or a receiver whose new_message frames come on msgs.
type benchConn struct {
	c    *websocket.Conn
	msgs chan struct{}
}

func benchSender(b *testing.B, srv *apptest.Server, room, token string) *benchConn {
	bc := benchDial(b, srv, room, token)
	go func() {
		for {
			if _, _, err := bc.c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	return bc
}

func benchReceiver(b *testing.B, srv *apptest.Server, room, token string) *benchConn {
	bc := benchDial(b, srv, room, token)
	bc.msgs = make(chan struct{}, 1<<16)
	go func() {
		for {
			_, data, err := bc.c.Read(context.Background())
			if err != nil {
				return
			}
			var f struct{ Command string }
			if json.Unmarshal(data, &f) == nil && f.Command == "new_message" {
				bc.msgs <- struct{}{}
			}
		}
	}()
	return bc
}

func benchDial(b *testing.B, srv *apptest.Server, room, token string) *benchConn {
	c, _, err := srv.TryDial(room, apptest.DialOptions{Token: token})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.CloseNow() })
	return &benchConn{c: c}
}

func (bc *benchConn) send(b *testing.B, content, clientID string) {
	msg, _ := json.Marshal(map[string]string{"command": "new_message", "message": content, "client_id": clientID})
	if err := bc.c.Write(context.Background(), websocket.MessageText, msg); err != nil {
		b.Error(err)
	}
}

// next waits for the next message.
func (bc *benchConn) next(b *testing.B) {
	select {
	case <-bc.msgs:
	case <-time.After(longWait):
		b.Fatalf("no message within %v", longWait)
	}
}
