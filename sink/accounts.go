package sink

import (
	"context"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/mapping"
)

// Accounts sends each order and cancel to the destinations of its account
// (Source.Account, set by a mapping.Router): several Refersion accounts fed
// by one stream. Drivers that settle outcomes one at a time (replay, the
// console) use it; the pipeline keeps a lane per account itself.
type Accounts struct {
	Sinks   map[string]Sink       // by account name
	Cancels map[string]*Canceller // by account name; none: cancels are not sent
}

// Send implements Sink: the order goes through its account's sink. An order
// of an account not in Sinks is refused for good.
func (a Accounts) Send(ctx context.Context, o mapping.Order) error {
	s, ok := a.Sinks[o.Source.Account]
	if !ok {
		return &failure.Permanent{Reason: "no destination for account " + o.Source.Account}
	}
	return s.Send(ctx, o)
}

// Cancel sends c through its account's canceller, as Canceller.Cancel does.
func (a Accounts) Cancel(ctx context.Context, c mapping.Cancel) (CancelResult, error) {
	cc, ok := a.Cancels[c.Source.Account]
	if !ok {
		return CancelResult{}, &failure.Permanent{Reason: "no cancel destination for account " + c.Source.Account}
	}
	return cc.Cancel(ctx, c)
}
