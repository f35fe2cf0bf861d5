package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// User streams beside a fan-out (--streams N): N accounts of their own,
// each a member of every room of the run that never reads it, each with
// a user stream (/ws/user/, docs/PROTOCOL.md) open through the run. Each
// message of a room then changes the unread count of N people: the run
// measures what telling them costs, and checks that each stream's last
// count of each room is its first plus the messages sent there.

// streamSet is the run's user streams.
type streamSet struct {
	conns  []*wsConn
	states []*streamCounts
	frames atomic.Int64 // frames after the first, in all
	bytes  atomic.Int64
	closed atomic.Int64 // streams the server closed during the run
	wg     sync.WaitGroup
}

// streamCounts is what one stream said of each room: its unread count
// in the first frame and in the latest.
type streamCounts struct {
	mu          sync.Mutex
	first, last map[string]int64
}

// openStreams opens a user stream for each of cfg.Streams people
// (userStreams), and reads each one's first frame.
func openStreams(ctx context.Context, cfg config, run string, prog *progress) (*streamSet, error) {
	specs, err := userStreams(ctx, cfg, run, cfg.Streams, prog)
	if err != nil {
		return nil, err
	}
	prog.printf("opening %d user streams", len(specs))
	conns, _, err := connectAll(ctx, cfg, specs, true, prog)
	set := &streamSet{conns: conns, states: make([]*streamCounts, len(conns))}
	if err == nil {
		err = eachConn(ctx, cfg, len(conns), func(ctx context.Context, i int, buf *bytes.Buffer) error {
			if err := conns[i].ReadFrame(ctx, buf); err != nil {
				return err
			}
			if !bytes.Contains(buf.Bytes(), []byte(`"command":"counts"`)) {
				return fmt.Errorf("first frame is not the counts: %.200s", buf.Bytes())
			}
			st := &streamCounts{first: map[string]int64{}, last: map[string]int64{}}
			scanRoomCounts(buf.Bytes(), func(room string, unread int64) { st.first[room], st.last[room] = unread, unread })
			if len(st.first) < cfg.Rooms {
				return fmt.Errorf("its first frame has %d of the run's %d rooms", len(st.first), cfg.Rooms)
			}
			set.states[i] = st
			return nil
		})
	}
	if err != nil {
		set.close()
		return nil, fmt.Errorf("user streams: %w", err)
	}
	return set, nil
}

// userStreams makes people accounts and one more, which makes the run's
// --rooms rooms; each of the people enters every room (a room socket,
// opened and closed). It returns cfg.Streams user streams spread over
// the people, round robin.
func userStreams(ctx context.Context, cfg config, run string, people int, prog *progress) ([]sockSpec, error) {
	prog.printf("making %d accounts for the user streams", people+1)
	accts, err := createAccounts(ctx, cfg, run, "s", people+1)
	if err != nil {
		return nil, err
	}
	owner, accts := accts[0], accts[1:]
	var enter []sockSpec
	for r := range cfg.Rooms {
		room := roomName(run, r)
		body := map[string]string{"name": room}
		if err := postJSONAuth(ctx, httpBase(cfg.URL)+"/api/v1/rooms", owner.token, body, http.StatusCreated, nil); err != nil {
			return nil, fmt.Errorf("make room %s: %w", room, err)
		}
		for _, a := range accts {
			enter = append(enter, sockSpec{base: cfg.URL, room: room, acct: a})
		}
	}
	prog.printf("entering %d rooms for the user streams", len(enter))
	conns, _, err := connectAll(ctx, cfg, enter, true, prog)
	closeAll(conns)
	if err != nil {
		return nil, fmt.Errorf("entering the rooms: %w", err)
	}
	specs := make([]sockSpec, cfg.Streams)
	for i := range specs {
		specs[i] = sockSpec{base: cfg.URL, acct: accts[i%len(accts)], stream: true}
	}
	return specs, nil
}

// read reads every stream's frames until ctx ends.
func (set *streamSet) read(ctx context.Context) {
	for i, c := range set.conns {
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			st := set.states[i]
			var buf bytes.Buffer
			for {
				if err := c.ReadFrame(ctx, &buf); err != nil {
					if ctx.Err() == nil {
						set.closed.Add(1)
					}
					return
				}
				set.frames.Add(1)
				set.bytes.Add(int64(buf.Len()))
				st.mu.Lock()
				scanRoomCounts(buf.Bytes(), func(room string, unread int64) { st.last[room] = unread })
				st.mu.Unlock()
			}
		}()
	}
}

// wrong counts the streams whose last count of some room is not their
// first plus the messages sent there (sent: by room name).
func (set *streamSet) wrong(sent map[string]int64) int {
	n := 0
	for _, st := range set.states {
		st.mu.Lock()
		for room, k := range sent {
			if st.last[room] != st.first[room]+k {
				n++
				break
			}
		}
		st.mu.Unlock()
	}
	return n
}

// settle waits, until ctx ends, for every stream to count what was sent.
func (set *streamSet) settle(ctx context.Context, sent map[string]int64) int {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		n := set.wrong(sent)
		if n == 0 {
			return 0
		}
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
	}
}

func (set *streamSet) close() {
	closeAll(set.conns)
	set.wg.Wait()
}

var roomKey = []byte(`{"room":"`)
var unreadKey = []byte(`"unread":`)

// scanRoomCounts calls f with each room of a counts or room frame and its
// unread count: {"command":"counts","rooms":[{"room":"NAME",…,"unread":N…},…]}
// and {"command":"room","room":{"room":"NAME",…,"unread":N…}}.
func scanRoomCounts(frame []byte, f func(room string, unread int64)) {
	for {
		i := bytes.Index(frame, roomKey)
		if i < 0 {
			return
		}
		frame = frame[i+len(roomKey):]
		end := bytes.IndexByte(frame, '"')
		if end < 0 {
			return
		}
		room := string(frame[:end])
		j := bytes.Index(frame, unreadKey)
		if j < 0 {
			return
		}
		n, rest, ok := parseUint(frame[j+len(unreadKey):])
		if ok {
			f(room, n)
		}
		frame = rest
	}
}

// streamStats is what the user streams of a run saw.
type streamStats struct {
	Streams      int     `json:"streams"`
	Frames       int64   `json:"frames"` // after the first frame of each
	Bytes        int64   `json:"bytes"`
	FramesPerMsg float64 `json:"frames_per_message"`
	Wrong        int     `json:"wrong_counts"` // streams whose last count is not the messages sent
	Closed       int64   `json:"closed"`       // streams the server closed
}
