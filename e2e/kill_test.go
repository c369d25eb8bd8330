package e2e

import (
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/sandbox"
)

// The relay is killed with SIGKILL at random moments mid-stream and
// restarted, several times. With the memory store no order may be lost;
// duplicates can only come from the work in flight at each kill.
func TestSIGKILLMidStreamLosesNoOrder(t *testing.T) {
	w := newWorld(t, 20000, sandbox.Options{Latency: 2 * time.Millisecond})
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	const kills = 4
	for k := 0; k < kills; k++ {
		r := w.start()
		before := len(w.sandbox.Orders())
		step := 1 + rnd.Intn(len(w.valid)/(2*kills))
		waitFor(t, 60*time.Second, "deliveries before kill", r, func() bool { return len(w.sandbox.Orders()) >= before+step })
		if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-r.exited
		r.exited <- nil
		t.Logf("kill %d after %d more deliveries", k+1, len(w.sandbox.Orders())-before)
	}
	r := w.start()
	waitFor(t, 120*time.Second, "the whole stream to be committed", r, func() bool {
		return len(w.accepted()) == len(w.valid) && w.lag() == 0
	})
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-r.exited; err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	r.exited <- nil

	got := w.accepted()
	duplicates := 0
	for id, n := range got {
		if !w.valid[id] {
			t.Errorf("delivered %s, not a valid order of the stream", id)
		}
		duplicates += n - 1
	}
	for id := range w.valid {
		if got[id] == 0 {
			t.Errorf("order %s lost", id)
		}
	}
	t.Logf("%d valid orders, %d kills, %d duplicates (in-flight window; PIPELINE_CONCURRENCY=64)", len(w.valid), kills, duplicates)
	if duplicates > kills*64 {
		t.Errorf("%d duplicates exceed the in-flight window of %d kills", duplicates, kills)
	}
}

// SIGTERM under load drains, commits and exits 0; a restart finishes the
// stream with nothing lost and nothing sent twice.
func TestSIGTERMUnderLoadExitsCleanly(t *testing.T) {
	w := newWorld(t, 10000, sandbox.Options{Latency: 5 * time.Millisecond})
	r := w.start()
	waitFor(t, 60*time.Second, "deliveries", r, func() bool { return len(w.sandbox.Orders()) >= 20 })
	began := time.Now()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.exited:
		r.exited <- nil
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, r.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit within DRAIN_TIMEOUT plus margin")
	}
	t.Logf("stopped in %v", time.Since(began))
	r2 := w.start()
	waitFor(t, 120*time.Second, "the rest of the stream", r2, func() bool {
		return len(w.accepted()) == len(w.valid) && w.lag() == 0
	})
	for id, n := range w.accepted() {
		if n > 1 {
			t.Errorf("order %s delivered %d times", id, n)
		}
	}
}
