package pipeline

import (
	"context"
	"testing"
)

func TestGateHoldsWhileAnyCauseIsHeld(t *testing.T) {
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
	r1 := g.hold(causeDestination)
	r2 := g.hold(causeDestination) // a second worker: no state change
	r3 := g.hold("identity store unavailable")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.wait(ctx); err == nil {
		t.Fatal("wait returned nil while closed")
	}
	r1()
	r1() // idempotent
	r2()
	if open, reason := g.state(); open || reason != "identity store unavailable" {
		t.Fatalf("state %v %q, want closed by the identity store", open, reason)
	}
	released := make(chan error)
	go func() { released <- g.wait(context.Background()) }()
	r3()
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	want := []string{"closed: " + causeDestination, "closed: " + "identity store unavailable" + ", " + causeDestination, "closed: " + "identity store unavailable", "open"}
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
	g.closeFinal(causeUnauthorized)
	release := g.hold(causeUnauthorized)
	release()
	if open, reason := g.state(); open || reason != causeUnauthorized {
		t.Errorf("state %v %q, want closed: unauthorized", open, reason)
	}
}
