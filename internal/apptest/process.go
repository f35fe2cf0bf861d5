package apptest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary builds cmd/parley once per test binary and returns its path. The
// binary goes to one place for every test binary of this work tree,
// os.TempDir()/parley-test-HASH, each build replacing the last by a rename
// (a process running the old one keeps it), so that test runs do not leave
// a binary each behind.
func Binary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			build.err = fmt.Errorf("go env GOMOD: %v", err)
			return
		}
		sum := sha256.Sum256(bytes.TrimSpace(gomod))
		dir := filepath.Join(os.TempDir(), "parley-test-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			build.err = err
			return
		}
		f, err := os.CreateTemp(dir, "parley-*")
		if err != nil {
			build.err = err
			return
		}
		f.Close()
		out, err := exec.Command("go", "build", "-o", f.Name(), "parley/cmd/parley").CombinedOutput()
		if err != nil {
			os.Remove(f.Name())
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		build.path = filepath.Join(dir, "parley")
		if err := os.Rename(f.Name(), build.path); err != nil {
			os.Remove(f.Name())
			build.err = err
		}
	})
	if build.err != nil {
		tb.Fatal(build.err)
	}
	return build.path
}

// StartProcess runs `parley serve` as a child process, the binary that
// Binary builds, on a free loopback port, for tests that must kill it as a
// crash would (Kill). Its environment is opt.Env and PATH alone. Stop sends
// SIGTERM; the process is killed when the test ends if still running.
func StartProcess(tb testing.TB, opt Options) *Server {
	tb.Helper()
	if opt.DB == "" {
		opt.DB = "sqlite:" + tb.TempDir() + "/parley.db"
	}
	args := append([]string{"serve", "--addr=127.0.0.1:0", "--db=" + opt.DB, "--log-level=warn"}, opt.Args...)
	cmd := exec.Command(Binary(tb), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range opt.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Should the test binary die first, so does the process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s := &Server{DB: opt.DB, done: make(chan error, 1), stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s.proc = cmd.Process
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		first := true
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		s.done <- cmd.Wait()
	}()
	s.cancel = func() { cmd.Process.Signal(syscall.SIGTERM) }
	tb.Cleanup(func() {
		s.Kill()
	})
	select {
	case line, ok := <-lines:
		addr, found := strings.CutPrefix(line, "parley: serving on http://")
		if !ok || !found {
			s.Kill()
			tb.Fatalf("parley did not start: %q\n%s", line, s.stderr.String())
		}
		s.Addr, s.URL = addr, "http://"+addr
	case <-time.After(30 * time.Second):
		s.Kill()
		tb.Fatalf("parley did not start within 30s\n%s", s.stderr.String())
	}
	return s
}

// Kill ends a process that StartProcess started with SIGKILL, as a crash
// would, and waits until it is gone. It is Stop for a Server of Start.
func (s *Server) Kill() {
	if s.proc == nil {
		s.Stop()
		return
	}
	s.once.Do(func() {
		s.proc.Kill()
		s.err = <-s.done
	})
}
