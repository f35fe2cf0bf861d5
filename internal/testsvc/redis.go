package testsvc

import (
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisEnv names the shared Redis server of the tests. Own servers are
// started only where it is set.
const RedisEnv = "PARLEY_TEST_REDIS"

// Redis is a redis-server of the test's own, without persistence, which
// the test may kill, pause and start again on the same port.
type Redis struct {
	tb   testing.TB
	Port int
	URL  string // redis://127.0.0.1:PORT/0

	p *process
}

// StartRedis starts a redis-server on a free loopback port and kills it
// when the test ends. It skips the test unless PARLEY_TEST_REDIS is set,
// and fails it if redis-server cannot be started.
func StartRedis(tb testing.TB) *Redis {
	tb.Helper()
	needEnv(tb, RedisEnv, "redis-server")
	if _, err := exec.LookPath("redis-server"); err != nil {
		tb.Fatalf("%s is set but redis-server is not installed: %v", RedisEnv, err)
	}
	port := FreePort(tb)
	r := &Redis{tb: tb, Port: port, URL: "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"}
	r.Start()
	tb.Cleanup(r.Kill)
	return r
}

// Start starts the server again after Kill, on the same port, and returns
// once it answers PING.
func (r *Redis) Start() {
	r.tb.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	r.p = startProcess(r.tb, "redis-server on port "+strconv.Itoa(r.Port), cmd,
		"Ready to accept connections", syscall.SIGKILL)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.Port)})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		r.tb.Fatalf("redis-server on port %d said it was ready but does not answer PING: %v", r.Port, err)
	}
}

// Kill kills the server, as a crash would, and waits until it is gone.
// Killing a server that is not running does nothing.
func (r *Redis) Kill() {
	if r.p == nil {
		return
	}
	r.p.kill()
	r.p = nil
}

// Pause stops the server's process without closing its connections: to
// its clients it is a peer that went silent.
func (r *Redis) Pause() {
	r.tb.Helper()
	if err := r.p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		r.tb.Fatal(err)
	}
}

// Resume continues a paused server.
func (r *Redis) Resume() {
	r.tb.Helper()
	if err := r.p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		r.tb.Fatal(err)
	}
}

// Log is what the server has written.
func (r *Redis) Log() string {
	if r.p == nil {
		return ""
	}
	return r.p.out.String()
}
