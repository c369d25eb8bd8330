package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// countingIdentities is an identity store that counts its lookups.
type countingIdentities struct {
	store.Identities
	lookups           metric.Int64Counter
	hit, miss, failed metric.AddOption
}

// CountIdentities wraps ids so that each Lookup adds one to
// refersion_relay.identity.lookups with refersion.outcome hit, miss or
// error; the hit ratio is hit / (hit + miss). When ids has a Len() int
// method, refersion_relay.identity.store.size reports it at each collection.
// Writes and Flush pass through uncounted. The wrapper is as safe for
// concurrent use as ids.
func (t *Telemetry) CountIdentities(ids store.Identities) (store.Identities, error) {
	lookups, err := t.meter.Int64Counter("refersion_relay.identity.lookups",
		metric.WithUnit("{lookup}"),
		metric.WithDescription("Identity store lookups while enriching orders, by outcome: hit, miss, error."))
	if err != nil {
		return nil, err
	}
	if sized, ok := ids.(interface{ Len() int }); ok {
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
	return &countingIdentities{Identities: ids, lookups: lookups,
		hit: with("hit"), miss: with("miss"), failed: with("error")}, nil
}

// Lookup implements store.Identities.
func (c *countingIdentities) Lookup(ctx context.Context, id string) (mapping.Traits, bool, error) {
	t, found, err := c.Identities.Lookup(ctx, id)
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

// Flush implements store.Identities: it is the wrapped store's (the
// pipeline commits offsets only after it returns nil).
func (c *countingIdentities) Flush(ctx context.Context) error {
	return c.Identities.Flush(ctx)
}
