package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sockSpec says where one socket goes.
type sockSpec struct {
	base   string // server URL
	room   string
	acct   account
	stream bool // a user stream (/ws/user/), not a room socket
}

// connectAll dials every spec, cfg.DialPar at a time, within
// cfg.Connect. conns[i] is nil where spec i failed. With stopOnFail the
// first failure stops further dials (a fan-out run needs every socket); else
// dialing goes on until a 503 (the server is full) or 100 failures.
func connectAll(ctx context.Context, cfg config, specs []sockSpec, stopOnFail bool, log *progress) ([]*wsConn, *connectStats, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Connect)
	defer cancel()
	conns := make([]*wsConn, len(specs))
	var (
		next, ok, failed atomic.Int64
		mu               sync.Mutex
		refusals         = map[string]int{}
		firstErr         error
		wg               sync.WaitGroup
	)
	start := time.Now()
	for range min(cfg.DialPar, len(specs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(specs) {
					return
				}
				c, err := dial(ctx, cfg, specs[i])
				if err == nil {
					conns[i] = c
					if n := ok.Add(1); n%1000 == 0 {
						log.printf("connected %d of %d sockets", n, len(specs))
					}
					continue
				}
				if ctx.Err() != nil {
					return
				}
				nf := failed.Add(1)
				key := "error"
				var de *dialError
				if errors.As(err, &de) {
					key = fmt.Sprint(de.status)
				}
				mu.Lock()
				refusals[key]++
				if firstErr == nil {
					firstErr = fmt.Errorf("socket %d: %w", i, err)
				}
				mu.Unlock()
				if stopOnFail || key == "503" || nf >= 100 {
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := &connectStats{Sockets: int(ok.Load()), Failed: int(failed.Load()), Seconds: elapsed.Seconds()}
	if elapsed > 0 {
		st.PerS = float64(st.Sockets) / elapsed.Seconds()
	}
	if len(refusals) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(refusals)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, refusals[k]))
		}
		st.Refusals = "(" + strings.Join(parts, ", ") + ")"
	}
	if firstErr == nil && st.Sockets < len(specs) {
		firstErr = fmt.Errorf("connected %d of %d sockets within %v", st.Sockets, len(specs), cfg.Connect)
	}
	return conns, st, firstErr
}

// awaitJoined returns once the server has put every socket in its room.
// A WebSocket is open before the server has joined it to the room, and a
// message committed in between is not the socket's to receive; so each
// socket asks for one message of history and waits for the answer, which
// Parley sends only once the socket is in. A plain server has no such
// request: it gets a moment instead.
func awaitJoined(ctx context.Context, cfg config, conns []*wsConn) error {
	if cfg.Proto == "plain" {
		t := time.NewTimer(500 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return ctx.Err()
	}
	req := []byte(`{"command":"fetch_messages","limit":1}`)
	return eachConn(ctx, cfg, len(conns), func(ctx context.Context, i int, buf *bytes.Buffer) error {
		err := conns[i].Write(ctx, req)
		for err == nil {
			if err = conns[i].ReadFrame(ctx, buf); err == nil && bytes.Contains(buf.Bytes(), messagesCommand) {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("waiting to be in the room: %w", err)
		}
		return nil
	})
}

// eachConn calls f for each of n connections (by index), cfg.DialPar at
// a time, within cfg.Connect, and returns the first error (which stops
// the others).
func eachConn(ctx context.Context, cfg config, n int, f func(ctx context.Context, i int, buf *bytes.Buffer) error) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.Connect)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range min(cfg.DialPar, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i, &buf); err != nil {
					select {
					case errs <- fmt.Errorf("socket %d: %w", i, err):
					default:
					}
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

var messagesCommand = []byte(`"command":"messages"`)

// closeAll closes every socket at once, without the closing handshake.
func closeAll(conns []*wsConn) {
	var wg sync.WaitGroup
	const par = 64
	for k := range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := k; i < len(conns); i += par {
				if conns[i] != nil {
					_ = conns[i].CloseNow()
				}
			}
		}()
	}
	wg.Wait()
}

// progress prints progress lines on stderr, if wanted.
type progress struct {
	mu    sync.Mutex
	w     interface{ Write([]byte) (int, error) }
	start time.Time
}

// newProgress writes progress lines to log, or nowhere with --progress 0.
func newProgress(cfg config, log io.Writer) *progress {
	p := &progress{w: log, start: time.Now()}
	if cfg.Progress <= 0 {
		p.w = nil
	}
	return p
}

func (p *progress) printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "parley-load: %5.1fs  %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
