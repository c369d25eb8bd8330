package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// countingIdentities is an identity store that counts its lookups.
type countingIdentities struct {
	mapping.IdentityStore
	lookups           metric.Int64Counter
	hit, miss, failed metric.AddOption
}

// CountIdentities wraps store so that each Lookup adds one to
// refersion_relay.identity.lookups with refersion.outcome hit, miss or
// error; the hit ratio is hit / (hit + miss). When store has a Len() int
// method, refersion_relay.identity.store.size reports it at each collection.
// Writes pass through uncounted. The wrapper is as safe for concurrent use as
// store.
func (t *Telemetry) CountIdentities(store mapping.IdentityStore) (mapping.IdentityStore, error) {
	lookups, err := t.meter.Int64Counter("refersion_relay.identity.lookups",
		metric.WithUnit("{lookup}"),
		metric.WithDescription("Identity store lookups while enriching orders, by outcome: hit, miss, error."))
	if err != nil {
		return nil, err
	}
	if sized, ok := store.(interface{ Len() int }); ok {
		_, err := t.meter.Int64ObservableGauge("refersion_relay.identity.store.size",
			metric.WithUnit("{entry}"),
			metric.WithDescription("Entries in the identity store, as the store counts them."),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				o.Observe(int64(sized.Len()))
				return nil
			}))
		if err != nil {
			return nil, err
		}
	}
	with := func(outcome string) metric.AddOption {
		return metric.WithAttributeSet(attribute.NewSet(attrOutcome.String(outcome)))
	}
	return &countingIdentities{IdentityStore: store, lookups: lookups,
		hit: with("hit"), miss: with("miss"), failed: with("error")}, nil
}

// Lookup implements mapping.Identities.
func (c *countingIdentities) Lookup(ctx context.Context, id string) (mapping.Traits, bool, error) {
	t, found, err := c.IdentityStore.Lookup(ctx, id)
	switch {
	case err != nil:
		c.lookups.Add(ctx, 1, c.failed)
	case found:
		c.lookups.Add(ctx, 1, c.hit)
	default:
		c.lookups.Add(ctx, 1, c.miss)
	}
	return t, found, err
}

// Flush passes a write-behind store's Flush through (see pipeline: offsets
// are committed only after it); for other stores it does nothing.
func (c *countingIdentities) Flush(ctx context.Context) error {
	if f, ok := c.IdentityStore.(interface{ Flush(context.Context) error }); ok {
		return f.Flush(ctx)
	}
	return nil
}
