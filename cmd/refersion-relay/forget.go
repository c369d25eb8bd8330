package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/state"
	"github.com/refersion-relay/refersion-relay/state/disk"
)

// cmdForget erases what the state backend holds about one person, as a
// Segment delete event would: the traits and alias links stored under the
// given ids and under every id linked to them. It reads only the STATE_*
// and REDIS_URL settings. With the disk backend the relay must be stopped
// (it holds the files), and STATE_DIR must exist and hold the relay's
// identity store: a mistyped directory is an error, not an empty success.
// The files are rewritten before the command returns, so nothing erased
// stays in them. It says how many records it erased in each store, and
// never prints the ids or traits.
func cmdForget(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("forget", "forget --user-id ID | --anonymous-id ID", stdout)
	userID := fs.String("user-id", "", "the person's Segment userId")
	anonID := fs.String("anonymous-id", "", "the person's Segment anonymousId")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *userID == "" && *anonID == "" {
		return fmt.Errorf("%w: give --user-id, --anonymous-id or both (see --help)", errUsage)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if err := cfg.State.Validate(); err != nil {
		return invalid(err)
	}
	if cfg.State.Backend == "memory" {
		return errors.New("STATE_BACKEND is memory, which keeps nothing after a process ends: there is nothing to forget; set STATE_BACKEND and STATE_DIR or REDIS_URL as the relay has them")
	}
	// Only warnings (an identity file set aside) reach stderr: the command's
	// answer is its stdout.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	stores, err := state.Open(ctx, cfg.State, state.Existing(), state.WithLogger(log))
	if errors.Is(err, disk.ErrLocked) {
		return fmt.Errorf("%w: stop the relay first, or send a Segment delete event for this person through its topic instead", err)
	}
	if err != nil {
		return err
	}
	erased, err := stores.Forget(ctx, *userID, *anonID)
	if err = errors.Join(err, stores.Close()); err != nil {
		return fmt.Errorf("nothing or only part may have been erased; run the command again: %w", err)
	}
	where := stores.Backend + " state"
	if stores.Dir != "" {
		where += " in " + stores.Dir
	}
	_, err = fmt.Fprintf(stdout, "forgotten: the %s holds nothing more of this person\n"+
		"  identity store: %d records erased (%d traits, %d alias links) under %d ids\n"+
		"  sent-order store and ledger: 0 records erased (they hold order ids and lines, nothing about people)\n",
		where, erased.Traits+erased.Links, erased.Traits, erased.Links, erased.IDs)
	return err
}
