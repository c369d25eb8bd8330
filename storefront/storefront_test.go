package storefront

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestDeterministic(t *testing.T) {
	a, ca := gen(t, mixed(5000, 7))
	b, cb := gen(t, mixed(5000, 7))
	if !bytes.Equal(a, b) || ca != cb {
		t.Fatal("same options gave different output")
	}
	c, _ := gen(t, mixed(5000, 8))
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
	// Generate is exactly the Generator's lines, newline-terminated.
	g, err := New(mixed(5000, 7))
	if err != nil {
		t.Fatal(err)
	}
	var via bytes.Buffer
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		via.Write(l.Data)
		via.WriteByte('\n')
	}
	if !bytes.Equal(a, via.Bytes()) || g.Counts() != ca {
		t.Fatal("Generate and Next disagree")
	}
}

// event is the part of a parsed event the tests look at.
type event struct {
	Type        string                     `json:"type"`
	Event       string                     `json:"event"`
	MessageID   string                     `json:"messageId"`
	UserID      string                     `json:"userId"`
	AnonymousID string                     `json:"anonymousId"`
	PreviousID  string                     `json:"previousId"`
	Properties  map[string]json.RawMessage `json:"properties"`
	Context     struct {
		Traits map[string]any `json:"traits"`
	} `json:"context"`
}

// TestCountsMatchOutput re-reads the output with encoding/json, classifies
// every event on its own and compares with Counts and with Line.Events.
func TestCountsMatchOutput(t *testing.T) {
	o := mixed(10000, 3)
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var got Counts
	ids := map[string]bool{}
	for l, ok := g.Next(); ok; l, ok = g.Next() {
		got.Lines++
		evs := parseLine(t, l)
		if l.Batch {
			got.Batches++
		}
		for i, e := range evs {
			k := classify(t, e)
			got.add(k)
			want := l.Events[i]
			if k != want.Kind || e.MessageID != want.MessageID || e.UserID != want.UserID ||
				e.AnonymousID != want.AnonymousID || e.PreviousID != want.PreviousID {
				t.Fatalf("event %s: parsed %v %+v, generator says %+v", e.MessageID, k, e, want)
			}
			if ids[e.MessageID] {
				t.Fatalf("messageId %s twice", e.MessageID)
			}
			ids[e.MessageID] = true
		}
	}
	if got != g.Counts() {
		t.Fatalf("recounted %+v, generator counted %+v", got, g.Counts())
	}
	if got.Events() != o.N || len(ids) != o.N {
		t.Fatalf("%d events, want %d", got.Events(), o.N)
	}
	for _, n := range []int{got.Page, got.TrackOther, got.Identify, got.OrderValid, got.OrderInvalid, got.Alias, got.Batches} {
		if n == 0 {
			t.Fatalf("a kind is missing: %+v", got)
		}
	}
}

// parseLine checks that a line is one JSON object, or an envelope of 2-5
// events with nothing but batch and sentAt, and returns its events.
func parseLine(t testing.TB, l Line) []event {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(l.Data, &top); err != nil {
		t.Fatalf("line is not a JSON object: %v\n%s", err, l.Data)
	}
	raws := []json.RawMessage{l.Data}
	if b, ok := top["batch"]; ok {
		if !l.Batch || len(top) != 2 || top["sentAt"] == nil {
			t.Fatalf("bad envelope: %s", l.Data)
		}
		raws = nil
		if err := json.Unmarshal(b, &raws); err != nil || len(raws) < 2 || len(raws) > 5 {
			t.Fatalf("envelope of %d events (%v)", len(raws), err)
		}
	} else if l.Batch {
		t.Fatal("Line.Batch set on a single event")
	}
	if len(raws) != len(l.Events) {
		t.Fatalf("%d events in the line, %d in Line.Events", len(raws), len(l.Events))
	}
	evs := make([]event, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &evs[i]); err != nil {
			t.Fatalf("event: %v\n%s", err, r)
		}
	}
	return evs
}

func classify(t testing.TB, e event) Kind {
	switch {
	case e.Type == "page":
		return Page
	case e.Type == "identify":
		return Identify
	case e.Type == "alias":
		return Alias
	case e.Type == "track" && (e.Event == "Order Completed" || e.Event == "Completed Order"):
		if len(orderDefects(t, e.Properties)) == 0 {
			return OrderValid
		}
		return OrderInvalid
	case e.Type == "track":
		return TrackOther
	}
	t.Fatalf("unknown event type %q", e.Type)
	return 0
}

func TestDefaultMix(t *testing.T) {
	out, c := gen(t, DefaultOptions())
	if n := bytes.Count(out, []byte("\n")); n != 100000 || c.Lines != n || c.Batches != 0 {
		t.Fatalf("%d lines, counts %+v", n, c)
	}
	near := func(name string, got int, share float64) {
		if want := share * 100000; float64(got) < want*0.85 || float64(got) > want*1.15 {
			t.Errorf("%s: %d, want about %.0f", name, got, want)
		}
	}
	near("page", c.Page, 0.45)
	near("identify", c.Identify, 0.12)
	near("orders", c.OrderValid+c.OrderInvalid, 0.02)
	near("invalid", c.OrderInvalid, 0.02*0.05)
	near("track_other", c.TrackOther, 1-0.45-0.12-0.02-0.003)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) > 32<<10 {
			t.Fatal("an event exceeds Segment's 32 KB limit")
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for name, f := range map[string]func(*Options){
		"negative n":  func(o *Options) { o.N = -1 },
		"users":       func(o *Options) { o.Users = 0 },
		"share > 1":   func(o *Options) { o.Batch = 1.5 },
		"share NaN":   func(o *Options) { o.Orders = math.NaN() },
		"mix over 1":  func(o *Options) { o.Orders, o.Identifies = 0.5, 0.5 },
		"negative sh": func(o *Options) { o.Invalid = -0.1 },
	} {
		o := DefaultOptions()
		f(&o)
		if _, err := Generate(&bytes.Buffer{}, o); err == nil || !strings.HasPrefix(err.Error(), "storefront: ") {
			t.Errorf("%s: error %v", name, err)
		}
	}
}
