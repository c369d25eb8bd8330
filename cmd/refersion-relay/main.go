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
	"slices"
	"strings"
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

// commands are the service's commands, in every build.
func commands() []command {
	return []command{
		{"run", "consume Kafka and deliver orders to Refersion (the service)", cmdRun},
		{"replay", "re-send failed orders from the dead-letter topic, a file, or a window of the source topic", cmdReplay},
		{"forget", "erase what the state store knows of a person (--user-id, --anonymous-id)", cmdForget},
		{"map", "map NDJSON events on stdin to Refersion payloads on stdout", cmdMap},
		{"tail", "follow a running relay's outcomes (orders, cancels, dead letters) as they are settled", cmdTail},
		{"health", "exit 0 if a running relay is ready (a container health check)", cmdHealth},
		{"config", "print the effective configuration (secrets masked); fails if invalid", cmdConfig},
		{"version", "print the version (also --version)", cmdVersion},
	}
}

// devCommandNames are the development commands (demo, sandbox, gen,
// broker), which a build with -tags nodev leaves out: devCommands is empty
// there. They are named here so that such a build can say why it lacks one.
var devCommandNames = []string{"demo", "sandbox", "gen", "broker"}

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func cmdVersion(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("version", "version\n\nPrints the version stamped at build time (git describe), or dev.", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "refersion-relay %s\n", version)
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "refersion-relay forwards Segment Order Completed events to Refersion.")
	fmt.Fprintln(w, "\nUsage: refersion-relay <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	if dev := devCommands(); len(dev) > 0 {
		fmt.Fprintln(w, "\nDevelopment commands:")
		for _, c := range dev {
			fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintln(w, "\nRun 'refersion-relay <command> --help' for a command's flags, and")
	fmt.Fprintln(w, "'refersion-relay config --markdown' for every environment variable.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" { // help COMMAND is COMMAND --help
			return run([]string{args[1], "--help"}, stdin, stdout, stderr)
		}
		usage(stdout)
		return 0
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	for _, c := range append(commands(), devCommands()...) {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return exitCode(c.name, c.run(ctx, args[1:], stdin, stdout, stderr), stderr)
	}
	if slices.Contains(devCommandNames, args[0]) {
		fmt.Fprintf(stderr, "refersion-relay: %s is a development command, left out of this build (-tags nodev, the container image's);\n"+
			"build the full binary with 'make build' or 'go install github.com/refersion-relay/refersion-relay/cmd/refersion-relay@latest'\n", args[0])
		return 2
	}
	fmt.Fprintf(stderr, "refersion-relay: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// exitCode reports a command's error on stderr and returns the exit status:
// 0 for success or help, 2 for a usage error (with the command's usage when
// a flag did not parse), an exitError's own code, 1 otherwise.
func exitCode(name string, err error, stderr io.Writer) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ee):
		fmt.Fprintf(stderr, "refersion-relay %s: %v\n", name, ee.err)
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "refersion-relay %s: %s\n\n%s", name, ue.msg, ue.usage)
		return 2
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "refersion-relay %s: %s\nRun 'refersion-relay %s --help' for usage.\n", name, msg, name)
		return 2
	default:
		fmt.Fprintf(stderr, "refersion-relay %s: %v\n", name, err)
		return 1
	}
}
