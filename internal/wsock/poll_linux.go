package wsock

import (
	"encoding/binary"
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Poller tells when idle connections have bytes to read, through one epoll
// instance, so that an idle socket holds no goroutine: a reader is started
// when there is something to read, and the connection is armed again when
// it is done. A connection's readiness is reported once per arming, so its
// reads never overlap.
type Poller struct {
	epfd, wakefd int
	watches
	done      chan struct{}
	closeOnce sync.Once
}

const armed = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

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
	// The wake-up eventfd has id 0; connections count from 1.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Add watches conn: onReadable is called, in a goroutine of its own, the
// next time conn has bytes to read or is closed by its peer; call Rearm
// after reading to be called again. The id names conn to Rearm and Remove.
func (p *Poller) Add(conn syscall.Conn, onReadable func()) (uint64, error) {
	id, w, err := p.add(conn, onReadable)
	if err != nil {
		return 0, err
	}
	if err := p.ctl(w.rc, unix.EPOLL_CTL_ADD, id); err != nil {
		p.remove(id)
		return 0, err
	}
	return id, nil
}

// Rearm asks for the next readiness of the connection id. Bytes that
// arrived meanwhile are reported at once.
func (p *Poller) Rearm(id uint64) {
	if w, ok := p.get(id); ok {
		_ = p.ctl(w.rc, unix.EPOLL_CTL_MOD, id)
	}
}

// Remove stops watching the connection id. Call it before closing the
// connection, so that its file descriptor is never watched past its life.
func (p *Poller) Remove(id uint64) {
	if w, ok := p.remove(id); ok {
		_ = p.ctl(w.rc, unix.EPOLL_CTL_DEL, id)
	}
}

// ctl runs epoll_ctl under the connection's own lock on its descriptor,
// which cannot be closed (and its number reused) meanwhile.
func (p *Poller) ctl(rc syscall.RawConn, op int, id uint64) error {
	var err error
	cerr := rc.Control(func(fd uintptr) {
		// #nosec G115 -- the id's two halves, bit for bit, as epoll_data
		ev := unix.EpollEvent{Events: armed, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if cerr != nil {
		return cerr
	}
	return err
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
				go w.fn()
			}
		}
	}
}

// Close stops the poller. Connections still watched are not closed, and
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
