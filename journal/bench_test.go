package journal_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/journal"
	"github.com/refersion-relay/refersion-relay/pipeline"
)

// settlement is a delivered order as the pipeline reports it.
func settlement(i int) pipeline.Settlement {
	return pipeline.Settlement{Time: time.Now(), Outcome: "delivered", OrderID: "order-" + strconv.Itoa(i), Attempts: 1,
		Latency: 3 * time.Millisecond, Partition: i % 4, Offset: int64(i)}
}

// BenchmarkSettled is the cost the pipeline pays per order with the journal
// on: mask, copy, one short critical section.
func BenchmarkSettled(b *testing.B) {
	j := journal.New(journal.Options{Secrets: []string{"sandbox-public", "sandbox-secret"}})
	s := make([]pipeline.Settlement, 1024)
	for i := range s {
		s[i] = settlement(i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j.Settled(s[i%len(s)])
	}
}

// BenchmarkSettledRejected adds a rejection with Refersion's answer, which
// is masked (secrets, emails) and cut.
func BenchmarkSettledRejected(b *testing.B) {
	j := journal.New(journal.Options{Secrets: []string{"sandbox-public", "sandbox-secret"}})
	s := settlement(1)
	s.Outcome, s.DeadLettered, s.Status = "rejected", true, 422
	s.Body = `{"errors":["The customer jane.doe@example.com has no cart (cart_id 8f1c2e)","currency_code must be ISO 4217"]}`
	s.Reason = "properties.cart_id: missing"
	b.ReportAllocs()
	for b.Loop() {
		j.Settled(s)
	}
}

// BenchmarkSettledParallel is the journal under every worker at once.
func BenchmarkSettledParallel(b *testing.B) {
	j := journal.New(journal.Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			j.Settled(settlement(i))
			i++
		}
	})
}

// BenchmarkSettledFollowed adds with a follower subscribed (tail or the
// console open): each Add signals it.
func BenchmarkSettledFollowed(b *testing.B) {
	j := journal.New(journal.Options{})
	wake, stop := j.Subscribe()
	defer stop()
	done := make(chan struct{})
	go func() {
		var cursor uint64
		for {
			select {
			case <-wake:
			case <-done:
				return
			}
			es, _ := j.After(cursor, 1024)
			if len(es) > 0 {
				cursor = es[len(es)-1].Seq
			}
		}
	}()
	defer close(done)
	s := settlement(1)
	b.ReportAllocs()
	for b.Loop() {
		j.Settled(s)
	}
}
