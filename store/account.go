package store

import (
	"context"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Several Refersion accounts share one state backend: each account's
// order_ids are kept under "ACCOUNT:" (account names never hold a colon), so
// that the same order_id in two accounts is two orders. With one account
// (named "") order_ids are kept as they are.

// AccountKey is the key orderID of account is kept under.
func AccountKey(account, orderID string) string {
	if account == "" {
		return orderID
	}
	return account + ":" + orderID
}

// SentOf is the sent-order store of one account over s: claims carry the
// account's own order_ids, kept under AccountKey. s itself for account "".
func SentOf(s Sent, account string) Sent {
	if account == "" {
		return s
	}
	return accountSent{s: s, prefix: account + ":"}
}

// LedgerOf is the order ledger of one account over l, as SentOf.
func LedgerOf(l Ledger, account string) Ledger {
	if account == "" {
		return l
	}
	return accountLedger{l: l, prefix: account + ":"}
}

type accountSent struct {
	s      Sent
	prefix string
}

func (a accountSent) in(c Claim) Claim { c.OrderID = a.prefix + c.OrderID; return c }
func (a accountSent) out(c Claim) Claim {
	c.OrderID = strings.TrimPrefix(c.OrderID, a.prefix)
	return c
}

func (a accountSent) Claim(ctx context.Context, orderID string, lease time.Duration) (Claim, error) {
	c, err := a.s.Claim(ctx, a.prefix+orderID, lease)
	return a.out(c), err
}
func (a accountSent) Confirm(ctx context.Context, c Claim) error { return a.s.Confirm(ctx, a.in(c)) }
func (a accountSent) Release(ctx context.Context, c Claim) error { return a.s.Release(ctx, a.in(c)) }
func (a accountSent) Renew(ctx context.Context, c Claim, lease time.Duration) error {
	return a.s.Renew(ctx, a.in(c), lease)
}

type accountLedger struct {
	l      Ledger
	prefix string
}

func (a accountLedger) in(c CancelClaim) CancelClaim {
	c.OrderID = a.prefix + c.OrderID
	return c
}

func (a accountLedger) RecordDelivery(ctx context.Context, orderID string, lines []mapping.Line) error {
	return a.l.RecordDelivery(ctx, a.prefix+orderID, lines)
}
func (a accountLedger) Entry(ctx context.Context, orderID string) (Entry, bool, error) {
	return a.l.Entry(ctx, a.prefix+orderID)
}
func (a accountLedger) ClaimCancel(ctx context.Context, orderID, cancelID string, lease time.Duration) (CancelClaim, error) {
	c, err := a.l.ClaimCancel(ctx, a.prefix+orderID, cancelID, lease)
	c.OrderID = strings.TrimPrefix(c.OrderID, a.prefix)
	return c, err
}
func (a accountLedger) ConfirmCancel(ctx context.Context, c CancelClaim, items []mapping.CancelItem) error {
	return a.l.ConfirmCancel(ctx, a.in(c), items)
}
func (a accountLedger) Intend(ctx context.Context, c CancelClaim, items []mapping.CancelItem) error {
	return a.l.Intend(ctx, a.in(c), items)
}
func (a accountLedger) ReleaseCancel(ctx context.Context, c CancelClaim) error {
	return a.l.ReleaseCancel(ctx, a.in(c))
}
