package store

import (
	"context"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Ledger follows each delivered order to the end of its life: the lines
// delivered, and the quantities cancelled since (refunds, cancellations).
// A cancel is bracketed by a claim, like a delivery:
//
//	ClaimCancel ──Claimed──▶ plan from Entry ▶ Intend ▶ POST ──2xx──▶ ConfirmCancel (quantities added, cancel id done)
//	     │                                                  └─fail──▶ ReleaseCancel
//	     ├──AlreadySent──▶ this cancel id was done: nothing to do
//	     └──HeldElsewhere─▶ another cancel of the order is in flight: try again later
//
// Intend records the items about to be POSTed. A sender that dies between
// the POST and ConfirmCancel leaves the intent behind: the next ClaimCancel
// of the same cancel id returns it as Pending, and the caller confirms it
// without sending again (a cancel is sent at most once; if the sender died
// before the POST left, those units stay uncancelled, and the log says so).
//
// One cancel of an order is in flight at a time (the claim is per order), so
// that two refunds racing on two replicas cannot both cancel the same
// units; the cancel id (the refund event's id) makes a redone refund cancel
// nothing twice. Entries live for the store's TTL, like sent order_ids.
type Ledger interface {
	// RecordDelivery keeps the lines delivered for orderID. Recording an
	// order again replaces its lines and keeps what was cancelled.
	RecordDelivery(ctx context.Context, orderID string, lines []mapping.Line) error
	// Entry returns what the ledger holds for orderID; found is false for
	// an order never delivered (or expired).
	Entry(ctx context.Context, orderID string) (e Entry, found bool, err error)
	// ClaimCancel takes orderID's cancel lock for the cancel cancelID, for
	// at most lease.
	ClaimCancel(ctx context.Context, orderID, cancelID string, lease time.Duration) (CancelClaim, error)
	// ConfirmCancel adds items' quantities to what was cancelled, records
	// the cancel id as done and frees the lock. It succeeds even if the
	// lease has expired: the cancel happened.
	ConfirmCancel(ctx context.Context, c CancelClaim, items []mapping.CancelItem) error
	// Intend records items as about to be sent under c.
	Intend(ctx context.Context, c CancelClaim, items []mapping.CancelItem) error
	// ReleaseCancel frees the lock if c still holds it, and drops its intent.
	ReleaseCancel(ctx context.Context, c CancelClaim) error
}

// Entry is one order in the ledger.
type Entry struct {
	Lines     []mapping.Line   // as delivered
	Cancelled map[string]int64 // units cancelled so far, by sku
}

// CancelClaim is one answer of ClaimCancel.
type CancelClaim struct {
	OrderID, CancelID string
	Status            ClaimStatus // Claimed, AlreadySent (the cancel id was done) or HeldElsewhere
	Token             string      // set when Status is Claimed
	// Pending is the intent an earlier sender of this cancel id left
	// unconfirmed (it died between Intend and ConfirmCancel), or nil.
	Pending []mapping.CancelItem
}
