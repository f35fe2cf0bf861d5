package app_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "modernc.org/sqlite"

	"parley/internal/app"
	"parley/internal/apptest"
)

// binary builds cmd/parley once for the tests that run it as a process.
func binary(t *testing.T) string { return apptest.Binary(t) }

// TestSIGTERM runs the real binary: SIGTERM closes sockets with 1001 and
// the process exits 0.
func TestSIGTERM(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "serve", "--addr=127.0.0.1:0", "--db=sqlite:"+filepath.Join(dir, "p.db"))
	cmd.Env = append(os.Environ(), "PARLEY_LOG_LEVEL=warn")
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no serving line: %v\n%s", err, stderr.String())
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "parley: serving on "))
	srv := &apptest.Server{URL: url, Addr: strings.TrimPrefix(url, "http://")}
	ws := srv.Dial(t, "lobby", apptest.DialOptions{Token: srv.User(t, "sigterm")})
	m := ws.Post("before the signal", "b1")

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, err = ws.TryNext(20 * time.Second)
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Fatalf("socket closed with %v (%v); want 1001", got, err)
	}
	go io.Copy(io.Discard, stdout)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("parley did not exit within 20s of SIGTERM")
	}

	// Restarted on the same database, every message is still there.
	srv2 := apptest.Start(t, apptest.Options{DB: "sqlite:" + filepath.Join(dir, "p.db")})
	tok := srv2.Token(t, "sigterm")
	ws2 := srv2.Dial(t, "lobby", apptest.DialOptions{Token: tok})
	ws2.Send(map[string]string{"command": "fetch_messages"})
	f := ws2.Expect("messages")
	if len(f.Messages) != 1 || f.Messages[0].ID != m.ID || f.Messages[0].Content != m.Content {
		t.Fatalf("after restart: %s", f.Raw)
	}
}

func TestRestartKeepsEveryMessage(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	srv := apptest.Start(t, apptest.Options{DB: db, Args: []string{"--send-limit=off"}})
	ws := srv.Dial(t, "keep", apptest.DialOptions{Token: srv.User(t, "keeper")})
	for i := 1; i <= 120; i++ {
		ws.Send(map[string]string{"command": "new_message", "message": fmt.Sprint("keep ", i), "client_id": fmt.Sprint(i)})
	}
	for i := 1; i <= 120; i++ {
		ws.Expect("new_message")
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	srv = apptest.Start(t, apptest.Options{DB: db})
	ws = srv.Dial(t, "keep", apptest.DialOptions{Token: srv.Token(t, "keeper")})
	var got []string
	for after := 0; ; {
		ws.Send(map[string]any{"command": "fetch_messages", "after": after, "limit": 50})
		f := ws.Expect("messages")
		for _, m := range f.Messages {
			got = append(got, m.Content)
			after = int(m.Seq)
		}
		if !*f.HasMore {
			break
		}
	}
	if len(got) != 120 || got[0] != "keep 1" || got[119] != "keep 120" {
		t.Fatalf("after restart %d messages (%q…)", len(got), got[:min(3, len(got))])
	}
}

// TestBadSettingsExit2: a bad setting or an unreachable database stops the
// program with one line on stderr and exit status 2.
func TestBadSettingsExit2(t *testing.T) {
	bin := binary(t)
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unreachable database", []string{"--db=postgres://parley@127.0.0.1:1/parley?connect_timeout=2"}, nil, "database"},
		{"unparseable database", []string{"--db=mysql://x"}, nil, "--db"},
		{"bad address", []string{"--addr=nowhere"}, nil, "--addr"},
		{"bad history from env", nil, []string{"PARLEY_HISTORY=many"}, "--history"},
		{"bad send limit", []string{"--send-limit=fast"}, nil, "--send-limit"},
		{"bad redis", []string{"--redis=http://x"}, nil, "--redis"},
		{"unreachable redis", []string{"--redis=redis://127.0.0.1:1"}, nil, "Redis"},
		{"bad origins", []string{"--origins=not a url"}, nil, "--origins"},
		{"bad log level", []string{"--log-level=loud"}, nil, "--log-level"},
		{"push contact push services refuse", []string{"--push-contact=mailto:root@localhost"}, nil, "--push-contact"},
		{"unknown flag", []string{"--colour=blue"}, nil, "colour"},
		{"unknown command", []string{"dance"}, nil, "dance"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := tc.args
			if tc.name != "unknown command" {
				args = append([]string{"serve", "--addr=127.0.0.1:0", "--db=sqlite:" + filepath.Join(dir, "p.db")}, tc.args...)
			}
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), tc.env...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				_ = cmd.Process.Kill()
				t.Fatal("still running after 30s")
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v; want status 2\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("stderr %q; want one line naming %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	db := "--db=sqlite:" + filepath.Join(dir, "p.db")
	run := func(args []string, env map[string]string, stdin string) (string, error) {
		var out, errb strings.Builder
		err := app.Run(context.Background(), args, app.Env{
			Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(stdin),
			Stdout: &out, Stderr: &errb,
		})
		return out.String() + errb.String(), err
	}
	if out, err := run([]string{"version"}, nil, ""); err != nil || !strings.HasPrefix(out, "parley ") {
		t.Fatalf("version: %q %v", out, err)
	}
	if out, err := run([]string{"migrate", db}, nil, ""); err != nil || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %q %v", out, err)
	}
	if out, err := run([]string{"createuser", "root", "--admin", db}, map[string]string{"PARLEY_PASSWORD": "s3cret-pass"}, ""); err != nil || !strings.Contains(out, `admin "root"`) {
		t.Fatalf("createuser --admin: %q %v", out, err)
	}
	if out, err := run([]string{"createuser", db, "typed"}, nil, "typed-password\n"); err != nil || !strings.Contains(out, `user "typed"`) {
		t.Fatalf("createuser, password typed: %q %v", out, err)
	}
	if _, err := run([]string{"createuser", "root", db}, map[string]string{"PARLEY_PASSWORD": "s3cret-pass"}, ""); err == nil {
		t.Fatal("createuser of an existing name succeeded")
	}
	if _, err := run([]string{"createuser", "bad name", db}, map[string]string{"PARLEY_PASSWORD": "s3cret-pass"}, ""); exitCode(err) != 2 {
		t.Fatalf("createuser with a bad name: %v", err)
	}
	if _, err := run([]string{"createuser", "shorty", db}, map[string]string{"PARLEY_PASSWORD": "short"}, ""); exitCode(err) != 2 {
		t.Fatalf("createuser with a short password: %v", err)
	}
	if _, err := run([]string{"createuser", "plain", db}, map[string]string{"PARLEY_PASSWORD": "password1"}, ""); exitCode(err) != 2 || !strings.Contains(err.Error(), "common") {
		t.Fatalf("createuser with one of the most common passwords: %v", err)
	}
	// The created user logs in.
	srv := apptest.Start(t, apptest.Options{DB: strings.TrimPrefix(db, "--db=")})
	var tok struct{ Token string }
	if r := apptest.Do(t, "POST", srv.URL+"/api/v1/tokens", "", map[string]string{"username": "root", "password": "s3cret-pass"}, &tok); r.StatusCode != 201 {
		t.Fatalf("created user cannot log in: %s", r.Status)
	}
}

func exitCode(err error) int {
	var e *app.ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return 1
	}
	return 0
}

// TestInternalError: when the database fails under a send, the sender gets
// an internal error frame, nothing is acknowledged, and the socket stays.
func TestInternalError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	srv := apptest.Start(t, apptest.Options{DB: "sqlite:" + path, Args: []string{"--send-limit=off"}})
	ws := srv.Dial(t, "fragile", apptest.DialOptions{Token: srv.User(t, "grace")})
	ws.Post("stored", "s1")

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE messages RENAME TO messages_away`); err != nil {
		t.Fatal(err)
	}
	ws.Send(map[string]string{"command": "new_message", "message": "lost?", "client_id": "s2"})
	f := ws.Expect("error")
	if f.Code != "internal" || f.ClientID != "s2" || strings.Contains(strings.ToLower(string(f.Raw)), "sql") {
		t.Fatalf("got %s; want an internal error that tells nothing of SQL", f.Raw)
	}
	if _, err := db.Exec(`ALTER TABLE messages_away RENAME TO messages`); err != nil {
		t.Fatal(err)
	}
	// The socket is still open and the retry with the same client_id works.
	if m := ws.Post("lost?", "s2"); m.Seq != 2 {
		t.Fatalf("retry after the failure got seq %d; want 2 (no seq taken by the failure)", m.Seq)
	}
}
