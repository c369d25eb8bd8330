package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/state/disk"
)

// Ways a sent-order store is lost (scenario.lose).
const (
	loseEmptied = "emptied"  // sent.db replaced by a 0-byte file
	loseDir     = "dir"      // the state directory deleted
	loseFlushed = "flushed"  // FLUSHALL on redis, the relay stopped
	loseRunning = "flushing" // FLUSHALL on redis while the relay delivers
)

// crashSigns are what a crash leaves on stderr.
var crashSigns = []string{"panic", "SIGBUS", "SIGSEGV", "goroutine "}

// driveLost plays the loss of the sent-order store (s.lose).
//
// The relay delivers the stream and commits it (for loseRunning, the
// store is flushed while it delivers, and it is stopped once it has said
// so); then the store is lost and a fresh load arrives. The contract: run
// refuses to start, exits non-zero naming the store and --accept-new-state,
// and sends and commits nothing, leaving the store as it found it (a second
// start refuses too); run --accept-new-state starts, warns, and delivers
// the fresh load. Orders consumed before the loss are read again only if
// their offsets were not committed yet: check() counts their resends.
func driveLost(ctx context.Context, bin string, w *harness.World, s scenario, env []string, redis *harness.Redis, rnd *rand.Rand) (string, error) {
	limit := time.Until(deadline(ctx))
	dir := envValue(env, "STATE_DIR")
	rl, err := harness.Start(bin, w.Env(env...))
	if err != nil {
		return "", err
	}
	delivered := func() int { return len(w.Sandbox.Orders()) }
	inFlight := 0 // sent after a flush while the relay ran: requests already claimed
	held := ""    // what the flushed server holds once the relay stopped
	if s.lose == loseRunning {
		if err := harness.WaitFor(limit, "first deliveries", func() bool { return delivered() > len(w.Valid)/4 }, rl); err != nil {
			rl.Kill()
			return "", err
		}
		at := delivered()
		if err := flushAll(ctx, redis); err != nil {
			rl.Kill()
			return "", err
		}
		said := func() bool { return strings.Contains(rl.Stderr(), "lost its data") }
		if err := harness.WaitFor(limit, "the relay to say the store lost its data", said, rl); err != nil {
			rl.Kill()
			return "", err
		}
		if err := rl.Stop(30 * time.Second); err != nil && !isExit(err) {
			return "", err
		}
		if inFlight = delivered() - at; inFlight > concurrency {
			return "", fmt.Errorf("%d orders sent after the flush, more than the %d a relay has in flight", inFlight, concurrency)
		}
		held = "; after the flush the server holds " + redisState(ctx, redis)
	} else {
		done := func() bool { return delivered() >= len(w.Valid) && w.Lag() == 0 }
		if err := harness.WaitFor(limit, "the whole stream", done, rl); err != nil {
			rl.Kill()
			return "", err
		}
		if err := rl.Stop(30 * time.Second); err != nil {
			return "", err
		}
	}
	where, err := "key prefix", error(nil) // what the refusal must name
	switch s.lose {
	case loseEmptied:
		where = filepath.Join(dir, disk.SentFile)
		err = os.WriteFile(where, nil, 0o600)
	case loseDir:
		where = filepath.Join(dir, disk.SentFile)
		err = os.RemoveAll(dir)
	case loseFlushed:
		err = flushAll(ctx, redis)
	}
	if err != nil {
		return "", err
	}
	before := len(w.Valid)
	if err := w.Produce(w.Events/2, rnd.Int63()); err != nil {
		return "", err
	}
	lag, sent := w.Lag(), delivered()
	for i := range 2 { // the refusal leaves the store new: the second start refuses too
		rl, err := harness.Start(bin, w.Env(env...))
		if err != nil {
			return "", err
		}
		select {
		case <-rl.Exited():
		case <-time.After(30 * time.Second):
			rl.Kill()
			return "", fmt.Errorf("start %d on the lost store did not stop: it started (and sent %d orders)%s; stderr:\n%s",
				i+1, delivered()-sent, held, tail(rl.Stderr()))
		}
		stderr := rl.Stderr()
		if rl.Err() == nil {
			return "", fmt.Errorf("start %d on the lost store exited 0%s; stderr:\n%s", i+1, held, tail(stderr))
		}
		for _, want := range []string{"refusing to start", where, "--accept-new-state"} {
			if !strings.Contains(stderr, want) {
				return "", fmt.Errorf("start %d on the lost store: stderr does not say %q:\n%s", i+1, want, tail(stderr))
			}
		}
		if err := noCrash(stderr); err != nil {
			return "", err
		}
		if n := delivered() - sent; n != 0 {
			return "", fmt.Errorf("start %d on the lost store sent %d orders", i+1, n)
		}
		if now := w.Lag(); now != lag {
			return "", fmt.Errorf("start %d on the lost store moved the group's lag from %d to %d", i+1, lag, now)
		}
	}
	p, err := startProc(bin, w.Env(env...), "run", "--accept-new-state")
	if err != nil {
		return "", err
	}
	done := func() bool {
		got, err := w.Accepted()
		return err == nil && len(got) >= len(w.Valid) && w.Lag() == 0
	}
	if err := waitUntil(time.Until(deadline(ctx)), "the stream after --accept-new-state", done, p); err != nil {
		p.kill()
		return "", err
	}
	if err := p.stop(30 * time.Second); err != nil {
		return "", fmt.Errorf("run --accept-new-state: %w", err)
	}
	if out := p.Output(); !strings.Contains(out, "started on a new sent-order store") {
		return "", fmt.Errorf("run --accept-new-state gave no warning:\n%s", tail(out))
	}
	resent := 0
	if got, err := w.Accepted(); err == nil {
		for _, n := range got {
			resent += n - 1
		}
	}
	named := "the redis key prefix"
	if s.backend == "disk" {
		named = "STATE_DIR/" + disk.SentFile
	}
	note := fmt.Sprintf("start refused twice (exit 1, naming %s and --accept-new-state), nothing sent or committed; with --accept-new-state: warned, delivered the %d new orders",
		named, len(w.Valid)-before)
	if s.lose == loseRunning {
		return note + fmt.Sprintf("; %d requests in flight at the flush went through; orders read again after the restart and sent again: %d", inFlight, resent), nil
	}
	return note + "; orders before the loss were not read again (offsets committed): sent again 0", nil
}

// noCrash fails when stderr shows a crash.
func noCrash(stderr string) error {
	for _, bad := range crashSigns {
		if strings.Contains(stderr, bad) {
			return fmt.Errorf("stderr shows a crash (%q):\n%s", bad, tail(stderr))
		}
	}
	return nil
}

// flushAll empties the redis server, as a restart without persistence does.
func flushAll(ctx context.Context, redis *harness.Redis) error {
	opt, err := goredis.ParseURL(redis.URL())
	if err != nil {
		return err
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	return c.FlushAll(ctx).Err()
}

// redisKeyPrefix is the relay's default redis key prefix.
const redisKeyPrefix = "refersion-relay:"

// redisState says what the server holds of the sent-order store: how many
// order_ids, and whether its identity.
func redisState(ctx context.Context, redis *harness.Redis) string {
	opt, err := goredis.ParseURL(redis.URL())
	if err != nil {
		return err.Error()
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	ids, err := c.Keys(ctx, redisKeyPrefix+"s:*").Result()
	if err != nil {
		return err.Error()
	}
	identity, err := c.Exists(ctx, redisKeyPrefix+"store").Result()
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d order_id keys and %d identity (%sstore)", len(ids), identity, redisKeyPrefix)
}

// envValue is the value of name in env, the last one set.
func envValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			v = val
		}
	}
	return v
}

// isExit reports whether err is a process's non-zero exit.
func isExit(err error) bool {
	var ee interface{ ExitCode() int }
	return errors.As(err, &ee)
}
