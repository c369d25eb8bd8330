package mapping

import (
	"context"
	"testing"
)

func TestLaterIdentifyMergesWithoutErasing(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryIdentities()
	_ = s.Merge(ctx, "u", Traits{Email: "a@x", FirstName: "Ada"})
	_ = s.Merge(ctx, "u", Traits{LastName: "Lovelace"})
	_ = s.Merge(ctx, "u", Traits{Email: "b@x"})
	got, found, _ := s.Lookup(ctx, "u")
	want := Traits{Email: "b@x", FirstName: "Ada", LastName: "Lovelace"}
	if !found || got != want {
		t.Errorf("Lookup = %+v %v, want %+v", got, found, want)
	}
}

func TestAliasLinksBothWays(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryIdentities()
	_ = s.Merge(ctx, "anon", Traits{Email: "guest@x"})
	_ = s.Merge(ctx, "user", Traits{FirstName: "Grace"})
	_ = s.Link(ctx, "anon", "user")
	if got, _, _ := s.Lookup(ctx, "user"); got != (Traits{Email: "guest@x", FirstName: "Grace"}) {
		t.Errorf("user after alias: %+v", got)
	}
	if got, _, _ := s.Lookup(ctx, "anon"); got != (Traits{Email: "guest@x", FirstName: "Grace"}) {
		t.Errorf("anon after alias: %+v", got)
	}
}

func TestForgetErasesThePerson(t *testing.T) {
	ctx := context.Background()
	s := NewMemoryIdentities()
	u, _ := ParseIdentity([]byte(`{"type":"identify","userId":"u","anonymousId":"a","traits":{"email":"e@x","name":"Ann Lee"}}`), KindIdentify)
	if err := Apply(ctx, s, u); err != nil {
		t.Fatal(err)
	}
	_ = s.Merge(ctx, "other-device", Traits{FirstName: "Ann"})
	_ = s.Link(ctx, "other-device", "u")
	del, _ := ParseIdentity([]byte(`{"type":"delete","userId":"u"}`), KindDelete)
	if err := Apply(ctx, s, del); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u", "a", "other-device"} {
		if got, found, _ := s.Lookup(ctx, id); found || !got.IsZero() {
			t.Errorf("%s after delete: %+v %v", id, got, found)
		}
	}
	if len(s.traits) != 0 || len(s.links) != 0 || len(s.back) != 0 {
		t.Errorf("store not empty after delete: %d traits, %d links, %d back", len(s.traits), len(s.links), len(s.back))
	}
}

func TestParseIdentityNeedsSomebody(t *testing.T) {
	for _, tc := range []struct {
		ev   string
		kind Kind
	}{
		{`{"type":"identify","traits":{"email":"x@y"}}`, KindIdentify},
		{`{"type":"alias","userId":"u"}`, KindAlias},
		{`{"type":"delete"}`, KindDelete},
	} {
		if _, err := ParseIdentity([]byte(tc.ev), tc.kind); err == nil {
			t.Errorf("%s: no error", tc.ev)
		}
	}
}

func TestTraitsNameSplitting(t *testing.T) {
	for _, tc := range []struct {
		obj  string
		want Traits
	}{
		{`{"name":"Peter Gibbons"}`, Traits{FirstName: "Peter", LastName: "Gibbons"}},
		{`{"name":"Cher"}`, Traits{FirstName: "Cher"}},
		{`{"name":"Anna Maria Garcia Lopez"}`, Traits{FirstName: "Anna", LastName: "Maria Garcia Lopez"}},
		{`{"name":"Full Name","firstName":"Given"}`, Traits{FirstName: "Given"}},
		{`{"firstName":"A","first_name":"B","lastName":"C"}`, Traits{FirstName: "A", LastName: "C"}},
		{`{"email":42,"first_name":" Émile "}`, Traits{FirstName: "Émile"}},
	} {
		if got := traitsFrom([]byte(tc.obj)); got != tc.want {
			t.Errorf("traitsFrom(%s) = %+v, want %+v", tc.obj, got, tc.want)
		}
	}
}
