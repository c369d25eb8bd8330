// Command refersion-relay forwards Segment-spec Order Completed events to
// Refersion's paid-order webhook. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run returns errUsage (wrapped) for bad arguments,
// which exits 2; any other error exits 1.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var errUsage = errors.New("usage")

// exitError carries an explicit exit code for commands whose contract has more
// than success and failure (replay: 1 = some orders failed again).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func commands() []command {
	return []command{
		{"run", "consume Kafka and deliver orders to Refersion (the service)", cmdRun},
		{"replay", "re-send failed orders from the dead-letter topic, a file, or a window of the source topic", cmdReplay},
		{"forget", "erase what the state store knows of a person (--user-id, --anonymous-id)", cmdForget},
		{"demo", "run broker, sandbox and relay in one process over a generated stream", cmdDemo},
		{"sandbox", "run a local stand-in for Refersion's paid-order webhook", cmdSandbox},
		{"map", "map NDJSON events on stdin to Refersion payloads on stdout", cmdMap},
		{"gen", "write a generated storefront event stream (NDJSON) to stdout", cmdGen},
		{"broker", "run an in-process Kafka-protocol broker for development and tests", cmdBroker},
		{"health", "exit 0 if a running relay is ready (a container health check)", cmdHealth},
		{"config", "print the effective configuration (secrets masked); fails if invalid", cmdConfig},
		{"version", "print the version", cmdVersion},
	}
}

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdVersion(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "refersion-relay %s\n", version)
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "refersion-relay forwards Segment Order Completed events to Refersion.")
	fmt.Fprintln(w, "\nUsage: refersion-relay <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'refersion-relay <command> --help' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := c.run(ctx, args[1:], stdin, stdout, stderr)
		var ee *exitError
		switch {
		case err == nil, errors.Is(err, errHelp):
			return 0
		case errors.As(err, &ee):
			fmt.Fprintf(stderr, "refersion-relay %s: %v\n", c.name, ee.err)
			return ee.code
		case errors.Is(err, errUsage):
			if msg := err.Error(); msg != errUsage.Error() {
				fmt.Fprintf(stderr, "refersion-relay %s: %s\n", c.name, msg)
			}
			return 2
		default:
			fmt.Fprintf(stderr, "refersion-relay %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "refersion-relay: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}
