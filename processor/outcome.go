package processor

import (
	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// Kind is what became of one event.
type Kind uint8

// The kinds of outcome. Invalid, Malformed and Failed events are for the
// dead-letter topic; the others are settled by the driver (counted, applied,
// delivered).
const (
	// Dropped: not for Refersion (page, screen, group, other tracks, unknown
	// types). Drop says which.
	Dropped Kind = iota
	// IdentityChanged: an identify, alias or delete was applied to the
	// identity store. Identity says which.
	IdentityChanged
	// Order: an order event mapped and enriched; Order is the payload to
	// deliver.
	Order
	// Invalid: an order, or an identify/alias/delete, that must not be used
	// as it is. Reason is deadletter.ReasonInvalid or ReasonIdentity;
	// Problems lists every problem.
	Invalid
	// Malformed: bytes that are not a readable JSON event.
	Malformed
	// Failed: handling the event panicked (a defect of the relay); Reason is
	// deadletter.ReasonPanic and Problems holds the panic's value.
	Failed
	// Cancel: a refund or cancellation (REFUND_EVENTS, CANCEL_EVENTS);
	// Cancel is what it asks. What it cancels depends on what was sent of
	// the order: the cancel destination plans it against the ledger.
	Cancel
)

var kindNames = [...]string{"dropped", "identity", "order", "invalid", "malformed", "failed", "cancel"}

// String returns the kind's name, stable for metric labels and summaries.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Outcome is what one event of a message came to. It is a value: the
// processor has no side effect beyond the identity store; the driver counts,
// delivers, dead-letters and commits.
type Outcome struct {
	Kind  Kind
	Index int    // the event's position in its message, from 0
	Event []byte // the event's bytes (for an oversized message, its first bytes)

	Drop mapping.DropReason // Dropped
	// Click says what a dropped page or track event held of an affiliate
	// click (click capture): mapping.ClickFound means it was kept.
	Click    mapping.ClickStatus
	Identity mapping.Kind  // IdentityChanged: KindIdentify, KindAlias or KindDelete
	Order    mapping.Order // Order
	// Credit is what click capture decided for an order.
	Credit mapping.Credit
	Cancel mapping.Cancel // Cancel

	// Reason, Problems: Invalid, Malformed and Failed.
	Reason   string
	Problems []mapping.Problem
	// OrderID and MessageID identify the event when it says so (orders,
	// invalid orders, invalid identity events).
	OrderID, MessageID string
	// Account is the Refersion account of an order or cancel (Options.Accounts),
	// "" with one account.
	Account string
}

// DeadLetter reports whether the outcome is for the dead-letter topic.
func (o Outcome) DeadLetter() bool {
	return o.Kind == Invalid || o.Kind == Malformed || o.Kind == Failed
}

// Record returns the dead-letter record of an Invalid, Malformed or Failed
// outcome, without the source's coordinates (topic, partition, offset, key),
// which the driver fills in.
func (o Outcome) Record() deadletter.Record {
	return deadletter.Record{
		Value: o.Event, Reason: o.Reason, Problems: o.Problems, Index: o.Index,
		OrderID: o.OrderID, MessageID: o.MessageID, Account: o.Account,
	}
}
