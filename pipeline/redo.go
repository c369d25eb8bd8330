package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
)

// Gate causes: what /readyz and the "consuming paused" log line name.
const (
	causeDestination  = "refersion unavailable"
	causeAPI          = "refersion API unavailable"
	causeUnauthorized = "refersion refused the keys (401/403): fix REFERSION_* keys and restart"
	causeDeadLetters  = "dead-letter topic unavailable"
)

// attempt is what one try of a redoable step came to.
type attempt struct {
	done bool // nothing to redo: the step succeeded or its outcome is settled by the caller
	// cause names why the step must be redone; "" redoes it without pausing
	// fetching (the trouble is this one item's, not everybody's).
	cause string
	err   error // the failure, logged
	// lane, when set, is the destination whose trouble it is: the cause is
	// held on the lane's gate, and a separate lane's work is held (parked)
	// instead of pausing fetching.
	lane *lane
}

// storeAttempt is the attempt of a step whose only failure is a state store
// (or ctx ending): a store that is down pauses fetching under its own name.
func storeAttempt(err error) attempt {
	if err == nil {
		return attempt{done: true}
	}
	var su *failure.StoreUnavailable
	if errors.As(err, &su) {
		return attempt{cause: su.Store + " unavailable", err: err}
	}
	return attempt{cause: "state store unavailable", err: err}
}

// redo is the pipeline's one pause-and-redo loop, used for every step that
// must not be given up (deciding an event, delivering an order, writing a
// dead letter). It calls try until try reports done and returns true, or
// returns false when ctx ends first: the work then stays un-done, so its
// offset is not committed and it is redone after a restart or by the
// partition's next owner.
//
// While try keeps failing with a cause, the gate is held under that cause:
// fetching pauses and /readyz names it, until a later try succeeds (the
// redone work is the probe) or redo returns. A pause therefore never outlives
// the work that caused it. Waits between tries double from RedoBackoff up to
// RedoBackoffMax. The first failure of a run is logged at warn level, later
// ones at debug: the gate's own "consuming paused" line names the cause once.
func (p *Pipeline) redo(ctx context.Context, try func() attempt) bool { return p.redoOn(ctx, nil, try) }

// redoOn is redo for a job on worker w: while a try fails for a separate
// lane's trouble, the job is held by that lane (its slot given back).
func (p *Pipeline) redoOn(ctx context.Context, w *worker, try func() attempt) bool {
	backoff := p.cfg.RedoBackoff
	release := func() {}
	defer func() { release() }()
	if w == nil {
		w = &worker{p: p, noSlot: true}
		defer w.unhold()
	}
	for n := 0; ; n++ {
		a := try()
		if a.done {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		level := slog.LevelDebug
		if n == 0 && (a.lane == nil || !a.lane.separate) { // a held lane's line names the cause once
			level = slog.LevelWarn
		}
		p.log.Log(ctx, level, "will redo", "cause", a.cause, "error", a.err)
		release()
		release = func() {}
		g := p.gate
		if a.lane != nil {
			g = a.lane.gate
		}
		if a.cause != "" {
			release = g.hold(a.cause)
		}
		held := a.lane != nil && a.lane.separate && !w.noSlot
		if held {
			w.park()
			w.heldOn(a.lane)
		}
		if held {
			// Held work gives up when the relay stops: it is redone after
			// the restart, and the drain is for the work that can finish.
			if sleepUnless(ctx, p.stopping, backoff) != nil || !w.unpark(ctx) {
				return false
			}
		} else if sleep(ctx, backoff) != nil {
			return false
		}
		backoff = min(2*backoff, p.cfg.RedoBackoffMax)
	}
}

// sleepUnless is sleep that also ends, with an error, when stop is closed.
func sleepUnless(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return errStopping
	}
}

var errStopping = errors.New("the relay is stopping")
