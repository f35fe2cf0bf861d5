package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runPersistence has --sockets senders post as fast as the server
// acknowledges, each with up to --window messages unacknowledged, for
// --duration. A message is acknowledged by its broadcast, which Parley
// sends only after the message is committed. Each sender is alone in its
// room by default, so the fan-out costs one delivery per message.
func runPersistence(ctx context.Context, cfg config, log io.Writer) (*Result, error) {
	if cfg.Proto != "parley" {
		return nil, errors.New("persistence: --proto parley only (it counts stored messages through the API)")
	}
	run := newRunID()
	res := &Result{Scenario: cfg.Scenario, Label: cfg.Label, Proto: cfg.Proto, URL: cfg.URL, Run: run,
		Started: time.Now().UTC(), Sockets: cfg.Sockets, Rooms: cfg.Rooms, DurationS: cfg.Duration.Seconds()}
	prog := newProgress(cfg, log)
	server := watchProc(pidOr(cfg.PID), 250*time.Millisecond)
	defer server.close()
	self := watchProc(0, 250*time.Millisecond)
	defer self.close()

	specs, err := roomSockets(ctx, cfg, run)
	if err != nil {
		return nil, err
	}
	conns, cst, err := connectAll(ctx, cfg, specs, true, prog)
	res.Connect = cst
	defer closeAll(conns)
	if err == nil {
		err = awaitJoined(ctx, cfg, conns)
	}
	if err != nil {
		return res, err
	}

	var (
		lat                      = newLatencies(64)
		sent, acked, errs, drops atomic.Int64
		lastAck                  atomic.Int64
	)
	prefix := markerPrefix(run)
	maxPer := 10_000_000 / cfg.Sockets // a bound on the count, whatever the speed
	start := time.Now()
	prog.start = start
	srvA, selfA, machA := server.sample(), self.sample(), readMachine()
	sendCtx, stopSend := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer stopSend()
	readCtx, stopRead := context.WithCancel(ctx)
	defer stopRead()
	var sendWG, readWG sync.WaitGroup
	outstanding := make([]chan struct{}, len(conns))
	for i, c := range conns {
		window := make(chan struct{}, cfg.Window)
		outstanding[i] = window
		readWG.Add(1)
		go func() { // acknowledgements
			defer readWG.Done()
			var buf bytes.Buffer
			for {
				err := c.ReadFrame(readCtx, &buf)
				if err != nil {
					if readCtx.Err() == nil {
						drops.Add(1)
					}
					return
				}
				now := time.Since(start)
				frame := buf.Bytes()
				if bytes.Contains(frame, errorCommand) {
					errs.Add(1)
					<-window
					continue
				}
				scanMarkers(frame, prefix, func(m marker) {
					if m.pub != i {
						return // another sender's, in a shared room
					}
					lat.record(i, now-m.due)
					acked.Add(1)
					lastAck.Store(int64(now))
					<-window
				})
			}
		}()
		sendWG.Add(1)
		go func() {
			defer sendWG.Done()
			var content, frame []byte
			clientPrefix := "p" + run + "-" + strconv.Itoa(i) + "-"
			for n := range maxPer {
				select {
				case window <- struct{}{}:
				case <-sendCtx.Done():
					return
				}
				content = appendContent(content[:0], run, i, n, time.Since(start), cfg.Size)
				frame = appendSendFrame(frame[:0], cfg.Proto, content, clientPrefix+strconv.Itoa(n), "")
				// Not sendCtx: a write cut short by the deadline would close
				// the socket, and lose the acknowledgements on their way.
				if err := c.Write(readCtx, frame); err != nil {
					return
				}
				sent.Add(1)
			}
		}()
	}
	progDone := make(chan struct{})
	go func() {
		if prog.w == nil || cfg.Progress <= 0 {
			return
		}
		t := time.NewTicker(cfg.Progress)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-progDone:
				return
			case <-t.C:
				n := acked.Load()
				prog.printf("sent %d, acknowledged %d (%.0f/s)", sent.Load(), n, float64(n-last)/cfg.Progress.Seconds())
				last = n
			}
		}
	}()
	sendWG.Wait()
	// Wait for the acknowledgements of what was sent, up to --drain.
	deadline := time.Now().Add(cfg.Drain)
	for acked.Load()+errs.Load() < sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	srvB, selfB, machB := server.sample(), self.sample(), readMachine()
	close(progDone)
	stopRead()
	closeAll(conns)
	readWG.Wait()

	res.Sent, res.Delivered, res.Errors, res.Disconnects = sent.Load(), acked.Load(), errs.Load(), drops.Load()
	res.Lost = res.Sent - res.Delivered - res.Errors
	if last := time.Duration(lastAck.Load()); last > 0 {
		res.MsgsPerS = float64(res.Delivered) / last.Seconds()
	}
	res.Latency = lat.stats()
	res.Server = statsBetween(server, srvA, srvB, res.Delivered)
	res.Load = statsBetween(self, selfA, selfB, res.Delivered)
	res.Machine = machineBetween(machA, machB, res.Server, res.Load)

	// Count what the store holds, room by room, through the API.
	for r := range cfg.Rooms {
		n, err := lastSeq(ctx, cfg.URL, roomName(run, r), specs[0].acct.token)
		if err != nil {
			res.Note = join(res.Note, fmt.Sprintf("counting room %d: %v", r, err))
			break
		}
		res.Stored += n
	}
	res.Note = join(res.Note, "latency is from send to acknowledgement (closed loop, --window per socket)")
	return res, ctx.Err()
}

// lastSeq returns the seq of room's latest message: how many it holds.
func lastSeq(ctx context.Context, base, room, token string) (int64, error) {
	var page struct {
		Messages []struct {
			Seq int64 `json:"seq"`
		} `json:"messages"`
	}
	u := httpBase(base) + "/api/v1/rooms/" + url.PathEscape(room) + "/messages?limit=1"
	if err := getJSON(ctx, u, token, &page); err != nil {
		return 0, err
	}
	if len(page.Messages) == 0 {
		return 0, nil
	}
	return page.Messages[len(page.Messages)-1].Seq, nil
}

// runHistory has --sockets sockets in --room fetch pages of history, one
// request at a time each, for --duration, and reports the latency of each
// fetch from request to answer.
func runHistory(ctx context.Context, cfg config, log io.Writer) (*Result, error) {
	if cfg.Proto != "parley" {
		return nil, errors.New("history: --proto parley only")
	}
	run := newRunID()
	res := &Result{Scenario: cfg.Scenario, Label: cfg.Label, Proto: cfg.Proto, URL: cfg.URL, Run: run,
		Started: time.Now().UTC(), Sockets: cfg.Sockets, Rooms: 1, DurationS: cfg.Duration.Seconds()}
	prog := newProgress(cfg, log)
	server := watchProc(pidOr(cfg.PID), 250*time.Millisecond)
	defer server.close()
	self := watchProc(0, 250*time.Millisecond)
	defer self.close()

	accts, err := createAccounts(ctx, cfg, run, "u", 1)
	if err != nil {
		return nil, err
	}
	last, err := lastSeq(ctx, cfg.URL, cfg.Room, accts[0].token)
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", cfg.Room, err)
	}
	if last <= int64(cfg.Limit) {
		return nil, fmt.Errorf("room %s holds %d messages; fill it first (docs/BENCHMARKS.md, history)", cfg.Room, last)
	}
	specs := make([]sockSpec, cfg.Sockets)
	for i := range specs {
		specs[i] = sockSpec{base: cfg.URL, room: cfg.Room, acct: accts[0]}
	}
	conns, cst, err := connectAll(ctx, cfg, specs, true, prog)
	res.Connect = cst
	defer closeAll(conns)
	if err != nil {
		return res, err
	}
	lat := newLatencies(len(conns))
	var fetches, errs, drops atomic.Int64
	start := time.Now()
	srvA, selfA, machA := server.sample(), self.sample(), readMachine()
	fctx, stop := context.WithDeadline(ctx, start.Add(cfg.Duration))
	defer stop()
	var wg sync.WaitGroup
	seqKey := []byte(`"seq":`)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// #nosec G404 G115 -- the send schedule's randomness, not a secret; the conversions only make a seed.
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			var buf bytes.Buffer
			var req []byte
			for range 10_000_000 {
				if fctx.Err() != nil {
					return
				}
				req = req[:0]
				want := cfg.Limit
				switch cfg.Fetch {
				case "latest":
					req = append(req, `{"command":"fetch_messages","limit":`...)
				case "before":
					seq := int64(cfg.Limit) + 1 + rng.Int64N(last-int64(cfg.Limit))
					req = append(req, `{"command":"fetch_messages","before":`...)
					req = strconv.AppendInt(req, seq, 10)
					req = append(req, `,"limit":`...)
				case "after":
					seq := rng.Int64N(last - int64(cfg.Limit))
					req = append(req, `{"command":"fetch_messages","after":`...)
					req = strconv.AppendInt(req, seq, 10)
					req = append(req, `,"limit":`...)
				}
				req = strconv.AppendInt(req, int64(cfg.Limit), 10)
				req = append(req, '}')
				t0 := time.Now()
				if err := c.Write(fctx, req); err != nil {
					if fctx.Err() == nil {
						drops.Add(1)
					}
					return
				}
				for { // skip frames that are not the answer (new messages)
					err := c.ReadFrame(fctx, &buf)
					if err != nil {
						if fctx.Err() == nil {
							drops.Add(1)
						}
						return
					}
					frame := buf.Bytes()
					if bytes.Contains(frame, errorCommand) {
						errs.Add(1)
						break
					}
					if bytes.Contains(frame, messagesCommand) {
						lat.record(i, time.Since(t0))
						fetches.Add(1)
						if bytes.Count(frame, seqKey) != want {
							errs.Add(1)
						}
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	srvB, selfB, machB := server.sample(), self.sample(), readMachine()
	res.Fetches, res.Errors, res.Disconnects = fetches.Load(), errs.Load(), drops.Load()
	res.FetchesPerS = float64(res.Fetches) / elapsed.Seconds()
	res.Latency = lat.stats()
	res.Server = statsBetween(server, srvA, srvB, 0)
	res.Load = statsBetween(self, selfA, selfB, 0)
	res.Machine = machineBetween(machA, machB, res.Server, res.Load)
	res.Note = fmt.Sprintf("room %s holds %d messages; %s pages of %d, closed loop, %d sockets", cfg.Room, last, cfg.Fetch, cfg.Limit, cfg.Sockets)
	return res, ctx.Err()
}
