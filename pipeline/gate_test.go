package pipeline

import (
	"context"
	"testing"
)

func TestGateHoldsUntilEveryCauseIsGone(t *testing.T) {
	var changes []string
	g := newGate(func(open bool, reason string) {
		if open {
			changes = append(changes, "open")
		} else {
			changes = append(changes, "closed: "+reason)
		}
	})
	if err := g.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.close(causeDestination, false)
	g.close(causeDestination, false) // no second state change
	g.close(causeIdentities, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.wait(ctx); err == nil {
		t.Fatal("wait returned nil while closed")
	}
	g.open(causeDestination)
	if open, reason := g.state(); open || reason != causeIdentities {
		t.Fatalf("state %v %q, want closed by the identity store", open, reason)
	}
	released := make(chan error)
	go func() { released <- g.wait(context.Background()) }()
	g.open(causeIdentities)
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	want := []string{"closed: " + causeDestination, "closed: " + causeIdentities + ", " + causeDestination, "closed: " + causeIdentities, "open"}
	if len(changes) != len(want) {
		t.Fatalf("changes %q, want %q", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Errorf("change %d: %q, want %q", i, changes[i], want[i])
		}
	}
}

func TestGateFinalCauseStays(t *testing.T) {
	g := newGate(nil)
	g.close(causeUnauthorized, true)
	g.open(causeUnauthorized)
	if open, reason := g.state(); open || reason != causeUnauthorized {
		t.Errorf("state %v %q, want closed: unauthorized", open, reason)
	}
}
