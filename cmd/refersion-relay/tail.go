package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/telemetry"
)

const tailSynopsis = `tail [--addr HOST:PORT] [--json] [--order-id ID]... [--outcome OUTCOME]... [-n N | --all] [--no-follow]

Follows a running relay's journal of outcomes over its admin address: every order
delivered or skipped, every cancel, every dead letter, with Refersion's status and
answer, attempts, latency and trace id, as they are settled. It shows the newest
-n first, then follows until interrupted, resuming by itself when the relay
restarts. Emails are masked unless the relay runs with LOG_PII=true.

Outcomes (--outcome, repeatable or a comma list): delivered, skipped, cancelled,
clamped, nothing_to_cancel, no_conversion, already_done, the dead-letter reasons
(invalid, malformed, identity, rejected, panic, undelivered, refund_before_order,
amount_only_refund, conflict, no_account), dead_lettered (any of them), unauthorized,
stopped, replayed.`

// tailOutcomes are the values of --outcome.
var tailOutcomes = []string{"delivered", "skipped", "cancelled", "clamped", "nothing_to_cancel", "no_conversion", "already_done",
	deadletter.ReasonInvalid, deadletter.ReasonMalformed, deadletter.ReasonIdentity, deadletter.ReasonRejected, deadletter.ReasonPanic,
	deadletter.ReasonUndelivered, deadletter.ReasonRefundBeforeOrder, deadletter.ReasonAmountOnly,
	deadletter.ReasonConflict, deadletter.ReasonNoAccount, "dead_lettered", "unauthorized", "stopped", "replayed"}

func cmdTail(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("tail", tailSynopsis, stdout)
	addr := fs.String("addr", "127.0.0.1:9464", "the relay's ADMIN_ADDR: HOST:PORT, :PORT or http://HOST:PORT")
	asJSON := fs.Bool("json", false, "one JSON object per outcome, instead of a line for people")
	n := fs.Int("n", 10, "how many of the newest outcomes to show first")
	all := fs.Bool("all", false, "show every outcome the relay's journal still holds first (JOURNAL_SIZE)")
	noFollow := fs.Bool("no-follow", false, "print what the journal holds and exit")
	var orderIDs, outcomes multiFlag
	fs.Var(&orderIDs, "order-id", "only this order_id (repeatable)")
	fs.Var(&outcomes, "outcome", "only this outcome (repeatable, or a comma list); see above")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	base, err := adminURL(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", errUsage, *addr, err)
	}
	f := journal.Filter{OrderIDs: orderIDs}
	for _, o := range outcomes {
		for _, v := range strings.Split(o, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if !slices.Contains(tailOutcomes, v) {
				return fmt.Errorf("%w: --outcome %q: want one of %s", errUsage, v, strings.Join(tailOutcomes, ", "))
			}
			f.Outcomes = append(f.Outcomes, v)
		}
	}
	if *n < 0 {
		return fmt.Errorf("%w: -n %d: want 0 or more (or --all)", errUsage, *n)
	}
	backlog := *n
	if *all {
		backlog = -1
	}
	write := textWriter(stdout, telemetry.IsTerminal(stdout))
	if *asJSON {
		enc := json.NewEncoder(stdout)
		write = func(e journal.Entry) error { return enc.Encode(e) }
	}
	err = journal.Follow(ctx, base, journal.FollowOptions{Filter: f, Backlog: backlog, Follow: !*noFollow,
		Notice: func(msg string) { fmt.Fprintf(stderr, "tail: %s\n", msg) }}, write)
	switch {
	case errors.Is(err, journal.ErrNoJournal):
		return fmt.Errorf("%s: %w", base, err)
	case err != nil && ctx.Err() == nil:
		return fmt.Errorf("following %s: %w (is the relay running with ADMIN_ADDR there?)", base+journal.StreamPath, err)
	}
	return nil
}

// textWriter writes one line per outcome for people; color adds ANSI colors
// to the outcome (a terminal).
func textWriter(w io.Writer, color bool) func(journal.Entry) error {
	return func(e journal.Entry) error {
		_, err := io.WriteString(w, tailLine(e, color)+"\n")
		return err
	}
}

// tailLine is e as one line:
//
//	12:04:05.123Z  delivered                 order 1042  1 attempt   45.2 ms  p2@1187
//	12:04:05.200Z  rejected (dead-lettered)  order 1043  HTTP 422  1 attempt  12.0 ms  p0@57  {"errors":[...]}
func tailLine(e journal.Entry, color bool) string {
	outcome := e.Outcome
	if e.DeadLettered {
		outcome += " (dead-lettered)"
	}
	pad := fmt.Sprintf("%-26s", outcome)
	if color {
		code := "32" // green
		switch {
		case e.DeadLettered, e.Outcome == "unauthorized", e.Outcome == "stopped":
			code = "31" // red
		case e.Outcome != "delivered" && e.Outcome != "cancelled" && e.Outcome != "clamped":
			code = "33" // yellow
		}
		pad = "\x1b[" + code + "m" + pad + "\x1b[0m"
	}
	parts := []string{e.Time.UTC().Format("15:04:05.000Z"), pad}
	if e.OrderID != "" {
		parts = append(parts, "order "+e.OrderID)
	} else {
		parts = append(parts, "(no order_id)")
	}
	if e.Status != 0 {
		parts = append(parts, fmt.Sprintf("HTTP %d", e.Status))
	}
	switch e.Attempts {
	case 0:
	case 1:
		parts = append(parts, "1 attempt")
	default:
		parts = append(parts, fmt.Sprintf("%d attempts", e.Attempts))
	}
	parts = append(parts, fmt.Sprintf("%.1f ms", e.LatencyMS))
	if e.Outcome != "replayed" {
		parts = append(parts, fmt.Sprintf("p%d@%d", e.Partition, e.Offset))
	}
	oneLine := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
	if e.Reason != "" {
		parts = append(parts, oneLine.Replace(e.Reason))
	}
	if e.Body != "" {
		parts = append(parts, oneLine.Replace(e.Body))
	}
	if e.TraceID != "" {
		parts = append(parts, "trace "+e.TraceID)
	}
	return strings.Join(parts, "  ")
}
