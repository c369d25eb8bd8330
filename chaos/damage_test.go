package chaos

import (
	"bytes"
	"context"
	byteorder "encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/state/disk"
)

// damage is one way of writing garbage over a bbolt file.
type damage struct {
	name string
	fn   func(b []byte, rnd *rand.Rand) // b: the file, changed in place
}

// damages overwrite a bbolt file with random bytes: all of it, its two meta
// pages, every other page, or the root page of its buckets.
var damages = []damage{
	{"random bytes throughout", func(b []byte, rnd *rand.Rand) { rnd.Read(b) }},
	{"both meta pages", func(b []byte, rnd *rand.Rand) { rnd.Read(b[:2*pageSize(b)]) }},
	{"every page past the meta pages", func(b []byte, rnd *rand.Rand) { rnd.Read(b[2*pageSize(b):]) }},
	{"the root page", func(b []byte, rnd *rand.Rand) {
		ps := pageSize(b)
		root := rootPage(b, ps)
		rnd.Read(b[root*ps : (root+1)*ps])
	}},
}

// pageSize is the page size a bbolt file's first meta page states.
func pageSize(b []byte) int { return int(byteorder.NativeEndian.Uint32(b[24:])) }

// rootPage is the root bucket's page in the newer of a bbolt file's two
// meta pages (page header 16 bytes; in the meta: root at 16, txid at 48).
func rootPage(b []byte, ps int) int {
	newer := 0
	if byteorder.NativeEndian.Uint64(b[ps+16+48:]) > byteorder.NativeEndian.Uint64(b[16+48:]) {
		newer = ps
	}
	return int(byteorder.NativeEndian.Uint64(b[newer+16+16:]))
}

// driveDamaged plays garbage in the disk state's files.
//
// The relay delivers part of the stream and is stopped; a copy of sent.db
// is kept, as a backup. Each damage in turn is written over sent.db; the
// contract: run refuses to start, exits non-zero with an error naming the
// file, the backup and --accept-new-state, shows no crash (panic, SIGBUS),
// sends and commits nothing, and leaves the file as it is. Then sent.db is
// restored from the backup, identities.db filled with random bytes and a
// fresh load produced: run sets the file aside (renamed, with a warning
// naming the new name) and delivers the rest, nothing twice.
func driveDamaged(ctx context.Context, bin string, w *harness.World, env []string, rnd *rand.Rand) (string, error) {
	limit := time.Until(deadline(ctx))
	dir := envValue(env, "STATE_DIR")
	rl, err := harness.Start(bin, w.Env(env...))
	if err != nil {
		return "", err
	}
	if err := harness.WaitFor(limit, "some deliveries", func() bool { return len(w.Sandbox.Orders()) >= len(w.Valid)/2 }, rl); err != nil {
		rl.Kill()
		return "", err
	}
	if err := rl.Stop(30 * time.Second); err != nil {
		return "", err
	}
	sentPath := filepath.Join(dir, disk.SentFile)
	backup, err := os.ReadFile(sentPath)
	if err != nil {
		return "", err
	}
	lag, sent := w.Lag(), len(w.Sandbox.Orders())
	for _, d := range damages {
		b := bytes.Clone(backup)
		d.fn(b, rnd)
		if err := os.WriteFile(sentPath, b, 0o600); err != nil {
			return "", err
		}
		rl, err := harness.Start(bin, w.Env(env...))
		if err != nil {
			return "", err
		}
		select {
		case <-rl.Exited():
		case <-time.After(60 * time.Second):
			rl.Kill()
			return "", fmt.Errorf("sent.db, garbage over %s: run did not stop; stderr:\n%s", d.name, tail(rl.Stderr()))
		}
		stderr := rl.Stderr()
		if rl.Err() == nil {
			return "", fmt.Errorf("sent.db, garbage over %s: run exited 0; stderr:\n%s", d.name, tail(stderr))
		}
		for _, want := range []string{sentPath, "damaged", "backup", "--accept-new-state"} {
			if !strings.Contains(stderr, want) {
				return "", fmt.Errorf("sent.db, garbage over %s: stderr does not say %q:\n%s", d.name, want, tail(stderr))
			}
		}
		if err := noCrash(stderr); err != nil {
			return "", fmt.Errorf("sent.db, garbage over %s: %w", d.name, err)
		}
		if n := len(w.Sandbox.Orders()) - sent; n != 0 {
			return "", fmt.Errorf("sent.db, garbage over %s: %d orders sent", d.name, n)
		}
		if now := w.Lag(); now != lag {
			return "", fmt.Errorf("sent.db, garbage over %s: the group's lag moved from %d to %d", d.name, lag, now)
		}
		if now, err := os.ReadFile(sentPath); err != nil || !bytes.Equal(now, b) {
			return "", fmt.Errorf("sent.db, garbage over %s: the file was changed (%v)", d.name, err)
		}
	}
	if err := os.WriteFile(sentPath, backup, 0o600); err != nil {
		return "", err
	}
	idPath := filepath.Join(dir, disk.IdentitiesFile)
	ids, err := os.ReadFile(idPath)
	if err != nil {
		return "", err
	}
	rnd.Read(ids)
	if err := os.WriteFile(idPath, ids, 0o600); err != nil {
		return "", err
	}
	before := len(w.Valid)
	if err := w.Produce(w.Events/2, rnd.Int63()); err != nil { // so that there is more to deliver
		return "", err
	}
	rl, err = harness.Start(bin, w.Env(env...))
	if err != nil {
		return "", err
	}
	done := func() bool {
		got, err := w.Accepted()
		return err == nil && len(got) >= len(w.Valid) && w.Lag() == 0
	}
	if err := harness.WaitFor(time.Until(deadline(ctx)), "the rest of the stream, identities.db damaged", done, rl); err != nil {
		rl.Kill()
		return "", err
	}
	if err := rl.Stop(30 * time.Second); err != nil {
		return "", err
	}
	aside, _ := filepath.Glob(idPath + ".damaged-*")
	if len(aside) != 1 {
		return "", fmt.Errorf("identities.db set aside as %v, want one file", aside)
	}
	if stderr := rl.Stderr(); !strings.Contains(stderr, "set aside") || !strings.Contains(stderr, aside[0]) {
		return "", fmt.Errorf("no warning naming %s:\n%s", aside[0], tail(stderr))
	}
	if err := noCrash(rl.Stderr()); err != nil {
		return "", err
	}
	return fmt.Sprintf("sent.db with garbage over %d ways (%s): each start refused (exit 1, naming the file, the backup and --accept-new-state; no crash; nothing sent; file left as is); restored from the backup; identities.db of random bytes: set aside as %s.damaged-<time> with a warning, then %d more orders delivered",
		len(damages), damageNames(), disk.IdentitiesFile, len(w.Valid)-before), nil
}

func damageNames() string {
	var names []string
	for _, d := range damages {
		names = append(names, d.name)
	}
	return strings.Join(names, ", ")
}
