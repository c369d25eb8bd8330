package sink

import (
	"context"
	"time"
)

// SentStore remembers which order_ids were delivered, so that no order is
// sent twice, even by two replicas racing on one order_id. A delivery is
// bracketed by a claim:
//
//	Claim ──Claimed──▶ POST ──2xx──────────▶ Confirm   (order_id is sent, for the store's TTL)
//	  │                  └──any failure────▶ Release   (order_id is free again)
//	  ├──AlreadySent──▶ skip: the order is done
//	  └──HeldElsewhere─▶ another sender is on it; try again later
//
// A claim whose sender dies expires after its lease and can be claimed again.
// Implementations are safe for concurrent use, and Claim is atomic: of any
// number of concurrent Claims of one free order_id, exactly one gets Claimed.
// Every implementation must pass sinktest.TestSentStore.
type SentStore interface {
	// Claim takes orderID for one delivery for at most lease. It returns a
	// Claim whose Status says whether the caller now holds it.
	Claim(ctx context.Context, orderID string, lease time.Duration) (Claim, error)
	// Confirm records c's order_id as sent. It succeeds even if the lease has
	// expired or another sender holds it now: the delivery happened.
	Confirm(ctx context.Context, c Claim) error
	// Release frees c's order_id if c still holds it; it does nothing if the
	// lease expired and another sender claimed it, or if it was confirmed.
	Release(ctx context.Context, c Claim) error
}

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

// Claim is one answer of SentStore.Claim.
type Claim struct {
	OrderID string
	Status  ClaimStatus
	// Token identifies this claim, so that a late Release of an expired
	// claim cannot free a newer one. Set when Status is Claimed.
	Token string
}
