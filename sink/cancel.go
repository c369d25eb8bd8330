package sink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// DefaultAPIURL is Refersion's REST API; cancels go to its
// /conversion/cancel.
const DefaultAPIURL = "https://api.refersion.com/v2"

// Errors of Cancel that are dead-letter reasons, not failures to redo.
var (
	// ErrOrderNotDelivered: the refund's order was never delivered (never
	// seen, invalid, still failing); replay the refund once it is.
	ErrOrderNotDelivered = errors.New("refund before its order: the order was never delivered")
	// ErrAmountOnly: a refund of an amount less than the order's items,
	// naming no items, cannot be said per item.
	ErrAmountOnly = errors.New("amount-only refund: less than the order's items, and no items named")
)

// CancelOutcome is how a cancel ended when Cancel returns no error.
type CancelOutcome string

// The outcomes of Cancel.
const (
	Cancelled       CancelOutcome = "cancelled"         // Refersion cancelled what the plan asked
	Clamped         CancelOutcome = "clamped"           // cancelled, but less than asked: never more than was sent
	NothingToCancel CancelOutcome = "nothing_to_cancel" // everything asked was cancelled already
	NoConversion    CancelOutcome = "no_conversion"     // 422 error 5: Refersion credited nobody for the order
	AlreadyDone     CancelOutcome = "already_done"      // this refund event was done before
)

// CancelResult is what one Cancel did.
type CancelResult struct {
	Outcome CancelOutcome
	Request mapping.CancelRequest // what was POSTed (or would have been)
	Clamped int64                 // units asked beyond what remained
}

// Canceller sends refunds and cancellations to Refersion's REST API
// (POST /conversion/cancel), planned against the ledger so that a cancel
// never exceeds what was sent and the same refund cancels once. It is its
// own destination: its own retry, breaker and rate limit, so that an API
// outage never stops paid orders, nor a webhook outage cancels. Safe for
// concurrent use.
type Canceller struct {
	head    Sink // rate limit ▶ retry ▶ breaker ▶ HTTP, posting the cancel request
	breaker *breakerSink
	client  *http.Client
	ledger  store.Ledger
	sent    store.Sent
	lease   time.Duration
	log     *slog.Logger
}

// NewCanceller builds the cancel destination. cfg.Endpoint is the REST
// API's base URL (DefaultAPIURL when empty); the keys are the webhook's.
func NewCanceller(cfg Config, sent store.Sent, ledger store.Ledger, opts ...Option) (*Canceller, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultAPIURL
	}
	cfg.Endpoint = strings.TrimSuffix(cfg.Endpoint, "/") + "/conversion/cancel"
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sent == nil || ledger == nil {
		return nil, errors.New("sink.NewCanceller: the sent-order store and the ledger are required")
	}
	cfg = cfg.withDefaults()
	cfg.Adaptive = AdaptiveConfig{} // cancels are few: no adaptation
	c := buildChain(cfg, cancelBody, opts)
	o, s, br := c.opts, c.head, c.breaker
	return &Canceller{head: s, breaker: br, client: o.client, ledger: ledger, sent: sent, lease: cfg.ClaimLease, log: o.logger}, nil
}

// BreakerState is the cancel destination's breaker state now.
func (c *Canceller) BreakerState() BreakerState { return c.breaker.state() }

// Close releases idle connections.
func (c *Canceller) Close() { c.client.CloseIdleConnections() }

// Cancel plans mc against the ledger and sends it. A nil error comes with
// the outcome; the errors, by kind:
//
//	ErrOrderNotDelivered, ErrAmountOnly   dead-letter the refund with that reason
//	failure.ErrClaimHeld                  the order (or another cancel of it) is in flight: redo later
//	*failure.StoreUnavailable             the ledger or sent store failed: redo later
//	Permanent, Unauthorized, BreakerOpen, Retryable: as for an order
func (c *Canceller) Cancel(ctx context.Context, mc mapping.Cancel) (CancelResult, error) {
	res := CancelResult{Request: mapping.CancelRequest{OrderID: mc.OrderID}}
	claim, err := c.ledger.ClaimCancel(ctx, mc.OrderID, mc.ID, c.lease)
	if err != nil {
		return res, storeFailure(ctx, "ledger", err)
	}
	switch claim.Status {
	case store.AlreadySent:
		res.Outcome = AlreadyDone
		return res, nil
	case store.HeldElsewhere:
		return res, fmt.Errorf("order %s: another cancel of it is in flight: %w", mc.OrderID, failure.ErrClaimHeld)
	}
	release := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		_ = c.ledger.ReleaseCancel(sctx, claim)
	}
	confirm := func(items []mapping.CancelItem) error {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		return c.ledger.ConfirmCancel(sctx, claim, items)
	}
	if claim.Pending != nil {
		// An earlier sender of this cancel died between sending it and
		// recording it: it may well have reached Refersion. Sent at most
		// once: recorded as done, not sent again.
		res.Outcome, res.Request.Items = Cancelled, claim.Pending
		c.log.LogAttrs(ctx, slog.LevelWarn, "a cancel interrupted after it was sent is recorded as done, not sent again; check it in Refersion if in doubt",
			slog.String("order_id", mc.OrderID), slog.String("cancel_id", mc.ID))
		return res, confirm(claim.Pending)
	}
	entry, found, err := c.ledger.Entry(ctx, mc.OrderID)
	if err != nil {
		release()
		return res, storeFailure(ctx, "ledger", err)
	}
	if !found {
		release()
		return res, c.notDelivered(ctx, mc.OrderID)
	}
	plan := mapping.PlanCancel(mc, entry.Lines, entry.Cancelled)
	res.Request, res.Clamped = plan.Request, plan.Clamped
	switch {
	case plan.AmountOnly:
		release()
		return res, fmt.Errorf("order %s: %w", mc.OrderID, ErrAmountOnly)
	case plan.Empty():
		res.Outcome = NothingToCancel
		return res, confirm(nil)
	}
	if err := c.ledger.Intend(ctx, claim, plan.Request.Items); err != nil {
		release()
		return res, storeFailure(ctx, "ledger", err)
	}
	err = c.head.Send(ctx, requestAsOrder(plan.Request))
	var perm *failure.Permanent
	switch {
	case err == nil:
		res.Outcome = Cancelled
		if plan.Clamped > 0 {
			res.Outcome = Clamped
		}
		return res, confirm(plan.Request.Items)
	case errors.As(err, &perm) && perm.Status == http.StatusUnprocessableEntity && strings.Contains(perm.Body, "error 5"):
		// Refersion has no conversion for the order: most orders are not
		// affiliate orders. Nothing to cancel, ever: done.
		res.Outcome = NoConversion
		return res, confirm(nil)
	}
	release()
	return res, err
}

// notDelivered tells an order in flight (wait for it) from one never
// delivered (dead-letter the refund), by trying its sent-order claim.
func (c *Canceller) notDelivered(ctx context.Context, orderID string) error {
	sc, err := c.sent.Claim(ctx, orderID, time.Second)
	if err != nil {
		return storeFailure(ctx, "sent-order store", err)
	}
	switch sc.Status {
	case store.HeldElsewhere:
		return fmt.Errorf("order %s is being delivered: %w", orderID, failure.ErrClaimHeld)
	case store.Claimed:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
		_ = c.sent.Release(sctx, sc)
	}
	return fmt.Errorf("order %s: %w", orderID, ErrOrderNotDelivered)
}

func storeFailure(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var su *failure.StoreUnavailable
	if errors.As(err, &su) {
		return err
	}
	return &failure.StoreUnavailable{Store: name, Err: err}
}

// requestAsOrder carries a cancel request through the sink chain, which
// speaks orders; cancelBody turns it back into the request's JSON.
func requestAsOrder(r mapping.CancelRequest) mapping.Order {
	o := mapping.Order{OrderID: r.OrderID}
	for _, it := range r.Items {
		o.Items = append(o.Items, mapping.Item{SKU: it.SKU, Quantity: json.Number(strconv.FormatInt(it.Quantity, 10)), Price: it.Price})
	}
	return o
}

func cancelBody(o mapping.Order) ([]byte, error) {
	r := mapping.CancelRequest{OrderID: o.OrderID, Items: []mapping.CancelItem{}}
	for _, it := range o.Items {
		q, _ := strconv.ParseInt(string(it.Quantity), 10, 64)
		r.Items = append(r.Items, mapping.CancelItem{SKU: it.SKU, Quantity: q, Price: it.Price})
	}
	return json.Marshal(r)
}
