package e2e

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/sandbox"
)

// tailProcess runs `refersion-relay tail` with args and collects the JSON
// objects it prints.
type tailProcess struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	seen []journal.Entry
	bad  []string // lines that are not one JSON object
	done chan struct{}
}

func startTail(t *testing.T, args ...string) *tailProcess {
	t.Helper()
	tp := &tailProcess{cmd: exec.Command(binary, append([]string{"tail"}, args...)...), done: make(chan struct{})}
	out, err := tp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(tp.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var e journal.Entry
			tp.mu.Lock()
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				tp.bad = append(tp.bad, sc.Text())
			} else {
				tp.seen = append(tp.seen, e)
			}
			tp.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = tp.cmd.Process.Kill()
		<-tp.done
		_ = tp.cmd.Wait()
	})
	return tp
}

func (tp *tailProcess) entries() []journal.Entry {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]journal.Entry(nil), tp.seen...)
}

// `tail --json` against the binary: one line per outcome, and its delivered
// orders are the sandbox's accepted orders, one to one; its dead letters are
// the invalid orders produced. Half of the stream comes before tail connects
// (its backlog), half while it follows.
func TestTailJSONMatchesTheSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	w := harness.StartWorld(t, harness.Options{Partitions: 4, MaxMessageBytes: 4 << 20, Sandbox: sandbox.Options{Keys: sandbox.DefaultKeys}})
	if err := w.Produce(3000, 1); err != nil {
		t.Fatal(err)
	}
	r := start(t, w, "LOG_LEVEL=info")
	addr := adminAddr(t, r)
	tp := startTail(t, "--addr", addr, "--json", "--all")
	waitFor(t, 60*time.Second, "tail to print the first outcomes", func() bool { return len(tp.entries()) > 0 }, r)
	if err := w.Produce(3000, 2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every order accepted and committed", func() bool {
		return len(accepted(t, w)) == len(w.Valid) && w.Lag() == 0
	}, r)
	want := len(w.Valid) + w.Invalid // one outcome per order event
	waitFor(t, 30*time.Second, "tail to print every outcome", func() bool { return len(tp.entries()) >= want }, r)

	got := accepted(t, w)
	delivered := map[string]int{}
	invalid := 0
	var last uint64
	for _, e := range tp.entries() {
		if e.Seq <= last {
			t.Errorf("entry %d after %d: out of order or repeated", e.Seq, last)
		}
		last = e.Seq
		switch {
		case e.Outcome == "delivered" && !e.DeadLettered:
			delivered[e.OrderID]++
			if e.Attempts < 1 || e.Time.IsZero() {
				t.Errorf("delivered without attempts or time: %+v", e)
			}
		case e.Outcome == "invalid" && e.DeadLettered:
			invalid++
		default:
			t.Errorf("unexpected outcome %+v", e)
		}
	}
	for id, n := range delivered {
		if n != 1 || got[id] != 1 {
			t.Errorf("order %s: %d delivered lines, accepted %d times by the sandbox", id, n, got[id])
		}
	}
	for id := range got {
		if delivered[id] == 0 {
			t.Errorf("order %s accepted by the sandbox, missing from tail", id)
		}
	}
	if len(delivered) != len(got) || invalid != w.Invalid {
		t.Errorf("tail: %d delivered, %d invalid; sandbox %d accepted, %d invalid produced", len(delivered), invalid, len(got), w.Invalid)
	}
	tp.mu.Lock()
	if len(tp.bad) > 0 {
		t.Errorf("lines that are not one JSON object: %q", tp.bad)
	}
	tp.mu.Unlock()
	t.Logf("tail --json: %d outcomes, %d delivered = the sandbox's %d, %d invalid", len(tp.entries()), len(delivered), len(got), invalid)
}
