package mapping

import (
	"testing"
)

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
