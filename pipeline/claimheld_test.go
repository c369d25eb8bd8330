package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
	"github.com/refersion-relay/refersion-relay/store"
)

// heldStore is a sent-order store in which one order_id is held by another
// sender until release is closed.
type heldStore struct {
	*memory.Sent
	held    string
	release chan struct{}
	refused atomic.Int32
}

func (h *heldStore) Claim(ctx context.Context, id string, lease time.Duration) (store.Claim, error) {
	if id == h.held {
		select {
		case <-h.release:
		default:
			h.refused.Add(1)
			return store.Claim{OrderID: id, Status: store.HeldElsewhere}, nil
		}
	}
	return h.Sent.Claim(ctx, id, lease)
}

// An order another sender holds waits for it; the rest of the stream flows
// meanwhile, and the pipeline stays ready.
func TestOrderHeldElsewhereDoesNotPauseTheStream(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.produce(3000, 9)
	var held string
	for id := range r.want.validIDs {
		held = id
		break
	}
	hs := &heldStore{Sent: memory.NewSent(memory.Options{}), held: held, release: make(chan struct{})}
	p, _ := r.pipeline("g-held", sandbox.DefaultKeys, hs)
	start(t, p)
	waitFor(t, 60*time.Second, "every other order", func() bool { return p.Stats().Delivered == int64(r.want.valid-1) })
	if ready, reason := p.Ready(); !ready {
		t.Errorf("not ready while one order waits for another sender: %s", reason)
	}
	if hs.refused.Load() == 0 {
		t.Fatal("the held order was never tried")
	}
	close(hs.release)
	r.waitDone("g-held", p)
	r.checkExactlyOnce()
}
