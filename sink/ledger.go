package sink

import (
	"context"
	"log/slog"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// ledgerSink records the lines of each delivered order in the ledger, so
// that later refunds can be planned against what was sent. It sits inside
// the idempotent layer: it runs only for a claimed order, after its 2xx and
// before the claim is confirmed, so that an order recorded as sent always
// has its lines (a refund meeting the order still in flight waits on its
// claim). A ledger that fails is retried briefly and then logged: the
// delivery happened and is not undone; a refund of that order is then
// dead-lettered as before its order, and replayable.
type ledgerSink struct {
	next   Sink
	ledger store.Ledger
	log    *slog.Logger
}

// Send implements Sink.
func (s *ledgerSink) Send(ctx context.Context, o mapping.Order) error {
	if err := s.next.Send(ctx, o); err != nil {
		return err
	}
	lines := mapping.LinesOf(o)
	wait := 20 * time.Millisecond
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		err := s.ledger.RecordDelivery(sctx, o.OrderID, lines)
		cancel()
		if err == nil {
			return nil
		}
		if attempt == 5 || ctx.Err() != nil {
			s.log.LogAttrs(ctx, slog.LevelError, "delivered order's lines not recorded in the ledger; a refund of it will be dead-lettered",
				slog.String("order_id", o.OrderID), slog.String("error", err.Error()))
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		wait *= 2
	}
}
