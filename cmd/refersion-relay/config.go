package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/refersion-relay/refersion-relay/config"
)

// cmdConfig prints the effective configuration read from the environment,
// grouped by where each value comes from, secrets and URL credentials masked, and fails listing every problem when it
// is invalid (or, printing nothing, every value that does not parse). With
// --markdown it prints the README's configuration table instead.
func cmdConfig(_ context.Context, args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := newFlags("config", "config [--markdown]\n\nPrints the effective configuration read from the environment: the variables set, those\ntaken from them (KAFKA_DLQ_TOPIC, the keys of REFERSION_API_KEY), then the defaults.\nSecrets are masked; the public key is shown. Exits 1, listing every problem, when the\nconfiguration is invalid.", stdout)
	markdown := fs.Bool("markdown", false, "print the README configuration table, generated from the config struct, and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *markdown {
		_, err := io.WriteString(stdout, config.Markdown())
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return invalid(err) // every value that does not parse, one per line
	}
	if err := cfg.PrintSources(stdout, os.LookupEnv); err != nil {
		return err
	}
	return invalid(cfg.Validate())
}

// invalid turns Load's or Validate's joined error into one message, a
// problem per line.
func invalid(err error) error {
	if err == nil {
		return nil
	}
	problems := []error{err}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		problems = joined.Unwrap()
	}
	var b strings.Builder
	for _, p := range problems {
		b.WriteString("\n  - " + p.Error())
	}
	noun := "problems"
	if len(problems) == 1 {
		noun = "problem"
	}
	return fmt.Errorf("the configuration is invalid (%d %s):%s", len(problems), noun, b.String())
}
