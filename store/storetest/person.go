// Package storetest holds the conformance suites of the store contracts:
// TestSent, TestSentExpiry and TestSentReplicas for every store.Sent, and
// TestIdentities and TestIdentityExpiry for every store.Identities. Each
// state backend (state/memory, state/disk, state/redisstore) runs them all.
// WritePerson stores one person the way a storefront's events would, for a
// backend's own checks of its raw storage.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/refersion-relay/refersion-relay/mapping"
)

// Person is what WritePerson stored about one person.
type Person struct {
	UserID, AnonymousID, OtherDevice, EarlierID string
	Traits                                      mapping.Traits
}

// IDs returns every id the person was stored under.
func (p Person) IDs() []string {
	return []string{p.UserID, p.AnonymousID, p.OtherDevice, p.EarlierID}
}

// Strings returns every string that must be gone from a backend's raw
// storage once the person is forgotten: ids, email and names.
func (p Person) Strings() []string {
	return append(p.IDs(), p.Traits.Email, p.Traits.FirstName, p.Traits.LastName)
}

// WritePerson stores one person the way a storefront's events would: an
// identify with userId and anonymousId, traits on a second device linked by
// an alias, and an earlier userId aliased to the current one. tag makes the
// person's ids and traits unique.
func WritePerson(t testing.TB, s mapping.IdentityWriter, tag string) Person {
	t.Helper()
	ctx := context.Background()
	p := Person{
		UserID: "user-" + tag, AnonymousID: "anon-" + tag, OtherDevice: "device-" + tag, EarlierID: "earlier-" + tag,
		Traits: mapping.Traits{Email: "mail-" + tag + "@example.com", FirstName: "First" + tag, LastName: "Last" + tag},
	}
	steps := []error{
		mapping.Apply(ctx, s, mapping.IdentityUpdate{Kind: mapping.KindIdentify, UserID: p.UserID, AnonymousID: p.AnonymousID,
			Traits: mapping.Traits{Email: p.Traits.Email, FirstName: p.Traits.FirstName}}),
		s.Merge(ctx, p.OtherDevice, mapping.Traits{LastName: p.Traits.LastName}),
		mapping.Apply(ctx, s, mapping.IdentityUpdate{Kind: mapping.KindAlias, PreviousID: p.OtherDevice, UserID: p.UserID}),
		s.Merge(ctx, p.EarlierID, mapping.Traits{Email: p.Traits.Email}),
		s.Link(ctx, p.EarlierID, p.UserID),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("writing person %s, step %d: %v", tag, i, err)
		}
	}
	return p
}

// lookup returns what s holds for id, failing the test on an error.
func lookup(t testing.TB, s mapping.Identities, id string) (mapping.Traits, bool) {
	t.Helper()
	got, found, err := s.Lookup(context.Background(), id)
	if err != nil {
		t.Fatalf("Lookup(%q): %v", id, err)
	}
	return got, found
}

// wantTraits fails unless s holds want for id (found when want is non-zero).
func wantTraits(t testing.TB, s mapping.Identities, id string, want mapping.Traits) {
	t.Helper()
	got, found := lookup(t, s, id)
	if got != want || found != !want.IsZero() {
		t.Fatalf("Lookup(%q) = %+v found=%v, want %+v found=%v", id, got, found, want, !want.IsZero())
	}
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Advance moves a store's clock forward by d. A nil Advance means the store
// runs on real time (a redis server's), so a test waits instead.
type Advance func(d time.Duration)

// eventually polls cond every few milliseconds until it holds, failing the
// test after 10 seconds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
