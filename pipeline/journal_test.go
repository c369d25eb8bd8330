package pipeline_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/deadletter"
	"github.com/refersion-relay/refersion-relay/internal/harness"
	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/pipeline"
	"github.com/refersion-relay/refersion-relay/sandbox"
	"github.com/refersion-relay/refersion-relay/sink"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// recorder is a pipeline.Journal that keeps every settlement.
type recorder struct {
	mu  sync.Mutex
	all []pipeline.Settlement
}

func (r *recorder) Settled(s pipeline.Settlement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, s)
}

func (r *recorder) list() []pipeline.Settlement {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pipeline.Settlement(nil), r.all...)
}

// The journal hears of every order and dead letter once: a settlement per
// delivered order, one per dead letter with its reason, and Refersion's
// answer for a rejection.
func TestJournalHearsEverySettlement(t *testing.T) {
	r := newRig(t, 2, sandbox.Options{Keys: sandbox.DefaultKeys})
	r.sandbox.Inject(sandbox.ErrorBody) // the first order: a 200 carrying an error, rejected
	r.produce(3000, 7)
	rec := &recorder{}
	p := journalPipeline(t, r, "journal", rec)
	stop := start(t, p)
	r.waitDone("journal", p)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	delivered := map[string]int{}
	var invalid, rejected int
	for _, st := range rec.list() {
		if st.Time.IsZero() || st.Latency < 0 || st.Offset < 0 {
			t.Errorf("settlement without time, latency or offset: %+v", st)
		}
		switch {
		case st.Outcome == "delivered" && !st.DeadLettered:
			delivered[st.OrderID]++
			if st.Attempts < 1 {
				t.Errorf("delivered order %s with %d attempts", st.OrderID, st.Attempts)
			}
		case st.Outcome == deadletter.ReasonInvalid && st.DeadLettered:
			invalid++
			if st.Reason == "" {
				t.Errorf("invalid order without its first problem: %+v", st)
			}
		case st.Outcome == deadletter.ReasonRejected && st.DeadLettered:
			rejected++
			if st.Status != 200 || !strings.Contains(st.Body, "error") || st.OrderID == "" {
				t.Errorf("rejection without Refersion's answer: %+v", st)
			}
		default:
			t.Errorf("unexpected settlement %+v", st)
		}
	}
	if rejected != 1 {
		t.Errorf("%d rejections, want 1", rejected)
	}
	if invalid != r.want.invalid {
		t.Errorf("%d invalid settlements, want %d", invalid, r.want.invalid)
	}
	accepted := map[string]bool{}
	for _, id := range r.acceptedIDs() {
		accepted[id] = true
	}
	for id, n := range delivered {
		if n != 1 || !accepted[id] {
			t.Errorf("order %s: %d delivered settlements, accepted by the sandbox: %v", id, n, accepted[id])
		}
	}
	if len(delivered) != len(accepted) {
		t.Errorf("%d delivered settlements, the sandbox accepted %d orders", len(delivered), len(accepted))
	}
}

// journalPipeline builds a pipeline against r that reports to j (none if nil).
func journalPipeline(t *testing.T, r *rig, group string, j pipeline.Journal) *pipeline.Pipeline {
	t.Helper()
	k, err := sink.ParseKeys(sandbox.DefaultKeys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sink.New(sink.Config{Endpoint: r.sandbox.Endpoint(), Keys: k, RequestTimeout: 5 * time.Second,
		Retry: sink.RetryConfig{MaxAttempts: 3, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, MaxElapsed: time.Second},
	}, memory.NewSent(memory.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	cfg := pipeline.Config{
		Brokers: []string{r.broker.Addr()}, Topic: topic, GroupID: group,
		MaxWait: 100 * time.Millisecond, HeartbeatInterval: 300 * time.Millisecond, SessionTimeout: 6 * time.Second,
		RebalanceTimeout: 6 * time.Second, DrainTimeout: 5 * time.Second, CommitInterval: time.Second,
	}
	if j != nil {
		cfg.Journal = j
	}
	p, err := pipeline.New(cfg, mapping.MustNew(mapping.Options{}), s, memory.NewIdentities(memory.Options{}), r.dlq())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkPipelineJournal is BenchmarkPipeline without and with the
// journal (package journal, as `run` wires it) hearing every settlement.
// One op is the whole 200,000-event stream; run it with -benchtime=1x.
func BenchmarkPipelineJournal(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "journal=off"
		if on {
			name = "journal=on"
		}
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				t := &testing.T{}
				w, err := harness.NewWorldWith(harness.Options{Partitions: 4, Sandbox: sandbox.Options{Keys: sandbox.DefaultKeys}})
				if err != nil {
					b.Fatal(err)
				}
				r := rigOf(t, w)
				r.produce(200000, 1)
				jr := journal.New(journal.Options{})
				var j pipeline.Journal
				if on {
					j = jr
				}
				p := journalPipeline(t, r, "bench", j)
				b.StartTimer()
				stop := start(t, p)
				waitFor(b, time.Minute, "the first message", func() bool { return p.Stats().Messages > 0 })
				began := time.Now()
				waitFor(b, time.Minute, "every event handled", func() bool {
					s := p.Stats()
					return s.Events == int64(r.want.events) && s.InFlight == 0 && s.Delivered+s.DeadLetteredTotal() == s.Orders
				})
				elapsed := time.Since(began)
				b.StopTimer()
				_ = stop()
				w.Close() // each run on its own broker and sandbox only
				if n := jr.Next() - 1; on && n != uint64(r.want.valid+r.want.invalid) {
					b.Errorf("journal heard %d settlements, want %d", n, r.want.valid+r.want.invalid)
				}
				b.ReportMetric(float64(r.want.events)/elapsed.Seconds(), "events/s")
			}
		})
	}
}
