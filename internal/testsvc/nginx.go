package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"parley/internal/testenv"
)

// Nginx is an nginx of the test's own.
type Nginx struct {
	Dir  string // its prefix: configuration, pid file, temporary files
	Addr string // where it listens, host:port
	p    *process
}

// NginxBinary returns the path of nginx. Without it the test is skipped,
// except under CI (CI set), where it fails: CI installs nginx.
func NginxBinary(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr == nil {
			return "/usr/sbin/nginx"
		}
		testenv.Missing(tb, fmt.Sprintf("nginx not installed (apt-get install nginx; CI installs it): %v", err))
	}
	return p
}

// StartNginx runs nginx with the configuration conf, in the foreground,
// until the test ends, and returns once addr accepts connections. conf is
// a whole nginx.conf that listens on addr; StartNginx puts the paths of
// nginx's temporary files inside the test's own folder (after the line
// "http {"), and the pid file there too, so that it touches nothing of the
// system's nginx. Logs written to /dev/stdout and /dev/stderr are kept for
// the test's failure messages.
func StartNginx(tb testing.TB, conf, addr string) *Nginx {
	tb.Helper()
	bin := NginxBinary(tb)
	// Not tb.TempDir: nginx's workers may run as another user, who must
	// reach the temporary folders.
	dir, err := os.MkdirTemp("", "parley-nginx-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	var temp strings.Builder
	for _, k := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		temp.WriteString("\n    " + k + "_temp_path " + filepath.Join(dir, k) + ";")
	}
	i := strings.Index(conf, "http {")
	if i < 0 {
		tb.Fatal("testsvc: the nginx configuration has no \"http {\" block")
	}
	i += len("http {")
	conf = conf[:i] + temp.String() + conf[i:]
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}

	test := exec.Command(bin, "-t", "-p", dir+"/", "-c", path, "-e", "stderr", "-g", "pid "+filepath.Join(dir, "nginx.pid")+";")
	if out, err := test.CombinedOutput(); err != nil {
		tb.Fatalf("nginx -t: %v\n%s\n--- configuration:\n%s", err, out, conf)
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", path, "-e", "stderr",
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+";")
	// SIGTERM: nginx's fast shutdown, which also ends its workers.
	n := &Nginx{Dir: dir, Addr: addr, p: startProcess(tb, "nginx", cmd, "", syscall.SIGTERM)}
	tb.Cleanup(func() { n.p.signal(syscall.SIGTERM) })
	if err := waitListening(addr, StartWait, n.p.exited); err != nil {
		tb.Fatalf("nginx: %v\n%s", err, tail(n.p.out.String()))
	}
	return n
}

// Log is what nginx has written to its standard output and error.
func (n *Nginx) Log() string { return n.p.out.String() }
