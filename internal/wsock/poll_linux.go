package wsock

import (
	"encoding/binary"
	"errors"
	"sync"

	"golang.org/x/sys/unix"
)

// Poller reports the readiness of many descriptors through one epoll
// instance, so that an idle socket holds no goroutine: its reader is
// started when there is something to read. Each descriptor is watched
// one-shot: a report disarms it until it is asked for again (Modify), so
// the reports for one descriptor never overlap.
type Poller struct {
	epfd, wakefd int
	watches[watcher]
	done      chan struct{}
	closeOnce sync.Once
}

// A watcher is told what its descriptor is ready for (epoll's event bits),
// on the poller's goroutine: it must not block.
type watcher interface{ ready(events uint32) }

// Readiness a watcher may ask for: bytes to read (or the peer gone), room
// to write.
const (
	pollIn  = unix.EPOLLIN | unix.EPOLLRDHUP
	pollOut = unix.EPOLLOUT
)

// NewPoller starts a poller. Close stops it.
func NewPoller() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	// The wake-up eventfd has id 0; watchers count from 1.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Add watches fd for events (pollIn, pollOut, or none yet): w is told once
// fd is ready, or in error. The id names fd to Modify and Remove.
func (p *Poller) Add(fd int, w watcher, events uint32) (uint64, error) {
	id := p.add(w)
	if err := p.ctl(unix.EPOLL_CTL_ADD, fd, id, events); err != nil {
		p.remove(id)
		return 0, err
	}
	return id, nil
}

// Modify asks for the next readiness of fd, watched as id, for events.
// What fd is ready for already is reported at once.
func (p *Poller) Modify(fd int, id uint64, events uint32) error {
	return p.ctl(unix.EPOLL_CTL_MOD, fd, id, events)
}

// Remove stops watching fd, watched as id. Call it before closing fd,
// so that it is never watched past its life.
func (p *Poller) Remove(fd int, id uint64) {
	if _, ok := p.remove(id); ok {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

func (p *Poller) ctl(op, fd int, id uint64, events uint32) error {
	// #nosec G115 -- the id's two halves, bit for bit, as epoll_data
	ev := unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	return unix.EpollCtl(p.epfd, op, fd, &ev)
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 // #nosec G115 -- put together as ctl split it
			if id == 0 {
				return // Close
			}
			if w, ok := p.get(id); ok {
				w.ready(ev.Events)
			}
		}
	}
}

// Close stops the poller. Descriptors still watched are not closed, and
// are not reported any more.
func (p *Poller) Close() {
	p.closeOnce.Do(func() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(p.wakefd, one[:])
		<-p.done
		_ = unix.Close(p.epfd)
		_ = unix.Close(p.wakefd)
	})
}
