package statetest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
	"github.com/refersion-relay/refersion-relay/storefront"
)

// Updates returns the first n identify and alias updates of the default
// generated storefront stream (seed 1), parsed as the pipeline parses them.
func Updates(tb testing.TB, n int) []mapping.IdentityUpdate {
	tb.Helper()
	o := storefront.DefaultOptions()
	o.N = n * 10 // identifies and aliases are about an eighth of the events
	g, err := storefront.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	var out []mapping.IdentityUpdate
	for line, ok := g.Next(); ok && len(out) < n; line, ok = g.Next() {
		k := map[storefront.Kind]mapping.Kind{storefront.Identify: mapping.KindIdentify, storefront.Alias: mapping.KindAlias}[line.Events[0].Kind]
		if k == 0 {
			continue
		}
		u, err := mapping.ParseIdentity(line.Data, k)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, u)
	}
	if len(out) < n {
		tb.Fatalf("the stream held %d identity updates, want %d", len(out), n)
	}
	return out
}

// BenchmarkIdentities measures a store on the generated stream. One op of
// Identify is one identify or alias applied by one writer; IdentifyParallel
// runs 8 writers per CPU, as partitions would; Lookup is one lookup of a
// known userId or anonymousId.
func BenchmarkIdentities(b *testing.B, newStore func(b *testing.B) store.Identities) {
	ctx := context.Background()
	updates := Updates(b, 20000)
	b.Run("Identify", func(b *testing.B) {
		s := newStore(b)
		i := 0
		for b.Loop() {
			if err := mapping.Apply(ctx, s, updates[i%len(updates)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "identifies/s")
	})
	b.Run("IdentifyParallel", func(b *testing.B) {
		s := newStore(b)
		var next atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := mapping.Apply(ctx, s, updates[int(next.Add(1))%len(updates)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "identifies/s")
	})
	b.Run("Lookup", func(b *testing.B) {
		s := newStore(b)
		var ids []string
		for _, u := range updates[:2000] {
			if err := mapping.Apply(ctx, s, u); err != nil {
				b.Fatal(err)
			}
			for _, id := range []string{u.UserID, u.AnonymousID, u.PreviousID} {
				if id != "" {
					ids = append(ids, id)
				}
			}
		}
		i := 0
		for b.Loop() {
			if _, _, err := s.Lookup(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
}

// BenchmarkSent measures a sent-order store. One op of Claim is a claim and
// confirm of a new order_id; ClaimParallel runs 8 senders per CPU; Sent is
// the claim of an order_id already sent (the duplicate check).
func BenchmarkSent(b *testing.B, newStore func(b *testing.B) store.Sent) {
	ctx := context.Background()
	claimConfirm := func(s store.Sent, id string) error {
		c, err := s.Claim(ctx, id, time.Minute)
		if err == nil && c.Status == store.Claimed {
			err = s.Confirm(ctx, c)
		}
		return err
	}
	b.Run("Claim", func(b *testing.B) {
		s := newStore(b)
		i := 0
		for b.Loop() {
			if err := claimConfirm(s, "bench-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	})
	b.Run("ClaimParallel", func(b *testing.B) {
		s := newStore(b)
		var next atomic.Int64
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := claimConfirm(s, "bench-"+strconv.FormatInt(next.Add(1), 10)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
	})
	b.Run("Sent", func(b *testing.B) {
		s := newStore(b)
		const known = 1000
		for i := range known {
			if err := claimConfirm(s, "sent-"+strconv.Itoa(i)); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		for b.Loop() {
			c, err := s.Claim(ctx, "sent-"+strconv.Itoa(i%known), time.Minute)
			if err != nil || c.Status != store.AlreadySent {
				b.Fatalf("Claim of a sent order_id = %v, %v", c.Status, err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
	})
}
