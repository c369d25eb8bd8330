package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/store"
)

// TestIdentities checks the store.Identities contract. newStore returns
// an empty store; it is called once per subtest. Forget is checked through
// Lookup here; each backend also checks its raw storage (see WritePerson).
// Flush must return nil while the store works: after it, a Lookup sees
// every change accepted before it (durability itself, across a restart, is
// for each backend to check).
func TestIdentities(t *testing.T, newStore func(t *testing.T) store.Identities) {
	ctx := context.Background()
	ann := mapping.Traits{Email: "ann@example.com", FirstName: "Ann", LastName: "Lee"}

	t.Run("UnknownIDIsNotFound", func(t *testing.T) {
		wantTraits(t, newStore(t), "nobody", mapping.Traits{})
	})
	t.Run("MergeReplacesOnlyGivenFields", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "u", mapping.Traits{Email: "old@example.com", FirstName: "Ann"}))
		must(t, s.Merge(ctx, "u", mapping.Traits{Email: ann.Email, LastName: "Lee"}))
		must(t, s.Merge(ctx, "u", mapping.Traits{}))
		wantTraits(t, s, "u", ann)
	})
	t.Run("TheLastClickWins", func(t *testing.T) {
		s := newStore(t)
		early, late := mapping.Click{AffiliateID: "111", At: 1000}, mapping.Click{AffiliateID: "222", At: 2000}
		must(t, s.Merge(ctx, "a", mapping.Traits{Click: late}))
		must(t, s.Merge(ctx, "a", mapping.Traits{Click: early})) // seen later, clicked earlier
		must(t, s.Merge(ctx, "a", ann))
		wantTraits(t, s, "a", mapping.Traits{Email: ann.Email, FirstName: ann.FirstName, LastName: ann.LastName, Click: late})
	})
	t.Run("ClicksFollowLinks", func(t *testing.T) {
		s := newStore(t)
		c := mapping.Click{AffiliateID: "123456", At: 5000}
		must(t, s.Merge(ctx, "anon", mapping.Traits{Click: c}))
		must(t, s.Link(ctx, "anon", "user"))
		wantTraits(t, s, "user", mapping.Traits{Click: c})
		newer := mapping.Click{AffiliateID: "7", At: 9000}
		must(t, s.Merge(ctx, "user", mapping.Traits{Click: newer}))
		wantTraits(t, s, "anon", mapping.Traits{Click: newer})
		must(t, s.Forget(ctx, "user"))
		wantTraits(t, s, "anon", mapping.Traits{})
		wantTraits(t, s, "user", mapping.Traits{})
	})
	t.Run("IDsAreKeptApart", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "u1", ann))
		must(t, s.Merge(ctx, "u2", mapping.Traits{FirstName: "Bob"}))
		wantTraits(t, s, "u1", ann)
		wantTraits(t, s, "u2", mapping.Traits{FirstName: "Bob"})
	})
	t.Run("LinkedIDFallsBackToTarget", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "u", ann))
		must(t, s.Merge(ctx, "a", mapping.Traits{FirstName: "Annie"}))
		must(t, s.Link(ctx, "a", "u"))
		wantTraits(t, s, "a", mapping.Traits{Email: ann.Email, FirstName: "Annie", LastName: ann.LastName})
	})
	t.Run("LinkFillsGapsOfTarget", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "a", mapping.Traits{Email: ann.Email, FirstName: "Annie"}))
		must(t, s.Merge(ctx, "u", mapping.Traits{FirstName: "Ann"}))
		must(t, s.Link(ctx, "a", "u"))
		wantTraits(t, s, "u", mapping.Traits{Email: ann.Email, FirstName: "Ann"})
	})
	t.Run("LinkBeforeTraitsStillFallsBack", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Link(ctx, "a", "u"))
		wantTraits(t, s, "a", mapping.Traits{})
		must(t, s.Merge(ctx, "u", ann))
		wantTraits(t, s, "a", ann)
	})
	t.Run("RelinkMovesTheLink", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "u1", mapping.Traits{Email: "one@example.com"}))
		must(t, s.Merge(ctx, "u2", ann))
		must(t, s.Link(ctx, "a", "u1"))
		must(t, s.Link(ctx, "a", "u2"))
		wantTraits(t, s, "a", ann)
		must(t, s.Forget(ctx, "u1"))
		wantTraits(t, s, "a", ann)
	})
	t.Run("LinkToItselfIsHarmless", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Merge(ctx, "u", ann))
		must(t, s.Link(ctx, "u", "u"))
		wantTraits(t, s, "u", ann)
		must(t, s.Forget(ctx, "u"))
		wantTraits(t, s, "u", mapping.Traits{})
	})
	t.Run("IdentifyWithBothIDsServesBoth", func(t *testing.T) {
		s := newStore(t)
		must(t, mapping.Apply(ctx, s, mapping.IdentityUpdate{Kind: mapping.KindIdentify, UserID: "u", AnonymousID: "a", Traits: ann}))
		wantTraits(t, s, "u", ann)
		wantTraits(t, s, "a", ann)
	})
	t.Run("ForgetErasesThePersonUnderEveryID", func(t *testing.T) {
		for _, which := range []string{"user", "anonymous", "other-device", "earlier"} {
			t.Run(which, func(t *testing.T) {
				s := newStore(t)
				p := WritePerson(t, s, "p")
				other := WritePerson(t, s, "q")
				wantTraits(t, s, p.OtherDevice, p.Traits)
				ids := map[string]string{"user": p.UserID, "anonymous": p.AnonymousID, "other-device": p.OtherDevice, "earlier": p.EarlierID}
				must(t, s.Forget(ctx, ids[which]))
				for _, id := range p.IDs() {
					wantTraits(t, s, id, mapping.Traits{})
				}
				for _, id := range other.IDs() {
					wantTraits(t, s, id, other.Traits)
				}
			})
		}
	})
	t.Run("DeleteEventForgets", func(t *testing.T) {
		s := newStore(t)
		p := WritePerson(t, s, "p")
		must(t, mapping.Apply(ctx, s, mapping.IdentityUpdate{Kind: mapping.KindDelete, AnonymousID: p.AnonymousID}))
		for _, id := range p.IDs() {
			wantTraits(t, s, id, mapping.Traits{})
		}
	})
	t.Run("ForgetUnknownIsNoError", func(t *testing.T) {
		must(t, newStore(t).Forget(ctx, "nobody"))
	})
	t.Run("EraseSaysWhatItErased", func(t *testing.T) {
		s := newStore(t)
		e, ok := s.(store.Eraser)
		if !ok {
			t.Skip("the store does not implement store.Eraser")
		}
		p, other := WritePerson(t, s, "p"), WritePerson(t, s, "q")
		n, err := e.Erase(ctx, p.OtherDevice)
		must(t, err)
		// user (traits), anon (a link), device and earlier (traits and a link each).
		if want := (store.Erased{IDs: 4, Traits: 3, Links: 3}); n != want {
			t.Fatalf("Erase of a person written by WritePerson: %+v, want %+v", n, want)
		}
		for _, id := range p.IDs() {
			wantTraits(t, s, id, mapping.Traits{})
		}
		wantTraits(t, s, other.UserID, other.Traits)
		n, err = e.Erase(ctx, p.UserID)
		must(t, err)
		if n != (store.Erased{}) {
			t.Fatalf("a second Erase: %+v, want nothing", n)
		}
	})
	t.Run("ForgottenIDStartsAfresh", func(t *testing.T) {
		s := newStore(t)
		p := WritePerson(t, s, "p")
		must(t, s.Forget(ctx, p.UserID))
		must(t, s.Merge(ctx, p.UserID, mapping.Traits{FirstName: "New"}))
		wantTraits(t, s, p.UserID, mapping.Traits{FirstName: "New"})
		wantTraits(t, s, p.AnonymousID, mapping.Traits{})
	})
	t.Run("CancelledContextFails", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := s.Merge(cctx, "u", ann); !errors.Is(err, context.Canceled) {
			t.Fatalf("Merge with a cancelled context: %v", err)
		}
		if _, _, err := s.Lookup(cctx, "u"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Lookup with a cancelled context: %v", err)
		}
	})
	t.Run("ConcurrentUseKeepsEveryWrite", func(t *testing.T) {
		s := newStore(t)
		const people = 24
		var wg sync.WaitGroup
		for i := range people {
			wg.Go(func() {
				u, a := fmt.Sprint("cu", i), fmt.Sprint("ca", i)
				for _, err := range []error{
					s.Merge(ctx, a, mapping.Traits{FirstName: u}),
					s.Link(ctx, a, u),
					s.Merge(ctx, u, mapping.Traits{Email: u + "@example.com"}),
					s.Merge(ctx, "shared", mapping.Traits{LastName: "Shared"}),
				} {
					if err != nil {
						t.Error(err)
					}
				}
				if _, _, err := s.Lookup(ctx, "shared"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range people {
			u := fmt.Sprint("cu", i)
			wantTraits(t, s, fmt.Sprint("ca", i), mapping.Traits{Email: u + "@example.com", FirstName: u})
		}
		wantTraits(t, s, "shared", mapping.Traits{LastName: "Shared"})
	})
	t.Run("FlushCoversEveryAcceptedChange", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Flush(ctx)) // nothing pending
		must(t, s.Merge(ctx, "u", ann))
		must(t, s.Link(ctx, "a", "u"))
		must(t, s.Merge(ctx, "x", mapping.Traits{FirstName: "X"}))
		must(t, s.Forget(ctx, "x"))
		p := WritePerson(t, s, "p")
		gone := WritePerson(t, s, "q")
		must(t, s.Forget(ctx, gone.OtherDevice))
		must(t, s.Flush(ctx))
		must(t, s.Flush(ctx)) // again, with nothing new
		wantTraits(t, s, "u", ann)
		wantTraits(t, s, "a", ann)
		wantTraits(t, s, "x", mapping.Traits{})
		for _, id := range p.IDs() {
			wantTraits(t, s, id, p.Traits)
		}
		for _, id := range gone.IDs() {
			wantTraits(t, s, id, mapping.Traits{})
		}
	})
	t.Run("FlushWhileWriting", func(t *testing.T) {
		s := newStore(t)
		const writers = 8
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				for j := range 20 {
					u := fmt.Sprint("fw", i, "-", j)
					if err := s.Merge(ctx, u, mapping.Traits{Email: u + "@example.com"}); err != nil {
						t.Error(err)
						return
					}
					if j%5 == 4 {
						if err := s.Flush(ctx); err != nil {
							t.Error(err)
							return
						}
					}
				}
			})
		}
		wg.Wait()
		must(t, s.Flush(ctx))
		for i := range writers {
			for j := range 20 {
				u := fmt.Sprint("fw", i, "-", j)
				wantTraits(t, s, u, mapping.Traits{Email: u + "@example.com"})
			}
		}
	})
}
