package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
)

// newFlags returns a FlagSet for a command. parseFlags prints its usage once:
// on stdout for --help, on stderr (through the returned error) for a flag
// that does not parse.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package prints the error and calls Usage itself while
	// parsing; both go nowhere, so that parseFlags decides where the usage
	// goes and prints it once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	helps.Store(fs, helpText{synopsis: synopsis, stdout: stdout})
	return fs
}

// helpText is what newFlags knows of a command for its usage.
type helpText struct {
	synopsis string
	stdout   io.Writer
}

// helps holds each FlagSet's helpText (*flag.FlagSet → helpText) until
// parseFlags takes it.
var helps sync.Map

// usageText is a command's usage: the synopsis, then its flags (long names
// with two dashes, as the README writes them), if it has any.
func usageText(fs *flag.FlagSet, synopsis string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: refersion-relay %s\n", strings.TrimRight(synopsis, "\n"))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return b.String()
	}
	var defaults bytes.Buffer
	fs.SetOutput(&defaults)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	b.WriteString("\nFlags:\n")
	for _, line := range strings.SplitAfter(defaults.String(), "\n") {
		// "  -name ..." becomes "  --name ..." for names longer than a letter.
		if rest, ok := strings.CutPrefix(line, "  -"); ok && len(rest) > 1 && rest[1] != ' ' && rest[1] != '\n' {
			line = "  --" + rest
		}
		b.WriteString(line)
	}
	return b.String()
}

// parseFlags parses args. For -h or --help it prints the usage to stdout and
// returns errHelp (exit 0); for a flag that does not parse, or an argument
// where none is expected, it returns a *usageError carrying the usage, which
// main prints to stderr (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	v, _ := helps.LoadAndDelete(fs)
	h, _ := v.(helpText)
	if h.stdout == nil {
		h.stdout = io.Discard
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, werr := io.WriteString(h.stdout, usageText(fs, h.synopsis))
		if werr != nil {
			return werr
		}
		return errHelp
	case err != nil:
		return &usageError{msg: err.Error(), usage: usageText(fs, h.synopsis)}
	case fs.NArg() > 0:
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0)), usage: usageText(fs, h.synopsis)}
	}
	return nil
}

// errHelp means help was printed; the command exits 0.
var errHelp = errors.New("help shown")

// usageError is a command line that does not parse. It is errUsage (exit 2);
// main prints the message, then the usage, to stderr.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// flagProblems is a usage error for flags that parse but do not make sense
// together or alone: err's problems (one, or several joined), each naming its
// flag, then the usage.
func flagProblems(fs *flag.FlagSet, synopsis string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		msg = "invalid flags:\n  " + strings.ReplaceAll(msg, "\n", "\n  ")
	}
	return &usageError{msg: msg, usage: usageText(fs, synopsis)}
}
