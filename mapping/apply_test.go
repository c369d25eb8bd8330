package mapping_test

import (
	"context"
	"testing"

	"github.com/refersion-relay/refersion-relay/mapping"
	"github.com/refersion-relay/refersion-relay/state/memory"
)

// Parsed identify and delete events, applied to an identity store, store
// and erase a person under every id it was seen with.
func TestParsedEventsApplyToTheStore(t *testing.T) {
	ctx := context.Background()
	s := memory.NewIdentities(memory.Options{})
	apply := func(ev string, k mapping.Kind) {
		t.Helper()
		u, err := mapping.ParseIdentity([]byte(ev), k)
		if err != nil {
			t.Fatal(err)
		}
		if err := mapping.Apply(ctx, s, u); err != nil {
			t.Fatal(err)
		}
	}
	apply(`{"type":"identify","userId":"u","anonymousId":"a","traits":{"email":"e@x","name":"Ann Lee"}}`, mapping.KindIdentify)
	apply(`{"type":"identify","anonymousId":"other-device","traits":{"firstName":"Annie"}}`, mapping.KindIdentify)
	apply(`{"type":"alias","previousId":"other-device","userId":"u"}`, mapping.KindAlias)
	want := map[string]mapping.Traits{
		"u":            {Email: "e@x", FirstName: "Ann", LastName: "Lee"},
		"a":            {Email: "e@x", FirstName: "Ann", LastName: "Lee"},
		"other-device": {Email: "e@x", FirstName: "Annie", LastName: "Lee"},
	}
	for id, w := range want {
		if got, found, err := s.Lookup(ctx, id); err != nil || !found || got != w {
			t.Errorf("Lookup(%s) = %+v %v %v, want %+v", id, got, found, err, w)
		}
	}
	apply(`{"type":"delete","userId":"u"}`, mapping.KindDelete)
	for id := range want {
		if got, found, _ := s.Lookup(ctx, id); found || !got.IsZero() {
			t.Errorf("%s after delete: %+v %v", id, got, found)
		}
	}
	if n := s.Len(); n != 0 {
		t.Errorf("%d entries left after delete", n)
	}
}
