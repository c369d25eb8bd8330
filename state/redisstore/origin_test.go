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
