package testsvc

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the shared PostgreSQL server of the tests. Own
// clusters are started only where it is set.
const PostgresEnv = "PARLEY_TEST_POSTGRES"

// Postgres is a throwaway PostgreSQL cluster of the test's own, which the
// test may stop and start again on the same port.
type Postgres struct {
	tb   testing.TB
	Port int
	// URL is the cluster's postgres database as its superuser, postgres.
	URL string

	bin  string // the folder of initdb and postgres
	data string
	cred *syscall.Credential // whom the server runs as; nil: as we are
	p    *process
}

// StartPostgres makes a new cluster in a temporary folder (initdb), starts
// it on a free loopback port, and stops it and removes the folder when the
// test ends. It skips the test unless PARLEY_TEST_POSTGRES is set, and
// fails it if the cluster cannot be made.
//
// PostgreSQL refuses to run as root: when the test runs as root, the
// cluster belongs to, and the server runs as, the postgres user. The
// cluster trades durability for speed (fsync off): it survives a crash of
// its server, as tests make, but not of the machine.
func StartPostgres(tb testing.TB) *Postgres {
	tb.Helper()
	needEnv(tb, PostgresEnv, "PostgreSQL cluster")
	bin := postgresBin(tb)
	pg := &Postgres{tb: tb, bin: bin, Port: FreePort(tb)}
	pg.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", pg.Port)

	// Not tb.TempDir: its parents are private to the user running the test.
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	pg.data = filepath.Join(dir, "data")
	if err := os.Mkdir(pg.data, 0o700); err != nil {
		tb.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, PostgreSQL needs the postgres user to run as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, pg.data} {
			if err := os.Chown(d, uid, gid); err != nil {
				tb.Fatal(err)
			}
		}
	}

	initdb := exec.Command(filepath.Join(bin, "initdb"), "--pgdata="+pg.data, "--username=postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, tail(string(out)))
	}
	pg.Start()
	tb.Cleanup(pg.Kill)
	return pg
}

// postgresBin finds the newest PostgreSQL server installed, in Debian's
// /usr/lib/postgresql/VERSION/bin, or else on the PATH.
func postgresBin(tb testing.TB) string {
	tb.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	tb.Fatalf("%s is set but PostgreSQL's initdb is found neither in /usr/lib/postgresql/*/bin nor on the PATH", PostgresEnv)
	return ""
}

// Start starts the server, after StartPostgres made the cluster or after
// Stop, and returns once it accepts connections.
func (pg *Postgres) Start() {
	pg.tb.Helper()
	cmd := exec.Command(filepath.Join(pg.bin, "postgres"), "-D", pg.data,
		"-c", "listen_addresses=127.0.0.1", "-c", "port="+strconv.Itoa(pg.Port),
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "logging_collector=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	// SIGQUIT is PostgreSQL's immediate shutdown: its children go too.
	pg.p = startProcess(pg.tb, "postgres on port "+strconv.Itoa(pg.Port), cmd,
		"database system is ready to accept connections", syscall.SIGQUIT)
	ctx, cancel := context.WithTimeout(context.Background(), StartWait)
	defer cancel()
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		pg.tb.Fatalf("postgres on port %d said it was ready but does not answer: %v\n%s", pg.Port, err, tail(pg.p.out.String()))
	}
	c.Close(ctx)
}

// Stop shuts the server down at once, as a crash would (immediate
// shutdown: connections are cut, and the next start recovers from the
// write-ahead log). Stopping a server that is not running does nothing.
func (pg *Postgres) Stop() {
	if pg.p == nil {
		return
	}
	pg.p.signal(syscall.SIGQUIT)
	pg.p = nil
}

// Kill is Stop, for cleanup.
func (pg *Postgres) Kill() { pg.Stop() }

// CreateDB creates a database in the cluster and returns its URL.
func (pg *Postgres) CreateDB(name string) string {
	pg.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartWait)
	defer cancel()
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		pg.tb.Fatal(err)
	}
	defer c.Close(ctx)
	// The name is the test's own, not a user's.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		pg.tb.Fatalf("create database %s: %v", name, err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.Port, name)
}

// Log is what the running server has written.
func (pg *Postgres) Log() string {
	if pg.p == nil {
		return ""
	}
	return pg.p.out.String()
}
