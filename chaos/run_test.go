package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
)

// row is one scenario's outcome.
type row struct {
	scenario     scenario
	events       int
	valid        int
	delivered    int
	duplicates   int
	deadLettered map[string]int // by reason, unique source events
	expectedDLQ  int            // invalid orders + bad messages
	lost         int            // valid orders never delivered
	lostDLQ      int            // events that should have been dead-lettered but were not
	note         string         // what the scenario's own contract saw, for the table
	elapsed      time.Duration
	err          error
}

// run plays one scenario and measures it.
func run(bin string, s scenario, events int, seed int64, full bool) (r row) {
	began := time.Now()
	r = row{scenario: s, deadLettered: map[string]int{}}
	defer func() { r.elapsed = time.Since(began) }()
	if s.accounts != "" { // a world of its own: three stores, three key pairs
		return runAccounts(bin, s, events, seed, full)
	}
	w, err := harness.NewWorld(s.sandbox)
	if err != nil {
		r.err = err
		return r
	}
	defer w.Close()
	if err := w.Produce(events, seed); err != nil {
		r.err = err
		return r
	}
	if s.bad {
		if err := w.ProduceBad(badMessages()...); err != nil {
			r.err = err
			return r
		}
	}
	if s.huge {
		if err := w.ProduceBad(hugeMessages()...); err != nil {
			r.err = err
			return r
		}
	}
	if s.poison { // one valid order, the poison; it ends dead-lettered as undelivered
		for id := range w.Valid {
			w.Sandbox.SetFailOrders(id)
			delete(w.Valid, id)
			w.Bad++
			break
		}
	}

	dir, err := os.MkdirTemp("", "chaos")
	if err != nil {
		r.err = err
		return r
	}
	defer os.RemoveAll(dir)
	env := []string{"STATE_BACKEND=" + s.backend, "STATE_DIR=" + filepath.Join(dir, "state")}
	if s.poison {
		env = append(env, "PIPELINE_POISON_ATTEMPTS=3", "PIPELINE_POISON_AFTER=2s")
	}
	var redis *harness.Redis
	if s.backend == "redis" {
		if redis, err = harness.StartRedis(dir); err != nil {
			r.err = err
			return r
		}
		defer redis.Stop()
		env = append(env, "REDIS_URL="+redis.URL())
	}
	ctx, cancel := runCtx(full)
	defer cancel()
	rnd := rand.New(rand.NewSource(seed))
	switch {
	case s.replay:
		r.note, r.err = driveReplay(ctx, bin, w, env, rnd)
	case s.lose != "":
		r.note, r.err = driveLost(ctx, bin, w, s, env, redis, rnd)
	case s.damage:
		r.note, r.err = driveDamaged(ctx, bin, w, env, rnd)
	default:
		r.err = drive(ctx, bin, w, s, env, redis, rnd)
	}
	// What the stream holds now: a scenario may have produced more.
	r.events, r.valid, r.expectedDLQ = w.Events, len(w.Valid), w.Invalid+w.Bad
	measure(ctx, w, &r)
	return r
}

// drive starts the relay, injects the scenario's faults and waits until the
// whole stream is delivered and committed.
func drive(ctx context.Context, bin string, w *harness.World, s scenario, env []string, redis *harness.Redis, rnd *rand.Rand) error {
	limit := time.Until(deadline(ctx))
	delivered := func() int { return len(w.Sandbox.Orders()) }
	if s.wrong {
		// A wrong path rejects every order: the relay stops after the
		// rejection limit, dead-lettering no more; then the right path.
		wrongEnv := append(append([]string{}, env...), "REFERSION_URL="+w.Sandbox.URL()+"/wrong/path", "PIPELINE_REJECTION_LIMIT=10")
		rl, err := harness.Start(bin, w.Env(wrongEnv...))
		if err != nil {
			return err
		}
		stopped := func() bool { return strings.Contains(rl.Stderr(), "the destination looks misconfigured") }
		if err := harness.WaitFor(limit, "the relay to stop on a wrong path", stopped, rl); err != nil {
			rl.Kill()
			return err
		}
		if err := rl.Stop(30 * time.Second); err != nil {
			return err
		}
	}
	rejected := 0 // dead-lettered by the wrong path: replayed at the end
	if s.wrong {
		dls, err := w.DeadLetters(ctx)
		if err != nil {
			return err
		}
		for _, d := range dls {
			if d.Reason == deadletter.ReasonRejected {
				rejected++
			}
		}
	}
	for _, at := range killPoints(rnd, s.kills, len(w.Valid)) {
		rl, err := harness.Start(bin, w.Env(env...))
		if err != nil {
			return err
		}
		if err := harness.WaitFor(limit, "deliveries before a kill", func() bool { return delivered() >= at }, rl); err != nil {
			rl.Kill()
			return err
		}
		rl.Kill()
	}
	rl, err := harness.Start(bin, w.Env(env...))
	if err != nil {
		return err
	}
	defer func() { _ = rl.Stop(30 * time.Second) }()
	if s.outage > 0 || s.redis {
		if err := harness.WaitFor(limit, "first deliveries", func() bool { return delivered() > len(w.Valid)/4 }, rl); err != nil {
			return err
		}
	}
	if s.outage > 0 {
		w.Sandbox.SetDown(true)
		select { // the fault lasts this long; nothing waits on it
		case <-time.After(s.outage):
		case <-ctx.Done():
		}
		w.Sandbox.SetDown(false)
	}
	if s.redis {
		if err := redis.Restart(ctx, 2*time.Second); err != nil {
			return err
		}
	}
	done := func() bool {
		got, err := w.Accepted()
		return err == nil && len(got) >= len(w.Valid)-rejected && w.Lag() == 0
	}
	if err := harness.WaitFor(time.Until(deadline(ctx)), "the whole stream", done, rl); err != nil || rejected == 0 {
		return err
	}
	// What the wrong path dead-lettered is replayed, as an operator would,
	// with the relay stopped (the disk state is one process's).
	if err := rl.Stop(30 * time.Second); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "replay", "--reason", deadletter.ReasonRejected)
	cmd.Env = w.Env(env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("replay of the rejected orders: %v\n%s", err, out)
	}
	return nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// measure counts deliveries, duplicates, dead letters and losses.
func measure(ctx context.Context, w *harness.World, r *row) {
	got, err := w.Accepted()
	if err != nil && r.err == nil {
		r.err = err
	}
	for id, n := range got {
		if w.Valid[id] {
			r.delivered++
		}
		r.duplicates += n - 1
	}
	r.lost = r.valid - r.delivered
	dls, err := w.DeadLetters(ctx)
	if err != nil && r.err == nil {
		r.err = err
	}
	seen := map[string]bool{}
	for _, d := range dls {
		key := fmt.Sprintf("%d/%d/%d", d.Partition, d.Offset, d.Index)
		if seen[key] { // a redone event can be dead-lettered twice; count it once
			continue
		}
		seen[key] = true
		r.deadLettered[d.Reason]++
	}
	total := 0
	for reason, n := range r.deadLettered {
		if reason != deadletter.ReasonRejected && reason != deadletter.ReasonUndelivered || r.scenario.poison && reason == deadletter.ReasonUndelivered {
			total += n
		}
	}
	r.lostDLQ = max(0, r.expectedDLQ-total)
}

func (r row) reasons() string {
	keys := make([]string, 0, len(r.deadLettered))
	for k := range r.deadLettered {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+strconv.Itoa(r.deadLettered[k]))
	}
	return strings.Join(parts, ", ")
}
