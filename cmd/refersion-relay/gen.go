package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/refersion-relay/refersion-relay/storefront"
)

// cmdGen writes a deterministic storefront stream (NDJSON) to stdout and its
// counts, as one JSON object, to stderr. It stops early, with ctx's error,
// when ctx is cancelled.
func cmdGen(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	o := storefront.DefaultOptions()
	fs := newFlags("gen", "gen [flags] > events.ndjson", stdout)
	fs.IntVar(&o.N, "n", o.N, "number of events")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "random seed; the same seed and flags give the same bytes")
	fs.Float64Var(&o.Orders, "orders", o.Orders, "share of events that are Order Completed")
	fs.Float64Var(&o.Identifies, "identifies", o.Identifies, "share of events that are identify calls")
	fs.Float64Var(&o.Invalid, "invalid", o.Invalid, "share of Order Completed events that are invalid")
	fs.Float64Var(&o.Aliases, "aliases", o.Aliases, "share of events that are alias calls")
	fs.IntVar(&o.Users, "users", o.Users, "number of distinct users")
	fs.Float64Var(&o.Batch, "batch", o.Batch, `share of lines that are {"batch":[...]} envelopes of 2-5 events`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	g, err := storefront.New(o)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	w := bufio.NewWriterSize(stdout, 1<<20)
	for i := 0; ; i++ {
		if i%1024 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		l, ok := g.Next()
		if !ok {
			break
		}
		w.Write(l.Data)
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	sum, err := json.Marshal(g.Counts())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stderr, "%s\n", sum)
	return err
}
