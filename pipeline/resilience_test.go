package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func (r *rig) checkOnlyInvalidDeadLettered() {
	r.t.Helper()
	for _, d := range r.deadLetters() {
		if d.Reason != deadletter.ReasonInvalid {
			r.t.Errorf("dead-lettered for %q (status %d): only invalid orders may be", d.Reason, d.Status)
		}
	}
}

func waitPaused(t *testing.T, p *pipeline.Pipeline, why string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the pipeline to pause for "+why, func() bool {
		ready, reason := p.Ready()
		return !ready && strings.Contains(reason, why)
	})
}

func TestOutageAndFailuresDeadLetterNothing(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys, FailRate: 0.3, Seed: 3})
	r.sandbox.SetDown(true)
	r.produce(3000, 2)
	p, _ := r.pipeline("g-outage", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	start(t, p)
	waitPaused(t, p, "refersion unavailable")
	if d := p.Stats().DeadLettered[deadletter.ReasonRejected]; d != 0 {
		t.Fatalf("%d orders dead-lettered during the outage", d)
	}
	r.sandbox.SetDown(false)
	r.waitDone("g-outage", p)
	if ready, reason := p.Ready(); !ready {
		t.Errorf("not ready after the outage: %s", reason)
	}
	r.checkExactlyOnce()
	r.checkOnlyInvalidDeadLettered()
	if p.Stats().Redone == 0 {
		t.Error("no order was redone: the outage was not exercised")
	}
}

func TestWrongKeysPauseUntilRestartedWithGoodKeys(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.produce(2000, 3)
	store := memory.NewSent(memory.Options{})
	bad, _ := r.pipeline("g-keys", "wrong.keys", store)
	stop := start(t, bad)
	waitPaused(t, bad, "refused the keys")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := r.sandbox.Stats(); st.Accepted != 0 {
		t.Fatalf("%d orders accepted with wrong keys", st.Accepted)
	}
	if s := bad.Stats(); s.DeadLettered[deadletter.ReasonRejected] != 0 {
		t.Fatalf("orders dead-lettered for wrong keys: %+v", s.DeadLettered)
	}

	good, _ := r.pipeline("g-keys", sandbox.DefaultKeys, store)
	start(t, good)
	r.waitDone("g-keys", good)
	r.checkExactlyOnce()
	r.checkOnlyInvalidDeadLettered()
}

func TestRejectedOrdersAreDeadLetteredWithStatusAndBody(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys, RejectAll: true})
	r.produce(1500, 4)
	p, _ := r.pipeline("g-reject", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	start(t, p)
	r.waitDone("g-reject", p)
	rejected := 0
	for _, d := range r.deadLetters() {
		if d.Reason != deadletter.ReasonRejected {
			continue
		}
		rejected++
		if d.Status != 422 || d.Body == "" || d.OrderID == "" || !r.want.validIDs[d.OrderID] {
			t.Errorf("rejection record lacks status, body or order id: %+v", d)
		}
	}
	if rejected != r.want.valid {
		t.Errorf("%d rejections dead-lettered, want %d", rejected, r.want.valid)
	}
}

// flakyDeadLetters fails its first writes, as a dead-letter topic that is
// briefly unavailable would.
type flakyDeadLetters struct {
	next     deadletter.Writer
	failures atomic.Int32
}

func (f *flakyDeadLetters) Write(ctx context.Context, d deadletter.Record) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("leader not available")
	}
	return f.next.Write(ctx, d)
}

func TestFailedDeadLetterWritesAreRetriedNotSwallowed(t *testing.T) {
	r := newRig(t, 1, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.produce(1500, 5)
	_, dlq := r.pipeline("unused", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	flaky := &flakyDeadLetters{next: dlq}
	flaky.failures.Store(5)
	p := r.pipelineWith("g-dlq", flaky)
	start(t, p)
	r.waitDone("g-dlq", p)
	s := p.Stats()
	if s.DeadLetterFailures < 5 {
		t.Errorf("dead-letter failures %d, want at least 5", s.DeadLetterFailures)
	}
	if got := len(r.deadLetters()); got != r.want.invalid {
		t.Errorf("%d dead letters, want %d", got, r.want.invalid)
	}
	r.checkExactlyOnce()
}
