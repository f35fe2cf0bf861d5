package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle connects as many sockets as it can (up to --sockets; or, with
// --streams, that many user streams instead), holds them open without
// traffic for --hold, and reports connects a second and the server's
// resident memory per socket.
func runIdle(ctx context.Context, cfg config, log io.Writer) (*Result, error) {
	run := newRunID()
	res := &Result{Scenario: cfg.Scenario, Label: cfg.Label, Proto: cfg.Proto, URL: cfg.URL, Run: run,
		Started: time.Now().UTC(), Sockets: cfg.Sockets, Rooms: cfg.Rooms}
	prog := newProgress(cfg, log)
	server := watchProc(pidOr(cfg.PID), time.Second)
	defer server.close()
	self := watchProc(0, time.Second)
	defer self.close()

	var specs []sockSpec
	var err error
	if cfg.Streams > 0 {
		specs, err = userStreams(ctx, cfg, run, cfg.Users, prog)
		res.Sockets = cfg.Streams
	} else {
		specs, err = roomSockets(ctx, cfg, run)
	}
	if err != nil {
		return nil, err
	}
	srvA, selfA, machA := server.sample(), self.sample(), readMachine()
	prog.printf("connecting up to %d sockets, %d dials at a time", cfg.Sockets, cfg.DialPar)
	conns, cst, connErr := connectAll(ctx, cfg, specs, false, prog)
	res.Connect = cst
	defer closeAll(conns)

	// Each socket is read (and so answers pings) but carries nothing.
	readCtx, stopRead := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var dropped atomic.Int64
	for _, c := range conns {
		if c == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			discard(readCtx, c, &dropped)
		}()
	}
	prog.printf("holding %d sockets for %v", cst.Sockets, cfg.Hold)
	hold := time.NewTimer(cfg.Hold)
	select {
	case <-hold.C:
	case <-ctx.Done():
	}
	hold.Stop()
	srvB, selfB, machB := server.sample(), self.sample(), readMachine()
	stopRead()
	closeAll(conns)
	wg.Wait()

	held := cst.Sockets - int(dropped.Load())
	res.Disconnects = dropped.Load()
	res.Server = statsBetween(server, srvA, srvB, 0)
	res.Load = statsBetween(self, selfA, selfB, 0)
	res.Machine = machineBetween(machA, machB, res.Server, res.Load)
	res.Idle = &idleStats{Held: held}
	if server != nil {
		res.Idle.ServerRSSBase, res.Idle.ServerRSSHeld = srvA.rssKiB, srvB.rssKiB
	}
	if held > 0 {
		if server != nil {
			res.Idle.ServerKiBPerSock = float64(srvB.rssKiB-srvA.rssKiB) / float64(held)
			res.Idle.ServerKiBPerSockWhole = float64(srvB.rssKiB) / float64(held)
		}
		res.Idle.LoadKiBPerSock = float64(selfB.rssKiB-selfA.rssKiB) / float64(held)
	}
	if connErr != nil {
		res.Note = fmt.Sprintf("stopped connecting: %v", connErr)
	}
	return res, ctx.Err()
}

// discard reads and drops frames until the socket or ctx ends, counting
// a close that ctx did not cause.
func discard(ctx context.Context, c *wsConn, dropped *atomic.Int64) {
	var buf bytes.Buffer
	for {
		if err := c.ReadFrame(ctx, &buf); err != nil {
			if ctx.Err() == nil {
				dropped.Add(1)
			}
			return
		}
	}
}

// roomSockets creates the run's accounts and spreads cfg.Sockets sockets
// over its rooms and accounts, round robin.
func roomSockets(ctx context.Context, cfg config, run string) ([]sockSpec, error) {
	accts, err := createAccounts(ctx, cfg, run, "u", cfg.Users)
	if err != nil {
		return nil, err
	}
	specs := make([]sockSpec, cfg.Sockets)
	for i := range specs {
		specs[i] = sockSpec{base: cfg.URL, room: roomName(run, i%cfg.Rooms), acct: accts[i%len(accts)]}
	}
	return specs, nil
}
