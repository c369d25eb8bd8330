package broker

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestTwoMembers starts a reader in a group on a 4-partition topic, lets it
// consume, then adds a second member and keeps producing until, within one
// round, both received messages: proof the group rebalanced and split the
// partitions. Nothing produced may be missed; redelivery across the
// rebalance is allowed (at-least-once).
func TestTwoMembers(t *testing.T) {
	const topic = "events"
	b := startBroker(t, Topic{topic, 4})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		seen   = map[int]bool{}
		counts [2]int
	)
	var wg sync.WaitGroup
	member := func(i int) {
		r := groupReader(b.Addr(), topic, "pair")
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return
				}
				seq, err := checkMessage(m)
				if err != nil {
					t.Error(err)
				}
				if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
					t.Logf("reader %d: commit during rebalance: %v", i, err)
				}
				mu.Lock()
				seen[seq] = true
				counts[i]++
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	member(0)
	stop := context.AfterFunc(ctx, func() { mu.Lock(); cond.Broadcast(); mu.Unlock() })
	defer stop()

	const round = 40
	for produced := 0; ; produced += round {
		mu.Lock()
		before := counts
		mu.Unlock()
		produce(t, b.Addr(), topic, produced, round)
		mu.Lock()
		for !allSeen(seen, produced+round) && ctx.Err() == nil {
			cond.Wait()
		}
		both := counts[0] > before[0] && counts[1] > before[1]
		mu.Unlock()
		if ctx.Err() != nil {
			t.Fatalf("timed out after %d messages; per reader %v", produced+round, counts)
		}
		if both {
			t.Logf("both members consuming after %d messages", produced+round)
			break
		}
		if produced == round {
			member(1) // the first member has consumed two rounds alone
		}
	}
	cancel()
	wg.Wait()
}

func allSeen(seen map[int]bool, n int) bool {
	for i := range n {
		if !seen[i] {
			return false
		}
	}
	return true
}

// TestDataDir restarts a broker on the same data directory: messages and
// the group's committed offsets survive.
func TestDataDir(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(context.Background(), Options{DataDir: dir, Topics: []Topic{{"orders", 2}}})
	if err != nil {
		t.Fatal(err)
	}
	produce(t, b.Addr(), "orders", 0, 50)
	r := groupReader(b.Addr(), "orders", "relay")
	got := consume(t, r, 20)
	r.Close()
	b.Close()

	b, err = Start(context.Background(), Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	r = groupReader(b.Addr(), "orders", "relay")
	defer r.Close()
	got = append(got, consume(t, r, 30)...)
	checkExactlyOnce(t, got, 50)
}
