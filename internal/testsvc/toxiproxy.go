package testsvc

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2/client"
)

// toxiproxyModule is the module of Shopify's toxiproxy. Its server is built
// at the version go.mod requires for the client package, so that the two
// speak the same API.
const toxiproxyModule = "github.com/Shopify/toxiproxy/v2"

// Toxiproxy is a toxiproxy server of the test's own: a TCP proxy between
// Parley and a service, whose connections the test slows, stalls or cuts
// (toxics) through its HTTP API.
type Toxiproxy struct {
	*toxiproxy.Client
	Addr string // its HTTP API, host:port

	tb testing.TB
	p  *process
}

var toxiproxyBuild struct {
	once sync.Once
	path string
	err  error
}

// ToxiproxyBinary returns the path of toxiproxy's server, built once per
// version into a cache folder shared by every test binary and by
// scripts/security.sh's tools: PARLEY_TOOLS_CACHE, by default
// ~/.cache/parley-tools. The first build needs the Go module proxy and takes
// some seconds; later ones are a stat.
func ToxiproxyBinary(tb testing.TB) string {
	tb.Helper()
	toxiproxyBuild.once.Do(func() {
		toxiproxyBuild.path, toxiproxyBuild.err = buildToxiproxy()
	})
	if toxiproxyBuild.err != nil {
		tb.Fatalf("toxiproxy: %v", toxiproxyBuild.err)
	}
	return toxiproxyBuild.path
}

func buildToxiproxy() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", toxiproxyModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", toxiproxyModule, err)
	}
	version := strings.TrimSpace(string(out))
	cache := os.Getenv("PARLEY_TOOLS_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(dir, "parley-tools")
	}
	dir := filepath.Join(cache, "toxiproxy-server@"+version)
	bin := filepath.Join(dir, "toxiproxy-server")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Into a folder of this build's own, then renamed into place: test
	// binaries of several packages may build at once.
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Outside the module (in tmp), so that the server is built with its own
	// go.mod and nothing touches Parley's.
	cmd := exec.Command("go", "install", toxiproxyModule+"/cmd/server@"+version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s/cmd/server@%s: %w\n%s", toxiproxyModule, version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "server"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// StartToxiproxy runs a toxiproxy server with its API on a free loopback
// port until the test ends, and returns once the API answers.
func StartToxiproxy(tb testing.TB) *Toxiproxy {
	tb.Helper()
	bin := ToxiproxyBinary(tb)
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(tb))
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-host", host, "-port", port)
	cmd.Env = append(os.Environ(), "LOG_LEVEL=warn")
	tp := &Toxiproxy{Addr: addr, tb: tb, p: startProcess(tb, "toxiproxy", cmd, "", syscall.SIGKILL)}
	tb.Cleanup(tp.p.kill)
	if err := waitListening(addr, StartWait, tp.p.exited); err != nil {
		tb.Fatalf("toxiproxy: %v\n%s", err, tail(tp.p.out.String()))
	}
	tp.Client = toxiproxy.NewClient(addr)
	return tp
}

// Proxy makes a proxy to upstream (host:port), listening on a free
// loopback port (the returned proxy's Listen), without toxics.
func (tp *Toxiproxy) Proxy(name, upstream string) *toxiproxy.Proxy {
	tp.tb.Helper()
	p, err := tp.CreateProxy(name, "127.0.0.1:0", upstream)
	if err != nil {
		tp.tb.Fatalf("toxiproxy: create proxy %s to %s: %v", name, upstream, err)
	}
	return p
}

// ProxyURL makes a proxy to the server of rawURL (a postgres:// or
// redis:// URL) and returns rawURL with its host and port replaced by the
// proxy's.
func (tp *Toxiproxy) ProxyURL(name, rawURL string) (*toxiproxy.Proxy, string) {
	tp.tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		tp.tb.Fatalf("toxiproxy: %q is not a URL with a host", rawURL)
	}
	upstream := u.Host
	if u.Port() == "" {
		tp.tb.Fatalf("toxiproxy: %q names no port", rawURL)
	}
	p := tp.Proxy(name, upstream)
	u.Host = p.Listen
	return p, u.String()
}

// Log is what the server has written.
func (tp *Toxiproxy) Log() string { return tp.p.out.String() }
