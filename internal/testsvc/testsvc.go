// Package testsvc starts services of a test's own: a redis-server, a
// PostgreSQL cluster, nginx and toxiproxy, each a child process on a free
// loopback port, which the test may kill, stop and start again, and which
// end with the test. Tests that only need a Redis or a PostgreSQL server use the
// shared ones that PARLEY_TEST_REDIS and PARLEY_TEST_POSTGRES name; these
// are for tests that take a service away.
//
// Like the shared servers, the services here run only where the matching
// variable is set (a test is skipped otherwise, with a message); with it
// set, a service that cannot be started fails the test.
package testsvc

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"parley/internal/testenv"
)

// StartWait bounds how long a service may take to start.
const StartWait = 30 * time.Second

// FreePort returns a loopback port that nothing listens on now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// needEnv skips tb unless the environment variable env is set (fails it
// under CI: testenv.Need).
func needEnv(tb testing.TB, env, what string) {
	tb.Helper()
	testenv.Need(tb, env, "a test that runs its own "+what)
}

// process is a child process whose output is kept, and which is watched
// for a line that says it is ready.
type process struct {
	cmd    *exec.Cmd
	out    *lineWatch
	exited chan struct{}
}

// startProcess starts cmd, killed with deathSig should the test binary die
// first, and waits up to StartWait for ready to appear in its output (not
// at all if ready is empty).
func startProcess(tb testing.TB, name string, cmd *exec.Cmd, ready string, deathSig syscall.Signal) *process {
	tb.Helper()
	p := &process{cmd: cmd, out: &lineWatch{want: []byte(ready), ready: make(chan struct{})}, exited: make(chan struct{})}
	if ready == "" {
		p.out.seen = true
		close(p.out.ready)
	}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = deathSig
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	select {
	case <-p.out.ready:
	case <-p.exited:
		tb.Fatalf("%s exited at start:\n%s", name, p.out)
	case <-time.After(StartWait):
		p.kill()
		tb.Fatalf("%s not ready within %v:\n%s", name, StartWait, p.out)
	}
	return p
}

// signal sends sig and waits up to StartWait for the process to end,
// killing it then.
func (p *process) signal(sig syscall.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		select {
		case <-p.exited:
			return
		default:
		}
	}
	select {
	case <-p.exited:
	case <-time.After(StartWait):
		p.kill()
	}
}

func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// lineWatch keeps a process's output and closes ready once want appears.
type lineWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  []byte
	ready chan struct{}
	seen  bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && bytes.Contains(w.buf.Bytes(), w.want) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitListening polls addr until it accepts a TCP connection, or d passes.
func waitListening(addr string, d time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listening on %s after %v: %v", addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tail is the end of a process's output, for a failure message.
func tail(s string) string {
	const n = 4000
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
