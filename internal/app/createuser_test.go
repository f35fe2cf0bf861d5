package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"parley/internal/app"
)

// TestCreateUserArguments: the name, --admin and the settings come in any
// order, a setting's value given apart (--db PATH) or joined (--db=PATH).
func TestCreateUserArguments(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "p.db")
	run := func(args ...string) (string, error) {
		var out strings.Builder
		err := app.Run(context.Background(), append([]string{"createuser"}, args...), app.Env{
			Getenv: func(k string) string {
				if k == "PARLEY_PASSWORD" {
					return "s3cret-pass"
				}
				return ""
			},
			Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out,
		})
		return out.String(), err
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"alice", "--db", db}, `admin "alice"`}, // the first account of an empty database

		{[]string{"--db", db, "bob"}, `user "bob"`},
		{[]string{"--history", "5", "carol", "--db", db, "--admin"}, `admin "carol"`},
		{[]string{"--signup=closed", "dave", "--db=" + db}, `user "dave"`},
		{[]string{"--admin", "--signup", "invite", "--db", db, "erin", "--log-level", "warn"}, `admin "erin"`},
		{[]string{"--send-limit", "-1/s,1", "frank", "--db", db}, ""},
	} {
		out, err := run(tc.args...)
		if tc.want == "" {
			if exitCode(err) != 2 || !strings.Contains(err.Error(), "--send-limit") {
				t.Errorf("createuser %q: %v %q, want the bad setting, exit 2", tc.args, err, out)
			}
			continue
		}
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("createuser %q: %q %v, want %s", tc.args, out, err, tc.want)
		}
	}
	if _, err := run("--db", db); exitCode(err) != 2 {
		t.Errorf("createuser without a name: %v, want exit 2", err)
	}
	if _, err := run("gina", "harry", "--db", db); exitCode(err) != 2 {
		t.Errorf("createuser with two names: %v, want exit 2", err)
	}
}
