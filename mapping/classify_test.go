package mapping

import (
	"testing"
)

func TestClassify(t *testing.T) {
	m := MustNew(Options{})
	for _, tc := range []struct {
		ev   string
		kind Kind
		drop DropReason
	}{
		{`{"type":"track","event":"Order Completed"}`, KindOrder, NotDropped},
		{`{"type":"track","event":"Completed Order"}`, KindOrder, NotDropped},
		{`{"event":"Order Completed","properties":{"type":"page"},"type":"track"}`, KindOrder, NotDropped},
		{`{"type":"tr\u0061ck","event":"Order\u0020Completed"}`, KindOrder, NotDropped},
		{`{"type":"track","event":"Order Updated"}`, KindDropped, DropTrack},
		{`{"type":"track"}`, KindDropped, DropTrack},
		{`{"type":"track","event":"order completed"}`, KindDropped, DropTrack},
		{`{"type":"page","event":"Order Completed"}`, KindDropped, DropPage},
		{`{"type":"screen"}`, KindDropped, DropScreen},
		{`{"type":"group"}`, KindDropped, DropGroup},
		{`{"type":"something-new"}`, KindDropped, DropUnknown},
		{`{"type":"identify","traits":{}}`, KindIdentify, NotDropped},
		{`{"type":"alias"}`, KindAlias, NotDropped},
		{`{"type":"delete"}`, KindDelete, NotDropped},
		{`{"event":"Order Completed"}`, KindMalformed, NotDropped},
		{`{"type":7}`, KindMalformed, NotDropped},
		{`not json`, KindMalformed, NotDropped},
		{`{"type":"track","event":"Order Completed"`, KindMalformed, NotDropped},
	} {
		c := m.Classify([]byte(tc.ev))
		if c.Kind != tc.kind || c.Drop != tc.drop {
			t.Errorf("Classify(%s) = %v/%v, want %v/%v", tc.ev, c.Kind, c.Drop, tc.kind, tc.drop)
		}
		if c.Kind == KindMalformed && c.Problem == "" {
			t.Errorf("Classify(%s): malformed without a problem", tc.ev)
		}
	}
}

func TestConfiguredOrderEvents(t *testing.T) {
	m := MustNew(Options{OrderEvents: []string{"Purchase"}})
	if c := m.Classify([]byte(`{"type":"track","event":"Purchase"}`)); c.Kind != KindOrder {
		t.Errorf("Purchase: %v, want order", c.Kind)
	}
	if c := m.Classify([]byte(`{"type":"track","event":"Order Completed"}`)); c.Kind != KindDropped {
		t.Errorf("Order Completed with a custom list: %v, want dropped", c.Kind)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{
		{OrderEvents: []string{""}},
		{CartIDSources: []string{"properties.cart"}},
		{DefaultCurrency: "dollars"},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
	m, err := New(Options{DefaultCurrency: " eur "})
	if err != nil || m.defaultCurrency != "EUR" {
		t.Errorf("New(default eur) = %v, %v", m, err)
	}
}

func TestSplitExpandsBatchesInOrder(t *testing.T) {
	m := MustNew(Options{})
	msg := `{"batch":[{"type":"page"},{"type":"track","event":"Order Completed"},{"type":"identify"},42],"context":{"x":1}}`
	var kinds []Kind
	var idx []int
	m.Split([]byte(msg), func(i int, _ []byte, c Class) bool {
		kinds, idx = append(kinds, c.Kind), append(idx, i)
		return true
	})
	want := []Kind{KindDropped, KindOrder, KindIdentify, KindMalformed}
	if len(kinds) != len(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] || idx[i] != i {
			t.Errorf("event %d: %v at %d, want %v at %d", i, kinds[i], idx[i], want[i], i)
		}
	}
}

func TestSplitStopsWhenAsked(t *testing.T) {
	m := MustNew(Options{})
	n := 0
	m.Split([]byte(`{"batch":[{"type":"page"},{"type":"page"},{"type":"page"}]}`), func(int, []byte, Class) bool {
		n++
		return n < 2
	})
	if n != 2 {
		t.Errorf("fn called %d times, want 2", n)
	}
}

func TestSplitSingleEventIsItself(t *testing.T) {
	m := MustNew(Options{})
	msg := []byte(`{"type":"page","batch":"a page may carry a member called batch"}`)
	var got []byte
	m.Split(msg, func(_ int, ev []byte, c Class) bool {
		got = ev
		if c.Kind != KindDropped {
			t.Errorf("kind %v, want dropped", c.Kind)
		}
		return true
	})
	if string(got) != string(msg) {
		t.Errorf("event %q, want the message", got)
	}
}

func TestDroppedEventsDoNotAllocate(t *testing.T) {
	m := MustNew(Options{})
	ev := []byte(`{"anonymousId":"a","context":{"ip":"1.2.3.4","page":{"url":"https://x/\"q\""}},"event":"Product Viewed","properties":{"price":1.5,"sku":"A"},"type":"track"}`)
	allocs := testing.AllocsPerRun(100, func() {
		m.Split(ev, func(int, []byte, Class) bool { return true })
	})
	if allocs != 0 {
		t.Errorf("classifying a dropped event allocates %v times, want 0", allocs)
	}
}

func TestSplitReadsEveryValueOfAMessage(t *testing.T) {
	m := MustNew(Options{})
	type ev struct {
		kind Kind
		text string
	}
	cases := []struct {
		name string
		msg  string
		want []ev
	}{
		{"two values", `{"type":"page"}{"type":"identify","userId":"u"}`,
			[]ev{{KindDropped, `{"type":"page"}`}, {KindIdentify, `{"type":"identify","userId":"u"}`}}},
		{"ndjson", "{\"type\":\"page\"}\n{\"type\":\"track\",\"event\":\"Order Completed\"}\n",
			[]ev{{KindDropped, `{"type":"page"}`}, {KindOrder, `{"type":"track","event":"Order Completed"}`}}},
		{"trailing junk", `{"type":"page"} xyz`,
			[]ev{{KindDropped, `{"type":"page"}`}, {KindMalformed, `xyz`}}},
		{"truncated second value", `{"type":"page"}{"type":"pa`,
			[]ev{{KindDropped, `{"type":"page"}`}, {KindMalformed, `{"type":"pa`}}},
		{"value that is not an object", `{"type":"page"} 42 "x"`,
			[]ev{{KindDropped, `{"type":"page"}`}, {KindMalformed, `42`}, {KindMalformed, `"x"`}}},
		{"batch then event", `{"batch":[{"type":"page"},{"type":"screen"}]} {"type":"alias"}`,
			[]ev{{KindDropped, `{"type":"page"}`}, {KindDropped, `{"type":"screen"}`}, {KindAlias, `{"type":"alias"}`}}},
		{"empty", "  \n", []ev{{KindMalformed, "  \n"}}},
		{"nothing", "", []ev{{KindMalformed, ""}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []ev
			var idx []int
			m.Split([]byte(c.msg), func(i int, b []byte, cl Class) bool {
				got, idx = append(got, ev{cl.Kind, string(b)}), append(idx, i)
				if cl.Kind == KindMalformed && cl.Problem == "" {
					t.Errorf("event %d: malformed without a problem", i)
				}
				return true
			})
			if len(got) != len(c.want) {
				t.Fatalf("events %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] || idx[i] != i {
					t.Errorf("event %d = %v at %d, want %v at %d", i, got[i], idx[i], c.want[i], i)
				}
			}
		})
	}
}
