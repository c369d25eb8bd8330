package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// newFlags returns a FlagSet whose --help prints the summary and the flags to
// stdout; parse errors are reported by parseFlags.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: refersion-relay %s\n\nFlags:\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args. It returns errHelp after printing help for -h, and a
// usage error naming the bad flag otherwise.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return errHelp
	}
	if err != nil {
		return fmt.Errorf("%w: %v (see --help)", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", errUsage, fs.Arg(0))
	}
	return nil
}

// errHelp means help was printed; the command exits 0.
var errHelp = errors.New("help shown")
