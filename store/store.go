// Package store holds the contracts of the relay's two stores, which every
// state backend (state/memory, state/disk, state/redisstore) implements:
//
//   - Sent, the sent-order store: which order_ids were delivered, so that no
//     order is sent twice, even by two replicas racing on one order_id.
//   - Identities, the identity store: what identify and alias events said
//     about a person (traits by userId or anonymousId, and alias links),
//     for enriching orders.
//
// Implementations of both are safe for concurrent use by any number of
// goroutines. Every method blocks until the store has answered or ctx ends;
// Claim never waits for another sender (a held order_id is answered
// HeldElsewhere at once). Two longer waits are the identity store's: a store
// that writes behind may hold Merge, Link and Forget while too many changes
// are pending, and Flush waits until the changes accepted before it are
// durable. An error, other than ctx's
// own, means the store cannot answer right now: the caller pauses and
// retries, and never drops an order because of it.
//
// Every implementation must pass the conformance suites of store/storetest.
//
// The package imports only mapping (for mapping.Traits): mapping keeps its
// own small consumer interfaces (mapping.Identities, mapping.IdentityWriter),
// which Identities satisfies.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Sent remembers which order_ids were delivered, so that no order is sent
// twice, even by two replicas racing on one order_id. A delivery is
// bracketed by a claim:
//
//	Claim ──Claimed──▶ POST ──2xx──────────▶ Confirm   (order_id is sent, for the store's TTL)
//	  │        ▲         └──any failure────▶ Release   (order_id is free again)
//	  │        └─ Renew, every lease/3 while the POST lasts
//	  ├──AlreadySent──▶ skip: the order is done (the Claim carries what was recorded of its content)
//	  └──HeldElsewhere─▶ another sender is on it; try again later
//
// A claim whose sender dies expires after its lease and can be claimed again.
// Leases are short (seconds) and renewed by their owner while it works, so
// that a dead owner's orders move on within one lease.
// Implementations are safe for concurrent use, and Claim is atomic: of any
// number of concurrent Claims of one free order_id, exactly one gets Claimed.
// Every implementation must pass storetest.TestSent.
type Sent interface {
	// Claim takes orderID for one delivery for at most lease. It returns a
	// Claim whose Status says whether the caller now holds it.
	Claim(ctx context.Context, orderID string, lease time.Duration) (Claim, error)
	// Confirm records c's order_id as sent, with c's Fingerprint and
	// Summary (replacing any recorded before). It succeeds even if the lease
	// has expired or another sender holds it now: the delivery happened.
	Confirm(ctx context.Context, c Claim) error
	// Release frees c's order_id if c still holds it; it does nothing if the
	// lease expired and another sender claimed it, or if it was confirmed.
	Release(ctx context.Context, c Claim) error
	// Renew holds c's order_id for lease from now, if c still holds it or
	// its lease expired with nobody taking the order_id since (then it takes
	// it again, with c's token). It returns ErrClaimLost if the order_id is
	// sent, or held by another claim, now. The owner of a claim renews it
	// while it works on the order (the POST, then Confirm), and stops before
	// Release: a renewal after it would take the order_id again.
	Renew(ctx context.Context, c Claim, lease time.Duration) error
}

// ErrClaimLost is Renew's answer when the claim no longer holds its order_id:
// its lease expired and another sender claimed it, or the order_id was
// confirmed.
var ErrClaimLost = errors.New("the claim was lost: its lease expired and another sender took the order_id, or it was confirmed")

// ClaimStatus is the answer to a Claim.
type ClaimStatus int

const (
	// Claimed means the caller holds the order_id and must Confirm or Release it.
	Claimed ClaimStatus = iota + 1
	// AlreadySent means the order_id was confirmed earlier.
	AlreadySent
	// HeldElsewhere means another unexpired claim holds the order_id.
	HeldElsewhere
)

func (s ClaimStatus) String() string {
	switch s {
	case Claimed:
		return "claimed"
	case AlreadySent:
		return "already sent"
	case HeldElsewhere:
		return "held elsewhere"
	default:
		return "invalid"
	}
}

// Claim is one answer of Sent.Claim.
type Claim struct {
	OrderID string
	Status  ClaimStatus
	// Token identifies this claim, so that a late Release of an expired
	// claim cannot free a newer one. Set when Status is Claimed.
	Token string
	// Fingerprint and Summary describe the content of the order delivered
	// under OrderID (mapping.Fingerprint and mapping.Summary). The sender
	// sets them on the Claim it passes to Confirm, and the store records
	// them with the order_id; a Claim answered AlreadySent carries the
	// recorded ones. Both are empty when nothing was recorded: the order_id
	// was confirmed without them, or by a version of the relay that kept
	// none. An empty Fingerprint is unknown content, never a different one.
	Fingerprint string
	Summary     string
}

// Identities stores what identify, alias and delete events said about
// people, for enriching orders. An id is a userId or an anonymousId (one
// namespace, as Segment's alias treats them).
//
// Implementations are safe for concurrent use. Lookup sees every change
// whose call has returned, from any goroutine, whether or not it is
// durable yet. A store may accept changes before they are durable (state/disk
// writes behind); Flush is how a caller learns they are. Every
// implementation must pass storetest.TestIdentities.
type Identities interface {
	// Lookup returns what is stored for id, following its alias link: id's
	// own traits, with gaps filled from the id it links to. found is false
	// when nothing is stored.
	Lookup(ctx context.Context, id string) (t mapping.Traits, found bool, err error)
	// Merge stores t under id: non-empty fields of t replace stored ones,
	// empty fields erase nothing.
	Merge(ctx context.Context, id string, t mapping.Traits) error
	// Link records that from (an anonymousId or earlier userId) is the person
	// to: lookups of from fall back to to's traits, and from's stored traits
	// fill gaps in to's.
	Link(ctx context.Context, from, to string) error
	// Forget erases everything stored about id: its traits, every link from
	// or to it, and the traits of ids linked to it (the same person).
	Forget(ctx context.Context, id string) error
	// Flush returns nil once every change accepted before the call (every
	// Merge, Link and Forget that returned nil) is durable, so that a
	// caller may acknowledge the changes' source (the relay commits Kafka
	// offsets after it). It blocks until then or until ctx ends; an error
	// means some change may not be durable yet (call Flush again). A store
	// that writes synchronously returns nil at once.
	Flush(ctx context.Context) error
}

var (
	_ mapping.Identities     = Identities(nil)
	_ mapping.IdentityWriter = Identities(nil)
)
