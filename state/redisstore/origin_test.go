package redisstore_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/failure"
	"github.com/refersion-relay/refersion-relay/internal/syncbuf"
	"github.com/refersion-relay/refersion-relay/state/redisstore"
	"github.com/refersion-relay/refersion-relay/state/statetest"
	"github.com/refersion-relay/refersion-relay/store"
)

func originOf(t *testing.T, s store.Identified) store.Origin {
	t.Helper()
	o, err := s.Origin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A Redis that restarted without persistence holds no sent-order store any
// more: the store is New, as on a fresh server, not taken for the old one.
func TestSentStoreKnowsWhetherItIsNew(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	o := opts()
	s := redisstore.NewSent(srv.Client(t), o)
	if got := originOf(t, s); !got.New {
		t.Fatalf("a fresh server: %+v, want New", got)
	}
	adopted, err := s.Adopt(ctx)
	if err != nil || adopted.New || adopted.ID == "" || adopted.Created.IsZero() {
		t.Fatalf("Adopt: %+v, %v", adopted, err)
	}
	// Another replica, with its own client, finds the same store.
	if got := originOf(t, redisstore.NewSent(srv.Client(t), o)); got != adopted {
		t.Fatalf("another replica: %+v, want %+v", got, adopted)
	}
	srv.Restart() // --save "" --appendonly no: nothing survives
	if got := originOf(t, redisstore.NewSent(srv.Client(t), o)); !got.New {
		t.Fatalf("after a restart without persistence: %+v, want New", got)
	}
}

// Replicas adopting one new store at once agree on its identity.
func TestReplicasAdoptingAtOnceAgree(t *testing.T) {
	srv := statetest.StartRedis(t)
	o := opts()
	var wg sync.WaitGroup
	ids := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			got, err := redisstore.NewSent(srv.Client(t), o).Adopt(context.Background())
			if err != nil {
				t.Error(err)
			}
			ids <- got.ID
		})
	}
	wg.Wait()
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first {
			t.Fatalf("two identities: %s and %s", first, id)
		}
	}
}

// A store holding order_ids from before identities existed is adopted at
// its first Origin, not taken for a new one.
func TestSentStoreFromBeforeIdentitiesIsAdopted(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	o := opts()
	c := srv.Client(t)
	for i := range 3000 { // other keys first, so that SCAN needs more than one page
		if err := c.Set(ctx, o.Prefix+"t:"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, o.Prefix+"s:o-1", "s", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	s := redisstore.NewSent(c, o)
	got := originOf(t, s)
	if got.New || got.ID == "" {
		t.Fatalf("a store with order_ids and no identity: %+v, want adopted", got)
	}
	if again := originOf(t, redisstore.NewSent(c, o)); again != got {
		t.Fatalf("read again: %+v, want %+v", again, got)
	}
}

// A server that loses the store under a running relay (restarted without
// persistence, or flushed) stops every claim, as the store being
// unavailable, with one error line: orders it had recorded as sent would
// otherwise be sent again.
func TestClaimsStopWhenTheServerLosesTheStore(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"restarted", "flushed"} {
		t.Run(how, func(t *testing.T) {
			srv := statetest.StartRedis(t)
			var logs syncbuf.Buffer
			redisstore.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
			t.Cleanup(func() { redisstore.SetLogger(nil) })
			c := srv.Client(t)
			s := redisstore.NewSent(c, opts())
			if _, err := s.Adopt(ctx); err != nil {
				t.Fatal(err)
			}
			claim, err := s.Claim(ctx, "o-1", time.Minute)
			if err == nil {
				err = s.Confirm(ctx, claim)
			}
			if err != nil {
				t.Fatal(err)
			}
			if how == "restarted" {
				srv.Restart()
			} else if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			var lastErr error
			deadline := time.Now().Add(20 * time.Second)
			for n := 0; n < 3; {
				_, lastErr = s.Claim(ctx, "o-1", time.Minute)
				if errors.Is(lastErr, redisstore.ErrLost) {
					n++
				} else if time.Now().After(deadline) {
					t.Fatalf("Claim after the store was lost: %v, want ErrLost", lastErr)
				} else {
					<-time.After(5 * time.Millisecond) // the client redials the restarted server
				}
			}
			if failure.KindOf(lastErr) != failure.KindStoreUnavailable {
				t.Fatalf("kind %s, want store_unavailable", failure.KindOf(lastErr))
			}
			out := logs.Take()
			if strings.Count(out, "lost its data") != 1 || !strings.Contains(out, "level=ERROR") {
				t.Fatalf("want one error line:\n%s", out)
			}
		})
	}
}

// A store flushed while a relay uses it stays lost: the writes that meet
// the loss (a claim, the Confirm of a send in flight, the renewal of a
// claim in flight) record it in the server in the same script, so that the
// order_ids they write back are not taken for a store from before
// identities, even if the relay dies right after. Each restart reads the
// store New and Lost until Adopt accepts it.
func TestAStoreFlushedInUseStaysLost(t *testing.T) {
	ctx := context.Background()
	for _, how := range []string{"claim", "confirm", "renew", "all"} {
		t.Run(how, func(t *testing.T) {
			srv := statetest.StartRedis(t)
			redisstore.SetLogger(slog.New(slog.DiscardHandler))
			t.Cleanup(func() { redisstore.SetLogger(nil) })
			c := srv.Client(t)
			o := opts()
			s := redisstore.NewSent(c, o)
			first, err := s.Adopt(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var inFlight [2]store.Claim
			for i, id := range []string{"o-1", "o-2"} {
				if inFlight[i], err = s.Claim(ctx, id, time.Minute); err != nil || inFlight[i].Status != store.Claimed {
					t.Fatalf("Claim(%s) = %+v, %v", id, inFlight[i], err)
				}
			}
			if err := c.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if how == "claim" || how == "all" {
				if _, err := s.Claim(ctx, "o-3", time.Minute); !errors.Is(err, redisstore.ErrLost) {
					t.Fatalf("Claim after the flush: %v, want ErrLost", err)
				}
			}
			if how == "confirm" || how == "all" {
				inFlight[0].Fingerprint, inFlight[0].Summary = "v1:00", "total 1.00 USD"
				if err := s.Confirm(ctx, inFlight[0]); err != nil {
					t.Fatal(err)
				}
			}
			if how == "renew" || how == "all" {
				if err := s.Renew(ctx, inFlight[1], time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			// The relay stops (or dies); each start reads the store lost.
			for range 2 {
				if got := originOf(t, redisstore.NewSent(c, o)); !got.New || !got.Lost || got.ID != "" {
					t.Fatalf("a start after the flush: %+v, want New and Lost", got)
				}
			}
			adopted, err := redisstore.NewSent(c, o).Adopt(ctx)
			if err != nil || adopted.New || adopted.Lost || adopted.ID == "" || adopted.ID == first.ID {
				t.Fatalf("Adopt of the lost store: %+v, %v; want a new identity", adopted, err)
			}
			if got := originOf(t, redisstore.NewSent(c, o)); got != adopted {
				t.Fatalf("the start after accepting: %+v, want %+v", got, adopted)
			}
			if how == "confirm" || how == "all" { // what was sent in flight stays recorded
				got, err := redisstore.NewSent(c, o).Claim(ctx, "o-1", time.Minute)
				if err != nil || got.Status != store.AlreadySent || got.Fingerprint != "v1:00" {
					t.Fatalf("Claim(o-1) on the accepted store: %+v, %v; want already sent", got, err)
				}
			}
		})
	}
}

// A server holding order_ids but no identity and no loss marker is told
// apart by what only versions that record an identity write: order_ids
// confirmed with a content key, and none without, are what a store that
// lost its identity holds (written since by replicas of an earlier
// version, or by a sender that never read the identity): New and Lost.
// One order_id confirmed without content, or claims only, are a store from
// before identities: adopted, as before.
func TestOrderIDsWithoutIdentityAreToldApart(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	for _, tc := range []struct {
		name string
		keys [][2]string
		lost bool
	}{
		{"confirmed with content", [][2]string{{"s:o-1", "s"}, {"sc:o-1", "5:v1:00total"}, {"s:o-2", "c:token"}}, true},
		{"of another account, with content", [][2]string{{"s:acct:o-1", "s"}, {"sc:acct:o-1", "5:v1:00"}}, true},
		{"one confirmed without content", [][2]string{{"s:o-1", "s"}, {"sc:o-1", "5:v1:00"}, {"s:o-2", "s"}}, false},
		{"claims only", [][2]string{{"s:o-1", "c:token"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			for _, kv := range tc.keys {
				if err := c.Set(ctx, o.Prefix+kv[0], kv[1], time.Hour).Err(); err != nil {
					t.Fatal(err)
				}
			}
			got := originOf(t, redisstore.NewSent(c, o))
			if tc.lost && (!got.New || !got.Lost) {
				t.Fatalf("%+v, want New and Lost", got)
			}
			if !tc.lost && (got.New || got.Lost || got.ID == "") {
				t.Fatalf("%+v, want adopted", got)
			}
			if again := originOf(t, redisstore.NewSent(c, o)); again != got {
				t.Fatalf("read again: %+v, want %+v", again, got)
			}
		})
	}
}

// A loss marker outweighs order_ids that look older than identities: they
// were written after the loss by a replica of an earlier version.
func TestLossMarkerOutweighsOrderIDsWithoutContent(t *testing.T) {
	ctx := context.Background()
	srv := statetest.StartRedis(t)
	c := srv.Client(t)
	o := opts()
	s := redisstore.NewSent(c, o)
	if _, err := s.Adopt(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.Renew(ctx, store.Claim{OrderID: "o-1", Token: "t"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, o.Prefix+"s:o-2", "s", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if got := originOf(t, redisstore.NewSent(c, o)); !got.New || !got.Lost {
		t.Fatalf("%+v, want New and Lost", got)
	}
}
