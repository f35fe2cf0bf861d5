// Command parley-load drives a chat server on this machine with many
// WebSocket clients and measures it: delivery latency from each message's
// scheduled send time (open loop, so a late send counts), loss and
// duplicates per receiver, connects per second, memory per socket, and the
// server's CPU and memory from /proc.
//
// It prints one JSON line per run on stdout, and a human summary and
// progress lines on stderr. It only ever connects to loopback addresses.
//
//	parley-load --scenario hot-room --url http://127.0.0.1:8000 --pid $(pidof parley)
//
// The server must run with --send-limit=off, --history-limit=off,
// --signup-limit=off, --room-create-limit=off and --user-sockets=0 (the
// tool makes many accounts from one address, each creates rooms, and the
// history scenario asks for pages as fast as it can). See
// docs/BENCHMARKS.md for every scenario.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley-load:", err)
		os.Exit(1)
	}
}

// run parses args, runs the scenario they name, and reports on stdout (the
// JSON line) and stderr (summary, progress).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, stderr)
	if err != nil {
		return err
	}
	res, err := runScenario(ctx, cfg, stderr)
	if res != nil {
		if werr := writeJSON(stdout, res); werr != nil && err == nil {
			err = werr
		}
		writeSummary(stderr, res)
		if err == nil && cfg.Check {
			err = res.check()
		}
	}
	return err
}

// runScenario runs the scenario cfg names.
func runScenario(ctx context.Context, cfg config, log io.Writer) (*Result, error) {
	switch cfg.Scenario {
	case "idle", "idle-streams":
		return runIdle(ctx, cfg, log)
	case "persistence":
		return runPersistence(ctx, cfg, log)
	case "history":
		return runHistory(ctx, cfg, log)
	default:
		return runFanout(ctx, cfg, log)
	}
}
