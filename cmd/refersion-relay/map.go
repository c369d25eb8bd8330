package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/mapstream"
	"github.com/refersion-relay/refersion-relay/processor"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func cmdMap(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("map", "map [flags] < events.ndjson > orders.ndjson", stdout)
	orderEvents := fs.String("order-events", strings.Join(mapping.DefaultOrderEvents, ","), "comma list of track event names that are orders")
	cartSources := fs.String("cart-id-sources", strings.Join(mapping.DefaultCartIDSources, ","), "comma list of properties read for cart_id, first present wins")
	currency := fs.String("default-currency", "", "ISO 4217 code used when properties.currency is absent (default: such orders are invalid)")
	refunds := fs.String("refund-events", "", `comma list of track event names that refund orders, e.g. "Order Refunded" (REFUND_EVENTS)`)
	cancels := fs.String("cancel-events", "", `comma list of track event names that cancel orders, e.g. "Order Cancelled" (CANCEL_EVENTS)`)
	clicks := fs.Bool("click-capture", false, "credit orders to the person's last ?rfsn= click seen on a page or track event (CLICK_CAPTURE)")
	window := fs.Duration("attribution-window", processor.DefaultAttributionWindow, "how long a captured click credits orders, by event timestamps (ATTRIBUTION_WINDOW)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	m, err := mapping.New(mapping.Options{
		OrderEvents:     splitList(*orderEvents),
		CartIDSources:   splitList(*cartSources),
		DefaultCurrency: *currency,
		RefundEvents:    splitList(*refunds),
		CancelEvents:    splitList(*cancels),
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *window <= 0 {
		return fmt.Errorf("%w: --attribution-window %v: must be positive, e.g. 720h", errUsage, *window)
	}
	proc, err := processor.New(m, memory.NewIdentities(memory.Options{}), processor.Options{ClickCapture: *clicks, AttributionWindow: *window})
	if err != nil {
		return err
	}
	sum, err := mapstream.Run(ctx, stdin, stdout, proc, 0)
	b, _ := json.Marshal(sum)
	fmt.Fprintln(stderr, string(b))
	return err
}

// splitList splits a comma list, trimming spaces and dropping empty entries.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
