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
	// was first read.
	New bool
}

// Identified is a sent-order store that records its identity. Every
// backend's store.Sent implements it.
type Identified interface {
	// Origin reads the store's identity. For a store shared by replicas
	// (redis) it asks the server, and fails while the server does not answer.
	// A store that holds order_ids but no identity (written before
	// identities existed) is given one and is not New.
	Origin(ctx context.Context) (Origin, error)
	// Adopt records an identity in a New store, making it the store of
	// record: from then on, a store found without it has lost its data (the
	// redis store refuses claims then). It returns the store's Origin, New
	// false; a store that has an identity already keeps it.
	Adopt(ctx context.Context) (Origin, error)
}
