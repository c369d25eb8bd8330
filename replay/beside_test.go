package replay_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

const heldOrder = `{"type":"track","event":"Order Completed","userId":"gone","properties":{"cart_id":"c","order_id":"o-held","currency":"USD","products":[{"sku":"A","price":1}]}}`

// signalling tells when a claim was answered HeldElsewhere.
type signalling struct {
	store.Sent
	once sync.Once
	held chan struct{}
}

func (s *signalling) Claim(ctx context.Context, id string, lease time.Duration) (store.Claim, error) {
	c, err := s.Sent.Claim(ctx, id, lease)
	if err == nil && c.Status == store.HeldElsewhere {
		s.once.Do(func() { close(s.held) })
	}
	return c, err
}

// Replay beside a running relay: an order the relay is delivering right now
// (its claim held) is waited for, then skipped once the relay has sent it —
// not failed, not sent twice.
func TestAnOrderHeldByTheRunningRelayIsWaitedFor(t *testing.T) {
	sent := memory.NewSent(memory.Options{})
	other, err := sent.Claim(context.Background(), "o-held", time.Minute) // the running relay's claim
	if err != nil || other.Status != store.Claimed {
		t.Fatal(other, err)
	}
	st := &signalling{Sent: sent, held: make(chan struct{})}
	sb := newSandbox(t, sandbox.Options{})
	rp := &replay.Replayer{Mapper: mapping.MustNew(mapping.Options{}), Sink: newSink(t, sb, st), Sent: st,
		Identities: memory.NewIdentities(memory.Options{}), ClaimWait: time.Minute}
	go func() {
		<-st.held
		_ = sent.Confirm(context.Background(), other) // the relay delivered it
	}()
	sum, err := rp.Run(context.Background(), replay.NewFileSource(strings.NewReader(heldOrder), 1), replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Skipped != 1 || sum.FailedAgain != 0 || sb.Stats().Requests != 0 {
		t.Errorf("summary %+v, %d requests; want the order skipped, nothing sent", sum, sb.Stats().Requests)
	}
}

// Replay keeps what the first attempt knew: the dead-letter record's
// customer fills what today's identity store no longer has.
func TestReplayUsesTheCustomerTheFirstAttemptFound(t *testing.T) {
	rec := replay.Export(deadletter.Record{Reason: deadletter.ReasonRejected, Status: 503, Value: []byte(heldOrder), OrderID: "o-held",
		FirstFailure: time.Now(), Customer: &mapping.Customer{Email: "first@example.com", FirstName: "Ada", IPAddress: "203.0.113.9"}})
	line, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	sb := newSandbox(t, sandbox.Options{})
	sent := memory.NewSent(memory.Options{})
	rp := &replay.Replayer{Mapper: mapping.MustNew(mapping.Options{}), Sink: newSink(t, sb, sent), Sent: sent,
		Identities: memory.NewIdentities(memory.Options{})}
	sum, err := rp.Run(context.Background(), replay.NewFileSource(strings.NewReader(string(line)), 1), replay.Filter{}, nil)
	if err != nil || sum.Delivered != 1 {
		t.Fatalf("replay: %+v, %v", sum, err)
	}
	var o mapping.Order
	if err := json.Unmarshal(sb.Orders()[0], &o); err != nil {
		t.Fatal(err)
	}
	if o.Customer == nil || o.Customer.Email != "first@example.com" || o.Customer.FirstName != "Ada" || o.Customer.IPAddress != "203.0.113.9" {
		t.Errorf("customer sent %+v, want the recorded one", o.Customer)
	}
}
