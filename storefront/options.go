// Package storefront generates deterministic Segment-spec event streams that
// look like a web shop's: page views, product tracks, identify calls, a few
// aliases and a small share of `Order Completed` events, some of them
// deliberately invalid. Tests, benchmarks and demos use it as their workload.
//
// The output is newline-delimited JSON: one event object, or one
// `{"batch":[...]}` envelope of 2-5 events, per line. For given Options the
// bytes are the same on every run and every platform: the package carries its
// own random number generator and JSON writer.
//
// A stream may come from several stores (Options.Stores), one Refersion
// account each: every event then names its store in context.groupId, and
// every track in properties.store too, and a few orders reuse an order_id
// another store used, as separate shops do.
package storefront

import (
	"fmt"
	"time"
)

// Options shape a stream. Start from DefaultOptions; shares are fractions in
// [0, 1].
type Options struct {
	N          int     // events to generate (a batch envelope holds several)
	Seed       int64   // same seed and options, same bytes
	Orders     float64 // share of events that are Order Completed
	Identifies float64 // share of events that are identify calls
	Invalid    float64 // share of order events that are invalid
	Aliases    float64 // share of events that are alias calls (taken from other tracks)
	Users      int     // distinct users (at least 1)
	Batch      float64 // share of lines that are {"batch":[...]} envelopes of 2-5 events
	// Clicks is the share of page views that are affiliate landings
	// (?rfsn=<affiliate id>.<check>, for click capture); a tenth of them are
	// dated 40 days back, outside the default attribution window. 0 (the
	// default) keeps the standard stream as it is.
	Clicks float64
	// Refunds is the share of valid orders refunded or cancelled a few
	// events later, by the same person (same partition): a third fully
	// cancelled (Order Cancelled), a third refunded by one product (Order
	// Refunded with products), a third by an amount only (Order Refunded
	// with a total below the order's). 0 (the default) keeps the standard
	// stream as it is; when set, the mix's own Order Refunded tracks are
	// named Order Refund Requested, so that every refund is one of these.
	Refunds float64
	// Stores is how many stores the events come from, named "store-1" to
	// "store-N" in context.groupId (every event) and properties.store
	// (track events); each event's store is drawn from the seed, and a
	// refund or cancellation has its order's. 0 or 1 is one store and no
	// store fields: the stream is then byte for byte what it was before
	// stores existed. With several, the rest of the stream is the same as
	// with one, but for the order_ids Shared reuses.
	Stores int
	// Shared is, with Stores ≥ 2, the share of valid orders that reuse the
	// order_id of another store's latest valid order (never one their own
	// store used): the same order_id in two accounts. DefaultOptions sets
	// DefaultShared.
	Shared float64
	Start  time.Time
}

// pageShare is the share of page views; it is fixed, other tracks fill the
// rest of the mix.
const pageShare = 0.45

// DefaultOptions is the standard workload: 100,000 events, 2% orders of
// which 5% invalid, 12% identifies, 45% pages, 20,000 users, no batches,
// starting 2026-11-01T00:00:00Z.
func DefaultOptions() Options {
	return Options{
		N:          100000,
		Seed:       1,
		Orders:     0.02,
		Identifies: 0.12,
		Invalid:    0.05,
		Aliases:    0.003,
		Users:      20000,
		Stores:     1,
		Shared:     DefaultShared,
		Start:      time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	}
}

func (o Options) validate() error {
	for _, s := range []struct {
		name string
		v    float64
	}{{"orders", o.Orders}, {"identifies", o.Identifies}, {"invalid", o.Invalid}, {"aliases", o.Aliases}, {"batch", o.Batch}, {"clicks", o.Clicks}, {"refunds", o.Refunds}, {"shared", o.Shared}} {
		if !(s.v >= 0 && s.v <= 1) {
			return fmt.Errorf("storefront: %s share %v is not between 0 and 1", s.name, s.v)
		}
	}
	switch {
	case o.N < 0:
		return fmt.Errorf("storefront: negative event count %d", o.N)
	case o.Users < 1:
		return fmt.Errorf("storefront: users must be at least 1, got %d", o.Users)
	case o.Stores < 0:
		return fmt.Errorf("storefront: negative store count %d", o.Stores)
	case o.Orders+o.Identifies+pageShare+o.Aliases > 1:
		return fmt.Errorf("storefront: orders + identifies + aliases + %v pages exceed 1", pageShare)
	}
	return nil
}

// Counts summarise a stream, one count per Kind (the JSON keys are the Kind
// names), plus Lines, the output lines, and Batches, the lines that are
// batch envelopes. `gen` prints them on stderr.
type Counts struct {
	Page         int `json:"page"`
	TrackOther   int `json:"track_other"`
	Identify     int `json:"identify"`
	OrderValid   int `json:"order_valid"`
	OrderInvalid int `json:"order_invalid"`
	Alias        int `json:"alias"`
	Lines        int `json:"lines"`
	Batches      int `json:"batches"`
	// Clicks are the affiliate landings among Page, ClicksOld those dated
	// outside the default attribution window.
	Clicks    int `json:"clicks,omitempty"`
	ClicksOld int `json:"clicks_old,omitempty"`
	// Refund events written (among TrackOther): cancellations, refunds by
	// product, refunds of an amount only.
	Cancellations  int `json:"cancellations,omitempty"`
	ProductRefunds int `json:"product_refunds,omitempty"`
	AmountRefunds  int `json:"amount_refunds,omitempty"`
	// SharedOrderIDs are the valid orders (with several stores) whose
	// order_id an earlier order of another store carries too.
	SharedOrderIDs int `json:"shared_order_ids,omitempty"`
}

// Events is the number of events counted.
func (c Counts) Events() int {
	return c.Page + c.TrackOther + c.Identify + c.OrderValid + c.OrderInvalid + c.Alias
}

func (c *Counts) add(k Kind) {
	switch k {
	case Page:
		c.Page++
	case TrackOther:
		c.TrackOther++
	case Identify:
		c.Identify++
	case OrderValid:
		c.OrderValid++
	case OrderInvalid:
		c.OrderInvalid++
	case Alias:
		c.Alias++
	}
}
