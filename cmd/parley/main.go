// Command parley is a self-hosted real-time chat server. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"parley/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := app.Run(ctx, os.Args[1:], app.Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(exitCode(err))
}

// exitCode prints err as one line and returns the status it calls for.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	code := 1
	var e *app.ExitError
	if errors.As(err, &e) {
		code = e.Code
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "parley:", err)
	}
	return code
}
