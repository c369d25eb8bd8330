package pipeline_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// checkExactlyOnce fails unless the sandbox accepted every valid order once
// and nothing else.
func (r *rig) checkExactlyOnce() {
	r.t.Helper()
	ids := r.acceptedIDs()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			r.t.Errorf("order %s delivered more than once", id)
		}
		seen[id] = true
		if !r.want.validIDs[id] {
			r.t.Errorf("order %s delivered but not a valid order of the stream", id)
		}
	}
	for id := range r.want.validIDs {
		if !seen[id] {
			r.t.Errorf("valid order %s never delivered", id)
		}
	}
}

// waitDone waits until the group has committed the whole topic.
func (r *rig) waitDone(group string, p *pipeline.Pipeline) {
	r.t.Helper()
	waitFor(r.t, 60*time.Second, "the whole topic to be committed", func() bool {
		c, end := r.committed(group)
		return end > 0 && c == end
	})
	_ = p
}

func TestStreamDeliversEveryValidOrderOnceAndDeadLettersTheRest(t *testing.T) {
	r := newRig(t, 3, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.produce(6000, 1)
	p, _ := r.pipeline("g1", sandbox.DefaultKeys, memory.NewSent(memory.Options{}))
	stop := start(t, p)
	r.waitDone("g1", p)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	s := p.Stats()
	if s.Events != int64(r.want.events) {
		t.Errorf("events %d, want %d", s.Events, r.want.events)
	}
	if s.Delivered != int64(r.want.valid) {
		t.Errorf("delivered %d, want %d (%s)", s.Delivered, r.want.valid, describe(s))
	}
	r.checkExactlyOnce()
	dls := r.deadLetters()
	if len(dls) != r.want.invalid || s.DeadLettered[deadletter.ReasonInvalid] != int64(r.want.invalid) {
		t.Errorf("dead letters %d (counted %d), want %d invalid orders", len(dls), s.DeadLettered[deadletter.ReasonInvalid], r.want.invalid)
	}
	for _, d := range dls {
		if d.Reason != deadletter.ReasonInvalid || len(d.Problems) == 0 || d.Topic != topic || d.Offset < 0 {
			t.Errorf("dead letter without reason or source: %+v", d)
		}
		if !json.Valid(d.Value) || d.Value[0] != '{' {
			t.Errorf("dead letter value is not one event: %s", d.Value)
		}
		if !r.want.keys[string(d.Key)] {
			t.Errorf("dead letter key %q is no message's key", d.Key)
		}
	}
	if st := r.sandbox.Stats(); st.Rejected != 0 || st.Duplicates != 0 {
		t.Errorf("sandbox saw rejected %d duplicates %d, want 0", st.Rejected, st.Duplicates)
	}
}
