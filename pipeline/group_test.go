package pipeline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// Two members of one group share the partitions; a member joining mid-stream
// triggers a rebalance. With a shared sent-order store nothing is sent twice.
func TestRebalanceLosesNothingAndSendsNothingTwice(t *testing.T) {
	r := newRig(t, 4, sandbox.Options{Keys: sandbox.DefaultKeys, Latency: time.Millisecond})
	store := memory.NewSent(memory.Options{})
	r.produce(3000, 6)
	p1, _ := r.pipeline("g-rebalance", sandbox.DefaultKeys, store)
	start(t, p1)
	waitFor(t, 30*time.Second, "the first member to deliver", func() bool { return p1.Stats().Delivered > 0 })
	// Hold the first member's work in flight while the second one joins, so
	// its partitions are revoked mid-delivery.
	r.sandbox.SetDown(true)
	r.produce(300, 8) // orders that meet the outage, whatever the first member had left to deliver
	waitPaused(t, p1, "refersion unavailable")
	p2, _ := r.pipeline("g-rebalance", sandbox.DefaultKeys, store)
	start(t, p2)
	waitFor(t, 30*time.Second, "the second member to join", func() bool {
		_, reason := p2.Ready()
		return !strings.Contains(reason, "not a member")
	})
	r.sandbox.SetDown(false)
	r.produce(3000, 7)
	r.waitDone("g-rebalance", p1)
	r.checkExactlyOnce()
	r.checkOnlyInvalidDeadLettered()
	if p2.Stats().Messages == 0 {
		t.Error("the second member consumed nothing: no rebalance happened")
	}
}

// Stopping under load drains in-flight work, commits it and returns; a new
// member of the group finishes the stream with nothing lost or repeated.
func TestStopUnderLoadLosesNothing(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys, Latency: 5 * time.Millisecond})
	store := memory.NewSent(memory.Options{})
	r.produce(6000, 8)
	p1, _ := r.pipeline("g-stop", sandbox.DefaultKeys, store)
	stop := start(t, p1)
	waitFor(t, 30*time.Second, "deliveries to start", func() bool { return p1.Stats().Delivered >= 10 })
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v on stop", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stop took %v, beyond the drain deadline", took)
	}
	if s := p1.Stats(); s.InFlight != 0 {
		t.Errorf("%d still in flight after stop", s.InFlight)
	}
	if c, end := r.committed("g-stop"); c == 0 || c >= end {
		t.Logf("committed %d of %d at stop", c, end)
	}
	p2, _ := r.pipeline("g-stop", sandbox.DefaultKeys, store)
	start(t, p2)
	r.waitDone("g-stop", p2)
	r.checkExactlyOnce()
}
