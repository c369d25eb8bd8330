package store

import (
	"context"
	"time"
)

// Origin is what a sent-order store knows of its own beginning: the
// identity recorded when it was adopted as the store of record. A store that
// holds no identity and no order_id is New: it was created just now, or it
// lost what it held (a sent.db deleted or emptied, a Redis restarted without
// persistence), and nothing in it can tell which. Only the caller can: if
// the consumer group has committed offsets, orders were consumed before, and
// a new store would let every order read again be sent again (see
// state.Stores.CheckNew).
type Origin struct {
	// ID is the store's identity, random, recorded by Adopt (or when a store
	// that holds order_ids from before identities existed is first opened);
	// empty while the store is New.
	ID string
	// Created is when ID was recorded; zero while the store is New.
	Created time.Time
	// New reports that the store held no identity and no order_id when it
	// was first read, or that it is Lost.
	New bool
	// Lost reports a New store that was in use when it lost its identity:
	// it may hold order_ids written since (by sends in flight at the loss),
	// but not the record of what was sent before, and it is not taken for a
	// store written before identities existed. Only the redis backend tells.
	Lost bool
}

// Identified is a sent-order store that records its identity. Every
// backend's store.Sent implements it.
type Identified interface {
	// Origin reads the store's identity. For a store shared by replicas
	// (redis) it asks the server, and fails while the server does not answer.
	// A store that holds order_ids but no identity (written before
	// identities existed) is given one and is not New, unless it is Lost.
	Origin(ctx context.Context) (Origin, error)
	// Adopt records an identity in a New store, making it the store of
	// record: from then on, a store found without it has lost its data (the
	// redis store refuses claims then). It returns the store's Origin, New
	// false; a store that has an identity already keeps it. Adopting a Lost
	// store accepts the loss.
	Adopt(ctx context.Context) (Origin, error)
}
