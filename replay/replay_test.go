package replay_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/replay"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

func TestReplayDeliversDeadLetteredOrdersOnceAndAgainNothing(t *testing.T) {
	r := newRig(t)
	r.produce(3000, 1, time.Now())
	r.deadLetterAll()

	s := newSandbox(t, sandbox.Options{})
	store := memory.NewSent(memory.Options{})
	sum, err := r.replayer(s, store).Run(context.Background(), r.dlqSource(), replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Delivered != int64(len(r.valid)) || sum.StillInvalid != int64(r.invalid) || sum.FailedAgain != 0 {
		t.Errorf("first replay: %+v, want %d delivered and %d still invalid", sum, len(r.valid), r.invalid)
	}
	got := accepted(t, s)
	for id := range r.valid {
		if got[id] != 1 {
			t.Errorf("order %s delivered %d times, want once", id, got[id])
		}
	}
	requests := s.Stats().Requests

	again, err := r.replayer(s, store).Run(context.Background(), r.dlqSource(), replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Delivered != 0 || again.Skipped != int64(len(r.valid)) {
		t.Errorf("second replay: %+v, want everything skipped", again)
	}
	if s.Stats().Requests != requests {
		t.Errorf("second replay sent %d requests", s.Stats().Requests-requests)
	}
}

func TestDryRunSendsNothing(t *testing.T) {
	r := newRig(t)
	r.produce(2000, 2, time.Now())
	r.deadLetterAll()
	s := newSandbox(t, sandbox.Options{})
	rp := r.replayer(s, memory.NewSent(memory.Options{}))
	var out bytes.Buffer
	rp.DryRun, rp.Out = true, &out
	sum, err := rp.Run(context.Background(), r.dlqSource(), replay.Filter{Reasons: []string{deadletter.ReasonRejected}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("dry run sent %d requests", st.Requests)
	}
	if n := strings.Count(out.String(), `{"send":`); n != len(r.valid) || sum.Delivered != int64(n) {
		t.Errorf("dry run describes %d sends (summary %d), want %d", n, sum.Delivered, len(r.valid))
	}
	if sum.StillInvalid != 0 {
		t.Errorf("--reason rejected selected %d invalid records", sum.StillInvalid)
	}
}

func TestSourceTopicWindowResendsOnlyThatWindowsUnsentOrders(t *testing.T) {
	r := newRig(t)
	day1 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	r.produce(2000, 3, day1)
	window := r.produce(2000, 4, day2)

	s := newSandbox(t, sandbox.Options{})
	store := memory.NewSent(memory.Options{})
	sent := 0
	for id := range window { // some of the window's orders were delivered before
		c, _ := store.Claim(context.Background(), id, time.Minute)
		_ = store.Confirm(context.Background(), c)
		if sent++; sent == 10 {
			break
		}
	}
	src, err := replay.OpenKafka(context.Background(), replay.KafkaOptions{Brokers: []string{r.broker.Addr()}, Topic: topic,
		Since: day2.Add(-time.Hour), Until: day2.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.replayer(s, store).Run(context.Background(), src, replay.Filter{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := accepted(t, s)
	if len(got) != len(window)-sent || sum.Skipped != int64(sent) {
		t.Errorf("delivered %d, skipped %d; want %d and %d", len(got), sum.Skipped, len(window)-sent, sent)
	}
	for id := range got {
		if !window[id] {
			t.Errorf("order %s is outside the window", id)
		}
	}
}

func TestInterruptedReplayFinishesWhenRunAgain(t *testing.T) {
	r := newRig(t)
	r.produce(4000, 5, time.Now())
	r.deadLetterAll()
	s := newSandbox(t, sandbox.Options{Latency: time.Millisecond})
	store := memory.NewSent(memory.Options{})

	ctx, cancel := context.WithCancel(context.Background())
	_, err := r.replayer(s, store).Run(ctx, r.dlqSource(), replay.Filter{}, func(sum replay.Summary) {
		if sum.Delivered >= 10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted replay returned %v", err)
	}
	if n := len(accepted(t, s)); n == 0 || n == len(r.valid) {
		t.Fatalf("interrupted replay delivered %d of %d: not interrupted mid-way", n, len(r.valid))
	}
	if _, err := r.replayer(s, store).Run(context.Background(), r.dlqSource(), replay.Filter{}, nil); err != nil {
		t.Fatal(err)
	}
	got := accepted(t, s)
	for id := range r.valid {
		if got[id] != 1 {
			t.Errorf("order %s delivered %d times, want once", id, got[id])
		}
	}
}
