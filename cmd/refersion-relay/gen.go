//go:build !nodev

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/refersion-relay/refersion-relay/storefront"
)

const genSynopsis = "gen [flags] > events.ndjson\n       refersion-relay gen [flags] --brokers HOST:PORT --topic NAME"

// genFlagsValid checks the options gen's flags set, naming the flags.
func genFlagsValid(o storefront.Options) error {
	var errs []error
	for _, s := range []struct {
		flag string
		v    float64
	}{{"orders", o.Orders}, {"identifies", o.Identifies}, {"invalid", o.Invalid}, {"aliases", o.Aliases}, {"batch", o.Batch},
		{"clicks", o.Clicks}, {"refunds", o.Refunds}, {"shared", o.Shared}} {
		if !(s.v >= 0 && s.v <= 1) {
			errs = append(errs, fmt.Errorf("--%s %v: not between 0 and 1", s.flag, s.v))
		}
	}
	if o.N < 0 {
		errs = append(errs, fmt.Errorf("-n %d: negative", o.N))
	}
	if o.Users < 1 {
		errs = append(errs, fmt.Errorf("--users %d: less than 1", o.Users))
	}
	if o.Stores < 1 {
		errs = append(errs, fmt.Errorf("--stores %d: less than 1", o.Stores))
	}
	return errors.Join(errs...)
}

// cmdGen writes a deterministic storefront stream (NDJSON) to stdout and its
// counts, as one JSON object, to stderr: storefront.Counts, and with
// --stores 2 or more "stores", each store's storefront.StoreCounts by name.
// It stops early, with ctx's error, when ctx is cancelled.
func cmdGen(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	o := storefront.DefaultOptions()
	fs := newFlags("gen", genSynopsis, stdout)
	brokers := fs.String("brokers", "", "comma list of Kafka brokers: produce the stream to --topic instead of writing it to stdout")
	topic := fs.String("topic", "", "topic to produce to, with --brokers")
	fs.IntVar(&o.N, "n", o.N, "number of events")
	fs.Int64Var(&o.Seed, "seed", o.Seed, "random seed; the same seed and flags give the same bytes")
	fs.Float64Var(&o.Orders, "orders", o.Orders, "share of events that are Order Completed")
	fs.Float64Var(&o.Identifies, "identifies", o.Identifies, "share of events that are identify calls")
	fs.Float64Var(&o.Invalid, "invalid", o.Invalid, "share of Order Completed events that are invalid")
	fs.Float64Var(&o.Aliases, "aliases", o.Aliases, "share of events that are alias calls")
	fs.IntVar(&o.Users, "users", o.Users, "number of distinct users")
	fs.Float64Var(&o.Batch, "batch", o.Batch, `share of lines that are {"batch":[...]} envelopes of 2-5 events`)
	fs.Float64Var(&o.Clicks, "clicks", o.Clicks, "share of page views that are affiliate landings (?rfsn=...), for click capture (a tenth dated outside the 30-day window)")
	fs.Float64Var(&o.Refunds, "refunds", o.Refunds, "share of valid orders cancelled or refunded (by product, or by an amount only) a few events later; run the relay with REFUND_EVENTS='Order Refunded' CANCEL_EVENTS='Order Cancelled'")
	fs.IntVar(&o.Stores, "stores", o.Stores, "stores the events come from, named store-1..store-N in context.groupId (and properties.store on tracks); run the relay with one account per store. 1 leaves the store fields out")
	fs.Float64Var(&o.Shared, "shared", o.Shared, "with --stores 2 or more, share of valid orders that reuse an order_id another store used (the same id in two accounts)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if (*brokers == "") != (*topic == "") {
		return fmt.Errorf("%w: --brokers and --topic go together", errUsage)
	}
	if err := genFlagsValid(o); err != nil {
		return flagProblems(fs, genSynopsis, err)
	}
	g, err := storefront.New(o)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, strings.TrimPrefix(err.Error(), "storefront: "))
	}
	if *brokers != "" {
		if _, err := storefront.ProduceFrom(ctx, splitList(*brokers), *topic, nil, g); err != nil {
			return err
		}
		return printCounts(stderr, g)
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
	return printCounts(stderr, g)
}

// genSummary is what gen prints on stderr: the counts, and each store's
// with several stores.
type genSummary struct {
	storefront.Counts
	Stores map[string]storefront.StoreCounts `json:"stores,omitempty"`
}

// printCounts writes g's counts as one JSON line.
func printCounts(w io.Writer, g *storefront.Generator) error {
	sum, err := json.Marshal(genSummary{Counts: g.Counts(), Stores: g.StoreCounts()})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", sum)
	return err
}
