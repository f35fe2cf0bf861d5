package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fanout is the state of a fan-out run: publishers on an open-loop
// schedule, every socket of a room receiving every message of the room.
type fanout struct {
	cfg    config
	run    string
	prefix []byte
	start  time.Time // the schedule's zero

	pubRoom  []int   // publisher → room
	pubLocal []int   // publisher → its index among its room's publishers
	roomPubs []int   // room → publishers in it
	targets  []int64 // --send=reactions: room → the seq of its message

	lat         *latencies
	delivered   atomic.Int64
	duplicates  atomic.Int64
	foreign     atomic.Int64 // markers of this run that no receiver expects
	errors      atomic.Int64
	disconnects atomic.Int64
	lastRecv    atomic.Int64 // ns after start of the latest delivery
	allIn       chan struct{}
	expected    atomic.Int64 // set once publishing ends
	pubDone     atomic.Bool  // expected is set
	allInOnce   sync.Once
}

// receiver is one socket's view: which messages of its room it has seen.
type receiver struct {
	id     int
	room   int
	counts bool       // its deliveries count (publishers' own sockets in a cross-process run do not)
	seen   [][]uint64 // by the room's publisher index, a bit per message
}

// publisher is one socket sending on the schedule.
type publisher struct {
	id   int
	user string
	sent atomic.Int64
	err  error
}

func runFanout(ctx context.Context, cfg config, log io.Writer) (*Result, error) {
	run := newRunID()
	res := &Result{Scenario: cfg.Scenario, Label: cfg.Label, Proto: cfg.Proto, URL: cfg.URL, RecvURL: cfg.RecvURL,
		Run: run, Started: time.Now().UTC(), Sockets: cfg.Sockets, Rooms: cfg.Rooms, Publishers: cfg.Publishers,
		Rate: cfg.Rate, DurationS: cfg.Duration.Seconds(), Send: cfg.Send}
	prog := newProgress(cfg, log)

	f := &fanout{cfg: cfg, run: run, prefix: markerPrefix(run), lat: newLatencies(64), allIn: make(chan struct{})}
	f.pubRoom = make([]int, cfg.Publishers)
	f.pubLocal = make([]int, cfg.Publishers)
	f.roomPubs = make([]int, cfg.Rooms)
	for k := range cfg.Publishers {
		r := k % cfg.Rooms
		f.pubRoom[k], f.pubLocal[k] = r, f.roomPubs[r]
		f.roomPubs[r]++
	}
	words := (cfg.Messages + 63) / 64
	var bits int64
	for i := range cfg.Sockets {
		bits += int64(f.roomPubs[i%cfg.Rooms]) * int64(words) * 64
	}
	if bits > 8<<30 {
		return nil, fmt.Errorf("tracking %d sockets × %d messages would take %d MiB; fewer messages or sockets",
			cfg.Sockets, cfg.Messages, bits>>23)
	}

	server := watchProc(pidOr(cfg.PID), 250*time.Millisecond)
	defer server.close()
	recvServer := watchProc(pidOr(cfg.RecvPID), 250*time.Millisecond)
	defer recvServer.close()
	self := watchProc(0, 250*time.Millisecond)
	defer self.close()

	accts, err := createAccounts(ctx, cfg, run, "u", cfg.Users)
	if err != nil {
		return nil, err
	}
	if cfg.Send == "reactions" {
		f.targets = make([]int64, cfg.Rooms)
		for r := range f.targets {
			if f.targets[r], err = seedMessage(ctx, cfg, roomName(run, r), accts[0]); err != nil {
				return nil, fmt.Errorf("the message of room %d: %w", r, err)
			}
		}
	}

	// The user streams first: making their accounts takes minutes, and
	// the room sockets would sit unread (and unanswered to pings)
	// meanwhile. Streams are read from the moment they open.
	var streams *streamSet
	if cfg.Streams > 0 {
		if streams, err = openStreams(ctx, cfg, run, prog); err != nil {
			return res, err
		}
		defer streams.close()
		streams.read(ctx)
	}

	// Sockets 0..Sockets-1 receive; socket i is in room i % Rooms. On one
	// server publisher k is socket k (so in room k % Rooms, as pubRoom
	// says); across two, publishers are extra sockets on --url and every
	// receiver is on --recv-url.
	recvBase := cfg.URL
	if cfg.RecvURL != "" {
		recvBase = cfg.RecvURL
	}
	specs := make([]sockSpec, 0, cfg.Sockets+cfg.Publishers)
	recvs := make([]*receiver, 0, cfg.Sockets+cfg.Publishers)
	for i := range cfg.Sockets {
		r := i % cfg.Rooms
		specs = append(specs, sockSpec{base: recvBase, room: roomName(run, r), acct: accts[i%len(accts)]})
		recvs = append(recvs, f.newReceiver(i, r, true, words))
	}
	pubSock := make([]int, cfg.Publishers)
	for k := range cfg.Publishers {
		if cfg.RecvURL == "" {
			pubSock[k] = k
			continue
		}
		pubSock[k] = len(specs)
		specs = append(specs, sockSpec{base: cfg.URL, room: roomName(run, f.pubRoom[k]), acct: accts[k%len(accts)]})
		recvs = append(recvs, f.newReceiver(len(recvs), f.pubRoom[k], false, 0))
	}
	prog.printf("connecting %d sockets", len(specs))
	conns, cst, err := connectAll(ctx, cfg, specs, true, prog)
	res.Connect = cst
	if err != nil {
		closeAll(conns)
		return res, err
	}
	defer closeAll(conns)
	if err := awaitJoined(ctx, cfg, conns); err != nil {
		return res, err
	}

	// The schedule's zero is set before the receivers start: they read
	// it for every frame.
	pubs := make([]*publisher, cfg.Publishers)
	for k := range pubs {
		pubs[k] = &publisher{id: k, user: specs[pubSock[k]].acct.name}
	}
	srvA, recvA, selfA, machA := server.sample(), recvServer.sample(), self.sample(), readMachine()
	f.start = time.Now()
	prog.start = f.start
	recvCtx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	var recvWG sync.WaitGroup
	for i, c := range conns {
		recvWG.Add(1)
		go func() {
			defer recvWG.Done()
			f.receive(recvCtx, c, recvs[i])
		}()
	}

	pubCtx, stopPub := context.WithDeadline(ctx, f.start.Add(cfg.Duration+cfg.Drain))
	defer stopPub()
	var pubWG sync.WaitGroup
	for k, p := range pubs {
		pubWG.Add(1)
		go func() {
			defer pubWG.Done()
			f.publish(pubCtx, conns[pubSock[k]], p)
		}()
	}
	progDone := make(chan struct{})
	go f.report(prog, pubs, server, progDone)

	pubWG.Wait()
	stopPub()
	var sent, scheduled int64
	var expected int64
	perRoom := make([]int64, cfg.Rooms)
	for _, p := range pubs {
		n := p.sent.Load()
		sent += n
		perRoom[f.pubRoom[p.id]] += n
	}
	scheduled = int64(cfg.Messages) * int64(cfg.Publishers)
	for _, r := range recvs {
		if r.counts {
			expected += perRoom[r.room]
		}
	}
	f.expected.Store(expected)
	f.pubDone.Store(true)
	f.checkAllIn()
	drain := time.NewTimer(cfg.Drain)
	select {
	case <-f.allIn:
	case <-drain.C:
	case <-ctx.Done():
	}
	drain.Stop()
	if streams != nil {
		// The streams' counts come after the deliveries: the window ends
		// once they are right too (or the drain is over).
		sentTo := make(map[string]int64, cfg.Rooms)
		for r, n := range perRoom {
			sentTo[roomName(run, r)] = n
		}
		settleCtx, cancel := context.WithTimeout(ctx, cfg.Drain)
		res.Streams = &streamStats{Streams: cfg.Streams, Wrong: streams.settle(settleCtx, sentTo)}
		cancel()
	}
	srvB, recvB, selfB, machB := server.sample(), recvServer.sample(), self.sample(), readMachine()
	close(progDone)
	stopRecv()
	closeAll(conns)
	recvWG.Wait()

	delivered := f.delivered.Load()
	res.Scheduled, res.Sent, res.Unsent = scheduled, sent, scheduled-sent
	res.Expected, res.Delivered, res.Lost = expected, delivered, expected-delivered
	res.Duplicates, res.Errors, res.Disconnects = f.duplicates.Load(), f.errors.Load(), f.disconnects.Load()
	receiversPerRoom := make([]int64, cfg.Rooms)
	for _, r := range recvs {
		if r.counts {
			receiversPerRoom[r.room]++
		}
	}
	var offered int64
	for k := range pubs {
		offered += int64(cfg.Messages) * receiversPerRoom[f.pubRoom[k]]
	}
	res.OfferedPerS = float64(offered) / (float64(cfg.Messages) / cfg.Rate)
	if last := time.Duration(f.lastRecv.Load()); last > 0 {
		res.DelivPerS = float64(delivered) / last.Seconds()
	}
	res.Latency = f.lat.stats()
	if st := res.Streams; st != nil {
		st.Frames, st.Bytes, st.Closed = streams.frames.Load(), streams.bytes.Load(), streams.closed.Load()
		if sent > 0 {
			st.FramesPerMsg = float64(st.Frames) / float64(sent)
		}
	}
	res.Server = statsBetween(server, srvA, srvB, delivered)
	res.RecvServer = statsBetween(recvServer, recvA, recvB, delivered)
	res.Load = statsBetween(self, selfA, selfB, delivered)
	res.Machine = machineBetween(machA, machB, res.Server, res.RecvServer, res.Load)
	if res.Lost > 0 {
		res.Note = join(res.Note, f.missing(recvs, pubs, 5))
	}
	if n := f.foreign.Load(); n > 0 {
		res.Note = fmt.Sprintf("%d deliveries of messages no receiver expected", n)
	}
	var pubErr error
	for _, p := range pubs {
		if p.err != nil && !errors.Is(p.err, context.DeadlineExceeded) && ctx.Err() == nil {
			pubErr = fmt.Errorf("publisher %d: %w", p.id, p.err)
			break
		}
	}
	if pubErr != nil {
		res.Note = join(res.Note, pubErr.Error())
	}
	return res, ctx.Err()
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func (f *fanout) newReceiver(id, room int, counts bool, words int) *receiver {
	r := &receiver{id: id, room: room, counts: counts}
	if counts {
		r.seen = make([][]uint64, f.roomPubs[room])
		for i := range r.seen {
			r.seen[i] = make([]uint64, words)
		}
	}
	return r
}

// missing names up to limit deliveries that never came.
func (f *fanout) missing(recvs []*receiver, pubs []*publisher, limit int) string {
	var b strings.Builder
	b.WriteString("missing (socket/publisher/message):")
	n := 0
	for _, r := range recvs {
		if !r.counts {
			continue
		}
		for _, p := range pubs {
			if f.pubRoom[p.id] != r.room {
				continue
			}
			words := r.seen[f.pubLocal[p.id]]
			for m := range int(p.sent.Load()) {
				if words[m/64]&(1<<(m%64)) == 0 {
					if n < limit {
						fmt.Fprintf(&b, " %d/%d/%d", r.id, p.id, m)
					}
					n++
				}
			}
		}
	}
	if n > limit {
		fmt.Fprintf(&b, " and %d more", n-limit)
	}
	return b.String()
}

var errorCommand = []byte(`"command":"error"`)

// receive reads the socket's frames until ctx ends or the socket closes,
// counting each of the run's messages once.
func (f *fanout) receive(ctx context.Context, c *wsConn, r *receiver) {
	var buf bytes.Buffer
	checkErrors := f.cfg.Proto != "plain"
	for {
		err := c.ReadFrame(ctx, &buf)
		if err != nil {
			if ctx.Err() == nil {
				f.disconnects.Add(1)
			}
			return
		}
		now := time.Since(f.start)
		frame := buf.Bytes()
		if checkErrors && bytes.Contains(frame, errorCommand) {
			f.errors.Add(1)
		}
		if !r.counts {
			continue
		}
		scanMarkers(frame, f.prefix, func(m marker) {
			if m.pub < 0 || m.pub >= len(f.pubRoom) || f.pubRoom[m.pub] != r.room || m.n < 0 || m.n >= f.cfg.Messages {
				f.foreign.Add(1)
				return
			}
			words := r.seen[f.pubLocal[m.pub]]
			w, bit := m.n/64, uint64(1)<<(m.n%64)
			if words[w]&bit != 0 {
				f.duplicates.Add(1)
				return
			}
			words[w] |= bit
			f.lat.record(r.id, now-m.due)
			for {
				last := f.lastRecv.Load()
				if int64(now) <= last || f.lastRecv.CompareAndSwap(last, int64(now)) {
					break
				}
			}
			if n := f.delivered.Add(1); f.pubDone.Load() && n >= f.expected.Load() {
				f.checkAllIn()
			}
		})
	}
}

// checkAllIn closes allIn once every expected delivery has arrived.
func (f *fanout) checkAllIn() {
	if f.pubDone.Load() && f.delivered.Load() >= f.expected.Load() {
		f.allInOnce.Do(func() { close(f.allIn) })
	}
}

// publish sends p's messages, message n due at the start plus
// (n + k/P)/rate: publishers are spread evenly over a period. A late send
// is sent at once; its latency counts from when it was due.
func (f *fanout) publish(ctx context.Context, c *wsConn, p *publisher) {
	cfg := f.cfg
	period := float64(time.Second) / cfg.Rate
	phase := period * float64(p.id) / float64(max(cfg.Publishers, 1))
	var content, frame []byte
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	clientPrefix := "l" + f.run + "-" + strconv.Itoa(p.id) + "-"
	for n := range cfg.Messages {
		due := time.Duration(phase + float64(n)*period)
		if wait := due - time.Since(f.start); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				p.err = ctx.Err()
				return
			}
		}
		if f.targets != nil {
			// The marker alone (no padding) is the reaction's client_id.
			content = appendContent(content[:0], f.run, p.id, n, due, 0)
			frame = appendReactFrame(frame[:0], f.targets[f.pubRoom[p.id]], n, content)
		} else {
			content = appendContent(content[:0], f.run, p.id, n, due, cfg.Size)
			frame = appendSendFrame(frame[:0], cfg.Proto, content, clientPrefix+strconv.Itoa(n), p.user)
		}
		if err := c.Write(ctx, frame); err != nil {
			p.err = err
			return
		}
		p.sent.Add(1)
	}
}

// report prints a progress line now and then until done.
func (f *fanout) report(prog *progress, pubs []*publisher, server *procWatch, done chan struct{}) {
	if prog.w == nil {
		return
	}
	t := time.NewTicker(f.cfg.Progress)
	defer t.Stop()
	var lastN int64
	lastCPU := server.sample()
	lastT := time.Now()
	for {
		select {
		case <-done:
			return
		case now := <-t.C:
			var sent int64
			for _, p := range pubs {
				sent += p.sent.Load()
			}
			n := f.delivered.Load()
			s := server.sample()
			line := fmt.Sprintf("sent %d of %d, delivered %d (%.0f/s)", sent, int64(f.cfg.Messages)*int64(len(pubs)),
				n, float64(n-lastN)/now.Sub(lastT).Seconds())
			if server != nil {
				line += fmt.Sprintf(", server cpu %.0f%% rss %d MiB", 100*(s.cpu-lastCPU.cpu).Seconds()/now.Sub(lastT).Seconds(), s.rssKiB>>10)
			}
			prog.printf("%s", line)
			lastN, lastT, lastCPU = n, now, s
		}
	}
}
