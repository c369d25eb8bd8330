package pipeline_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
)

// heldStore is a sent-order store in which one order_id is held by another
// sender until release is closed.
type heldStore struct {
	*sink.MemoryStore
	held    string
	release chan struct{}
	refused atomic.Int32
}

func (h *heldStore) Claim(ctx context.Context, id string, lease time.Duration) (sink.Claim, error) {
	if id == h.held {
		select {
		case <-h.release:
		default:
			h.refused.Add(1)
			return sink.Claim{OrderID: id, Status: sink.HeldElsewhere}, nil
		}
	}
	return h.MemoryStore.Claim(ctx, id, lease)
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
	store := &heldStore{MemoryStore: sink.NewMemoryStore(sink.MemoryStoreOptions{}), held: held, release: make(chan struct{})}
	p, _ := r.pipeline("g-held", sandbox.DefaultKeys, store)
	start(t, p)
	waitFor(t, 60*time.Second, "every other order", func() bool { return p.Stats().Delivered == int64(r.want.valid-1) })
	if ready, reason := p.Ready(); !ready {
		t.Errorf("not ready while one order waits for another sender: %s", reason)
	}
	if store.refused.Load() == 0 {
		t.Fatal("the held order was never tried")
	}
	close(store.release)
	r.waitDone("g-held", p)
	r.checkExactlyOnce()
}
