package state_test

import (
	"context"
	"fmt"
	"time"

	"github.com/refersion-relay/refersion-relay/config"
	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state"
)

// An identify stored under a userId enriches an order that carries only the
// anonymousId it was linked to; a delete erases the person.
func ExampleOpen() {
	ctx := context.Background()
	stores, err := state.Open(ctx, config.State{Backend: "memory", IdentityTTL: time.Hour, SentTTL: time.Hour, MemoryMaxEntries: 100})
	if err != nil {
		panic(err)
	}
	defer stores.Close()

	_ = mapping.Apply(ctx, stores.Identities, mapping.IdentityUpdate{
		Kind: mapping.KindIdentify, UserID: "u1", AnonymousID: "a1",
		Traits: mapping.Traits{Email: "ann@example.com", FirstName: "Ann"},
	})
	t, found, _ := stores.Identities.Lookup(ctx, "a1")
	fmt.Println(found, t.FirstName)

	_ = mapping.Apply(ctx, stores.Identities, mapping.IdentityUpdate{Kind: mapping.KindDelete, UserID: "u1"})
	_, found, _ = stores.Identities.Lookup(ctx, "a1")
	fmt.Println(found)
	// Output:
	// true Ann
	// false
}
